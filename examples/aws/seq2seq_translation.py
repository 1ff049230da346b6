"""Machine Translation English-German Example Using SageMaker Seq2Seq, converted to a script for Shipyard.

Source notebook: aws/amazon-sagemaker-examples,
introduction_to_amazon_algorithms/seq2seq_translation_en-de/SageMaker-Seq2Seq-Translation-English-German.ipynb

Builds vocabularies and RecordIO-protobuf sentence pairs (train.rec, val.rec, vocab.src.json, vocab.trg.json),
uploads them, trains with boto3's create_training_job on the seq2seq image, creates a model, an endpoint
configuration and an endpoint, translates in JSON (with an attention matrix) and in RecordIO-protobuf, and
deletes the endpoint. Adaptations are marked ``# SHIPYARD:``.
"""

import io
import json
import time
from time import gmtime, strftime

import boto3
import numpy as np
import sagemaker

from shipyard.algorithms.seq2seq import sample  # SHIPYARD: the toy language pair (see below)
from shipyard.io.protobuf import decode_record
from shipyard.io.recordio import split_records

sagemaker_session = sagemaker.Session()

# S3 bucket and prefix
bucket = sagemaker_session.default_bucket()
prefix = "sagemaker/DEMO-seq2seq"

# SHIPYARD: no notebook execution role to look up (get_execution_role); any role ARN is accepted.
role = "arn:aws:iam::123456789012:role/Shipyard"

# SHIPYARD: the notebook downloads WMT17 English-German (corpus.tc.en/.de, newstest2014) and runs its
# create_vocab_proto.py. No downloads at run time: a generated toy "English-German" pair (each word has its own
# translation, neighbouring words swap places) is written in exactly the files that script writes: records
# with Int32 features["source"]/["target"] and vocabularies with <pad>=0, <unk>=1, <s>=2, </s>=3.
vocab_src, vocab_trg = sample.vocabularies()
train_pairs, val_pairs = sample.corpus(1000, seed=0), sample.corpus(100, seed=1)
files = {
    "train.rec": sample.recordio(train_pairs, vocab_src, vocab_trg),
    "val.rec": sample.recordio(val_pairs, vocab_src, vocab_trg),
    "vocab.src.json": json.dumps(vocab_src, indent=4).encode(),
    "vocab.trg.json": json.dumps(vocab_trg, indent=4).encode(),
}
for name, content in files.items():
    with open(name, "wb") as f:
        f.write(content)
print("source:", train_pairs[0][0], "| target:", train_pairs[0][1])


def upload_to_s3(bucket, prefix, channel, file):
    s3 = boto3.resource("s3")
    data = open(file, "rb")
    key = prefix + "/" + channel + "/" + file
    s3.Bucket(bucket).put_object(Key=key, Body=data)


upload_to_s3(bucket, prefix, "train", "train.rec")
upload_to_s3(bucket, prefix, "validation", "val.rec")
upload_to_s3(bucket, prefix, "vocab", "vocab.src.json")
upload_to_s3(bucket, prefix, "vocab", "vocab.trg.json")

region_name = boto3.Session().region_name

# SHIPYARD: the notebook's sagemaker.amazon.amazon_estimator.get_image_uri is gone from SDK 2.x; its
# replacement image_uris.retrieve names the same image.
container = sagemaker.image_uris.retrieve("seq2seq", region_name)

print("Using SageMaker Seq2Seq container: {} ({})".format(container, region_name))

job_name = "DEMO-seq2seq-en-de-" + strftime("%Y-%m-%d-%H-%M-%S", gmtime())  # SHIPYARD: seconds, for reruns
print("Training job", job_name)

create_training_params = {
    "AlgorithmSpecification": {"TrainingImage": container, "TrainingInputMode": "File"},
    "RoleArn": role,
    "OutputDataConfig": {"S3OutputPath": "s3://{}/{}/".format(bucket, prefix)},
    "ResourceConfig": {
        # Seq2Seq does not support multiple machines. Currently, it only supports single machine, multiple GPUs
        "InstanceCount": 1,
        "InstanceType": "ml.p2.xlarge",  # We suggest one of ["ml.p2.16xlarge", "ml.p2.8xlarge", "ml.p2.xlarge"]
        "VolumeSizeInGB": 50,
    },
    "TrainingJobName": job_name,
    "HyperParameters": {
        # Please refer to the documentation for complete list of parameters
        "max_seq_len_source": "60",
        "max_seq_len_target": "60",
        "optimized_metric": "bleu",
        "batch_size": "64",  # Please use a larger batch size (256 or 512) if using ml.p2.8xlarge or ml.p2.16xlarge
        # SHIPYARD: checkpoints every 1000 batches in the notebook; the toy pair has 16 batches an epoch
        "checkpoint_frequency_num_batches": "50",
        # SHIPYARD: the notebook's 512-unit network with 512-wide embeddings is sized for WMT on a GPU; the toy
        # pair's 12 words train in seconds on a CPU with 32 units (GRU) and 16-wide embeddings
        "rnn_num_hidden": "32",
        "rnn_cell_type": "gru",
        "learning_rate": "0.01",
        "num_layers_encoder": "1",
        "num_layers_decoder": "1",
        "num_embed_source": "16",
        "num_embed_target": "16",
        "checkpoint_threshold": "3",
        "max_num_batches": "250",  # SHIPYARD: 2100 in the notebook
        # Training will stop after 250 iterations/batches.
        # This is just for demo purposes. Remove the above parameter if you want a better model.
    },
    "StoppingCondition": {"MaxRuntimeInSeconds": 48 * 3600},
    "InputDataConfig": [
        {
            "ChannelName": "train",
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": "s3://{}/{}/train/".format(bucket, prefix),
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
        },
        {
            "ChannelName": "vocab",
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": "s3://{}/{}/vocab/".format(bucket, prefix),
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
        },
        {
            "ChannelName": "validation",
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": "s3://{}/{}/validation/".format(bucket, prefix),
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
        },
    ],
}

sagemaker_client = boto3.Session().client(service_name="sagemaker")
sagemaker_client.create_training_job(**create_training_params)

status = sagemaker_client.describe_training_job(TrainingJobName=job_name)["TrainingJobStatus"]
print(status)

status = sagemaker_client.describe_training_job(TrainingJobName=job_name)["TrainingJobStatus"]

deadline = time.monotonic() + 240  # SHIPYARD: a bound on the wait
while status == "InProgress" and time.monotonic() < deadline:
    time.sleep(2)  # SHIPYARD: 60 s between looks in the notebook
    status = sagemaker_client.describe_training_job(TrainingJobName=job_name)["TrainingJobStatus"]

print(status)
# if the job failed, determine why
if status == "Failed":
    message = sagemaker_client.describe_training_job(TrainingJobName=job_name)["FailureReason"]
    print("Training failed with the following error: {}".format(message))
    raise Exception("Training job failed")

sage = boto3.client("sagemaker")

info = sage.describe_training_job(TrainingJobName=job_name)
model_name = job_name
model_data = info["ModelArtifacts"]["S3ModelArtifacts"]
# SHIPYARD: print the final metrics (the notebook shows them in the console)
print({m["MetricName"]: round(m["Value"], 4) for m in info.get("FinalMetricDataList", [])})

print(model_name)
print(model_data)

primary_container = {"Image": container, "ModelDataUrl": model_data}

create_model_response = sage.create_model(
    ModelName=model_name, ExecutionRoleArn=role, PrimaryContainer=primary_container
)

print(create_model_response["ModelArn"])

endpoint_config_name = "DEMO-Seq2SeqEndpointConfig-" + strftime("%Y-%m-%d-%H-%M-%S", gmtime())
print(endpoint_config_name)
create_endpoint_config_response = sage.create_endpoint_config(
    EndpointConfigName=endpoint_config_name,
    ProductionVariants=[
        {
            "InstanceType": "ml.m4.xlarge",
            "InitialInstanceCount": 1,
            "ModelName": model_name,
            "VariantName": "AllTraffic",
        }
    ],
)

print("Endpoint Config Arn: " + create_endpoint_config_response["EndpointConfigArn"])

endpoint_name = "DEMO-Seq2SeqEndpoint-" + strftime("%Y-%m-%d-%H-%M-%S", gmtime())
print(endpoint_name)
create_endpoint_response = sage.create_endpoint(
    EndpointName=endpoint_name, EndpointConfigName=endpoint_config_name
)
print(create_endpoint_response["EndpointArn"])

resp = sage.describe_endpoint(EndpointName=endpoint_name)
status = resp["EndpointStatus"]
print("Status: " + status)

# wait until the status has changed
# SHIPYARD: the waiter looks every 2 s, at most 60 times (30 s, 120 times in boto3's default)
sage.get_waiter("endpoint_in_service").wait(
    EndpointName=endpoint_name, WaiterConfig={"Delay": 2, "MaxAttempts": 60}
)

# print the status of the endpoint
endpoint_response = sage.describe_endpoint(EndpointName=endpoint_name)
status = endpoint_response["EndpointStatus"]
print("Endpoint creation ended with EndpointStatus = {}".format(status))

if status != "InService":
    raise Exception("Endpoint creation failed.")

runtime = boto3.client(service_name="runtime.sagemaker")

# SHIPYARD: sentences of the toy language instead of English
sentences = ["the cat sees a dog", "a big red house", "the small fish runs"]

payload = {"instances": []}
for sent in sentences:
    payload["instances"].append({"data": sent})

response = runtime.invoke_endpoint(
    EndpointName=endpoint_name, ContentType="application/json", Body=json.dumps(payload)
)

response = response["Body"].read().decode("utf-8")
response = json.loads(response)
print(response)
# SHIPYARD: check the translations against the toy language's rule
correct = sum(p["target"] == sample.translate(s) for p, s in zip(response["predictions"], sentences))
print(f"{correct} of {len(sentences)} translations exact")
assert correct >= 2, response

sentence = "the cat sees a dog"

payload = {"instances": [{"data": sentence, "configuration": {"attention_matrix": "true"}}]}

response = runtime.invoke_endpoint(
    EndpointName=endpoint_name, ContentType="application/json", Body=json.dumps(payload)
)

response = response["Body"].read().decode("utf-8")
response = json.loads(response)["predictions"][0]

source = sentence
target = response["target"]
attention_matrix = np.array(response["matrix"])

print("Source: %s \nTarget: %s" % (source, target))


# SHIPYARD: prints the attention matrix as text instead of plotting it with matplotlib
def plot_matrix(attention_matrix, target, source):
    source_tokens = source.split()
    target_tokens = target.split()
    assert attention_matrix.shape[0] == len(target_tokens)
    print("         " + " ".join(f"{t:>8}" for t in target_tokens))
    for j, tok in enumerate(source_tokens):
        print(f"{tok:>8} " + " ".join(f"{attention_matrix[i, j]:8.2f}" for i in range(len(target_tokens))))


plot_matrix(attention_matrix, target, source)

# SHIPYARD: the notebook imports record_pb2 (generated protobuf code) and create_vocab_proto's helpers for
# the RecordIO-protobuf request; the same bytes come from Shipyard's encoder (sample.record) here.
source = vocab_src
target = vocab_trg

source_rev = {v: k for k, v in source.items()}
target_rev = {v: k for k, v in target.items()}

sentences = [
    "the cat eats",
    "a dog runs",
    "the big house sees a small fish",
    "red cat",
]

# Convert strings to integers using source vocab mapping.
# Out-of-vocabulary strings are mapped to 1 - the mapping for <unk>
sentences = [[source.get(token, 1) for token in sentence.split()] for sentence in sentences]
f = io.BytesIO()
for sentence in sentences:
    f.write(sample.record(sentence, []))

response = runtime.invoke_endpoint(
    EndpointName=endpoint_name, ContentType="application/x-recordio-protobuf", Body=f.getvalue()
)

response = response["Body"].read()


def _parse_proto_response(received_bytes):
    # SHIPYARD: Shipyard's RecordIO reader and Record decoder instead of read_next and record_pb2
    target_sentences = []
    for payload in split_records(received_bytes):
        rec = decode_record(payload)
        target = list(rec.features["target"].values)
        target_sentences.append(target)
    return target_sentences


targets = _parse_proto_response(response)
resp = [" ".join([target_rev.get(token, "<unk>") for token in sentence]) for sentence in targets]
print(resp)
assert len(resp) == 4  # SHIPYARD: sanity check

sage.delete_endpoint(EndpointName=endpoint_name)
