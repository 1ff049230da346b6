"""Learning Word2Vec Word Representations using BlazingText (text8), converted to a script for Shipyard.

Source notebook: aws/amazon-sagemaker-examples,
introduction_to_amazon_algorithms/blazingtext_word2vec_text8/blazingtext_word2vec_text8.ipynb

The notebook uploads the text8 corpus (one line of 17 million lower-case words), trains built-in BlazingText in
``batch_skipgram`` mode through the generic Estimator, deploys it and asks for the vectors of two words, then
downloads model.tar.gz, reads eval.json and projects the first 400 vectors of vectors.txt with t-SNE.
Adaptations are marked ``# SHIPYARD:``.
"""

import json
import random
import tarfile

import boto3
import numpy as np
import sagemaker
from sklearn.preprocessing import normalize

sess = sagemaker.Session()

# SHIPYARD: no notebook execution role to look up (get_execution_role); any role ARN is accepted.
role = "arn:aws:iam::123456789012:role/Shipyard"
print(role)  # This is the role that SageMaker would use to leverage AWS resources (S3, CloudWatch) on your behalf

bucket = sess.default_bucket()  # Replace with your own bucket name if needed
print(bucket)
# SHIPYARD: AWS's notebook says "blazingtext/supervised", as the text-classification notebook does; run_all runs
# both against one server and bucket at once, and an S3Prefix channel would read the other's files: its own prefix.
prefix = "blazingtext/word2vec"  # Replace with the prefix under which you want to store the data if needed

# SHIPYARD: the notebook downloads text8 (mattmahoney.net, 100 MB). No downloads at run time: a generated
# text8-like corpus (one line of lower-case words) in which words of a topic share their contexts.
TOPICS = {
    "animals": "cat dog horse cow sheep goat lion tiger wolf bear",
    "colours": "red green blue yellow black white orange purple brown grey",
    "numbers": "one two three four five six seven eight nine ten",
    "countries": "france germany italy spain china japan india brazil canada egypt",
    "feelings": "awesome great wonderful amazing excellent good happy fantastic superb brilliant",
    "fire": "blazing burning flaming fiery glowing hot smoldering scorching searing bright",
}
CONTEXT = {
    "animals": "farm zoo wild fur tail legs eats runs",
    "colours": "colour paint shade light dark painted wall dress",
    "numbers": "count number times years hundred plus minus total",
    "countries": "country capital people border government nation language king",
    "feelings": "really very feel movie show fun day idea",
    "fire": "fire flames heat smoke sun burns sky night",
}
FILLER = "the of and in a to is was as for with by that on from at it an".split()
rng = random.Random(0)
words = []
for _ in range(40_000):
    topic = rng.choice(list(TOPICS))
    sentence = [rng.choice(TOPICS[topic].split())] + [rng.choice(CONTEXT[topic].split()) for _ in range(3)]
    sentence += [rng.choice(FILLER) for _ in range(3)]
    rng.shuffle(sentence)
    words += sentence
with open("text8", "w") as f:
    f.write(" " + " ".join(words))

train_channel = prefix + "/train"

sess.upload_data(path="text8", bucket=bucket, key_prefix=train_channel)

s3_train_data = "s3://{}/{}".format(bucket, train_channel)

s3_output_location = "s3://{}/{}/output".format(bucket, prefix)

region_name = boto3.Session().region_name

container = sagemaker.image_uris.retrieve(region=region_name, framework="blazingtext", version="1")
print("Using SageMaker BlazingText container: {} ({})".format(container, region_name))

bt_model = sagemaker.estimator.Estimator(
    container,
    role,
    instance_count=1,  # SHIPYARD: 2 in the notebook (batch_skipgram across instances); one machine here
    instance_type="ml.c4.2xlarge",
    volume_size=5,
    max_run=360000,
    input_mode="File",
    output_path=s3_output_location,
    sagemaker_session=sess,
)

bt_model.set_hyperparameters(
    mode="batch_skipgram",
    epochs=5,
    min_count=5,
    sampling_threshold=0.0001,
    learning_rate=0.05,
    window_size=5,
    vector_dim=100,
    negative_samples=5,
    batch_size=11,  # = (2*window_size + 1) (Preferred. Used only if mode is batch_skipgram)
    evaluation=True,  # Perform similarity evaluation on WS-353 dataset at the end of training
    subwords=False,
)  # Subword embedding learning is not supported by batch_skipgram

train_data = sagemaker.inputs.TrainingInput(
    s3_train_data, distribution="FullyReplicated", content_type="text/plain", s3_data_type="S3Prefix"
)
data_channels = {"train": train_data}

bt_model.fit(inputs=data_channels, logs=True)

bt_endpoint = bt_model.deploy(initial_instance_count=1, instance_type="ml.m4.xlarge")

words = ["awesome", "blazing"]

payload = {"instances": words}

response = bt_endpoint.predict(
    json.dumps(payload), initial_args={"ContentType": "application/json", "Accept": "application/json"}
)

vecs = json.loads(response)
print(vecs)

s3 = boto3.resource("s3")

key = bt_model.model_data[bt_model.model_data.find("/", 5) + 1:]
s3.Bucket(bucket).download_file(key, "model.tar.gz")

# SHIPYARD: the notebook runs `!tar -xvzf model.tar.gz` and `!cat eval.json` in the shell.
with tarfile.open("model.tar.gz") as tar:
    tar.extractall(".", filter="data")
print(open("eval.json").read())

num_points = 400

first_line = True
index_to_word = []
with open("vectors.txt", "r") as f:
    for line_num, line in enumerate(f):
        if first_line:
            dim = int(line.strip().split()[1])
            word_vecs = np.zeros((num_points, dim), dtype=float)
            first_line = False
            continue
        line = line.strip()
        word = line.split()[0]
        vec = word_vecs[line_num - 1]
        for index, vec_val in enumerate(line.split()[1:]):
            vec[index] = float(vec_val)
        index_to_word.append(word)
        if line_num >= num_points:
            break
word_vecs = normalize(word_vecs, copy=False, return_norm=False)

from sklearn.manifold import TSNE  # noqa: E402

n = len(index_to_word)  # SHIPYARD: the generated corpus has fewer than 400 words
tsne = TSNE(perplexity=min(40, n - 1), n_components=2, init="pca", max_iter=500)  # SHIPYARD: 10000 iterations
two_d_embeddings = tsne.fit_transform(word_vecs[:n])
labels = index_to_word[:n]

# SHIPYARD: the notebook plots the points with matplotlib; instead, check that the vectors group by topic:
# each topic word's nearest neighbour (cosine) is a word of the same topic.
vectors = {w: word_vecs[i] for i, w in enumerate(index_to_word)}
topic_of = {w: t for t, ws in TOPICS.items() for w in ws.split()}
right = 0
for w in topic_of:
    others = [o for o in topic_of if o != w]
    best = max(others, key=lambda o: float(vectors[w] @ vectors[o]))
    right += topic_of[best] == topic_of[w]
print(f"nearest neighbour in the same topic: {right} of {len(topic_of)}")
assert right >= 0.8 * len(topic_of), right
assert [v["word"] for v in vecs] == ["awesome", "blazing"] and len(vecs[0]["vector"]) == 100

sess.delete_endpoint(bt_endpoint.endpoint_name)  # SHIPYARD: Predictor.endpoint was renamed endpoint_name
