"""The writing side of the training-container contract: the ``/opt/ml`` folders, config files and ``SM_*``.

:mod:`shipyard.algorithms.env` reads what this module writes. Everything is rooted at a job folder that
stands in for ``/opt/ml`` (``SAGEMAKER_BASE_DIR``), so a program written for a SageMaker container runs
unchanged. Values follow the SageMaker training toolkit: hyperparameters.json holds every value as a string;
script mode json-decodes each value (falling back to the raw string), drops ``sagemaker_*`` keys from the
user's hyperparameters and turns the rest into ``--key value`` arguments; ``SM_*`` variables hold strings
raw and anything else as compact, sorted-key JSON.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..domain.paths import safe_join

CURRENT_HOST = "algo-1"
# Platform keys the toolkit removes from user hyperparameters (besides every "sagemaker_" key).
_PLATFORM_KEYS = {"_tuning_objective_metric"}


class Layout:
    """The folders of one job under ``base`` (the job's stand-in for ``/opt/ml``)."""

    def __init__(self, base: str | Path):
        self.base = Path(base)
        self.input = self.base / "input"
        self.config = self.input / "config"
        self.data = self.input / "data"
        self.model = self.base / "model"
        self.output = self.base / "output"
        self.output_data = self.output / "data"
        self.intermediate = self.output / "intermediate"
        self.code = self.base / "code"
        self.checkpoints = self.base / "checkpoints"

    def make(self) -> "Layout":
        for p in (self.config, self.data, self.model, self.output_data, self.intermediate, self.code,
                  self.checkpoints):
            p.mkdir(parents=True, exist_ok=True)
        return self

    def channel(self, name: str) -> Path:
        """``input/data/<name>``; a name that would land elsewhere (``..``, ``a/../../x``) raises UnsafePath."""
        return safe_join(self.data, name, what="channel name")


def detect_gpus() -> int:
    """GPUs this job may use: ``CUDA_VISIBLE_DEVICES`` if set, else the NVIDIA driver's list (no subprocess:
    ``nvidia-smi`` would cost every job start-up time)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    try:
        return len(os.listdir("/proc/driver/nvidia/gpus"))
    except OSError:
        return 0


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


def input_data_config(channels: list[dict], job_input_mode: str = "File") -> dict[str, dict]:
    """inputdataconfig.json from CreateTrainingJob's InputDataConfig."""
    out: dict[str, dict] = {}
    for ch in channels:
        s3 = (ch.get("DataSource") or {}).get("S3DataSource") or {}
        entry = {
            "TrainingInputMode": ch.get("InputMode") or job_input_mode or "File",
            "S3DistributionType": s3.get("S3DataDistributionType", "FullyReplicated"),
            "RecordWrapperType": ch.get("RecordWrapperType", "None"),
        }
        if ch.get("ContentType"):
            entry["ContentType"] = ch["ContentType"]
        if ch.get("CompressionType"):
            entry["CompressionType"] = ch["CompressionType"]
        out[ch["ChannelName"]] = entry
    return out


def resource_config(hosts: list[str] | None = None, current_host: str = CURRENT_HOST,
                    instance_type: str = "") -> dict:
    hosts = sorted(hosts or [current_host])
    cfg: dict[str, Any] = {"current_host": current_host, "hosts": hosts, "network_interface_name": "eth0"}
    if instance_type:
        cfg["current_instance_type"] = instance_type
        cfg["current_group_name"] = "homogeneousCluster"
        cfg["instance_groups"] = [{"instance_group_name": "homogeneousCluster", "instance_type": instance_type,
                                   "hosts": hosts}]
    return cfg


def write_config(layout: Layout, hyperparameters: dict[str, str], input_config: dict, resources: dict) -> None:
    layout.config.mkdir(parents=True, exist_ok=True)
    _write_json(layout.config / "hyperparameters.json", {k: str(v) for k, v in hyperparameters.items()})
    _write_json(layout.config / "inputdataconfig.json", input_config)
    _write_json(layout.config / "resourceconfig.json", resources)


def decode_value(raw: str) -> Any:
    """The toolkit's rule: json-decode a hyperparameter value, falling back to the raw string."""
    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        return raw


def split_hyperparameters(hyperparameters: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(user hyperparameters, framework parameters) with values decoded, as the training toolkit does."""
    user: dict[str, Any] = {}
    framework: dict[str, Any] = {}
    for key, raw in hyperparameters.items():
        value = decode_value(raw)
        if key.startswith("sagemaker_"):
            framework[key] = value
        elif key in _PLATFORM_KEYS:
            continue
        else:
            user[key] = value
    return user, framework


def cli_args(user_hps: dict[str, Any]) -> list[str]:
    """``--key value`` pairs, keys sorted; one-letter keys get ``-k``; dicts become ``k1=v1,k2=v2``."""
    args: list[str] = []
    for key in sorted(user_hps):
        value = user_hps[key]
        args.append(f"-{key}" if len(key) == 1 else f"--{key}")
        if isinstance(value, dict):
            args.append(",".join(f"{k}={v}" for k, v in value.items()))
        else:
            args.append(str(value))
    return args


def _env_value(value: Any) -> str:
    return value if isinstance(value, str) else _dump(value)


def sm_environment(layout: Layout, *, hyperparameters: dict[str, str], input_config: dict, resources: dict,
                   job_name: str, job_arn: str, entry_point: str = "", module_name: str = "",
                   framework_module: str = "", num_cpus: int | None = None, num_gpus: int = 0,
                   user_args: list[str] | None = None) -> dict[str, str]:
    """Every ``SM_*`` variable the training toolkit sets, plus ``SAGEMAKER_BASE_DIR`` and the job's name/ARN."""
    user_hps, framework = split_hyperparameters(hyperparameters)
    channels = sorted(input_config)
    num_cpus = num_cpus if num_cpus is not None else len(os.sched_getaffinity(0))
    args = user_args if user_args is not None else cli_args(user_hps)
    env: dict[str, Any] = {
        "SM_MODEL_DIR": str(layout.model),
        "SM_CHANNELS": channels,
        "SM_HPS": user_hps,
        "SM_HOSTS": resources.get("hosts", [CURRENT_HOST]),
        "SM_CURRENT_HOST": resources.get("current_host", CURRENT_HOST),
        "SM_CURRENT_INSTANCE_TYPE": resources.get("current_instance_type", "local"),
        "SM_NUM_CPUS": num_cpus,
        "SM_NUM_GPUS": num_gpus,
        "SM_NUM_NEURONS": 0,
        "SM_OUTPUT_DATA_DIR": str(layout.output_data),
        "SM_OUTPUT_DIR": str(layout.output),
        "SM_OUTPUT_INTERMEDIATE_DIR": str(layout.intermediate),
        "SM_INPUT_DIR": str(layout.input),
        "SM_INPUT_CONFIG_DIR": str(layout.config),
        "SM_RESOURCE_CONFIG": resources,
        "SM_INPUT_DATA_CONFIG": input_config,
        "SM_NETWORK_INTERFACE_NAME": resources.get("network_interface_name", "eth0"),
        "SM_LOG_LEVEL": 20,
        "SM_USER_ARGS": args,
        "SM_USER_ENTRY_POINT": entry_point,
        "SM_MODULE_NAME": module_name,
        "SM_MODULE_DIR": str(framework.get("sagemaker_submit_directory", "")),
        "SM_FRAMEWORK_PARAMS": {k: v for k, v in framework.items()},
        "SM_FRAMEWORK_MODULE": framework_module,
        "SM_CHECKPOINT_DIR": str(layout.checkpoints),
        "SM_IS_HETERO": False,
    }
    for name in channels:
        env[f"SM_CHANNEL_{name.upper()}"] = str(layout.channel(name))
    for key, value in user_hps.items():
        env[f"SM_HP_{key.upper()}"] = value
    training_env = {
        "additional_framework_parameters": framework,
        "channel_input_dirs": {name: str(layout.channel(name)) for name in channels},
        "current_host": env["SM_CURRENT_HOST"],
        "framework_module": framework_module,
        "hosts": env["SM_HOSTS"],
        "hyperparameters": user_hps,
        "input_config_dir": str(layout.config),
        "input_data_config": input_config,
        "input_dir": str(layout.input),
        "job_name": job_name,
        "log_level": 20,
        "model_dir": str(layout.model),
        "module_dir": env["SM_MODULE_DIR"],
        "module_name": module_name,
        "network_interface_name": env["SM_NETWORK_INTERFACE_NAME"],
        "num_cpus": num_cpus,
        "num_gpus": num_gpus,
        "output_data_dir": str(layout.output_data),
        "output_dir": str(layout.output),
        "output_intermediate_dir": str(layout.intermediate),
        "resource_config": resources,
        "user_entry_point": entry_point,
    }
    env["SM_TRAINING_ENV"] = training_env
    out = {k: _env_value(v) for k, v in env.items()}
    out["SAGEMAKER_BASE_DIR"] = str(layout.base)
    out["TRAINING_JOB_NAME"] = job_name
    out["TRAINING_JOB_ARN"] = job_arn
    return out


# --- several hosts: what distributed programs (xgboost's collective, torch.distributed / torchrun) expect ---
DISTRIBUTION_SWITCHES = ("sagemaker_pytorch_ddp_enabled", "sagemaker_torch_distributed_enabled",
                         "sagemaker_distributed_dataparallel_enabled", "sagemaker_mpi_enabled")


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("true", "1", "yes")


def processes_per_host(framework: dict[str, Any], num_gpus: int) -> int:
    """Processes to start on each host. One, unless a SageMaker distribution switch asks for more:
    ``sagemaker_mpi_enabled`` with ``sagemaker_mpi_num_of_processes_per_host``, or one per GPU with the
    DDP / torch_distributed / smdistributed switches (what the SageMaker toolkit launches)."""
    if _truthy(framework.get("sagemaker_mpi_enabled")):
        return max(1, int(framework.get("sagemaker_mpi_num_of_processes_per_host") or 1))
    if any(_truthy(framework.get(k)) for k in DISTRIBUTION_SWITCHES):
        return max(1, num_gpus)
    return 1


def distributed_environment(hosts: list[str], current_host: str, addresses: dict[str, str], master_port: int,
                            procs_per_host: int = 1) -> dict[str, str]:
    """Where the other hosts are, torch.distributed style. ``MASTER_ADDR`` is algo-1's address (the first of
    the sorted hosts), ``RANK`` is this host's first process (host index x processes per host);
    ``SHIPYARD_HOST_ADDRESSES`` maps every host name to its address (on Ray: its node's IP), since the
    ``algo-i`` names are not resolvable host names outside a SageMaker cluster."""
    hosts = sorted(hosts)
    index = hosts.index(current_host)
    master = addresses.get(hosts[0], "127.0.0.1")
    return {
        "SHIPYARD_HOST_ADDRESSES": _dump({h: addresses.get(h, "127.0.0.1") for h in hosts}),
        "SHIPYARD_HOST_INDEX": str(index),
        "MASTER_ADDR": master,
        "MASTER_PORT": str(master_port),
        "WORLD_SIZE": str(len(hosts) * procs_per_host),
        "RANK": str(index * procs_per_host),
        "NODE_RANK": str(index),
        "GROUP_RANK": str(index),
        "LOCAL_RANK": "0",
        "LOCAL_WORLD_SIZE": str(procs_per_host),
        "SM_NUM_HOSTS": str(len(hosts)),
    }


def torchrun_command(entry_cmd: list[str], hosts: list[str], current_host: str, master_addr: str,
                     master_port: int, procs_per_host: int) -> list[str]:
    """``python -m torch.distributed.run ...`` around a Python entry point, for several processes per host."""
    import sys

    hosts = sorted(hosts)
    if not entry_cmd or entry_cmd[0] != sys.executable and not os.path.basename(entry_cmd[0]).startswith("python"):
        return entry_cmd  # a shell entry point runs as is; it can launch its own processes
    return [entry_cmd[0], "-m", "torch.distributed.run", f"--nnodes={len(hosts)}",
            f"--node_rank={hosts.index(current_host)}", f"--nproc_per_node={procs_per_host}",
            f"--master_addr={master_addr}", f"--master_port={master_port}", *entry_cmd[1:]]


# --- TensorFlow: what SageMaker's TensorFlow training container (sagemaker-tensorflow-training) adds ---
TF_MWMS_SWITCH = "sagemaker_multi_worker_mirrored_strategy_enabled"
TF_PS_SWITCH = "sagemaker_parameter_server_enabled"


def tensorflow_distribution(framework: dict[str, Any], num_hosts: int) -> str:
    """``"parameter_server"``, ``"multi_worker_mirrored"`` or ``""``, as the container decides: parameter
    servers only on several hosts, MultiWorkerMirroredStrategy's TF_CONFIG even on one."""
    if _truthy(framework.get(TF_PS_SWITCH)) and num_hosts > 1:
        return "parameter_server"
    if _truthy(framework.get(TF_MWMS_SWITCH)):
        return "multi_worker_mirrored"
    return ""


def tensorflow_ports(hosts: list[str], base_port: int) -> tuple[dict[str, int], dict[str, int]]:
    """({host: worker/master port}, {host: parameter-server port}). The container uses fixed ports (8890 for
    MultiWorkerMirroredStrategy, 2222 master/worker, 2223 ps), one host per instance; here several hosts may
    share one address (the local runner), so each gets its own ports counted up from the job's free
    ``MASTER_PORT``: workers ``MASTER_PORT+1+i``, parameter servers ``MASTER_PORT+1+N+i``."""
    hosts = sorted(hosts)
    n = len(hosts)
    return ({h: base_port + 1 + i for i, h in enumerate(hosts)},
            {h: base_port + 1 + n + i for i, h in enumerate(hosts)})


def tensorflow_tf_config(kind: str, hosts: list[str], current_host: str, addresses: dict[str, str],
                         base_port: int, ps_task: bool = False) -> dict[str, Any]:
    """TF_CONFIG as the container builds it (``_build_tf_config_for_mwms`` / ``_build_tf_config_for_ps``), with
    each host's address and port: MultiWorkerMirroredStrategy -> every host a ``worker``; parameter server ->
    ``master`` (algo-1), ``worker`` (the others) and a ``ps`` on every host, ``ps_task`` giving the ps task."""
    hosts = sorted(hosts)
    workers, ps_ports = tensorflow_ports(hosts, base_port)

    def where(names: list[str], ports: dict[str, int]) -> list[str]:
        return [f"{addresses.get(h, '127.0.0.1')}:{ports[h]}" for h in names]

    if kind == "multi_worker_mirrored":
        return {"cluster": {"worker": where(hosts, workers)}, "environment": "cloud",
                "task": {"index": hosts.index(current_host), "type": "worker"}}
    if kind != "parameter_server":
        raise ValueError(f"no TF_CONFIG for distribution {kind!r}")
    cluster: dict[str, list[str]] = {"master": where(hosts[:1], workers)}
    if len(hosts) > 1:
        cluster["ps"] = where(hosts, ps_ports)
        cluster["worker"] = where(hosts[1:], workers)
    if ps_task:
        task = {"index": hosts.index(current_host), "type": "ps"}
    elif current_host == hosts[0]:
        task = {"index": 0, "type": "master"}
    else:
        task = {"index": hosts[1:].index(current_host), "type": "worker"}
    return {"cluster": cluster, "environment": "cloud", "task": task}


def tensorflow_environment(framework: dict[str, Any], hosts: list[str], current_host: str,
                           addresses: dict[str, str], base_port: int) -> dict[str, str]:
    """``TF_CONFIG`` for this host's training program (empty without a TensorFlow distribution switch)."""
    kind = tensorflow_distribution(framework, len(hosts))
    if not kind:
        return {}
    return {"TF_CONFIG": _dump(tensorflow_tf_config(kind, hosts, current_host, addresses, base_port))}
