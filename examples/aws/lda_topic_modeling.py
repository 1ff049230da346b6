"""An Introduction to SageMaker LDA, converted to a script for Shipyard.

Source notebook: aws/amazon-sagemaker-examples,
introduction_to_amazon_algorithms/lda_topic_modeling/LDA-Introduction.ipynb

The notebook generates Griffiths-Steyvers documents (25-word vocabulary, 5 "column" topics on a 5x5 grid),
uploads the training documents as RecordIO-protobuf, trains built-in LDA through the generic Estimator and
the lda image, deploys it, sends test documents as CSV and reads the ``topic_mixture`` of each from the JSON
answer. Adaptations are marked ``# SHIPYARD:``.
"""

import io
import os

import boto3
import numpy as np
import sagemaker
import sagemaker.amazon.common as smac
from sagemaker import image_uris
from sagemaker.deserializers import JSONDeserializer
from sagemaker.serializers import CSVSerializer

np.set_printoptions(precision=3, suppress=True)


# SHIPYARD: the notebook imports generate_griffiths_data from generate_example_data.py beside it (plotting
# helpers included, which need matplotlib). This is the same generative model in numpy: a uniform Dirichlet
# topic prior (alpha = 1/num_topics), topic i spread over column i of the 5x5 word grid with weights from a
# Dirichlet(100, ..., 100), Poisson(150) document lengths.
def generate_griffiths_data(num_documents=5000, average_document_length=150, num_topics=5, seed=0):
    rng = np.random.default_rng(seed)
    vocabulary_size, image_dim = 25, 5
    alpha = np.ones(num_topics) / num_topics
    beta = np.zeros((num_topics, image_dim, image_dim))
    for i in range(image_dim):
        beta[i, :, i] = rng.dirichlet([100] * image_dim)
    if num_topics == 10:
        for i in range(image_dim):
            beta[i + image_dim, i, :] = rng.dirichlet([100] * image_dim)
    beta = beta.reshape(num_topics, vocabulary_size)
    thetas = rng.dirichlet(alpha, size=num_documents)
    lengths = rng.poisson(average_document_length, size=num_documents)
    documents = np.stack([rng.multinomial(n, t @ beta) for n, t in zip(lengths, thetas)]).astype(float)
    return alpha, beta, documents, thetas


# SHIPYARD: no notebook execution role to look up (get_execution_role); any role ARN is accepted.
role = "arn:aws:iam::123456789012:role/Shipyard"
bucket = sagemaker.Session().default_bucket()  # SHIPYARD: the notebook asks for '<your_s3_bucket_name_here>'
prefix = "sagemaker/DEMO-lda-introduction"

print("Training input/output will be stored in {}/{}".format(bucket, prefix))
print("\nIAM Role: {}".format(role))

print("Generating example data...")
num_documents = 6000
num_topics = 5
known_alpha, known_beta, documents, topic_mixtures = generate_griffiths_data(
    num_documents=num_documents, num_topics=num_topics
)
vocabulary_size = len(documents[0])

# separate the generated data into training and tests subsets
num_documents_training = int(0.9 * num_documents)
num_documents_test = num_documents - num_documents_training

documents_training = documents[:num_documents_training]
documents_test = documents[num_documents_training:]

topic_mixtures_training = topic_mixtures[:num_documents_training]
topic_mixtures_test = topic_mixtures[num_documents_training:]

print("documents_training.shape = {}".format(documents_training.shape))
print("documents_test.shape = {}".format(documents_test.shape))

print("First training document =\n{}".format(documents[0]))
print("\nVocabulary size = {}".format(vocabulary_size))
print("Known topic mixture of first document =\n{}".format(topic_mixtures_training[0]))
print("\nNumber of topics = {}".format(num_topics))
print("Sum of elements = {}".format(topic_mixtures_training[0].sum()))
# SHIPYARD: the notebook plots documents with matplotlib here (plot_lda); nothing to show in a script.

# convert documents_training to Protobuf RecordIO format
buf = io.BytesIO()
smac.write_numpy_to_dense_tensor(buf, documents_training.astype("float32"))
buf.seek(0)

# upload to S3 in bucket/prefix/train
fname = "lda.data"
s3_object = os.path.join(prefix, "train", fname)
boto3.Session().resource("s3").Bucket(bucket).Object(s3_object).upload_fileobj(buf)

s3_train_data = "s3://{}/{}".format(bucket, s3_object)
print("Uploaded data to S3: {}".format(s3_train_data))

# select the algorithm container based on this notebook's current location
region_name = boto3.Session().region_name
container = image_uris.retrieve("lda", region_name)
print("Using SageMaker LDA container: {} ({})".format(container, region_name))

session = sagemaker.Session()

# specify general training job information
lda = sagemaker.estimator.Estimator(
    container,
    role,
    output_path="s3://{}/{}/output".format(bucket, prefix),
    instance_count=1,
    instance_type="ml.c4.2xlarge",
    sagemaker_session=session,
)

# set algorithm-specific hyperparameters
lda.set_hyperparameters(
    num_topics=num_topics,
    feature_dim=vocabulary_size,
    mini_batch_size=num_documents_training,
    alpha0=1.0,
)

# run the training job on input data stored in S3
lda.fit({"train": s3_train_data}, wait=False)  # SHIPYARD: wait below with a 1 s poll, not the SDK's 30 s
session.logs_for_job(lda.latest_training_job.name, wait=True, poll=1)

print("Training job name: {}".format(lda.latest_training_job.job_name))

lda_inference = lda.deploy(
    initial_instance_count=1,
    instance_type="ml.m4.xlarge",  # LDA inference may work better at scale on ml.c4 instances
    serializer=CSVSerializer(),
    deserializer=JSONDeserializer(),
    wait=False,  # SHIPYARD: wait below with a 1 s poll
)
session.wait_for_endpoint(lda_inference.endpoint_name, poll=1)
print("Endpoint name: {}".format(lda_inference.endpoint_name))

results = lda_inference.predict(documents_test[:12])
print(results)

computed_topic_mixtures = np.array([prediction["topic_mixture"] for prediction in results["predictions"]])
print(computed_topic_mixtures)

print(topic_mixtures_test[0])  # known test topic mixture
print(computed_topic_mixtures[0])  # computed topic mixture (topics permuted)

# SHIPYARD: a check in place of reading the printout: 12 mixtures of 5 topics, each summing to one, and the
# dominant topic agrees with the known mixture's once the learned topics are matched to the known ones.
assert computed_topic_mixtures.shape == (12, num_topics)
assert np.allclose(computed_topic_mixtures.sum(axis=1), 1.0, atol=1e-3)
model_s3 = lda.model_data  # SHIPYARD: the artifact, as AWS's notebook "LDA-Science" reads it (mx.nd.load)
from shipyard.io import ndarray  # noqa: E402  SHIPYARD: reads MXNet's NDArray format without MXNet

mbucket, mkey = model_s3[len("s3://"):].split("/", 1)
import tarfile  # noqa: E402

with tarfile.open(fileobj=io.BytesIO(boto3.client("s3").get_object(Bucket=mbucket, Key=mkey)["Body"].read())) as t:
    lda_alpha, lda_beta = ndarray.loads(t.extractfile("model_algo-1").read())
permutation = np.argmax(known_beta @ lda_beta.T, axis=1)
agree = np.mean(computed_topic_mixtures[:, permutation].argmax(axis=1) == topic_mixtures_test[:12].argmax(axis=1))
print("learned alpha", lda_alpha, "dominant-topic agreement on 12 test documents", agree)
assert agree >= 0.75, agree

sagemaker.Session().delete_endpoint(lda_inference.endpoint_name)
