"""Direct marketing with Amazon SageMaker XGBoost and hyperparameter tuning, converted to a script.

Source notebook: aws/amazon-sagemaker-examples,
hyperparameter_tuning/xgboost_direct_marketing/hpo_xgboost_direct_marketing_sagemaker_python_sdk.ipynb

Bank-marketing data one-hot encoded with pandas, built-in XGBoost through the generic Estimator, and a
HyperparameterTuner over eta, min_child_weight, alpha and max_depth maximizing validation:auc.
Adaptations are marked ``# SHIPYARD:``.
"""

import os

import boto3
import numpy as np
import pandas as pd
import sagemaker
from sagemaker.image_uris import retrieve
from sagemaker.inputs import TrainingInput
from sagemaker.tuner import ContinuousParameter, HyperparameterTuner, IntegerParameter

region = boto3.Session().region_name
smclient = boto3.Session().client("sagemaker")

# SHIPYARD: no notebook execution role to look up (get_execution_role); any role ARN is accepted.
role = "arn:aws:iam::123456789012:role/Shipyard"

sess = sagemaker.Session()
bucket = sess.default_bucket()
prefix = "sagemaker/DEMO-hpo-xgboost-dm"


# SHIPYARD: the notebook downloads bank-additional.zip (UCI bank marketing, 41,188 rows). No downloads at run
# time: a generated bank-additional-full.csv with the same 21 columns (';'-separated), 800 rows.
def generate_bank_marketing(n=800, seed=5):
    rng = np.random.default_rng(seed)
    pick = lambda values: rng.choice(values, size=n)  # noqa: E731
    df = pd.DataFrame({
        "age": rng.integers(18, 90, n),
        "job": pick(["admin.", "blue-collar", "technician", "services", "management", "retired", "student",
                     "unemployed", "entrepreneur", "self-employed", "housemaid", "unknown"]),
        "marital": pick(["married", "single", "divorced", "unknown"]),
        "education": pick(["university.degree", "high.school", "basic.9y", "professional.course", "basic.4y",
                           "basic.6y", "unknown", "illiterate"]),
        "default": pick(["no", "unknown", "yes"]),
        "housing": pick(["no", "yes", "unknown"]),
        "loan": pick(["no", "yes", "unknown"]),
        "contact": pick(["cellular", "telephone"]),
        "month": pick(["may", "jul", "aug", "jun", "nov", "apr", "oct", "sep", "mar", "dec"]),
        "day_of_week": pick(["mon", "tue", "wed", "thu", "fri"]),
        "duration": rng.integers(0, 2000, n),
        "campaign": rng.integers(1, 20, n),
        "pdays": np.where(rng.random(n) < 0.9, 999, rng.integers(0, 27, n)),
        "previous": rng.integers(0, 4, n),
        "poutcome": pick(["nonexistent", "failure", "success"]),
        "emp.var.rate": rng.normal(0, 1.5, n).round(1),
        "cons.price.idx": rng.normal(93.5, 0.5, n).round(3),
        "cons.conf.idx": rng.normal(-40, 4, n).round(1),
        "euribor3m": rng.uniform(0.6, 5.0, n).round(3),
        "nr.employed": rng.normal(5167, 70, n).round(1),
    })
    score = (df["pdays"] < 999) * 2.0 + (df["poutcome"] == "success") * 1.5 + (df["age"] > 60) * 1.0 \
        + df["job"].isin(["student", "retired"]) * 1.0 - 2.5 + rng.normal(0, 1, n)
    df["y"] = np.where(score > 0, "yes", "no")
    os.makedirs("bank-additional", exist_ok=True)
    df.to_csv("./bank-additional/bank-additional-full.csv", sep=";", index=False)


generate_bank_marketing()

data = pd.read_csv("./bank-additional/bank-additional-full.csv", sep=";")
pd.set_option("display.max_columns", 500)  # Make sure we can see all of the columns
pd.set_option("display.max_rows", 5)  # Keep the output on one page
print(data)

data["no_previous_contact"] = np.where(data["pdays"] == 999, 1, 0)  # Indicator variable to capture when pdays takes a value of 999
data["not_working"] = np.where(
    np.isin(data["job"], ["student", "retired", "unemployed"]), 1, 0
)  # Indicator for individuals not actively employed
# SHIPYARD: np.isin instead of the notebook's np.in1d, which numpy 2.4 removed (not a Shipyard matter).
model_data = pd.get_dummies(data)  # Convert categorical variables to sets of indicators
print(model_data)

model_data = model_data.drop(
    ["duration", "emp.var.rate", "cons.price.idx", "cons.conf.idx", "euribor3m", "nr.employed"],
    axis=1,
)

# SHIPYARD: the notebook splits with np.split(model_data.sample(...), [...]); with numpy 2.4 / pandas 3 that
# returns bare arrays, so the same split is done with iloc (not a Shipyard matter).
shuffled = model_data.sample(frac=1, random_state=1729)
cut1, cut2 = int(0.7 * len(model_data)), int(0.9 * len(model_data))
train_data, validation_data, test_data = shuffled.iloc[:cut1], shuffled.iloc[cut1:cut2], shuffled.iloc[cut2:]

pd.concat([train_data["y_yes"], train_data.drop(["y_no", "y_yes"], axis=1)], axis=1).astype(float).to_csv(
    "train.csv", index=False, header=False
)  # SHIPYARD: .astype(float): pandas 2 get_dummies gives booleans; pandas 1 (the notebook's) gave 0/1
pd.concat(
    [validation_data["y_yes"], validation_data.drop(["y_no", "y_yes"], axis=1)], axis=1
).astype(float).to_csv("validation.csv", index=False, header=False)
pd.concat([test_data["y_yes"], test_data.drop(["y_no", "y_yes"], axis=1)], axis=1).astype(float).to_csv(
    "test.csv", index=False, header=False
)

boto3.Session().resource("s3").Bucket(bucket).Object(os.path.join(prefix, "train/train.csv")).upload_file(
    "train.csv"
)
boto3.Session().resource("s3").Bucket(bucket).Object(
    os.path.join(prefix, "validation/validation.csv")
).upload_file("validation.csv")

container = retrieve("xgboost", region, version="1.7-1")

s3_input_train = TrainingInput(s3_data=f"s3://{bucket}/{prefix}/train", content_type="csv")
s3_input_validation = TrainingInput(s3_data=f"s3://{bucket}/{prefix}/validation/", content_type="csv")

xgb = sagemaker.estimator.Estimator(
    container,
    role,
    instance_count=1,
    instance_type="ml.m4.xlarge",
    output_path=f"s3://{bucket}/{prefix}/output",
    sagemaker_session=sess,
)

xgb.set_hyperparameters(
    eval_metric="auc",
    objective="binary:logistic",
    num_round=10,
    rate_drop=0.3,
    tweedie_variance_power=1.4,
)

hyperparameter_ranges = {
    "eta": ContinuousParameter(0, 1),
    "min_child_weight": ContinuousParameter(1, 10),
    "alpha": ContinuousParameter(0, 2),
    "max_depth": IntegerParameter(1, 10),
}

objective_metric_name = "validation:auc"

tuner = HyperparameterTuner(
    xgb,
    objective_metric_name,
    hyperparameter_ranges,
    max_jobs=4,  # SHIPYARD: 20 in the notebook; fewer jobs only to keep the run short
    max_parallel_jobs=3,
)

tuner.fit({"train": s3_input_train, "validation": s3_input_validation}, include_cls_metadata=False)

print(boto3.client("sagemaker").describe_hyper_parameter_tuning_job(
    HyperParameterTuningJobName=tuner.latest_tuning_job.job_name
)["HyperParameterTuningJobStatus"])

tuner.wait()  # SHIPYARD: the notebook re-runs the status cell by hand until the job is done
desc = smclient.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=tuner.latest_tuning_job.job_name)
print(desc["HyperParameterTuningJobStatus"], desc["TrainingJobStatusCounters"])
assert desc["HyperParameterTuningJobStatus"] == "Completed", desc.get("FailureReason")
best = desc["BestTrainingJob"]
print("best training job:", best["TrainingJobName"], best["FinalHyperParameterTuningJobObjectiveMetric"],
      best["TunedHyperParameters"])

# Analyze the results (from the companion notebook hyperparameter_tuning/analyze_results)
tuner_analytics = sagemaker.HyperparameterTuningJobAnalytics(tuner.latest_tuning_job.job_name)
full_df = tuner_analytics.dataframe()
print(full_df.sort_values("FinalObjectiveValue", ascending=False))
assert len(full_df) == 4, full_df
