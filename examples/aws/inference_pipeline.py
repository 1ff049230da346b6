"""Inference Pipeline with Scikit-learn and Linear Learner (abalone), converted to a script for Shipyard.

Source notebook: aws/amazon-sagemaker-examples,
sagemaker-python-sdk/scikit_learn_inference_pipeline/Inference Pipeline with Scikit-learn and Linear Learner.ipynb

SKLearn script mode fits a preprocessor (inference_pipeline/sklearn_abalone_featurizer.py, the notebook's
script unchanged), a batch transform turns the raw CSV into features, built-in Linear Learner trains on them,
and a PipelineModel (sklearn container, then linear-learner) is deployed and invoked with raw CSV.
Adaptations are marked ``# SHIPYARD:``.
"""

import os
from pathlib import Path
from time import gmtime, strftime

import boto3
import numpy as np
import sagemaker
from sagemaker.image_uris import retrieve
from sagemaker.pipeline import PipelineModel
from sagemaker.predictor import Predictor
from sagemaker.serializers import CSVSerializer
from sagemaker.sklearn.estimator import SKLearn

sagemaker_session = sagemaker.Session()

# Get a SageMaker-compatible role used by this Notebook Instance.
# SHIPYARD: no notebook execution role to look up (get_execution_role); any role ARN is accepted.
role = "arn:aws:iam::123456789012:role/Shipyard"

bucket = sagemaker_session.default_bucket()
prefix = "Scikit-LinearLearner-pipeline-abalone-example"

# SHIPYARD: the notebook copies abalone.csv from the sagemaker-sample-files bucket. No downloads at run time:
# a generated file of the same schema (sex,length,diameter,height,whole_weight,shucked_weight,
# viscera_weight,shell_weight,rings; no header), 600 rows instead of 4,177.
WORK_DIRECTORY = "abalone_data"
os.makedirs(WORK_DIRECTORY, exist_ok=True)
rng = np.random.default_rng(11)
n = 600
length = rng.uniform(0.1, 0.8, n)
whole = 4 * length ** 3 * rng.uniform(0.8, 1.2, n)
rings = np.clip(np.round(3 + 40 * whole * 0.29 + 8 * length + rng.normal(0, 1.5, n)), 1, 29)
with open(os.path.join(WORK_DIRECTORY, "abalone.csv"), "w") as f:
    for i in range(n):
        sex = "MFI"[rng.integers(0, 3)]
        f.write(f"{sex},{length[i]:.3f},{length[i] * 0.8:.3f},{length[i] * 0.3:.3f},{whole[i]:.4f},"
                f"{whole[i] * 0.43:.4f},{whole[i] * 0.22:.4f},{whole[i] * 0.29:.4f},{int(rings[i])}\n")

train_input = sagemaker_session.upload_data(
    path=f"{WORK_DIRECTORY}/abalone.csv",
    bucket=bucket,
    key_prefix=f"{prefix}/train",
)

FRAMEWORK_VERSION = "0.23-1"
# SHIPYARD: the notebook's script sits next to it; here it is in inference_pipeline/ beside this file.
script_path = str(Path(__file__).resolve().parent / "inference_pipeline" / "sklearn_abalone_featurizer.py")

sklearn_preprocessor = SKLearn(
    entry_point=script_path,
    role=role,
    framework_version=FRAMEWORK_VERSION,
    instance_type="ml.c4.xlarge",
    sagemaker_session=sagemaker_session,
)

sklearn_preprocessor.fit({"train": train_input})

# Define a SKLearn Transformer from the trained SKLearn Estimator
transformer = sklearn_preprocessor.transformer(
    instance_count=1, instance_type="ml.m5.xlarge", assemble_with="Line", accept="text/csv"
)

# Preprocess training input
transformer.transform(train_input, content_type="text/csv")
print(f"Waiting for transform job: {transformer.latest_transform_job.job_name}")
transformer.wait()
preprocessed_train = transformer.output_path

ll_image = retrieve("linear-learner", boto3.Session().region_name)

s3_ll_output_key_prefix = "ll_training_output"
s3_ll_output_location = f"s3://{bucket}/{prefix}/{s3_ll_output_key_prefix}/ll_model"

ll_estimator = sagemaker.estimator.Estimator(
    ll_image,
    role,
    instance_count=1,
    instance_type="ml.m4.2xlarge",
    volume_size=20,
    max_run=3600,
    input_mode="File",
    output_path=s3_ll_output_location,
    sagemaker_session=sagemaker_session,
)

ll_estimator.set_hyperparameters(feature_dim=10, predictor_type="regressor", mini_batch_size=32)

ll_train_data = sagemaker.inputs.TrainingInput(
    preprocessed_train,
    distribution="FullyReplicated",
    content_type="text/csv",
    s3_data_type="S3Prefix",
)

data_channels = {"train": ll_train_data}
ll_estimator.fit(inputs=data_channels, logs=True)

timestamp_prefix = strftime("%Y-%m-%d-%H-%M-%S", gmtime())

scikit_learn_inferencee_model = sklearn_preprocessor.create_model()
linear_learner_model = ll_estimator.create_model()

model_name = "inference-pipeline-" + timestamp_prefix
endpoint_name = "inference-pipeline-ep-" + timestamp_prefix
sm_model = PipelineModel(
    name=model_name, role=role, models=[scikit_learn_inferencee_model, linear_learner_model]
)

sm_model.deploy(initial_instance_count=1, instance_type="ml.c4.xlarge", endpoint_name=endpoint_name)

payload = "M, 0.44, 0.365, 0.125, 0.516, 0.2155, 0.114, 0.155"
actual_rings = 10
predictor = Predictor(
    endpoint_name=endpoint_name, sagemaker_session=sagemaker_session, serializer=CSVSerializer()
)

result = predictor.predict(payload)
print(result)
assert b"score" in result or result.strip(), result  # SHIPYARD: sanity check

sm_client = sagemaker_session.boto_session.client("sagemaker")
sm_client.delete_endpoint(EndpointName=endpoint_name)
