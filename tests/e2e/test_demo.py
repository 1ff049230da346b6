"""`make demo` end to end: examples/demo.py as a subprocess, bounded in time, leaving no process behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from shipyard.testing.server import processes_under

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo.py"


def test_demo_runs_clean(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SHIPYARD_"))}
    env["TMPDIR"] = str(tmp_path)  # the demo's temporary home lands here, so we can look for leftovers
    proc = subprocess.Popen([sys.executable, str(DEMO)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail("demo did not finish in 240 s:\n" + out[-4000:])
    assert proc.returncode == 0, out[-4000:]

    auc = re.search(r"^metric validation:auc = ([0-9.]+)$", out, re.M)
    assert auc, out[-4000:]
    assert float(auc.group(1)) > 0.85
    preds = re.findall(r"^prediction row=\d+ label=([01]) score=([0-9.]+) predicted=([01])$", out, re.M)
    assert len(preds) == 10, out[-4000:]
    for label, score, predicted in preds:
        assert 0.0 <= float(score) <= 1.0
        assert int(predicted) == int(float(score) >= 0.5)
    assert sum(int(p) == int(label) for label, _, p in preds) >= 8  # validation AUC is ~0.98
    assert "no Shipyard process left running" in out
    assert "Demo finished" in out

    homes = list(tmp_path.glob("shipyard-demo-*"))
    assert homes == []  # the temporary folder was removed
    assert processes_under(tmp_path) == []
