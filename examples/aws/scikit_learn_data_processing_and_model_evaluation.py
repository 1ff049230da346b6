"""Data pre-processing, training and model evaluation with SageMaker Processing and scikit-learn.

Source notebook: aws/amazon-sagemaker-examples,
sagemaker_processing/scikit_learn_data_processing_and_model_evaluation/scikit_learn_data_processing_and_model_evaluation.ipynb

An SKLearnProcessor job runs preprocessing.py over a census-income CSV (cleaning, train/test split, binning,
scaling and one-hot encoding) and writes train and test features to two outputs; an SKLearn estimator trains a
logistic regression on the train split; a second processing job runs evaluation.py over the model artifact and
the test split and writes evaluation.json, which is read back from S3. The three scripts are the notebook's
(%%writefile cells), in scikit_learn_data_processing_and_model_evaluation/ beside this file. Adaptations are
marked ``# SHIPYARD:``.
"""

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import sagemaker
from sagemaker.processing import ProcessingInput, ProcessingOutput
from sagemaker.s3 import S3Downloader
from sagemaker.sklearn.estimator import SKLearn
from sagemaker.sklearn.processing import SKLearnProcessor

HERE = Path(__file__).resolve().parent / "scikit_learn_data_processing_and_model_evaluation"

sagemaker_session = sagemaker.Session()
region = sagemaker_session.boto_region_name
# SHIPYARD: no notebook execution role to look up (get_execution_role); any role ARN is accepted.
role = "arn:aws:iam::123456789012:role/Shipyard"
# SHIPYARD: the notebook uses framework_version "0.20.0"; 1.2-1 is the image the other sklearn examples use.
sklearn_processor = SKLearnProcessor(
    framework_version="1.2-1", role=role, instance_type="ml.m5.xlarge", instance_count=1
)


# SHIPYARD: the notebook reads s3://sagemaker-sample-data-<region>/processing/census/census-income.csv (a public
# bucket); no downloads here: a census-like CSV with the same columns and labels is generated and uploaded.
def census_like(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    education = rng.choice([" High school graduate", " Bachelors degree(BA AB BS)", " Some college but no degree",
                            " Masters degree(MA MS MEng MEd MSW MBA)", " 10th grade"], n)
    industry = rng.choice([" Not in universe or children", " Retail trade", " Manufacturing-durable goods",
                           " Education", " Finance insurance and real estate"], n)
    worker = rng.choice([" Not in universe", " Private", " Self-employed-not incorporated",
                         " Local government"], n)
    age = rng.integers(16, 90, n)
    persons = rng.integers(0, 7, n)
    gains = np.where(rng.random(n) < 0.1, rng.integers(1000, 20000, n), 0)
    losses = np.where(rng.random(n) < 0.05, rng.integers(100, 3000, n), 0)
    dividends = np.where(rng.random(n) < 0.15, rng.integers(10, 5000, n), 0)
    score = (age - 40) / 15 + gains / 5000 + dividends / 2000 + (persons > 3) \
        + np.isin(education, [" Bachelors degree(BA AB BS)", " Masters degree(MA MS MEng MEd MSW MBA)"]) * 1.5
    income = np.where(score + rng.normal(0, 1, n) > 1.5, " 50000+.", " - 50000.")
    return pd.DataFrame({"age": age, "class of worker": worker, "education": education,
                         "major industry code": industry, "num persons worked for employer": persons,
                         "capital gains": gains, "capital losses": losses, "dividends from stocks": dividends,
                         "income": income})


local_data = Path("census-income.csv")
census_like().to_csv(local_data, index=False)
input_data = sagemaker_session.upload_data(str(local_data), key_prefix="processing/census")

df = pd.read_csv(local_data, nrows=10)
print(df.head(n=10))

sklearn_processor.run(
    code=str(HERE / "preprocessing.py"),
    inputs=[ProcessingInput(source=input_data, destination="/opt/ml/processing/input")],
    outputs=[
        ProcessingOutput(output_name="train_data", source="/opt/ml/processing/train"),
        ProcessingOutput(output_name="test_data", source="/opt/ml/processing/test"),
    ],
    arguments=["--train-test-split-ratio", "0.2"],
)

preprocessing_job_description = sklearn_processor.jobs[-1].describe()

output_config = preprocessing_job_description["ProcessingOutputConfig"]
for output in output_config["Outputs"]:
    if output["OutputName"] == "train_data":
        preprocessed_training_data = output["S3Output"]["S3Uri"]
    if output["OutputName"] == "test_data":
        preprocessed_test_data = output["S3Output"]["S3Uri"]

# SHIPYARD: the notebook reads the S3 object with pandas (through s3fs); S3Downloader reads the same file.
training_features = pd.read_csv(
    io.StringIO(S3Downloader.read_file(preprocessed_training_data + "/train_features.csv")), nrows=10, header=None
)
print("Training features shape: {}".format(training_features.shape))
training_features.head(n=10)

sklearn = SKLearn(entry_point=str(HERE / "train.py"), framework_version="1.2-1", instance_type="ml.m5.xlarge",
                  role=role)
sklearn.fit({"train": preprocessed_training_data})
training_job_description = sklearn.jobs[-1].describe()
model_data_s3_uri = "{}{}/{}".format(
    training_job_description["OutputDataConfig"]["S3OutputPath"],
    training_job_description["TrainingJobName"],
    "output/model.tar.gz",
)

sklearn_processor.run(
    code=str(HERE / "evaluation.py"),
    inputs=[
        ProcessingInput(source=model_data_s3_uri, destination="/opt/ml/processing/model"),
        ProcessingInput(source=preprocessed_test_data, destination="/opt/ml/processing/test"),
    ],
    outputs=[ProcessingOutput(output_name="evaluation", source="/opt/ml/processing/evaluation")],
)
evaluation_job_description = sklearn_processor.jobs[-1].describe()

evaluation_output_config = evaluation_job_description["ProcessingOutputConfig"]
for output in evaluation_output_config["Outputs"]:
    if output["OutputName"] == "evaluation":
        evaluation_s3_uri = output["S3Output"]["S3Uri"] + "/evaluation.json"
        break

evaluation_output = S3Downloader.read_file(evaluation_s3_uri)
evaluation_output_dict = json.loads(evaluation_output)
print(json.dumps(evaluation_output_dict, sort_keys=True, indent=4))
assert evaluation_output_dict["roc_auc"] > 0.6  # SHIPYARD: sanity check (the generated data is learnable)
