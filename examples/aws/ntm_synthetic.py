"""Introduction to Basic Functionality of NTM (synthetic data), converted to a script for Shipyard.

Source notebook: aws/amazon-sagemaker-examples,
introduction_to_amazon_algorithms/ntm_synthetic/ntm_synthetic.ipynb

The notebook generates Griffiths-Steyvers documents (25-word vocabulary, 5 topics), uploads the training set
as RecordIO-protobuf, trains built-in NTM through the generic Estimator and the ntm image with only
``num_topics`` and ``feature_dim`` set, deploys it, reads ``topic_weights`` for CSV requests, predicts the
whole training set in batches and correlates the known topic mixtures with the predicted weights.
Adaptations are marked ``# SHIPYARD:``.
"""

import io
import os

import boto3
import numpy as np
import pandas as pd
import sagemaker
import sagemaker.amazon.common as smac
from sagemaker import image_uris
from sagemaker.deserializers import JSONDeserializer
from sagemaker.serializers import CSVSerializer

# SHIPYARD: no notebook execution role to look up (get_execution_role); any role ARN is accepted.
role = "arn:aws:iam::123456789012:role/Shipyard"
bucket = sagemaker.Session().default_bucket()  # SHIPYARD: the notebook asks for '<your_s3_bucket_name_here>'
prefix = "sagemaker/DEMO-ntm-synthetic"


# SHIPYARD: the notebook imports generate_griffiths_data from generate_example_data.py beside it (plotting
# helpers included, which need matplotlib). This is the same generative model in numpy: a uniform Dirichlet
# topic prior, topic i spread over column i of the 5x5 word grid (Dirichlet(100, ..., 100) weights),
# Poisson(150) document lengths.
def generate_griffiths_data(num_documents=5000, average_document_length=150, num_topics=5, vocabulary_size=25,
                            seed=0):
    rng = np.random.default_rng(seed)
    image_dim = int(np.sqrt(vocabulary_size))
    alpha = np.ones(num_topics) / num_topics
    beta = np.zeros((num_topics, image_dim, image_dim))
    for i in range(image_dim):
        beta[i, :, i] = rng.dirichlet([100] * image_dim)
    if num_topics == 2 * image_dim:
        for i in range(image_dim):
            beta[i + image_dim, i, :] = rng.dirichlet([100] * image_dim)
    beta = beta.reshape(num_topics, vocabulary_size)
    thetas = rng.dirichlet(alpha, size=num_documents)
    lengths = rng.poisson(average_document_length, size=num_documents)
    documents = np.stack([rng.multinomial(n, t @ beta) for n, t in zip(lengths, thetas)]).astype(float)
    return alpha, beta, documents, thetas


# generate the sample data
num_documents = 5000
num_topics = 5
vocabulary_size = 25
known_alpha, known_beta, documents, topic_mixtures = generate_griffiths_data(
    num_documents=num_documents, num_topics=num_topics, vocabulary_size=vocabulary_size
)

# separate the generated data into training and tests subsets
num_documents_training = int(0.8 * num_documents)
num_documents_test = num_documents - num_documents_training

documents_training = documents[:num_documents_training]
documents_test = documents[num_documents_training:]

topic_mixtures_training = topic_mixtures[:num_documents_training]
topic_mixtures_test = topic_mixtures[num_documents_training:]

data_training = (documents_training, np.zeros(num_documents_training))
data_test = (documents_test, np.zeros(num_documents_test))

print("First training document = {}".format(documents[0]))
print("\nVocabulary size = {}".format(vocabulary_size))
np.set_printoptions(precision=4, suppress=True)
print("Known topic mixture of first training document = {}".format(topic_mixtures_training[0]))
print("\nNumber of topics = {}".format(num_topics))
# SHIPYARD: the notebook plots ten documents with matplotlib here (plot_topic_data).

buf = io.BytesIO()
smac.write_numpy_to_dense_tensor(buf, data_training[0].astype("float32"))
buf.seek(0)

key = "ntm.data"
boto3.resource("s3").Bucket(bucket).Object(os.path.join(prefix, "train", key)).upload_fileobj(buf)
s3_train_data = "s3://{}/{}/train/{}".format(bucket, prefix, key)

container = image_uris.retrieve("ntm", boto3.Session().region_name)

sess = sagemaker.Session()

ntm = sagemaker.estimator.Estimator(
    container,
    role,
    instance_count=1,
    instance_type="ml.c4.xlarge",
    output_path="s3://{}/{}/output".format(bucket, prefix),
    sagemaker_session=sess,
)
ntm.set_hyperparameters(num_topics=num_topics, feature_dim=vocabulary_size)

ntm.fit({"train": s3_train_data}, wait=False)  # SHIPYARD: wait below with a 1 s poll, not the SDK's 30 s
sess.logs_for_job(ntm.latest_training_job.name, wait=True, poll=1)

ntm_predictor = ntm.deploy(
    initial_instance_count=1,
    instance_type="ml.m4.xlarge",
    serializer=CSVSerializer(),
    deserializer=JSONDeserializer(),
    wait=False,  # SHIPYARD: wait below with a 1 s poll
)
sess.wait_for_endpoint(ntm_predictor.endpoint_name, poll=1)

results = ntm_predictor.predict(documents_training[:10])
print(results)

predictions = np.array([prediction["topic_weights"] for prediction in results["predictions"]])
print(predictions)

print(topic_mixtures_training[0])  # known topic mixture
print(predictions[0])  # computed topic mixture


def predict_batches(data, rows=1000):
    split_array = np.array_split(data, int(data.shape[0] / float(rows) + 1))
    predictions = []
    for array in split_array:
        results = ntm_predictor.predict(array)
        predictions += [r["topic_weights"] for r in results["predictions"]]
    return np.array(predictions)


predictions = predict_batches(documents_training)

data = pd.DataFrame(
    np.concatenate([topic_mixtures_training, predictions], axis=1),
    columns=["actual_{}".format(i) for i in range(5)] + ["predictions_{}".format(i) for i in range(5)],
)
print(data.corr())  # SHIPYARD: print in place of IPython's display(); the scatter matrix plot is left out

# SHIPYARD: a check in place of reading the table: every known topic correlates clearly with some predicted one.
corr = data.corr().values[:5, 5:]
print("best correlation per known topic", corr.max(axis=1))
assert predictions.shape == (num_documents_training, num_topics)
assert np.all(corr.max(axis=1) > 0.5), corr

sagemaker.Session().delete_endpoint(ntm_predictor.endpoint_name)
