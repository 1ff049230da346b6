"""The compiler loads the user's model (a pickle, TorchScript, a SavedModel: code that runs), so a compilation
job runs in the job sandbox: a compiler that tries to read the server's credentials or reach the network finds
neither, and says so in the job's FailureReason (this stand-in reports what it saw instead of compiling)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from neo_helpers import job_request, upload, wait_job, xgb_artifact

from shipyard.runners import sandbox
from shipyard.testing.server import ShipyardProcess

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not sandbox.available(), reason="no mount namespace on this host")]

SNOOP = Path(__file__).with_name("snoop_compiler.py")  # not under /tmp: the sandbox gives the job its own /tmp


def test_the_compiler_sees_its_model_but_not_the_server(tmp_path):
    home = tmp_path / "home"
    proc = ShipyardProcess(home, env={"SHIPYARD_NEO_COMPILER": f"{sys.executable} {SNOOP} {home}"}).start()
    try:
        sm, s3 = proc.client("sagemaker"), proc.client("s3")
        artifact, _ = xgb_artifact()
        model = upload(s3, "neo-sandbox", "m/model.tar.gz", artifact)
        sm.create_compilation_job(**job_request("snoop", model, "s3://neo-sandbox/out"))
        job = wait_job(sm, "snoop", timeout=60)
        assert Path(home, "credentials.json").exists()  # it is there: the sandbox hid it
        assert job["CompilationJobStatus"] == "FAILED", job
        assert job["FailureReason"].split() == ["ClientError:", "credentials:hidden", "model:seen", "network:cut"]
    finally:
        proc.stop(kill_children=True)
