"""Long enum value sets (instance types: hundreds of values) are summarised with a "did you mean" hint.

Botocore's SageMaker model lists every instance type in the ``InstanceType`` enums; AWS's wording
("Member must satisfy enum value set: [...]") would make a message of thousands of characters. Short enums
keep AWS's exact wording.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from shipyard.errors import ValidationError
from shipyard.wire.models import operation_model, service_model
from shipyard.wire.validate import ENUM_LIST_MAX_CHARS, closest, enum_constraint, validate_input

ROLE = "arn:aws:iam::123456789012:role/Shipyard"


def _job(instance_type: str = "ml.m5.large", mode: str = "File", **extra) -> dict:
    return {
        "TrainingJobName": "enum-hints",
        "RoleArn": ROLE,
        "AlgorithmSpecification": {"TrainingImage": "683313688378.dkr.ecr.us-east-1.amazonaws.com/"
                                                    "sagemaker-xgboost:1.7-1", "TrainingInputMode": mode},
        "HyperParameters": {"num_round": "3"},
        "OutputDataConfig": {"S3OutputPath": "s3://enum-hints/output"},
        "ResourceConfig": {"InstanceType": instance_type, "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        **extra,
    }


def _fails(params: dict, op: str = "CreateTrainingJob") -> str:
    with pytest.raises(ValidationError) as e:
        validate_input(operation_model("sagemaker", op).input_shape, params)
    return e.value.message


def test_misspelled_instance_type_gets_a_short_message_with_the_closest_value():
    msg = _fails(_job("ml.m5.larg"))
    assert msg == ("1 validation error detected: Value 'ml.m5.larg' at 'resourceConfig.instanceType' failed to "
                   "satisfy constraint: Member must satisfy enum value set: ml.m5.larg is not a valid instance "
                   "type; did you mean ml.m5.large?")
    assert "did you mean ml.m5.large?" in _fails(_job("ML.M5.LARGE"))  # case is a typo too
    assert "did you mean ml.p4d.24xlarge?" in _fails(_job("ml.p4d.24xl"))


def test_nothing_close_names_how_many_values_and_a_few_examples():
    msg = _fails(_job("zzz"))
    assert "zzz is not a valid instance type (one of " in msg and "such as ml." in msg, msg
    assert "did you mean" not in msg
    assert len(msg) < 300, msg


def test_short_enums_keep_the_aws_wording_and_errors_combine():
    msg = _fails(_job("ml.m5.larg", mode="Filee"))
    assert msg.startswith("2 validation errors detected: ")
    assert "Value 'Filee' at 'algorithmSpecification.trainingInputMode' failed to satisfy constraint: Member " \
           "must satisfy enum value set: [Pipe, File, FastFile]" in msg
    assert "did you mean ml.m5.large?" in msg
    assert len(msg) < 400, msg


def test_endpoint_config_instance_types_are_summarised_too():
    params = {"EndpointConfigName": "c", "ProductionVariants": [
        {"VariantName": "v", "ModelName": "m", "InitialInstanceCount": 1, "InstanceType": "ml.c5.larg"}]}
    msg = _fails(params, "CreateEndpointConfig")
    assert "at 'productionVariants.1.member.instanceType'" in msg
    assert "ml.c5.larg is not a valid instance type; did you mean ml.c5.large?" in msg
    assert len(msg) < 300, msg


def test_every_long_enum_in_the_sagemaker_model_is_summarised():
    """Walk every enum shape the SageMaker API declares: none yields a message of its whole value set."""
    model = service_model("sagemaker")
    long_ones = 0
    for name in model.shape_names:
        shape = model.shape_for(name)
        enum = getattr(shape, "enum", None) or []
        if not enum:
            continue
        text = enum_constraint("not-a-value", list(enum), "thing")
        assert len(text) <= ENUM_LIST_MAX_CHARS + 60, (name, text)
        if len(", ".join(enum)) > ENUM_LIST_MAX_CHARS:
            long_ones += 1
            assert "[" not in text, (name, text)
            value = enum[len(enum) // 2]
            typo = value[:-1] + "#" if len(value) >= 6 else value.upper()  # one character off / wrong case
            assert closest(typo, list(enum)) is not None, (name, typo)
    assert long_ones >= 5  # the instance type enums and a few others


def test_sensitive_values_are_not_echoed_in_the_summary():
    assert "secret" not in enum_constraint("secret", ["v%03d" % i for i in range(100)], "x", sensitive=True)
    assert closest("nothing-like-it", ["ml.m5.large"]) is None


def test_through_the_server(server):
    """boto3 sends the typo unchanged (it does not check enums); the server answers ValidationException."""
    sm = server.client("sagemaker")
    with pytest.raises(ClientError) as info:
        sm.create_training_job(**_job("ml.m5.larg"))
    err = info.value.response["Error"]
    assert err["Code"] == "ValidationException"
    assert err["Message"].endswith("ml.m5.larg is not a valid instance type; did you mean ml.m5.large?")
    assert len(err["Message"]) < 300

    with pytest.raises(ClientError) as info:  # a misspelled hyperparameter of a built-in
        sm.create_training_job(**{**_job(), "HyperParameters": {"num_rounds": "3"}})
    err = info.value.response["Error"]
    assert err["Code"] == "ValidationException"
    assert "Hyperparameter 'num_rounds' is not supported by the xgboost algorithm. Did you mean 'num_round'?" \
        in err["Message"], err["Message"]
