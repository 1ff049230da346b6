"""Shared fixtures: a real Shipyard server process, a factory for more, and a PostgreSQL URL.

- ``server`` (session): one running server on a free 127.0.0.1 port with its own home folder. Use
  ``server.client("sagemaker")`` for boto3 clients and ``server.env()`` for subprocesses.
- ``server_factory`` (function): ``server_factory(home=None, env=None)`` starts another server you may
  ``.stop()``, ``.kill9()`` and ``.start()`` again on the same home and port (restart tests).
- ``pg_url`` (session): a reachable PostgreSQL URL, or the test is skipped saying why.

At teardown every process that names a fixture's home folder (jobs, model servers) is killed, so nothing a
test launched outlives the session.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from shipyard.testing.server import ShipyardProcess

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"

# `make test-fast` runs `-m "not integration and not slow"`: unit tests only, no servers, no subprocesses.
# A test is marked `integration` here (tests may also mark themselves) when it uses one of these fixtures,
# directly or through another fixture ...
INTEGRATION_FIXTURES = frozenset({
    "server", "server_factory", "pg_url",  # this file: a Shipyard server process; PostgreSQL
    "metastore_pg_base",  # tests/metastore/conftest.py: PostgreSQL
    "ray_cluster", "shipyard_on_ray",  # tests/ray/conftest.py: a local Ray cluster
    # module fixtures of single test files that start servers (a name reused elsewhere only over-marks)
    "plugin_server", "logs_server", "rt", "keyed_server",  # tests/server/: Shipyard server processes
    "xgb_server",  # tests/serving/test_model_server.py: a model-server process
    "moto_url",  # tests/objectstore/test_s3_objectstore.py (a process), tests/sdk/test_sdk_session_moto.py
})
# ... or is in one of these files, every test of which runs jobs, CLIs or model servers as subprocesses ...
INTEGRATION_FILES = frozenset({
    "test_cli.py",
    "test_cli_lifecycle.py",
    "algorithms/test_builtin_quality.py",
    "algorithms/test_xgboost_checkpoints.py",
    "algorithms/test_xgboost_train.py",
    "environments/test_fallback.py",
    "runners/test_local_runner.py",
    "serving/test_invocation_token.py",
    "serving/test_router.py",
    "training/test_executor.py",
})
# ... or is one of these (file -> test names: a bare name covers every parametrization, `name[id]` one).
INTEGRATION_TESTS = {
    "algorithms/test_conformance.py": {
        "test_training_completes", "test_handler_answers_each_type", "test_batch_matches_one_by_one",
    },
    "algorithms/test_aws_artifacts.py": {
        "test_kmeans_trained_here_writes_the_aws_form", "test_pca_trained_here_writes_the_aws_form",
        "test_linear_learner_trained_here_is_an_mxnet_module_checkpoint",
        "test_factorization_machines_round_trip_in_the_aws_form", "test_knn_trained_here_writes_the_aws_layout",
        "test_knn_ivf_and_reduced_models_keep_their_extras",
    },
    "algorithms/test_sdk_hyperparameters.py": {
        "test_kmeans_trains_with_what_the_sdk_sends",
        "test_linear_learner_honours_unbias_label_and_balance_multiclass_weights",
    },
    "algorithms/test_xgboost_data_arrow.py": {"test_import_xgboost_leaves_sklearn_out_and_importable"},
    "environments/test_resolve.py": {"test_unbuildable_environment_falls_back_with_a_warning"},
    "metastore/test_migrations.py": {
        "test_processes_opening_a_fresh_database_at_once_all_succeed",
        "test_revision_0001_data_survives_upgrade_to_head[postgres]",
        "test_reopening_a_current_database_is_a_no_op[postgres]",
    },
    "objectstore/test_local_objectstore.py": {
        "test_crash_mid_write_leaves_old_object", "test_two_processes_writing_one_key_leave_one_body",
    },
    "sdk/test_sdk_public_api.py": {"test_sdk_imports_no_server_internals"},
    "compile/test_job.py": {"test_job_failure_writes_one_line_reason", "test_job_writes_model_and_report"},
    "serving/test_pytorch_serving.py": {"test_model_server_process_answers_npy_and_json_and_400s"},
    "serving/test_tensorflow_serving.py": {"test_model_server_process"},
    "algorithms/test_xgboost_model_format.py": {
        "test_images_before_1_3_pickle_a_booster_their_xgboost_reads",
        "test_later_or_unversioned_images_save_xgboost_format",
        "test_the_1_0_1_images_xgboost_unpickles_and_predicts_the_same",
    },
    "containers/test_limits_flags.py": {
        "test_a_gpu_instance_on_a_host_with_gpus_and_the_nvidia_runtime",
        "test_a_gpu_instance_on_a_host_without_a_gpu_runtime_logs_once_and_runs_on_cpu",
        "test_limits_the_engine_cannot_apply_are_left_out_with_a_note",
        "test_the_sandbox_the_runner_admitted_the_job_with_wins_over_the_table",
    },
    "training/test_script_command.py": {"test_a_shell_entry_point_gets_its_name_and_arguments_as_values"},
    "server/test_server_fixture.py": {"test_kill_processes_under_home_only"},
    "debugger/test_trial_and_rules.py": {"test_system_sampler_writes_aws_system_metrics"},
    "wrangle/test_flow.py": {"test_python_export_reproduces_the_engine"},
    "serving/test_model_server.py": {
        "test_script_mode_handlers", "test_script_mode_defaults_and_transform_fn",
        "test_model_that_cannot_load_exits_nonzero",
    },
}
# In-process tests that take seconds each: `slow`, so that `make test-fast` stays under a minute.
SLOW_TESTS = {
    "tuning/test_strategies.py": {
        "test_bayesian_beats_random_on_branin", "test_bayesian_handles_a_wide_categorical_space",
    },
    "algorithms/test_sdk_hyperparameters.py": {"test_every_sdk_hyperparameter_value_is_accepted"},
    "tuning/test_bayesian_gp.py": {
        "test_restored_strategy_makes_the_same_next_suggestion",
        "test_integer_and_categorical_ranges_give_valid_untried_points_and_find_the_best_category",
        "test_noise_is_learned_for_noisy_data_and_kept_tiny_for_deterministic_data",
    },
}


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "integration: starts a server, a subprocess, PostgreSQL or Ray (not in `make test-fast`)")
    if "not integration" in (config.getoption("markexpr", "") or ""):
        sys.addaudithook(_warn_on_subprocess)  # only in the fast lane: keeps the lists above honest


_running: dict[str, object] = {"item": None}


def _warn_on_subprocess(event: str, args: tuple) -> None:
    """In `make test-fast`, a test that starts a subprocess gets a warning (in the -ra summary) saying so."""
    item = _running["item"]
    if event == "subprocess.Popen" and item is not None:
        _running["item"] = None  # once per test
        item.warn(pytest.PytestWarning(f"started a subprocess ({args[0]}) in the fast lane: mark it integration "
                                       "(INTEGRATION_FILES / INTEGRATION_TESTS in tests/conftest.py)"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _running["item"] = item
    try:
        yield
    finally:
        _running["item"] = None


# `make test` runs the suite on two pytest-xdist workers (`-n 2 --dist loadgroup`): the suite waits on servers,
# jobs and polls far more than it computes. Each test file is one group (its module fixtures start once, on one
# worker); folders whose tests share something machine-wide are one group each, so they never run at once:
SHARED_GROUPS = {
    "ray/": "ray",                # local Ray clusters (ports, /tmp/ray sessions, the object store's memory)
    "containers/": "containers",  # the Docker daemon, the local registry, container names
    "environments/": "environments",  # the shared cache of built framework environments
    "ui/": "ui",                  # Chromium
    "notebooks/": "notebooks",    # JupyterLab servers and the example notebooks (already three at a time)
    "e2e/": "e2e",                # the SageMaker SDK's whole workflows (heavy: one at a time)
}


def _xdist_group(rel: str) -> str:
    for prefix, group in SHARED_GROUPS.items():
        if rel.startswith(prefix):
            return group
    return rel


def pytest_xdist_make_scheduler(config, log):
    """``--dist loadgroup`` that schedules by ``SHARED_GROUPS`` itself: xdist 3.8 marks a test's group by
    appending ``@group`` to ``item._nodeid``, which pytest 9.2 no longer reads (a node's id is ``_id`` now),
    so every group silently fell apart into single tests and two workers started two Docker daemons, ran
    apt-get at once and formed Ray clusters side by side. The scope of a test is its group, computed here from
    its path (no xdist_group markers: this is the one place that groups)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedGroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return _xdist_group(path[len("tests/"):] if path.startswith("tests/") else path)

    return SharedGroupScheduling(config, log)


def _listed(table: dict[str, set[str]], rel: str, item) -> bool:
    names = table.get(rel, ())
    return item.name in names or getattr(item, "originalname", item.name) in names


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config, items):
    root = Path(__file__).parent
    for item in items:
        try:
            rel = Path(str(item.path)).relative_to(root).as_posix()
        except ValueError:
            continue
        if (rel in INTEGRATION_FILES or _listed(INTEGRATION_TESTS, rel, item)
                or INTEGRATION_FIXTURES.intersection(getattr(item, "fixturenames", ()))):
            item.add_marker(pytest.mark.integration)
        if _listed(SLOW_TESTS, rel, item):
            item.add_marker(pytest.mark.slow)


# Framework scripts run on the server's own Python in tests (building an image's environment takes minutes);
# tests/environments turns environments on where it needs them.
os.environ.setdefault("SHIPYARD_ENVIRONMENTS", "server")


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    proc = ShipyardProcess(tmp_path_factory.mktemp("shipyard-home"))
    proc.start()
    try:
        yield proc
    finally:
        proc.stop(kill_children=True)


@pytest.fixture
def server_factory(tmp_path):
    started: list[ShipyardProcess] = []

    def make(home: str | Path | None = None, env: dict[str, str] | None = None) -> ShipyardProcess:
        proc = ShipyardProcess(home or tmp_path / f"shipyard-home-{len(started)}", env=env)
        started.append(proc)
        return proc.start()

    try:
        yield make
    finally:
        for proc in started:
            proc.stop(kill_children=True)


def _sdk_waits():
    """tests/e2e/sdk_waits.py, loaded by path (it is also run as a prelude in subprocesses, see test_readme)."""
    import importlib.util

    module = sys.modules.get("sdk_waits")
    if module is None:
        spec = importlib.util.spec_from_file_location("sdk_waits", Path(__file__).parent / "e2e" / "sdk_waits.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["sdk_waits"] = module
        spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def quick_sagemaker_sdk():
    """The SageMaker Python SDK for this module without its fixed sleeps (30 s per deploy(), a status look
    every 30 s while fit() tails a log, ...) and without re-checking its config schema on every call (~0.1 s
    each, hundreds of calls in some modules); every request and all output stay the SDK's own. See
    tests/e2e/sdk_waits.py. Restored when the module ends."""
    restore = _sdk_waits().shorten_sdk_waits()
    try:
        yield
    finally:
        restore()


def _pg_reachable(url: str) -> str | None:
    """None if we can connect to ``url``, else the reason we cannot."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install -e '.[test]')"
    try:
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), connect_timeout=3):
            return None
    except Exception as e:  # noqa: BLE001 - any failure means "not available here"
        return f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"


@pytest.fixture(scope="session")
def pg_url() -> str:
    url = os.environ.get("SHIPYARD_TEST_POSTGRES_URL", DEFAULT_PG_URL)
    reason = _pg_reachable(url)
    if reason is not None:
        pytest.skip(f"PostgreSQL not reachable at {url} ({reason}); set SHIPYARD_TEST_POSTGRES_URL to run")
    return url


# --- the console's browser tests (tests/ui, the labeling worker portal): Debian's Chromium driven by Playwright for
# Python. The browser is the system's (scripts/browser_setup.py installs it with apt-get); Playwright never
# downloads one. Tests skip, saying what to install, when either is missing.
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def _chromium() -> str | None:
    explicit = os.environ.get("SHIPYARD_CHROMIUM")  # another Chromium build; skipped if it is not there
    if explicit:
        return explicit if os.path.exists(explicit) else None
    for path in CHROMIUM_CANDIDATES:
        if os.path.exists(path):
            return path
    return shutil.which("chromium")


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed: pip install playwright (the ui-test extra)")
    path = _chromium()
    if path is None:
        pytest.skip("no system Chromium: run `python scripts/browser_setup.py` (apt-get install chromium)")
    with sync_api.sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=path, headless=True,
                                      args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        try:
            yield launched
        finally:
            launched.close()
