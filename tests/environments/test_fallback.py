"""The environment builder's fallback ladder: 1. the image's framework version; 2. the closest later version with
a build for this Python; 3. the toolkits and shims only, on the server's packages; 4. the server's own Python.

The ladder logic runs against a fake installer (an index of versions, some with wheels for this Python); the
rung-3 venv's view of the server's packages is checked on a real venv; and one real build of the
``sagemaker-scikit-learn:0.23-1`` image (scikit-learn 0.23.2 has no wheel for Python >= 3.10) must end on rung 2
or 3 with AWS's ``sagemaker_containers.beta.framework`` importable. That one is cached in
``$SHIPYARD_ENVIRONMENTS_CACHE`` (default ``~/.cache/shipyard/environments``) and skips when pip cannot reach an
index.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from shipyard.environments import builder, ensure_for_image
from shipyard.environments.spec import TOOLKITS, spec_for_image

ECR = "683313688378.dkr.ecr.us-east-1.amazonaws.com"
IMAGE_023 = f"{ECR}/sagemaker-scikit-learn:0.23-1-cpu-py3"
SKLEARN_INDEX = ["0.22.2.post1", "0.23.0", "0.23.1", "0.23.2", "0.24.0", "0.24.2", "1.0", "1.0.2", "1.1.0",
                 "1.1.3", "1.2.0rc1", "1.2.0", "1.2.1", "1.2.2", "1.3.2"]
PY = f"{sys.version_info[0]}.{sys.version_info[1]}"


class FakeInstaller(builder.Installer):
    """An index where only ``wheels`` of the framework have a build for this Python. ``offline``: pip cannot
    reach the index. Records every call; a venv it creates is a folder with the server's interpreter linked."""

    def __init__(self, wheels=(), offline=False, broken_installs=()):
        self.wheels = set(wheels)
        self.offline = offline
        self.broken = set(broken_installs)
        self.calls: list[tuple] = []

    def _framework_version(self, requirements):
        return requirements[0].split("==", 1)[1]

    def create(self, path: Path, server_packages: bool) -> None:
        self.calls.append(("create", server_packages))
        if path.exists():
            import shutil

            shutil.rmtree(path)
        (path / "lib" / f"python{PY}" / "site-packages").mkdir(parents=True)
        (path / "bin").mkdir()
        (path / "bin" / "python").symlink_to(sys.executable)

    def probe(self, path, requirements):
        self.calls.append(("probe", tuple(requirements)))
        if self.offline:
            return builder.Probe(False, False, "ERROR: No matching distribution found (from versions: none)")
        ok = self._framework_version(requirements) in self.wheels
        return builder.Probe(ok, True, "" if ok else "ERROR: No matching distribution found")

    def versions(self, path, name):
        self.calls.append(("versions", name))
        return [] if self.offline else list(SKLEARN_INDEX)

    def install(self, path, requirements, binary_only, timeout):
        self.calls.append(("install", tuple(requirements), tuple(binary_only)))
        assert timeout > 0
        if requirements and "==" in requirements[0] and self._framework_version(requirements) in self.broken:
            raise builder.EnvironmentError_("pip install ... failed with exit code 1")

    def of(self, kind):
        return [c for c in self.calls if c[0] == kind]


@pytest.fixture
def spec023():
    return spec_for_image(IMAGE_023)


def _build(spec, tmp_path, installer):
    log: list[str] = []
    plan = builder.build(spec, tmp_path / spec.dirname, log.append, installer=installer)
    return plan, "\n".join(log)


def test_candidates_go_upward_closest_first_one_per_minor():
    assert builder.candidates("0.23.2", SKLEARN_INDEX) == ["0.24.2", "1.0.2", "1.1.3", "1.2.2", "1.3.2"]
    assert builder.candidates("1.2.1", SKLEARN_INDEX) == ["1.2.2", "1.3.2"]  # a later patch first
    assert builder.candidates("1.3.2", SKLEARN_INDEX) == []
    assert builder.candidates("not a version", SKLEARN_INDEX) == []


def test_rung_1_the_exact_version_from_wheels(tmp_path):
    spec = spec_for_image(f"{ECR}/sagemaker-scikit-learn:1.2-1-cpu-py3")
    fake = FakeInstaller(wheels={"1.2.1"})
    plan, log = _build(spec, tmp_path, fake)
    assert plan.rung == 1 and plan.packages == spec.packages and plan.note == ""
    (_, requirements, binary), = fake.of("install")
    assert requirements == spec.packages
    # the framework and its companions from wheels only (fail fast, never compile); the toolkits may be sdists
    assert set(binary) == {"scikit-learn", "numpy", "pandas", "scipy"}
    assert fake.of("create") == [("create", False)]
    assert "[1/4]" in log and "[2/4]" not in log
    marker = json.loads((tmp_path / spec.dirname / builder.READY).read_text())
    assert (marker["rung"], marker["framework_version"]) == (1, "1.2.1")
    assert (tmp_path / spec.dirname / "lib" / f"python{PY}" / "site-packages" / "sagemaker_xgboost_container").is_dir()


def test_rung_2_the_closest_version_with_a_build(tmp_path, spec023):
    fake = FakeInstaller(wheels={"1.1.3", "1.2.2", "1.3.2"})
    plan, log = _build(spec023, tmp_path, fake)
    assert (plan.rung, plan.requested, plan.version) == (2, "0.23.2", "1.1.3")
    assert f"WARNING: scikit-learn 0.23.2 has no build for Python {PY}; using 1.1.3, the closest that installs" in log
    assert [p[1][0] for p in fake.of("probe")] == ["scikit-learn==0.23.2", "scikit-learn==0.24.2",
                                                   "scikit-learn==1.0.2", "scikit-learn==1.1.3"]
    (_, requirements, _), = fake.of("install")
    assert requirements[0] == "scikit-learn==1.1.3" and set(TOOLKITS) <= set(requirements)
    assert "numpy<2" in requirements  # the image's companions stay
    for step in ("[1/4]", "[2/4]", "scikit-learn 0.24.2: no build", "scikit-learn 1.1.3: installs"):
        assert step in log, step
    marker = json.loads((tmp_path / spec023.dirname / builder.READY).read_text())
    assert marker["rung"] == 2 and marker["packages"][0] == "scikit-learn==1.1.3"
    assert marker["requested_packages"][0] == "scikit-learn==0.23.2" and "1.1.3" in marker["note"]


def test_rung_3_toolkits_only_when_no_version_installs(tmp_path, spec023, monkeypatch):
    monkeypatch.setattr(builder, "MAX_TRIES", 2)  # bounded: 0.24.2 and 1.0.2 only, 1.1.3 is not reached
    fake = FakeInstaller(wheels={"1.1.3"})
    plan, log = _build(spec023, tmp_path, fake)
    assert plan.rung == 3 and len(fake.of("probe")) == 3
    assert fake.of("create") == [("create", False), ("create", True)]  # rebuilt on the server's packages
    (_, requirements, binary), = fake.of("install")
    assert set(requirements) == set(TOOLKITS) and binary == ()
    assert "[3/4]" in log and "WARNING: scikit-learn 0.23.2 cannot be installed" in log
    assert "tried 0.24.2, 1.0.2" in log


def test_rung_2_that_fails_to_install_goes_to_rung_3(tmp_path, spec023):
    fake = FakeInstaller(wheels={"1.1.3"}, broken_installs={"1.1.3"})
    plan, log = _build(spec023, tmp_path, fake)
    assert plan.rung == 3 and "1.1.3 did not install after all" in log


def test_offline_stops_the_ladder_and_the_job_falls_back_to_the_server(tmp_path, spec023, monkeypatch):
    fake = FakeInstaller(wheels={"1.1.3"}, offline=True)
    monkeypatch.setattr(builder, "PipInstaller", lambda: fake)
    monkeypatch.setenv("SHIPYARD_ENVIRONMENTS", "auto")
    log: list[str] = []
    got = builder.ensure(spec023, tmp_path, log.append)
    assert got.fallback and got.rung == 4 and got.python == sys.executable
    assert not fake.of("install") and not fake.of("versions")  # no answer from the index is no verdict
    text = "\n".join(log)
    assert "[1/4]" in text and "[4/4]" in text and "falling back to the server's own Python" in text
    assert not (tmp_path / spec023.dirname).exists()


def test_the_rung_is_cached_and_every_later_job_is_warned(tmp_path, spec023, monkeypatch):
    fake = FakeInstaller(wheels={"1.1.3"})
    monkeypatch.setattr(builder, "PipInstaller", lambda: fake)
    monkeypatch.setenv("SHIPYARD_ENVIRONMENTS", "auto")
    monkeypatch.setenv("SHIPYARD_ENVIRONMENTS_CACHE", str(tmp_path))
    first: list[str] = []
    got = ensure_for_image(IMAGE_023, None, first.append)
    assert got.built and got.rung == 2 and "rung 2/4" in "\n".join(first)
    calls = len(fake.calls)
    later: list[str] = []
    again = ensure_for_image(IMAGE_023, None, later.append)
    assert len(fake.calls) == calls  # nothing rebuilt, nothing probed
    assert (again.path, again.rung, again.built) == (got.path, 2, False)
    text = "\n".join(later)
    assert "using environment sklearn-0.23-1" in text and "rung 2/4" in text
    assert "WARNING: scikit-learn 0.23.2 has no build" in text
    row, = builder.list_environments(tmp_path)
    assert (row["rung"], row["packages"][0]) == (2, "scikit-learn==1.1.3")


def test_a_rung_3_venv_sees_the_servers_packages_after_its_own(tmp_path):
    """Real venv (no pip needed): the server's packages are importable, the venv's own come first."""
    venv = tmp_path / "venv"
    base = getattr(sys, "_base_executable", None) or sys.executable
    subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    builder._add_server_packages(venv)
    own = builder.site_packages(venv)
    (own / "pytest.py").write_text("OWN = True\n")  # the venv's own module shadows the server's package
    code = textwrap.dedent("""
        import json, sys, pytest, pluggy
        print(json.dumps({"own": getattr(pytest, "OWN", False), "pluggy": pluggy.__file__, "path": sys.path}))
    """)
    proc = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True,
                          timeout=60, cwd="/")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["own"] is True
    import pluggy

    assert info["pluggy"] == pluggy.__file__  # the server's copy
    assert info["path"].index(str(own)) < info["path"].index(str(Path(pluggy.__file__).parent.parent))


def test_server_site_setting_adds_the_servers_packages_after_the_environments(tmp_path):
    """SHIPYARD_SERVER_SITE (an inference pipeline's built-in stages) on a real venv with the shims; an
    environment built by an earlier Shipyard gets the current shims when a job next uses it."""
    venv = tmp_path / "venv"
    base = getattr(sys, "_base_executable", None) or sys.executable
    subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = builder.site_packages(venv)
    (site / f"{builder.COMPAT}.py").write_text("# an older shim\n")
    (venv / builder.READY).write_text(json.dumps({"rung": 1}))
    builder._ready(spec_for_image(IMAGE_023), venv)  # refreshes the shims
    assert (site / f"{builder.COMPAT}.py").read_bytes() == (builder.SHIM_DIR / f"{builder.COMPAT}.py").read_bytes()
    assert (site / "sagemaker_xgboost_container").is_dir()
    code = "import pluggy, collections; print(pluggy.__file__, hasattr(collections, 'Mapping'))"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    alone = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True, cwd="/",
                           env=env, timeout=60)
    assert alone.returncode != 0 and "No module named 'pluggy'" in alone.stderr  # a clean venv
    env[builder.SERVER_SITE_ENV] = os.pathsep.join(builder.server_site_packages())
    mixed = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True, cwd="/",
                           env=env, timeout=60)
    import pluggy

    assert mixed.returncode == 0, mixed.stderr
    assert mixed.stdout.split() == [pluggy.__file__, "True"]


# --- a real build ---------------------------------------------------------------------------------------------
def _index_reachable(python: str) -> str | None:
    try:
        proc = subprocess.run([python, "-m", "pip", "index", "versions", "scikit-learn"], capture_output=True,
                              text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"{type(e).__name__}: {e}"
    if proc.returncode != 0 or "1.1.3" not in proc.stdout:
        return ((proc.stderr or proc.stdout).strip().splitlines() or ["no scikit-learn in the index"])[-1]
    return None


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_real_build_of_the_0_23_1_image_ends_with_the_toolkits_importable(tmp_path_factory):
    value = os.environ.get("SHIPYARD_ENVIRONMENTS_CACHE") or str(Path.home() / ".cache" / "shipyard" / "environments")
    root = tmp_path_factory.mktemp("environments") if value == "tmp" else Path(value).expanduser()
    spec = spec_for_image(IMAGE_023)
    if not builder.is_ready(root / spec.dirname):
        reason = _index_reachable(sys.executable)
        if reason is not None:
            pytest.skip(f"pip cannot reach a package index to build {spec.key}: {reason}")
    log: list[str] = []
    prepared = builder.prepare(spec, root, log.append)  # a failure here is a real failure
    assert prepared.rung in (2, 3), prepared
    # as the notebook's featurizer does: its output_fn answers with the toolkit's worker.Response
    code = textwrap.dedent("""
        import json, sklearn
        from sagemaker_containers.beta.framework import encoders, worker
        import sagemaker_training, sagemaker_inference
        from shipyard.serving.script_handler import ScriptHandler
        body, ctype = ScriptHandler._as_response(worker.Response("1.0,2.0", mimetype="text/csv"), "application/json")
        assert (body, ctype) == (b"1.0,2.0", "text/csv"), (body, ctype)
        print(json.dumps({"sklearn": sklearn.__version__}))
    """)
    from shipyard.environments import server_lib

    env = {**os.environ, "PYTHONPATH": str(server_lib(root))}
    proc = subprocess.run([prepared.python, "-c", code], capture_output=True, text=True, timeout=120, cwd="/",
                          env=env)
    assert proc.returncode == 0, proc.stderr
    version = json.loads(proc.stdout.strip().splitlines()[-1])["sklearn"]
    marker = builder.read_marker(prepared.path)
    assert marker["framework_requested"] == "0.23.2" and marker["rung"] == prepared.rung
    if prepared.rung == 2:
        assert version == marker["framework_version"] != "0.23.2"
        assert "has no build for Python" in prepared.note and version in prepared.note
