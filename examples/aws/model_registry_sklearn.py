"""Register, approve and deploy model versions with the SageMaker Model Registry (scikit-learn iris), as a script.

Source: the model registry walkthrough of AWS's SageMaker examples and Developer Guide ("Create a Model Group",
"Register a Model Version", "View Model Groups and Versions", "Update the Approval Status of a Model",
"Deploy a Model from the Registry with Python"), with the SKLearn iris estimator of
sagemaker-python-sdk/scikit_learn_iris as the model (its script, unchanged, from sklearn_iris/ beside this file).

Creates a model package group, trains two versions and registers each as PendingManualApproval, lists the
group's versions, approves the latest, deploys the approved version with ``ModelPackage(...).deploy()``,
invokes the endpoint and cleans up. Adaptations are marked ``# SHIPYARD:``.
"""

import time
from pathlib import Path

import boto3
import numpy as np
import sagemaker
from sagemaker import ModelPackage
from sagemaker.sklearn.estimator import SKLearn
from sklearn import datasets

region = boto3.Session().region_name
sagemaker_session = sagemaker.Session()
sm_client = boto3.client("sagemaker", region_name=region)
# SHIPYARD: no notebook execution role to look up (get_execution_role); any role ARN is accepted.
role = "arn:aws:iam::123456789012:role/Shipyard"
prefix = "model-registry-iris"

# Create a Model Group
model_package_group_name = "scikit-iris-detector-" + str(round(time.time()))
model_package_group_input_dict = {
    "ModelPackageGroupName": model_package_group_name,
    "ModelPackageGroupDescription": "Sample model package group",
}
create_model_package_group_response = sm_client.create_model_package_group(**model_package_group_input_dict)
print("ModelPackageGroup Arn : {}".format(create_model_package_group_response["ModelPackageGroupArn"]))

# Training data: iris, label first (scikit-learn's bundled copy, as in the scikit_learn_iris notebook)
iris = datasets.load_iris()
joined_iris = np.insert(iris.data, 0, iris.target, axis=1)
Path("data").mkdir(exist_ok=True)
np.savetxt("./data/iris.csv", joined_iris, delimiter=",", fmt="%1.1f, %1.3f, %1.3f, %1.3f, %1.3f")
train_input = sagemaker_session.upload_data("data", key_prefix=f"{prefix}/data")

# SHIPYARD: the script sits in sklearn_iris/ beside this file (the iris notebook's script, unchanged).
script_path = str(Path(__file__).resolve().parent / "sklearn_iris" / "scikit_learn_iris.py")

# Train and register two model versions
model_package_arns = []
for max_leaf_nodes in (5, 30):
    sklearn = SKLearn(
        entry_point=script_path,
        framework_version="1.2-1",
        instance_type="ml.c4.xlarge",
        role=role,
        sagemaker_session=sagemaker_session,
        hyperparameters={"max_leaf_nodes": max_leaf_nodes},
    )
    sklearn.fit({"train": train_input})
    model_package = sklearn.register(
        content_types=["text/csv"],
        response_types=["text/csv"],
        inference_instances=["ml.t2.medium", "ml.m5.xlarge"],
        transform_instances=["ml.m5.xlarge"],
        model_package_group_name=model_package_group_name,
        approval_status="PendingManualApproval",
        description=f"iris decision tree, max_leaf_nodes={max_leaf_nodes}",
    )
    print("ModelPackage Version ARN : {}".format(model_package.model_package_arn))
    model_package_arns.append(model_package.model_package_arn)

# View the model group's versions
model_packages = sm_client.list_model_packages(
    ModelPackageGroupName=model_package_group_name, SortBy="CreationTime", SortOrder="Descending"
)["ModelPackageSummaryList"]
for summary in model_packages:
    print(summary["ModelPackageVersion"], summary["ModelApprovalStatus"], summary["ModelPackageArn"])
assert [s["ModelPackageVersion"] for s in model_packages] == [2, 1]  # SHIPYARD: sanity check
assert model_packages[0]["ModelPackageArn"] == model_package_arns[1]  # SHIPYARD: sanity check

model_package_arn = model_packages[0]["ModelPackageArn"]
described = sm_client.describe_model_package(ModelPackageName=model_package_arn)
print(described["InferenceSpecification"]["Containers"][0]["Image"])
print(described["ModelApprovalStatus"])
assert described["ModelApprovalStatus"] == "PendingManualApproval"  # SHIPYARD: sanity check

# Update the approval status of the latest version
model_package_update_input_dict = {
    "ModelPackageArn": model_package_arn,
    "ModelApprovalStatus": "Approved",
    "ApprovalDescription": "Approved after review of the decision tree with 30 leaf nodes",
}
model_package_update_response = sm_client.update_model_package(**model_package_update_input_dict)
approved = sm_client.list_model_packages(
    ModelPackageGroupName=model_package_group_name, ModelApprovalStatus="Approved"
)["ModelPackageSummaryList"]
print([s["ModelPackageArn"] for s in approved])
assert [s["ModelPackageArn"] for s in approved] == [model_package_arn]  # SHIPYARD: sanity check

# Deploy the approved model version from the registry
endpoint_name = "iris-registry-" + str(round(time.time()))
model = ModelPackage(role=role, model_package_arn=model_package_arn, sagemaker_session=sagemaker_session)
model.deploy(initial_instance_count=1, instance_type="ml.m5.xlarge", endpoint_name=endpoint_name)

# Invoke the endpoint
runtime = boto3.client("sagemaker-runtime", region_name=region)
test_X = iris.data[::10]
payload = "\n".join(",".join(f"{v:.1f}" for v in row) for row in test_X)
response = runtime.invoke_endpoint(
    EndpointName=endpoint_name, ContentType="text/csv", Accept="text/csv", Body=payload
)
body = response["Body"].read().decode()
print(body)
predictions = np.array([float(v) for v in body.replace("\n", ",").split(",") if v.strip()])
assert (predictions == iris.target[::10]).mean() > 0.9  # SHIPYARD: sanity check

# Clean up
endpoint = sm_client.describe_endpoint(EndpointName=endpoint_name)
endpoint_config = sm_client.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
sm_client.delete_endpoint(EndpointName=endpoint_name)
sm_client.delete_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
for variant in endpoint_config["ProductionVariants"]:
    sm_client.delete_model(ModelName=variant["ModelName"])
for arn in model_package_arns:
    sm_client.delete_model_package(ModelPackageName=arn)
sm_client.delete_model_package_group(ModelPackageGroupName=model_package_group_name)
remaining = sm_client.list_model_package_groups(NameContains=model_package_group_name)["ModelPackageGroupSummaryList"]
assert remaining == [], remaining  # SHIPYARD: sanity check
print("OK")
