"""Building your own algorithm container: a decision-tree image with `train` and `serve`, pushed to ECR, trained,
hosted and run as a batch transform with the SageMaker SDK.

Source notebook: aws/amazon-sagemaker-examples,
advanced_functionality/scikit_bring_your_own/scikit_bring_your_own.ipynb (with container/build_and_push.sh)

Builds the image of ``scikit_bring_your_own/container/`` (AWS's layout: ``decision_trees/train`` and
``decision_trees/serve`` in ``/opt/program``), creates the ECR repository ``sagemaker-decision-trees``, logs
Docker in with GetAuthorizationToken and pushes; then ``Estimator(image_uri=<ECR URI>)`` trains on the iris
data, ``deploy`` + ``predict`` scores rows, and ``transformer(...).transform`` scores a file. Adaptations are
marked ``# SHIPYARD:``.
"""

import base64
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import boto3
import numpy as np
import pandas as pd
import sagemaker as sage
from sagemaker.serializers import CSVSerializer
from sklearn.datasets import load_iris

HERE = Path(__file__).resolve().parent
WORK = Path(tempfile.mkdtemp(prefix="scikit-byo-"))  # SHIPYARD: scratch files outside the repository
algorithm_name = "sagemaker-decision-trees"

# SHIPYARD: no public hub is reachable, so the image cannot start FROM ubuntu: it starts FROM Shipyard's base
# image (Debian minbase + python3 + numpy, built locally with debootstrap and cached), made here with Shipyard's
# own helpers; they also start dockerd when no Docker daemon answers. Without Shipyard installed, any image
# with python3 and numpy will do: pass it as --build-arg BASE=<image>.
try:
    from shipyard.containers.base_image import ensure_base_image
    from shipyard.containers.daemon import provide_engine

    engine = provide_engine().engine
    base = ensure_base_image(engine).ref
    docker = engine.cli
except ImportError:
    docker, base = "docker", os.environ.get("BYO_BASE_IMAGE", "shipyard/test-base:1")

# The notebook's build_and_push.sh, in Python.
region = boto3.Session().region_name
account = boto3.client("sts").get_caller_identity()["Account"]
fullname = f"{account}.dkr.ecr.{region}.amazonaws.com/{algorithm_name}:latest"
ecr = boto3.client("ecr")
try:
    ecr.describe_repositories(repositoryNames=[algorithm_name])
except ecr.exceptions.RepositoryNotFoundException:
    ecr.create_repository(repositoryName=algorithm_name)
auth = ecr.get_authorization_token()["authorizationData"][0]
user, _, password = base64.b64decode(auth["authorizationToken"]).decode().partition(":")
# SHIPYARD: a Docker client configuration of this example's own, so the login does not touch ~/.docker.
env = {**os.environ, "DOCKER_CONFIG": str(WORK / "docker-config"), "DOCKER_BUILDKIT": "0"}
subprocess.run([docker, "login", "--username", user, "--password-stdin", auth["proxyEndpoint"]],
               input=password.encode(), env=env, check=True, capture_output=True)
subprocess.run([docker, "build", "-q", "-t", algorithm_name, "--build-arg", f"BASE={base}",
                str(HERE / "scikit_bring_your_own" / "container")], env=env, check=True)
# SHIPYARD: `docker push <account>.dkr.ecr...` would look the ECR host up in DNS; the push goes to the
# registry's own address (GetAuthorizationToken's proxyEndpoint), and the ECR URI names the same image in
# TrainingImage and the model (Shipyard maps it, see docs/containers.md).
pushed = f"{auth['proxyEndpoint'].removeprefix('http://').removeprefix('https://')}/{algorithm_name}:latest"
subprocess.run([docker, "tag", algorithm_name, pushed], env=env, check=True)
subprocess.run([docker, "push", pushed], env=env, check=True, capture_output=True)
print("pushed", fullname)

# S3 prefix
prefix = "DEMO-scikit-byo-iris"

# SHIPYARD: no notebook execution role to look up (get_execution_role); any role ARN is accepted.
role = "arn:aws:iam::123456789012:role/Shipyard"
sess = sage.Session()

# SHIPYARD: the notebook ships data/iris.csv; the same data comes from scikit-learn (label names first, no header).
WORK_DIRECTORY = WORK / "data"
WORK_DIRECTORY.mkdir(parents=True, exist_ok=True)
iris = load_iris()
frame = pd.DataFrame(iris.data, columns=iris.feature_names)
frame.insert(0, "species", np.array(iris.target_names)[iris.target])
frame.to_csv(WORK_DIRECTORY / "iris.csv", header=False, index=False)
data_location = sess.upload_data(str(WORK_DIRECTORY), key_prefix=prefix)

image = fullname
tree = sage.estimator.Estimator(
    image,
    role,
    1,
    "ml.c4.2xlarge",
    output_path="s3://{}/output".format(sess.default_bucket()),
    sagemaker_session=sess,
    hyperparameters={"max_leaf_nodes": 5},  # SHIPYARD: the notebook's default, named so the log shows it used
)
tree.fit(data_location, wait=False)
# SHIPYARD: fit() streams the log polling every 10 s (and deploy/transform every 30 s); local jobs take seconds.
sess.logs_for_job(tree.latest_training_job.name, wait=True, poll=1)

predictor = tree.deploy(1, "ml.m4.xlarge", serializer=CSVSerializer(), wait=False)
sess.wait_for_endpoint(predictor.endpoint_name, poll=1)  # SHIPYARD: shorter waits
try:
    # The notebook scores every 10th row.
    shape = frame
    test_data = shape.iloc[list(range(0, 150, 10))]
    test_X = test_data.iloc[:, 1:]
    answers = predictor.predict(test_X.values).decode("utf-8").split()
    print(answers)
    accuracy = float(np.mean(np.array(answers) == test_data["species"].values))
    print(f"accuracy on the scored rows: {accuracy:.2f}")
    assert accuracy >= 0.9, accuracy  # SHIPYARD: the example checks its own answer, so a failure shows
finally:
    sess.delete_endpoint(predictor.endpoint_name)

# Batch transform
transform_input_folder = WORK / "batch"
transform_input_folder.mkdir(exist_ok=True)
shape.iloc[:, 1:].to_csv(transform_input_folder / "batch_data.csv", header=False, index=False)
transform_input = sess.upload_data(str(transform_input_folder), key_prefix=prefix + "-batch")
transformer = tree.transformer(instance_count=1, instance_type="ml.m4.xlarge")
transformer.transform(transform_input, content_type="text/csv", split_type="Line", wait=False)
sess.wait_for_transform_job(transformer.latest_transform_job.name, poll=1)  # SHIPYARD: shorter waits
output = transformer.output_path.rstrip("/") + "/batch_data.csv.out"
bucket, key = output[5:].split("/", 1)
lines = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode().split()
print(f"transform output: {len(lines)} predictions, first {lines[:3]}")
assert len(lines) == len(shape), (len(lines), len(shape))
sys.exit(0)
