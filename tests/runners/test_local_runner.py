"""The local runner: the shared conformance suite plus what only a local process tree can show."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from shipyard.runners.base import JobSpec
from shipyard.runners.local import LocalRunner
from shipyard.testing.runner import RunnerConformance, wait_exit, wait_for_text


class TestLocalRunner(RunnerConformance):
    # Local processes share this machine's cores: admission control (the caller) accounts for reservations.
    reservations_hold_room = False

    @pytest.fixture
    def make_runner(self, tmp_path):
        made = []

        def make():
            made.append(LocalRunner(str(tmp_path / "state")))
            return made[-1]

        yield make
        for runner in made:  # stop anything a failed test left running, by its own handle
            for handle in list(runner._handles.values()):
                if handle.poll() is None:
                    handle.stop(grace=0.2)
                    wait_exit(handle, timeout=10)
            runner.close()


def _spec(tmp_path, name, code, **kw):
    work = tmp_path / name
    return JobSpec(name=name, command=[sys.executable, "-c", code], workdir=str(work),
                   log_path=str(work / "out.log"), env=kw.pop("env", {}), **kw)


def test_vanished_process_reports_minus_nine(tmp_path):
    """Killing the whole tree with SIGKILL leaves no exit file: a new runner reports -9, as the contract says."""
    runner = LocalRunner(str(tmp_path / "state"))
    spec = _spec(tmp_path, "victim", "import time\nprint('up', flush=True)\ntime.sleep(60)")
    handle = runner.start(spec)
    wait_for_text(Path(spec.log_path), "up")
    os.killpg(handle.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and Path(f"/proc/{handle.pid}").exists():
        handle._popen.poll()  # reap our child so /proc forgets it
        time.sleep(0.05)
    fresh = LocalRunner(str(tmp_path / "state")).attach(handle.id)
    assert fresh is not None
    assert wait_exit(fresh) == -9
    assert not Path(handle.record["exit_file"]).exists()


def test_handle_id_names_start_time_so_recycled_pids_do_not_match(tmp_path):
    runner = LocalRunner(str(tmp_path / "state"))
    handle = runner.start(_spec(tmp_path, "id", "pass"))
    kind, pid, ticks = handle.id.split(":")
    assert kind == "local" and int(pid) == handle.pid and int(ticks) > 0
    assert wait_exit(handle) == 0
    fresh = LocalRunner(str(tmp_path / "state"))
    assert fresh.attach(f"local:{pid}:{int(ticks) + 1}") is None
    assert fresh.attach(handle.id).poll() == 0


def test_workdir_placeholder_and_files(tmp_path):
    """Specs are portable between runners: ``{workdir}`` is substituted and ``spec.files`` written."""
    runner = LocalRunner(str(tmp_path / "state"))
    code = "import os, sys\nprint(open(os.path.join(sys.argv[1], 'job.json')).read(), os.environ['WD'])"
    work = tmp_path / "portable"
    spec = JobSpec(name="p", command=[sys.executable, "-c", code, "{workdir}"], env={"WD": "{workdir}/x"},
                   workdir=str(work), log_path=str(work / "out.log"), files={"job.json": "JOB"})
    assert wait_exit(runner.start(spec)) == 0
    assert Path(spec.log_path).read_text().strip() == f"JOB {work}/x"


def test_inputs_are_linked_in_files_are_private_and_kept(tmp_path):
    """``inputs`` elsewhere on this machine are symlinked into the work's folder (nothing copied); one already in
    place is left alone; ``files`` are written 0600 (a token, a job's credentials) and an existing one is kept."""
    runner = LocalRunner(str(tmp_path / "state"))
    shared = tmp_path / "shared-model"
    shared.mkdir()
    (shared / "weights.txt").write_text("w=7")
    work = tmp_path / "variant"
    (work / "model").mkdir(parents=True)
    (work / "model" / "here.txt").write_text("in place")
    (work / "kept.txt").write_text("server's own")
    code = ("import os, stat, sys\nwd = sys.argv[1]\n"
            "print(open(os.path.join(wd, 'elsewhere', 'weights.txt')).read())\n"
            "print(open(os.path.join(wd, 'model', 'here.txt')).read())\n"
            "print(oct(stat.S_IMODE(os.stat(os.path.join(wd, '.token')).st_mode)))")
    spec = JobSpec(name="inputs", command=[sys.executable, "-c", code, "{workdir}"], env={}, workdir=str(work),
                   log_path=str(work / "out.log"), files={".token": "t0k", "kept.txt": "replaced?"},
                   inputs={"elsewhere": str(shared), "model": str(work / "model")})
    assert wait_exit(runner.start(spec)) == 0, Path(spec.log_path).read_text()
    assert Path(spec.log_path).read_text().split() == ["w=7", "in", "place", "0o600"]
    assert (work / "elsewhere").is_symlink() and not (work / "model").is_symlink()
    assert (work / "kept.txt").read_text() == "server's own"
    missing = JobSpec(name="missing", command=[sys.executable, "-c", "pass"], env={}, workdir=str(tmp_path / "m"),
                      log_path=str(tmp_path / "m" / "out.log"), inputs={"model": str(tmp_path / "nope")})
    with pytest.raises(FileNotFoundError, match="nope"):
        runner.start(missing)


def test_work_survives_the_runner_and_runs_in_its_own_session(tmp_path):
    runner = LocalRunner(str(tmp_path / "state"))
    spec = _spec(tmp_path, "session", "import os, time\nprint(os.getsid(0), flush=True)\ntime.sleep(60)")
    handle = runner.start(spec)
    text = wait_for_text(Path(spec.log_path), "\n")
    assert int(text.split()[0]) == handle.pid != os.getsid(0)
    runner.close()  # forgetting handles must not stop the work
    time.sleep(0.2)
    again = LocalRunner(str(tmp_path / "state")).attach(handle.id)
    assert again.poll() is None
    again.stop(grace=0.5)
    assert wait_exit(again) != 0


def test_leftovers_in_the_group_end_with_the_command(tmp_path):
    """A grandchild left running when the command exits (an orphaned training program) is killed too."""
    runner = LocalRunner(str(tmp_path / "state"))
    code = ("import subprocess, sys\n"
            "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
            "print(p.pid, flush=True)\nsys.exit(4)")
    spec = _spec(tmp_path, "orphan", code)
    handle = runner.start(spec)
    assert wait_exit(handle) == 4
    grandchild = int(Path(spec.log_path).read_text().split()[0])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and Path(f"/proc/{grandchild}").exists():
        time.sleep(0.05)
    state = Path(f"/proc/{grandchild}/stat").read_text().rsplit(")", 1)[1].split()[0] \
        if Path(f"/proc/{grandchild}").exists() else "gone"
    assert state in ("gone", "Z")
