"""A framework-style model (SAGEMAKER_PROGRAM + SAGEMAKER_SUBMIT_DIRECTORY as an S3 sourcedir.tar.gz),
as the SageMaker SDK's framework models create it, deployed and invoked through boto3."""

from __future__ import annotations

import json

from hosting_helpers import model_tarball, tarball, upload, wait_in_service

SCRIPT = b'''
import json, os
def model_fn(model_dir):
    return float(open(os.path.join(model_dir, "scale.txt")).read())
def predict_fn(data, model):
    return (data * model).tolist()
'''


def test_script_mode_endpoint_with_s3_sourcedir(server):
    sm, s3, rt = server.client("sagemaker"), server.client("s3"), server.client("sagemaker-runtime")
    model_url = upload(s3, "script-mode", "model/model.tar.gz", model_tarball(files={"scale.txt": b"10"})[0])
    source_url = upload(s3, "script-mode", "code/sourcedir.tar.gz", tarball({"serve.py": SCRIPT}))
    sm.create_model(ModelName="sk", PrimaryContainer={
        "Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
        "ModelDataUrl": model_url,
        "Environment": {"SAGEMAKER_PROGRAM": "serve.py", "SAGEMAKER_SUBMIT_DIRECTORY": source_url}})
    sm.create_endpoint_config(EndpointConfigName="sk", ProductionVariants=[
        {"VariantName": "main", "ModelName": "sk", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName="sk", EndpointConfigName="sk")
    wait_in_service(sm, "sk")
    out = rt.invoke_endpoint(EndpointName="sk", Body=json.dumps([[1, 2], [3, 4]]), ContentType="application/json")
    assert out["ContentType"] == "application/json"
    assert json.loads(out["Body"].read()) == [[10.0, 20.0], [30.0, 40.0]]
    out = rt.invoke_endpoint(EndpointName="sk", Body=b"1,2\n3,4", ContentType="text/csv", Accept="text/csv")
    assert out["Body"].read().decode().split() == ["10.0,20.0", "30.0,40.0"]
    sm.delete_endpoint(EndpointName="sk")
    sm.get_waiter("endpoint_deleted").wait(EndpointName="sk", WaiterConfig={"Delay": 1, "MaxAttempts": 60})
