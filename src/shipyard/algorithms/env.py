"""The reading side of the training contract, for training programs (built-in or not).

Paths come from the ``SM_*`` variables the runner sets (falling back to ``SAGEMAKER_BASE_DIR`` or
``/opt/ml``), so a program written against this works unchanged in a SageMaker container.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path


# The image a built-in algorithm's job named (TrainingImage), set by the training executor: an algorithm whose
# artifacts differ between SageMaker image versions (XGBoost's model format) writes what that version wrote.
ALGORITHM_IMAGE_VARIABLE = "SHIPYARD_ALGORITHM_IMAGE"


def image_version() -> tuple[int, int] | None:
    """(major, minor) of the image tag the job named, e.g. ``sagemaker-xgboost:1.0-1-cpu-py3`` -> (1, 0);
    None when the job named no versioned image (an AlgorithmName, a bare tag such as ``:1`` or ``:latest``)."""
    tag = os.environ.get(ALGORITHM_IMAGE_VARIABLE, "").rpartition("/")[2].partition(":")[2]
    m = re.match(r"(\d+)\.(\d+)(?:-|$)", tag)
    return (int(m[1]), int(m[2])) if m else None


def base_dir() -> Path:
    return Path(os.environ.get("SAGEMAKER_BASE_DIR", "/opt/ml"))


@dataclass
class TrainingEnv:
    hyperparameters: dict[str, str]
    channels: dict[str, Path]              # channel name -> folder (File) or FIFO base path (Pipe)
    input_config: dict[str, dict]          # inputdataconfig.json
    model_dir: Path
    output_dir: Path
    output_data_dir: Path
    checkpoint_dir: Path
    hosts: list[str] = field(default_factory=lambda: ["algo-1"])
    current_host: str = "algo-1"
    num_cpus: int = 1

    def input_mode(self, channel: str) -> str:
        return self.input_config.get(channel, {}).get("TrainingInputMode", "File")

    def content_type(self, channel: str, default: str = "text/csv") -> str:
        return (self.input_config.get(channel, {}).get("ContentType") or default).lower()

    def write_failure(self, message: str) -> None:
        self.output_dir.mkdir(parents=True, exist_ok=True)
        (self.output_dir / "failure").write_text(message)

    @classmethod
    def load(cls) -> "TrainingEnv":
        base = base_dir()
        config_dir = Path(os.environ.get("SM_INPUT_CONFIG_DIR", base / "input" / "config"))

        def read(name: str, default):
            p = config_dir / name
            return json.loads(p.read_text()) if p.exists() else default

        hps = read("hyperparameters.json", {})
        input_config = read("inputdataconfig.json", {})
        resources = read("resourceconfig.json", {"current_host": "algo-1", "hosts": ["algo-1"]})
        data_dir = base / "input" / "data"
        channels = {name: Path(os.environ.get(f"SM_CHANNEL_{name.upper()}", data_dir / name))
                    for name in input_config}
        return cls(
            hyperparameters={k: str(v) for k, v in hps.items()},
            channels=channels,
            input_config=input_config,
            model_dir=Path(os.environ.get("SM_MODEL_DIR", base / "model")),
            output_dir=Path(os.environ.get("SM_OUTPUT_DIR", base / "output")),
            output_data_dir=Path(os.environ.get("SM_OUTPUT_DATA_DIR", base / "output" / "data")),
            checkpoint_dir=Path(os.environ.get("SM_CHECKPOINT_DIR", base / "checkpoints")),
            hosts=resources.get("hosts", ["algo-1"]),
            current_host=resources.get("current_host", "algo-1"),
            num_cpus=int(os.environ.get("SM_NUM_CPUS", os.cpu_count() or 1)),
        )


def exit_without_teardown(code: int) -> None:
    """End the process with ``code`` once the model, metrics and status files are written, skipping the
    interpreter's teardown: Arrow's thread pools, used by the streaming CSV reader on a Python file object
    (a Pipe-mode FIFO), can abort it with "terminate called without an active exception" and turn a
    finished job into a failed one (apache/arrow#34314, #50482). Every file this program wrote is closed by
    now; only the standard streams still need flushing."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
