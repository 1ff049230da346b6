"""The ``docker run`` flags of a container's limits, without an engine: memory and CPUs from the instance type
(CPUs capped at the machine's), GPUs only where the host has them and its engine has a GPU runtime (else one
note for the job's log), the user mapping for a server that is not root, and the training executor's plan for
an instance type (the engine pointed at a fake client whose ``docker info`` answers what each test needs)."""

from __future__ import annotations

import json
import stat

import pytest

from shipyard.containers import limits as lim
from shipyard.containers.engine import Engine
from shipyard.containers.run import run_command
from shipyard.runners.sandbox import ENV_VAR, Sandbox
from shipyard.training.container import container_limits, gpu_count


def test_memory_and_cpus_become_hard_limits_without_swap():
    flags = lim.ContainerLimits(memory_mb=2048, cpus=1.5).flags()
    assert flags == ["--memory", "2048m", "--memory-swap", "2048m", "--cpus", "1.5"]
    assert lim.ContainerLimits().flags() == []


def test_cpus_are_capped_at_the_machine_and_memory_at_its_size():
    assert lim.cap_cpus(96, have=2) == 2.0
    assert lim.cap_cpus(1, have=16) == 1.0
    assert lim.cap_cpus(0, have=16) == 0.0
    assert lim.cap_memory(1 << 20, have_mb=4096) == 4096
    assert lim.cap_memory(512, have_mb=4096) == 512


@pytest.mark.parametrize("wanted,have,runtime,visible,flag,count", [
    (1, 8, True, None, "1", 1),               # ml.g5.xlarge on an 8-GPU host: one of them
    (8, 8, True, None, "all", 8),             # the whole host
    (8, 4, True, None, "all", 4),             # capped at the host's
    (4, 8, True, "2,3,5", '"device=2,3,5"', 3),  # CUDA_VISIBLE_DEVICES: those devices and no others
    (1, 8, True, "6,7", '"device=6"', 1),
])
def test_gpus_are_passed_where_the_engine_has_a_gpu_runtime(wanted, have, runtime, visible, flag, count):
    plan = lim.plan_gpus("ml.p3.2xlarge", wanted, have, runtime, visible)
    assert (plan.flag, plan.count, plan.note) == (flag, count, "")
    assert lim.ContainerLimits(gpus=plan.flag).flags() == ["--gpus", flag]


def test_gpus_asked_for_on_a_host_without_them_run_on_cpu_with_one_note():
    none = lim.plan_gpus("ml.g5.xlarge", 1, 0, runtime=False)
    assert (none.flag, none.count) == ("", 0)
    assert none.note == "note: ml.g5.xlarge has 1 GPU(s) but this host has none: the container runs on CPU"
    no_runtime = lim.plan_gpus("ml.p3.8xlarge", 4, 2, runtime=False)
    assert (no_runtime.flag, no_runtime.count) == ("", 0)
    assert "has no GPU runtime (install nvidia-container-toolkit)" in no_runtime.note
    assert lim.plan_gpus("ml.m5.large", 0, 8, runtime=True) == lim.GpuPlan("", 0)


def test_the_user_is_mapped_only_for_a_server_that_is_not_root():
    assert lim.user_mapping("docker", uid=0, gid=0) == ("", "")
    assert lim.user_mapping("docker", uid=1000, gid=1001) == ("1000:1001", "")
    assert lim.user_mapping("podman", uid=1000, gid=1001) == ("", "keep-id")
    assert lim.ContainerLimits(user="1000:1001").flags() == ["--user", "1000:1001"]
    assert lim.ContainerLimits(userns="keep-id").flags() == ["--userns", "keep-id"]


def test_what_an_instance_type_asks_for_travels_as_instance_arguments():
    wanted = lim.Wanted("ml.g5.xlarge", memory_mb=16384, cpus=4.0, gpus=1)
    args = wanted.to_args()
    assert args[::2] == ["--limit"] * 4
    assert lim.Wanted.from_args(args[1::2]) == wanted
    assert lim.Wanted.from_args([]) == lim.Wanted() and lim.Wanted().to_args() == []


def test_run_command_puts_the_limits_before_the_image_and_may_keep_the_container():
    limits = lim.ContainerLimits(memory_mb=256, cpus=1, gpus="all", user="1000:1000")
    cmd = run_command("/usr/bin/docker", name="c", image="img:1", command=["train"], limits=limits, remove=False,
                      gpus=3)
    assert "--rm" not in cmd and cmd[-2:] == ["img:1", "train"]
    assert cmd[cmd.index("--memory") + 1] == "256m" and cmd[cmd.index("--cpus") + 1] == "1"
    assert cmd.count("--gpus") == 1 and cmd[cmd.index("--gpus") + 1] == "all", "the limits' GPUs win"
    assert cmd[cmd.index("--user") + 1] == "1000:1000"
    assert "--rm" in run_command("/usr/bin/docker", name="c", image="img:1")


def test_the_oom_reason_names_the_limit_and_the_instance_type():
    reason = lim.out_of_memory_reason(256, "ml.m5.large")
    assert reason.startswith("OutOfMemoryError: the training program ran out of memory")
    assert "256 MiB memory limit of instance type ml.m5.large" in reason


@pytest.fixture
def fake_docker(tmp_path, monkeypatch):
    """A ``docker`` client whose ``info`` lists the runtimes in ``$FAKE_RUNTIMES`` (JSON), and says of its
    memory and CPU quota support what ``$FAKE_CGROUPS`` says (``true true`` by default)."""
    cli = tmp_path / "docker"
    cli.write_text('#!/bin/sh\ncase "$3" in\n  *Runtimes*) echo "$FAKE_RUNTIMES" ;;\n'
                   '  *) echo "${FAKE_CGROUPS:-true true}" ;;\nesac\n')
    cli.chmod(cli.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")  # no nvidia-container-runtime-hook on it
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.delenv("SHIPYARD_INSTANCE_TYPES", raising=False)
    return Engine(cli=str(cli), name="docker")


def test_a_gpu_instance_on_a_host_with_gpus_and_the_nvidia_runtime(fake_docker, monkeypatch):
    monkeypatch.setenv("FAKE_RUNTIMES", json.dumps({"runc": {}, "nvidia": {"path": "nvidia-container-runtime"}}))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3")
    notes: list[str] = []
    limits = container_limits(fake_docker, "ml.p3.8xlarge", notes.append)
    assert limits.gpus == '"device=0,1,2,3"' and gpu_count(limits) == 4 and notes == []
    assert limits.memory_mb == lim.cap_memory(244 * 1024) and limits.cpus == lim.cap_cpus(32)


def test_a_gpu_instance_on_a_host_without_a_gpu_runtime_logs_once_and_runs_on_cpu(fake_docker, monkeypatch):
    monkeypatch.setenv("FAKE_RUNTIMES", json.dumps({"runc": {}}))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    notes: list[str] = []
    limits = container_limits(fake_docker, "ml.g5.xlarge", notes.append)
    assert limits.gpus == "" and gpu_count(limits) == 0
    assert len(notes) == 1 and "no GPU runtime" in notes[0]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    notes.clear()
    container_limits(fake_docker, "ml.g5.xlarge", notes.append)
    assert notes == ["note: ml.g5.xlarge has 1 GPU(s) but this host has none: the container runs on CPU"]


def test_the_sandbox_the_runner_admitted_the_job_with_wins_over_the_table(fake_docker, monkeypatch):
    monkeypatch.setenv("FAKE_RUNTIMES", "{}")
    monkeypatch.setenv(ENV_VAR, Sandbox(memory_mb=300, cpus=1.0).to_json())
    limits = container_limits(fake_docker, "ml.m5.4xlarge", lambda _: None)
    assert (limits.memory_mb, limits.cpus, limits.gpus) == (300, 1.0, "")


def test_limits_the_engine_cannot_apply_are_left_out_with_a_note(fake_docker, monkeypatch):
    monkeypatch.setenv("FAKE_CGROUPS", "true false")
    notes: list[str] = []
    limits = lim.for_host(lim.Wanted("ml.m5.large", 8192, 2.0), fake_docker.cli, "docker", 0, None, notes.append)
    assert limits.memory_mb == lim.cap_memory(8192) and limits.cpus == 0.0
    assert notes == ["note: this host's container engine cannot cap CPUs (no CFS quota): the container runs "
                     "without the 2 vCPU limit of ml.m5.large"]
    monkeypatch.setenv("FAKE_CGROUPS", "false true")
    notes.clear()
    limits = lim.for_host(lim.Wanted("ml.m5.large", 8192, 2.0), fake_docker.cli, "docker", 0, None, notes.append)
    assert limits.memory_mb == 0 and limits.cpus == lim.cap_cpus(2.0) and "cannot limit memory" in notes[0]
