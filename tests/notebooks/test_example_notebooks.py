"""The example notebooks in examples/notebooks/, executed top to bottom with nbclient against a real server,
so they never rot. The kernel gets what `shipyard notebook` gives one (the AWS_* variables and the SDK config
file), plus a first cell that shortens the SageMaker SDK's fixed sleeps (tests/e2e/sdk_waits.py: 30 s per
deploy(), ...) with every SDK call unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.testing.sdk import sdk_environment

nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed (pip install 'shipyard[notebook]')")
nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed (pip install 'shipyard[notebook]')")
pytest.importorskip("ipykernel", reason="ipykernel is not installed (pip install 'shipyard[notebook]')")

pytestmark = pytest.mark.integration

NOTEBOOKS = sorted((Path(__file__).parents[2] / "examples" / "notebooks").glob("*.ipynb"))
SDK_WAITS = Path(__file__).parents[1] / "e2e" / "sdk_waits.py"
CELL_TIMEOUT_S = 300


def test_there_are_example_notebooks():
    assert NOTEBOOKS, "examples/notebooks/ holds no notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_example_notebook_runs_top_to_bottom(path, server, tmp_path):
    nb = nbformat.read(path, as_version=4)
    prelude = nbformat.v4.new_code_cell(
        f"import runpy as _runpy\n_runpy.run_path({str(SDK_WAITS)!r})['shorten_sdk_waits']()\ndel _runpy")
    nb.cells.insert(0, prelude)
    with sdk_environment(server, tmp_path / "sdk", bucket="sagemaker-shipyard"):  # as `shipyard notebook`
        client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                                         resources={"metadata": {"path": str(tmp_path)}})
        client.execute()  # raises CellExecutionError, with the cell and its traceback, if any cell fails
    outputs = "".join(o.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                      for o in cell.get("outputs", []))
    assert "Traceback" not in outputs
    assert [e for e in server.client("sagemaker").list_endpoints()["Endpoints"]
            if e["EndpointStatus"] != "Deleting" and "xgboost" in e["EndpointName"]] == []
