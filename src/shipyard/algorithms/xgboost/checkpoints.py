"""Checkpoints of the built-in XGBoost, as SageMaker's container keeps them.

Only a job that asked for checkpoints (``CheckpointConfig``: the platform then writes
``input/config/checkpointconfig.json``) saves them. After every boosting round the model goes to ``<checkpoint dir>/xgboost-checkpoint.<round>`` (0-based round,
UBJSON, written to a temporary name then renamed, so a job killed mid-write never leaves a torn file);
the newest few are kept. A job that starts with checkpoints present loads the newest one and boosts only
the remaining rounds, so a stopped or interrupted job re-run with the same ``CheckpointConfig`` (Shipyard
restores the S3 prefix into the folder first) continues where it left off.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

PREFIX = "xgboost-checkpoint"
KEEP = 5
_NAME = re.compile(rf"^{PREFIX}\.(\d+)$")


def requested() -> bool:
    """Whether the job has a CheckpointConfig (SageMaker's signal: ``checkpointconfig.json`` exists)."""
    from ..env import base_dir

    config = Path(os.environ.get("SM_INPUT_CONFIG_DIR", base_dir() / "input" / "config"))
    return (config / "checkpointconfig.json").is_file()


def latest(folder: Path) -> tuple[Path, int] | None:
    """The newest checkpoint and its round, or None."""
    if not folder.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name)) and p.is_file()]
    if not found:
        return None
    rnd, path = max(found)
    return path, rnd


def load(folder: Path):
    """(booster, rounds already done) from the newest checkpoint, or (None, 0)."""
    import xgboost as xgb

    found = latest(folder)
    if found is None:
        return None, 0
    path, rnd = found
    booster = xgb.Booster()
    booster.load_model(bytearray(path.read_bytes()))
    return booster, rnd + 1


def make_callback(folder: Path, offset: int, keep: int = KEEP):
    """An xgboost callback saving the model after each round (``offset``: rounds done before this run)."""
    import xgboost as xgb

    class SaveCheckpoint(xgb.callback.TrainingCallback):
        def after_iteration(self, model, epoch, evals_log) -> bool:
            rnd = offset + epoch
            tmp = folder / f".{PREFIX}.{rnd}.tmp"
            tmp.write_bytes(bytes(model.save_raw("ubj")))
            os.replace(tmp, folder / f"{PREFIX}.{rnd}")
            stale = folder / f"{PREFIX}.{rnd - keep}"
            if rnd >= keep and stale.exists():
                stale.unlink()
            return False

    folder.mkdir(parents=True, exist_ok=True)
    return SaveCheckpoint()


def monitor(offset: int):
    """xgboost's per-round metric printer, numbering rounds from ``offset`` (a resumed job goes on from
    ``[offset]`` as SageMaker's logs do, so metric series do not restart at 0)."""
    import xgboost as xgb

    class Monitor(xgb.callback.EvaluationMonitor):
        def after_iteration(self, model, epoch, evals_log) -> bool:
            return super().after_iteration(model, epoch + offset, evals_log)

    return Monitor(logger=lambda msg: print(msg, end="", flush=True))


def stop_on_sigterm():
    """``save_model_on_termination``: a callback that ends boosting at the next round boundary once the
    job is stopped (SIGTERM), so the rounds done so far are saved as the model instead of being lost."""
    import signal

    import xgboost as xgb

    class StopOnSigterm(xgb.callback.TrainingCallback):
        stopped = False

        def after_iteration(self, model, epoch, evals_log) -> bool:
            return self.stopped

    cb = StopOnSigterm()

    def on_term(signum, frame):
        cb.stopped = True
        print("Received SIGTERM: stopping after this round and saving the model", flush=True)

    signal.signal(signal.SIGTERM, on_term)
    return cb
