"""An endpoint's model never writes outside its folder, and an archive bomb fails it with a reason.

Through boto3 against real servers: the session ``server`` for the ``../`` keys, a second one with a low
``SHIPYARD_MAX_EXTRACT_BYTES`` for the bomb.
"""

from __future__ import annotations

import io
import tarfile

from hosting_helpers import XGB_IMAGE, model_tarball, upload, wait_in_service, wait_until

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"


def _endpoint(sm, name: str, container: dict) -> None:
    sm.create_model(ModelName=name, PrimaryContainer=container, ExecutionRoleArn=ROLE)
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
        {"VariantName": "v", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)


def _failed(sm, name: str) -> str:
    d = wait_until(lambda: (x := sm.describe_endpoint(EndpointName=name))["EndpointStatus"] in ("Failed", "InService")
                   and x, 90, what=f"{name} to settle")
    assert d["EndpointStatus"] == "Failed", "the endpoint went InService"
    return d["FailureReason"]


def _delete(sm, name: str) -> None:
    sm.delete_endpoint(EndpointName=name)
    sm.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})


def _uncompressed(bucket: str, prefix: str) -> dict:
    return {"Image": XGB_IMAGE, "ModelDataSource": {"S3DataSource": {
        "S3Uri": f"s3://{bucket}/{prefix}/", "S3DataType": "S3Prefix", "CompressionType": "None"}}}


def test_an_uncompressed_model_with_dotdot_keys_fails_and_writes_nothing_outside(server):
    sm, s3 = server.client("sagemaker"), server.client("s3")
    data, _ = model_tarball()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        model = tar.extractfile("xgboost-model").read()
    upload(s3, "unsafe-models", "plain/xgboost-model", model)
    upload(s3, "unsafe-models", "plain/../../../../escaped-model-file", b"escaped")
    assert any(o["Key"].endswith("escaped-model-file")
               for o in s3.list_objects_v2(Bucket="unsafe-models", Prefix="plain/")["Contents"])
    _endpoint(sm, "dotdot-keys", _uncompressed("unsafe-models", "plain"))
    reason = _failed(sm, "dotdot-keys")
    assert "S3 key" in reason and "leaves its folder" in reason, reason
    assert not list(server.home.rglob("escaped-model-file"))
    _delete(sm, "dotdot-keys")

    upload(s3, "unsafe-models", "clean/xgboost-model", model)  # the same model without the bad key serves
    _endpoint(sm, "clean-keys", _uncompressed("unsafe-models", "clean"))
    wait_in_service(sm, "clean-keys")
    _delete(sm, "clean-keys")


def test_a_model_archive_member_that_climbs_out_fails_the_endpoint(server):
    sm, s3 = server.client("sagemaker"), server.client("s3")
    data, _ = model_tarball(files={"xgboost-model": b"x", "../../../escaped-member": b"escaped"})
    url = upload(s3, "unsafe-models", "climb/model.tar.gz", data)
    _endpoint(sm, "climbing-member", {"Image": XGB_IMAGE, "ModelDataUrl": url})
    reason = _failed(sm, "climbing-member")
    assert "model artifact" in reason and "leaves its folder" in reason, reason
    assert not list(server.home.parent.rglob("escaped-member"))
    _delete(sm, "climbing-member")


def test_a_model_archive_bomb_fails_the_endpoint_with_the_cap_in_the_reason(server_factory):
    srv = server_factory(env={"SHIPYARD_MAX_EXTRACT_BYTES": str(1 << 20)})
    sm, s3 = srv.client("sagemaker"), srv.client("s3")
    good, _ = model_tarball()
    with tarfile.open(fileobj=io.BytesIO(good)) as tar:
        model = tar.extractfile("xgboost-model").read()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("xgboost-model")
        info.size = len(model)
        tar.addfile(info, io.BytesIO(model))
        info = tarfile.TarInfo("padding.bin")
        info.size = 16 << 20  # 16 MiB of zeros, a few KiB compressed
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    assert len(buf.getvalue()) < 200 << 10
    url = upload(s3, "unsafe-models", "bomb/model.tar.gz", buf.getvalue())
    _endpoint(sm, "bomb", {"Image": XGB_IMAGE, "ModelDataUrl": url})
    reason = _failed(sm, "bomb")
    assert "expands to more than 1.0 MiB" in reason and "SHIPYARD_MAX_EXTRACT_BYTES" in reason, reason
    _delete(sm, "bomb")

    s3.put_object(Bucket="unsafe-models", Key="rows/x.csv", Body=b"0.3,0.1,0.7,0.2\n")  # a transform job too
    sm.create_transform_job(
        TransformJobName="bomb", ModelName="bomb",
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://unsafe-models/rows/"}},
                        "ContentType": "text/csv", "SplitType": "Line"},
        TransformOutput={"S3OutputPath": "s3://unsafe-models/out/bomb"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1})
    d = wait_until(lambda: (x := sm.describe_transform_job(TransformJobName="bomb"))["TransformJobStatus"]
                   in ("Completed", "Failed", "Stopped") and x, 90, what="the transform job to finish")
    assert d["TransformJobStatus"] == "Failed" and "SHIPYARD_MAX_EXTRACT_BYTES" in d["FailureReason"], d

    small = upload(s3, "unsafe-models", "small/model.tar.gz", good)  # under the cap: served as usual
    _endpoint(sm, "small", {"Image": XGB_IMAGE, "ModelDataUrl": small})
    wait_in_service(sm, "small")
    _delete(sm, "small")
