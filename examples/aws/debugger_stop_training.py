"""Detect stalled training and invoke actions using a SageMaker Debugger rule, converted to a script for Shipyard.

Source notebook: aws/amazon-sagemaker-examples,
sagemaker-debugger/tensorflow_action_on_rule/detect_stalled_training_job_and_actions.ipynb

SDK flow: a framework estimator in script mode whose training stalls, a built-in rule with
``actions=rule_configs.StopTraining()``, ``fit(wait=False)``, then poll the job's status and the rule's
``rule_job_summary()`` until the rule stops the job, describe it, and build the CloudWatch URL of the rule job's
log stream. Adaptations are marked ``# SHIPYARD:``; the main ones: the notebook's ``StalledTrainingRule`` (a rule
Shipyard does not serve) is replaced by ``LossNotDecreasing`` over the stalled loss, and its TensorFlow 1.15
script by the same script in PyTorch (torch is what is installed; debugger_stop_training/).
"""

import time
from pathlib import Path

import boto3
import sagemaker
# SHIPYARD: the notebook's estimator is sagemaker.tensorflow.TensorFlow (framework 1.15); here PyTorch.
from sagemaker.pytorch import PyTorch

print(sagemaker.__version__)

from sagemaker.debugger import CollectionConfig, Rule, rule_configs  # noqa: E402

# ### Create the actions to be used in the rules
training_job_prefix = None  # Feel free to customize this if desired.

stop_training_action = rule_configs.StopTraining()  # or specify a training job prefix with StopTraining("prefix")
actions = stop_training_action

# SHIPYARD: the notebook configures rule_configs.stalled_training_rule() with {"threshold": "60"} (no new tensors
# for 60 s). Shipyard serves LossNotDecreasing, not StalledTrainingRule: the script's training stalls with its
# learning rate decayed to zero, so its loss stops decreasing, and LossNotDecreasing (checking every 10 steps)
# finds that. Its losses are saved every step rather than the default every 500, so the rule sees them.
stalled_training_job_rule = [
    Rule.sagemaker(
        base_config=rule_configs.loss_not_decreasing(),
        rule_parameters={
            "num_steps": "10",
        },
        collections_to_save=[CollectionConfig("losses", parameters={"save_interval": "1"})],
        actions=actions,
    )
]

# SHIPYARD: no notebook execution role to look up (get_execution_role); any role ARN is accepted.
role = "arn:aws:iam::123456789012:role/Shipyard"

# SHIPYARD: the notebook's script sits next to it in src/; here it is in debugger_stop_training/ beside this file.
source_dir = str(Path(__file__).resolve().parent / "debugger_stop_training")

estimator = PyTorch(
    role=role,
    base_job_name="stalled-training-test",
    instance_count=1,
    instance_type="ml.m5.4xlarge",
    entry_point="simple_stalled_training.py",  # This sample script stalls after 100 steps, for 10 minutes
    source_dir=source_dir,
    framework_version="2.1",
    py_version="py310",
    max_run=3600,
    ## Debugger-specific parameter
    rules=stalled_training_job_rule,
)

estimator.fit(wait=False)

# ## Monitoring Training and Rule Evaluation Status
job_name = estimator.latest_training_job.name
print("Training job name: {}".format(job_name))

client = estimator.sagemaker_session.sagemaker_client

description = client.describe_training_job(TrainingJobName=job_name)

started = time.monotonic()
if description["TrainingJobStatus"] != "Completed":
    while description["SecondaryStatus"] not in {"Stopped", "Completed"}:
        # SHIPYARD: bounded; the script alone would run for more than 10 minutes.
        assert time.monotonic() - started < 240, "the rule did not stop the stalled training job"
        description = client.describe_training_job(TrainingJobName=job_name)
        primary_status = description["TrainingJobStatus"]
        secondary_status = description["SecondaryStatus"]
        print(
            "Current job status: [PrimaryStatus: {}, SecondaryStatus: {}] | {} Rule Evaluation Status: {}".format(
                primary_status,
                secondary_status,
                estimator.latest_training_job.rule_job_summary()[0]["RuleConfigurationName"],
                estimator.latest_training_job.rule_job_summary()[0]["RuleEvaluationStatus"],
            )
        )
        time.sleep(2)  # SHIPYARD: the notebook polls every 15 s.

description = client.describe_training_job(TrainingJobName=job_name)
print(description)

# SHIPYARD: checks in place of reading the printed description: the rule found the stall and its action stopped
# the job long before the script's 10 minutes.
assert description["TrainingJobStatus"] == "Stopped", description["TrainingJobStatus"]
assert description["SecondaryStatus"] == "Stopped", description["SecondaryStatus"]
[status] = description["DebugRuleEvaluationStatuses"]
assert status["RuleConfigurationName"] == "LossNotDecreasing", status
assert status["RuleEvaluationStatus"] == "IssuesFound", status
assert status["StatusDetails"].startswith("RuleEvaluationConditionMet"), status
assert description["TrainingTimeInSeconds"] < 180, description["TrainingTimeInSeconds"]


# ### Get a direct Amazon CloudWatch URL to find the current rule processing job log
# This utility gives the link to monitor the CW event
def _get_rule_job_name(training_job_name, rule_configuration_name, rule_job_arn):
    """Helper function to get the rule job name"""
    return "{}-{}-{}".format(training_job_name[:26], rule_configuration_name[:26], rule_job_arn[-8:])


def _get_cw_url_for_rule_job(rule_job_name, region):
    return "https://{}.console.aws.amazon.com/cloudwatch/home?region={}#logStream:group=/aws/sagemaker/ProcessingJobs;prefix={};streamFilter=typeLogStreamPrefix".format(  # noqa: E501
        region, region, rule_job_name
    )


def get_rule_jobs_cw_urls(estimator):
    region = boto3.Session().region_name
    training_job = estimator.latest_training_job
    training_job_name = training_job.describe()["TrainingJobName"]
    rule_eval_statuses = training_job.describe()["DebugRuleEvaluationStatuses"]

    result = {}
    for status in rule_eval_statuses:
        if status.get("RuleEvaluationJobArn", None) is not None:
            rule_job_name = _get_rule_job_name(
                training_job_name, status["RuleConfigurationName"], status["RuleEvaluationJobArn"]
            )
            result[status["RuleConfigurationName"]] = _get_cw_url_for_rule_job(rule_job_name, region)
    return result


print(
    "The direct CloudWatch URL to the current rule job:",
    get_rule_jobs_cw_urls(estimator)[estimator.latest_training_job.rule_job_summary()[0]["RuleConfigurationName"]],
)

# SHIPYARD: the URL points at AWS's console; the same log stream is read here through the CloudWatch Logs API,
# with the rule job name the notebook's helper builds.
rule_job_name = _get_rule_job_name(job_name, status["RuleConfigurationName"], status["RuleEvaluationJobArn"])
rule_job = client.describe_processing_job(ProcessingJobName=rule_job_name)
assert rule_job["ProcessingJobStatus"] == "Completed", rule_job["ProcessingJobStatus"]
logs = boto3.client("logs")
streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/ProcessingJobs",
                                    logStreamNamePrefix=rule_job_name)["logStreams"]
assert streams, f"no log stream for {rule_job_name}"
events = logs.get_log_events(logGroupName="/aws/sagemaker/ProcessingJobs", logStreamName=streams[0]["logStreamName"],
                             startFromHead=True)["events"]
print("\n".join(e["message"] for e in events[-5:]))
assert any("RuleEvaluationConditionMet" in e["message"] for e in events), [e["message"] for e in events]
