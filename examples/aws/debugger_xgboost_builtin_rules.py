"""Debugging XGBoost training jobs with Amazon SageMaker Debugger using rules, converted to a script for Shipyard.

Source notebook: aws/amazon-sagemaker-examples,
sagemaker-debugger/xgboost_builtin_rules/xgboost-regression-debugger-rules.ipynb

SDK flow: the built-in XGBoost (``image_uris.retrieve("xgboost", version="0.90-2")``) through ``Estimator`` with a
``DebuggerHookConfig`` saving the ``metrics``, ``feature_importance`` and ``average_shap`` collections every 5
rounds and the built-in ``LossNotDecreasing`` rule over ``metrics``; ``fit(wait=False)``, poll
``rule_job_summary()`` until the rule ends, then read the saved tensors back as a trial and plot them.
Adaptations are marked ``# SHIPYARD:``.
"""

import re
import time

import boto3
import numpy as np
import sagemaker

# SHIPYARD: the notebook's first cell is `pip install smdebug`. smdebug pins protobuf 3.20 and cannot be installed
# beside the SageMaker SDK here, so the analysis below reads the same smdebug layout with shipyard.debugger.trial
# (see `create_trial`); everything up to the analysis is the notebook's SDK code.

from sagemaker.image_uris import retrieve

# Below changes the Region to be one where this notebook is running
region = boto3.Session().region_name

container = retrieve(region=region, framework="xgboost", version="0.90-2")

bucket = sagemaker.Session().default_bucket()
prefix = "DEMO-smdebug-xgboost-abalone"


# SHIPYARD: the notebook's data_utils.load_abalone downloads the abalone libsvm file from the LIBSVM site and
# splits it into training and validation files. No downloads at run time here: a generated set of the same
# schema (label = rings; features 1..8 = sex code, length, diameter, height, whole/shucked/viscera/shell
# weight), in the same libsvm format.
def load_abalone(train_split=0.8, seed=42):
    rng = np.random.default_rng(seed)
    n = 1200
    sex = rng.integers(1, 4, size=n)
    length = rng.uniform(0.1, 0.8, size=n)
    diameter = length * rng.uniform(0.7, 0.85, size=n)
    height = length * rng.uniform(0.2, 0.4, size=n)
    whole = 4 * length ** 3 * rng.uniform(0.8, 1.2, size=n)
    shucked, viscera, shell = whole * 0.43, whole * 0.22, whole * 0.29
    rings = np.clip(np.round(3 + 15 * shell + 8 * length + rng.normal(0, 2.0, size=n)), 1, 29)
    features = np.column_stack([sex, length, diameter, height, whole, shucked, viscera, shell])
    lines = [f"{int(y)} " + " ".join(f"{i + 1}:{v:.4f}" for i, v in enumerate(row)) + "\n"
             for y, row in zip(rings, features)]
    cut = int(train_split * n)
    train_file, validation_file = "abalone.train.libsvm", "abalone.validation.libsvm"
    with open(train_file, "w") as f:
        f.writelines(lines[:cut])
    with open(validation_file, "w") as f:
        f.writelines(lines[cut:])
    return train_file, validation_file


def upload_to_s3(filename, bucket, key):
    """data_utils.upload_to_s3 of the notebook."""
    with open(filename, "rb") as data:
        boto3.Session().resource("s3").Bucket(bucket).Object(key).upload_fileobj(data)


train_file, validation_file = load_abalone()
upload_to_s3(train_file, bucket, f"{prefix}/train/abalone.train.libsvm")
upload_to_s3(validation_file, bucket, f"{prefix}/validation/abalone.validation.libsvm")

# SHIPYARD: no notebook execution role to look up (get_execution_role); any role ARN is accepted.
role = "arn:aws:iam::123456789012:role/Shipyard"
base_job_name = "demo-smdebug-xgboost-classification"
bucket_path = "s3://{}".format(bucket)

hyperparameters = {
    "max_depth": "5",
    "eta": "0.2",
    "gamma": "4",
    "min_child_weight": "6",
    "subsample": "0.7",
    "silent": "0",
    "objective": "reg:squarederror",
    "num_round": "51",
}

save_interval = 5

base_job_name = "demo-smdebug-xgboost-regression"

from sagemaker.debugger import CollectionConfig, DebuggerHookConfig, Rule, rule_configs  # noqa: E402
from sagemaker.estimator import Estimator  # noqa: E402

algorithm_mode_default_estimator = Estimator(
    role=role,
    base_job_name=base_job_name,
    instance_count=1,
    instance_type="ml.m5.xlarge",
    image_uri=container,
    hyperparameters=hyperparameters,
    max_run=1800,
    debugger_hook_config=DebuggerHookConfig(
        s3_output_path=bucket_path,  # Required
        collection_configs=[
            CollectionConfig(name="metrics", parameters={"save_interval": str(save_interval)}),
            CollectionConfig(name="feature_importance", parameters={"save_interval": str(save_interval)}),
            CollectionConfig(name="average_shap", parameters={"save_interval": str(save_interval)}),
        ],
    ),
    rules=[
        Rule.sagemaker(
            rule_configs.loss_not_decreasing(),
            rule_parameters={
                "collection_names": "metrics",
                "num_steps": str(save_interval * 2),
            },
        ),
    ],
)

from sagemaker.inputs import TrainingInput  # noqa: E402

train_s3_input = TrainingInput("s3://{}/{}/{}".format(bucket, prefix, "train"), content_type="libsvm")
validation_s3_input = TrainingInput("s3://{}/{}/{}".format(bucket, prefix, "validation"), content_type="libsvm")
algorithm_mode_default_estimator.fit(
    {"train": train_s3_input, "validation": validation_s3_input},
    # This is a fire and forget event. By setting wait=False, you just submit the job to run in the background.
    # Amazon SageMaker starts one training job and release control to next cells in the notebook.
    # Follow this notebook to see status of the training job.
    wait=False,
)

# Check the status of the training job and of the rule-execution job SageMaker starts beside it.
for _ in range(360):
    job_name = algorithm_mode_default_estimator.latest_training_job.name
    client = algorithm_mode_default_estimator.sagemaker_session.sagemaker_client
    description = client.describe_training_job(TrainingJobName=job_name)
    training_job_status = description["TrainingJobStatus"]
    rule_job_summary = algorithm_mode_default_estimator.latest_training_job.rule_job_summary()
    rule_evaluation_status = rule_job_summary[0]["RuleEvaluationStatus"]
    print("Training job status: {}, Rule Evaluation Status: {}".format(training_job_status, rule_evaluation_status))

    if rule_evaluation_status in ["Stopped", "IssuesFound", "NoIssuesFound"]:
        break

    time.sleep(1)  # SHIPYARD: the notebook polls every 10 s; local jobs take seconds.

# Check the status of the Rule Evaluation Job
summary = algorithm_mode_default_estimator.latest_training_job.rule_job_summary()
print(summary)

# SHIPYARD: checks in place of reading the printed summary. As in the notebook's run, the rule finds the issue
# (validation-rmse stops decreasing with eta 0.2 and gamma 4) and its rule job ends with RuleEvaluationConditionMet
# (the data and XGBoost's sampling are seeded: the same every run).
[rule] = summary
assert rule["RuleConfigurationName"] == "LossNotDecreasing", rule
assert rule["RuleEvaluationStatus"] == "IssuesFound", rule
assert rule["StatusDetails"].startswith("RuleEvaluationConditionMet"), rule
assert rule["RuleEvaluationJobArn"].split("/")[-1].startswith(job_name[:20]), rule
rule_job = client.describe_processing_job(ProcessingJobName=rule["RuleEvaluationJobArn"].split("/")[-1])
print("Rule job", rule_job["ProcessingJobName"], rule_job["ProcessingJobStatus"])

# The training job itself runs on (the rule only reports: it has no StopTraining action).
algorithm_mode_default_estimator.latest_training_job.wait(logs="None")
assert client.describe_training_job(TrainingJobName=job_name)["TrainingJobStatus"] == "Completed"

# ## Data Analysis - Manual
#
# SHIPYARD: the notebook does
#     from smdebug.trials import create_trial
#     trial = create_trial(s3_output_path)
# and then uses trial.tensor_names(), trial.tensor(name).steps() / .value(step) and
# trial.collection(name).tensor_names. smdebug is not installable here (see above); Shipyard's reader of the same
# layout is shipyard.debugger.trial.Trial, whose calls are tensor_names(collection=...), steps(name) and
# value(name, step). `create_trial` below is that adaptation, and only it.
from shipyard.debugger.trial import Trial  # noqa: E402


def create_trial(path):
    trial = Trial(path)  # an s3:// path is read through boto3 with the notebook's credentials and endpoint
    trial.refresh()
    return trial


s3_output_path = algorithm_mode_default_estimator.latest_job_debugger_artifacts_path()
trial = create_trial(s3_output_path)
assert trial.ended(), "training_job_end.ts is missing: the job's tensors are not all uploaded"

# You can list all the tensors that you know something about.
print(trial.tensor_names())

# For each tensor, ask for the steps where you have data. In this case, every five steps
print(trial.steps("train-rmse"))
assert trial.steps("train-rmse") == list(range(0, 51, save_interval)), trial.steps("train-rmse")

# You can obtain each tensor at each step as a NumPy array.
print(type(trial.value("train-rmse", 10)))
assert isinstance(trial.value("train-rmse", 10), np.ndarray)

# ### Performance metrics
# SHIPYARD: the notebook draws with matplotlib and seaborn (sns.despine only); seaborn is not installed, so the
# figures are drawn with matplotlib alone and saved to PNG files instead of shown inline.
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def get_data(trial, tname):
    """
    For the given tensor name, walks though all the iterations
    for which you have data and fetches the values.
    Returns the set of steps and the values.
    """
    steps = trial.steps(tname)
    vals = [trial.value(tname, s) for s in steps]
    return steps, vals


plotted = {}


def plot_collection(trial, collection_name, regex=".*", figsize=(8, 6)):
    """
    Takes a `trial` and a collection name, and
    plots all tensors that match the given regex.
    """
    fig, ax = plt.subplots(figsize=figsize)

    tensors = trial.tensor_names(collection=collection_name)
    lines = plotted.setdefault((collection_name, regex), {})

    for tensor_name in sorted(tensors):
        if re.match(regex, tensor_name):
            steps, data = get_data(trial, tensor_name)
            ax.plot(steps, [float(np.mean(d)) for d in data], label=tensor_name)
            lines[tensor_name] = (steps, data)

    ax.legend(loc="center left", bbox_to_anchor=(1, 0.5))
    ax.set_xlabel("Iteration")
    fig.savefig(f"{collection_name}-{len(plotted)}.png", bbox_inches="tight")
    plt.close(fig)
    return lines


metrics = plot_collection(trial, "metrics")
print("metrics:", sorted(metrics))
assert {"train-rmse", "validation-rmse"} <= set(metrics), sorted(metrics)
train_rmse = [float(v) for v in metrics["train-rmse"][1]]
assert train_rmse[-1] < train_rmse[0] / 2, train_rmse  # the model learned


# ### Feature importances
def plot_feature_importance(trial, importance_type="weight"):
    SUPPORTED_IMPORTANCE_TYPES = ["weight", "gain", "cover", "total_gain", "total_cover"]
    if importance_type not in SUPPORTED_IMPORTANCE_TYPES:
        raise ValueError(f"{importance_type} is not one of the supported importance types.")
    return plot_collection(trial, "feature_importance", regex=f"feature_importance/{importance_type}/.*")


weight = plot_feature_importance(trial)
cover = plot_feature_importance(trial, importance_type="cover")
print("feature importance (weight):", sorted(weight))
assert weight and all(n.startswith("feature_importance/weight/f") for n in weight), sorted(weight)
assert cover and all(n.startswith("feature_importance/cover/f") for n in cover), sorted(cover)

# ### SHAP
shap = plot_collection(trial, "average_shap")
print("average SHAP:", sorted(shap))
assert shap and all(n.startswith("average_shap/f") for n in shap), sorted(shap)
# SHIPYARD: checks in place of reading the figure. f0 is libsvm's unused column 0 (no SHAP at all); the rings are
# generated from the sizes and weights (f2..f8), not from the sex code (f1).
last = {n: abs(float(np.mean(v[1][-1]))) for n, v in shap.items()}
ranked = sorted(last, key=last.get, reverse=True)
print("largest |average SHAP| at the last step:", ranked[:3])
assert last["average_shap/f0"] < 1e-6, last
assert ranked[0] in {f"average_shap/f{i}" for i in range(2, 9)}, ranked
