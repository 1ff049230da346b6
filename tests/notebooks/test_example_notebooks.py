"""The example notebooks in examples/notebooks/, executed top to bottom with nbclient against a real server,
so they never rot. The kernel gets what `shipyard notebook` gives one (the AWS_* variables and the SDK config
file), plus a first cell that shortens the SageMaker SDK's fixed sleeps (tests/e2e/sdk_waits.py: 30 s per
deploy(), ...) with every SDK call unchanged. Each notebook must clean up after itself: an endpoint it
created and left running fails its test."""

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
def test_example_notebooks_are_saved_without_outputs(path):
    """Outputs belong to a run, not to the example: a saved output goes stale and bloats every diff."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    stale = [i for i, cell in enumerate(nb.cells)
             if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)]
    assert stale == [], f"{path.name}: cells {stale} hold outputs; clear them before saving"


def live_endpoints(sagemaker) -> set[str]:
    pages = sagemaker.get_paginator("list_endpoints").paginate()
    return {e["EndpointName"] for page in pages for e in page["Endpoints"] if e["EndpointStatus"] != "Deleting"}


def _run(path: Path, folder: Path) -> str:
    """Execute one notebook in ``folder``; '' when every cell ran without a traceback, else what went wrong."""
    folder.mkdir()
    nb = nbformat.read(path, as_version=4)
    prelude = nbformat.v4.new_code_cell(
        f"import runpy as _runpy\n_runpy.run_path({str(SDK_WAITS)!r})['shorten_sdk_waits']()\ndel _runpy")
    nb.cells.insert(0, prelude)
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(folder)}})
    try:
        client.execute()  # raises CellExecutionError, with the cell and its traceback, if any cell fails
    except Exception as exc:  # noqa: BLE001 - reported with the notebook's name below
        return f"{path.name}: {exc}"[-4000:]
    finally:  # the run as a user would see it, for a look after a failure
        nbformat.write(nb, folder / path.name)
    outputs = "".join(o.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                      for o in cell.get("outputs", []))
    return f"{path.name}: a cell printed a traceback" if "Traceback" in outputs else ""


def test_example_notebooks_run_top_to_bottom(server, tmp_path):
    """All the notebooks, three at a time (each is a kernel mostly waiting on the server: run one after another
    they cost minutes of the suite), against one server, as a user with three notebooks open would."""
    from concurrent.futures import ThreadPoolExecutor

    sagemaker = server.client("sagemaker")
    endpoints_before = live_endpoints(sagemaker)
    with sdk_environment(server, tmp_path / "sdk", bucket="sagemaker-shipyard"):  # as `shipyard notebook`
        with ThreadPoolExecutor(max_workers=3) as pool:
            failures = [f for f in pool.map(lambda p: _run(p, tmp_path / p.stem), NOTEBOOKS) if f]
    assert failures == [], "\n\n".join(failures)
    left = live_endpoints(sagemaker) - endpoints_before
    assert left == set(), f"the notebooks left endpoints running: {sorted(left)}; delete them in their last cells"
