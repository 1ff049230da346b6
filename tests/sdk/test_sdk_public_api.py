"""The SDK's public surface is exactly what ``__all__`` lists, and it stays free of server internals."""

import subprocess
import sys

import shipyard.sdk as sdk

EXPECTED = {
    "CSVDeserializer", "CSVSerializer", "Estimator", "JSONDeserializer", "JSONSerializer", "LogTailer",
    "NumpyDeserializer", "NumpySerializer", "Predictor", "Session", "TrainingInput", "UnexpectedStatusError",
    "WaitTimeout", "HyperparameterTuner", "HyperparameterTuningJobAnalytics", "ContinuousParameter",
    "IntegerParameter", "CategoricalParameter", "WarmStartConfig",
}


def test_all_is_pinned():
    assert set(sdk.__all__) == EXPECTED
    assert len(sdk.__all__) == len(EXPECTED)
    for name in sdk.__all__:
        assert getattr(sdk, name) is not None


def test_sdk_imports_no_server_internals():
    code = ("import sys, shipyard.sdk, shipyard.sdk.estimator, shipyard.sdk.tuner; "
            "print(','.join(sorted(m for m in sys.modules if m.startswith('shipyard'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    loaded = set(out.split(","))
    allowed = {"shipyard", "shipyard.errors"}
    offenders = {m for m in loaded if m not in allowed and not m.startswith("shipyard.sdk")}
    assert offenders == set()
    assert "boto3" not in out  # boto3 itself is imported lazily, on first client
