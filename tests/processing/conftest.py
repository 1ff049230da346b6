"""A module-scoped server for the processing tests (each file shares one; Continuous uploads every 0.3 s and a
short stop grace keep the tests fast). The files that use it mark themselves ``integration``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from shipyard.testing.server import ShipyardProcess

sys.path.insert(0, str(Path(__file__).parent))

FAST = {"SHIPYARD_PROCESSING_CONTINUOUS_INTERVAL": "0.3", "SHIPYARD_PROCESSING_STOP_GRACE": "3"}


@pytest.fixture(scope="module")
def proc_server(tmp_path_factory):
    proc = ShipyardProcess(tmp_path_factory.mktemp("processing-home"), env=FAST)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop(kill_children=True)
