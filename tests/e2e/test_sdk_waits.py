"""tests/e2e/sdk_waits.py changes only the SageMaker SDK's sleeps and repeated schema checks, and puts
everything back."""

from __future__ import annotations

import jsonschema
import pytest

from sdk_waits import shorten_sdk_waits


def test_shorten_sdk_waits_changes_only_sleeps_and_restores_them():
    import sagemaker.session as sdk
    import sagemaker.utils

    before = {name: getattr(sdk.Session, name).__defaults__
              for name in ("wait_for_endpoint", "wait_for_tuning_job", "wait_for_transform_job")}
    tail, first_look = sdk.Session.logs_for_job, sdk._wait_until.__defaults__
    validate = sagemaker.utils.validate_sagemaker_config
    restore = shorten_sdk_waits()
    try:
        assert sdk.Session.wait_for_endpoint.__defaults__ == (1, False)  # live_logging stays off by default
        assert sdk.Session.wait_for_tuning_job.__defaults__ == (1,) == sdk._wait_until.__defaults__
        assert sdk.Session.logs_for_job is not tail
        assert sdk.EP_LOGGER_POLL == 1
        # the config is still validated, with the SDK's schema and its errors
        checked = sagemaker.utils.validate_sagemaker_config
        assert checked is not validate
        good = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}}
        checked(good)
        bad = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"Session": {"DefaultS3Bucket": "b"}}}}}
        with pytest.raises(jsonschema.ValidationError, match="does not match") as theirs:
            validate(bad)
        with pytest.raises(jsonschema.ValidationError) as ours:
            checked(bad)
        assert (ours.value.message, list(ours.value.path)) == (theirs.value.message, list(theirs.value.path))
    finally:
        restore()
    assert {name: getattr(sdk.Session, name).__defaults__ for name in before} == before
    assert (sdk.Session.logs_for_job, sdk._wait_until.__defaults__) == (tail, first_look) == (tail, (5,))
    assert sagemaker.utils.validate_sagemaker_config is validate
    assert sdk.EP_LOGGER_POLL == 10
