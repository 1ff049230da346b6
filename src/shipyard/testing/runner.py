"""The runner conformance suite: every :class:`~shipyard.runners.base.Runner` backend subclasses it.

    class TestLocalRunner(RunnerConformance):
        @pytest.fixture
        def make_runner(self, tmp_path):
            return lambda: LocalRunner(str(tmp_path / "state"))

``make_runner`` returns a factory: each call is a *new* runner instance over the same state, standing in
for a restarted server (``attach`` must find work started by an earlier instance). Capability switches let
a backend say what it cannot do (``supports_signal_escalation``, ``reservations_hold_room``). Commands are
plain ``python -c`` programs; timeouts are generous because a cluster backend may need a moment to place work.

The gang checks follow ``Runner.reserve_group`` / ``release_group``: N bundles give N addresses, a second
reserve by the same name answers the same, work started in slot i runs, release gives the room back (and
ignores unknown names), and a reservation bigger than the whole runner waits (None) instead of failing.
"""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path

import pytest

from ..runners.base import JobSpec

START_TIMEOUT = 30.0


def wait_exit(handle, timeout: float = START_TIMEOUT) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rc = handle.poll()
        if rc is not None:
            return rc
        time.sleep(0.05)
    raise AssertionError(f"work {handle.id} did not end within {timeout} s")


def wait_for_text(path: Path, text: str, timeout: float = START_TIMEOUT) -> str:
    deadline = time.monotonic() + timeout
    content = ""
    while time.monotonic() < deadline:
        try:
            content = path.read_text(errors="replace")
        except OSError:
            content = ""
        if text in content:
            return content
        time.sleep(0.05)
    raise AssertionError(f"{text!r} did not appear in {path} within {timeout} s; it holds {content[-500:]!r}")


def wait_reserved(runner, name: str, bundles: list[dict], timeout: float = START_TIMEOUT) -> list[str]:
    """Ask ``reserve_group`` until it answers with addresses (a cluster places a group asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        addresses = runner.reserve_group(name, bundles)
        if addresses is not None:
            return addresses
        if time.monotonic() > deadline:
            raise AssertionError(f"group {name} ({len(bundles)} bundles) was not placed within {timeout} s")
        time.sleep(0.1)


class RunnerConformance:
    supports_signal_escalation = True  # stop(grace) kills work that ignores SIGTERM
    #: reserve_group holds room: a reservation that does not fit what is free waits (None) until another is
    #: released. False for a runner whose caller does the accounting (``resources()["free"]`` is None).
    reservations_hold_room = True

    @pytest.fixture
    def make_runner(self):
        raise NotImplementedError("a backend's test class provides make_runner")

    def spec(self, tmp_path: Path, name: str, code: str, env: dict | None = None,
             group: tuple[str, int] | None = None) -> JobSpec:
        """A ``python -c`` job; ``group=(name, i)`` runs it in slot i of that reservation."""
        work = tmp_path / name
        return JobSpec(name=f"conformance/{name}", command=[sys.executable, "-c", code], env=env or {},
                       workdir=str(work), log_path=str(work / "output.log"), files={"marker.txt": "x"},
                       group=group)

    def test_exit_codes(self, make_runner, tmp_path):
        runner = make_runner()
        ok = runner.start(self.spec(tmp_path, "ok", "print('fine')"))
        bad = runner.start(self.spec(tmp_path, "bad", "import sys; sys.exit(7)"))
        assert wait_exit(ok) == 0
        assert wait_exit(bad) == 7
        assert ok.poll() == 0, "poll keeps answering after the end"

    def test_log_capture_interleaves_stdout_and_stderr(self, make_runner, tmp_path):
        runner = make_runner()
        code = ("import sys, os\nprint('out-1')\nsys.stderr.write('err-2\\n')\nprint('out-3')\n"
                "print('env=' + os.environ['CONFORMANCE_VAR'])")
        spec = self.spec(tmp_path, "logs", code, env={"CONFORMANCE_VAR": "v42"})
        handle = runner.start(spec)
        assert wait_exit(handle) == 0
        text = Path(spec.log_path).read_text()
        lines = [ln for ln in text.splitlines() if ln]
        assert lines[:3] == ["out-1", "err-2", "out-3"], text
        assert "env=v42" in text

    def test_output_is_line_buffered(self, make_runner, tmp_path):
        """A line must reach the log while the program still runs (PYTHONUNBUFFERED)."""
        runner = make_runner()
        spec = self.spec(tmp_path, "live", "import time\nprint('early')\ntime.sleep(30)")
        handle = runner.start(spec)
        try:
            wait_for_text(Path(spec.log_path), "early")
            assert handle.poll() is None
        finally:
            handle.stop(grace=1.0)
        wait_exit(handle)

    def test_stop_sends_sigterm_first(self, make_runner, tmp_path):
        runner = make_runner()
        code = ("import signal, sys, time\n"
                "def bye(*a):\n    print('got-sigterm', flush=True); sys.exit(5)\n"
                "signal.signal(signal.SIGTERM, bye)\nprint('ready', flush=True)\ntime.sleep(60)")
        spec = self.spec(tmp_path, "term", code)
        handle = runner.start(spec)
        wait_for_text(Path(spec.log_path), "ready")
        t0 = time.monotonic()
        handle.stop(grace=20.0)
        assert wait_exit(handle) == 5
        assert time.monotonic() - t0 < 15, "a program that exits on SIGTERM must not wait for the grace period"
        assert "got-sigterm" in Path(spec.log_path).read_text()

    def test_stop_escalates_to_sigkill(self, make_runner, tmp_path):
        if not self.supports_signal_escalation:
            pytest.skip("backend cannot escalate signals")
        runner = make_runner()
        code = ("import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                "print('ready', flush=True)\ntime.sleep(60)")
        spec = self.spec(tmp_path, "stubborn", code)
        handle = runner.start(spec)
        wait_for_text(Path(spec.log_path), "ready")
        t0 = time.monotonic()
        handle.stop(grace=1.0)
        rc = wait_exit(handle, timeout=20)
        elapsed = time.monotonic() - t0
        assert rc != 0
        assert 0.9 <= elapsed < 15, f"escalation after the 1 s grace took {elapsed:.1f} s"

    def test_attach_from_new_runner(self, make_runner, tmp_path):
        first = make_runner()
        spec = self.spec(tmp_path, "attach", "import time\nprint('up', flush=True)\ntime.sleep(60)")
        handle = first.start(spec)
        wait_for_text(Path(spec.log_path), "up")
        second = make_runner()
        again = second.attach(handle.id)
        assert again is not None and again.id == handle.id
        assert again.poll() is None
        again.stop(grace=1.0)
        assert wait_exit(again) != 0
        assert wait_exit(handle) != 0

    def test_exit_code_known_to_new_runner(self, make_runner, tmp_path):
        first = make_runner()
        handle = first.start(self.spec(tmp_path, "later", "import sys; sys.exit(3)"))
        assert wait_exit(handle) == 3
        third = make_runner()
        attached = third.attach(handle.id)
        assert attached is not None
        assert wait_exit(attached) == 3

    def test_attach_unknown_is_none(self, make_runner, tmp_path):
        runner = make_runner()
        assert runner.attach("nonsense") is None
        assert runner.attach(f"{runner.name}:999999:1") is None

    def test_stop_after_exit_is_harmless(self, make_runner, tmp_path):
        runner = make_runner()
        handle = runner.start(self.spec(tmp_path, "done", "pass"))
        assert wait_exit(handle) == 0
        handle.stop(grace=0.5)
        time.sleep(0.6)
        assert handle.poll() == 0

    # --- gangs: reserve_group / release_group ---------------------------------------------------------------
    @staticmethod
    def group_name() -> str:
        return f"conformance-gang-{uuid.uuid4().hex[:12]}"

    def test_gang_reserve_is_idempotent_and_slots_run(self, make_runner, tmp_path):
        runner = make_runner()
        name = self.group_name()
        bundles = [{"CPU": 1.0}, {"CPU": 1.0}]
        try:
            addresses = wait_reserved(runner, name, bundles)
            assert len(addresses) == 2 and all(isinstance(a, str) and a for a in addresses), addresses
            # every later ask answers the same: the server asks again on each tick, and after a restart
            for i in range(10):
                again = (runner if i % 2 else make_runner()).reserve_group(name, bundles)
                assert again == addresses, f"ask {i + 2} answered {again}, the first {addresses}"
            specs = [self.spec(tmp_path, f"slot-{i}", f"print('in-slot-{i}')", group=(name, i)) for i in range(2)]
            handles = [runner.start(s) for s in specs]
            for i, (s, h) in enumerate(zip(specs, handles)):
                assert wait_exit(h) == 0
                assert f"in-slot-{i}" in Path(s.log_path).read_text()
        finally:
            runner.release_group(name)

    def test_gang_release_of_unknown_name_is_ignored(self, make_runner):
        runner = make_runner()
        runner.release_group(self.group_name())
        name = self.group_name()
        wait_reserved(runner, name, [{"CPU": 1.0}])
        runner.release_group(name)
        runner.release_group(name)  # twice: the second finds nothing, and says nothing

    def test_gang_release_frees_the_room(self, make_runner, tmp_path):
        if not self.reservations_hold_room:
            pytest.skip("the runner's caller does the accounting: reservations do not hold room")
        runner = make_runner()
        held, later = self.group_name(), self.group_name()
        try:
            wait_reserved(runner, held, [{"CPU": 1.0}, {"CPU": 1.0}])
            handle = runner.start(self.spec(tmp_path, "held-work", "print('x')", group=(held, 0)))
            assert wait_exit(handle) == 0
            free = runner.resources()["free"]["CPU"]
            # Needs what is free now plus one of the held bundles: fits only once `held` is released.
            need = [{"CPU": 1.0}] * (int(free) + 1)
            assert runner.reserve_group(later, need) is None, f"{len(need)} CPUs placed with {free} free"
            runner.release_group(held)
            assert len(wait_reserved(runner, later, need)) == len(need)
        finally:
            runner.release_group(held)
            runner.release_group(later)

    def test_gang_bigger_than_the_runner_waits(self, make_runner):
        if not self.reservations_hold_room:
            pytest.skip("the runner's caller does the accounting: it refuses what never fits, not the runner")
        runner = make_runner()
        name = self.group_name()
        total = runner.resources()["total"]["CPU"]
        try:
            assert runner.reserve_group(name, [{"CPU": 1.0}] * (int(total) + 1)) is None
            assert runner.reserve_group(name, [{"CPU": 1.0}] * (int(total) + 1)) is None, "still waits"
        finally:
            runner.release_group(name)
