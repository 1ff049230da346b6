"""Data-parallel XGBoost over several instances: one collective (rabit) group, algo-1 runs the tracker.

As SageMaker's XGBoost container does for ``InstanceCount > 1``: every host loads its own part of the data
(``ShardedByS3Key``; with ``FullyReplicated`` every host holds all of it, which gives the same model with no
speed-up), joins the group, and ``xgb.train`` all-reduces the gradient histograms and the evaluation metrics,
so every host builds the same trees. algo-1 (the first of the sorted hosts) runs
``xgboost.tracker.RabitTracker`` on its address (``SHIPYARD_HOST_ADDRESSES`` / ``MASTER_ADDR``) and port
(``MASTER_PORT``); ranks follow the host order (``sortby="task"``), so rank 0 is algo-1, the host that saves
the model and prints the evaluation lines.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager

from ..env import TrainingEnv

# The tree method of a data-parallel job whose hyperparameters leave it to the container ("auto" or unset), as
# SageMaker's XGBoost container gets it from xgboost for distributed training: histogram-based, whose gradient
# histograms are what the collective all-reduces. ``exact`` cannot run distributed (xgboost refuses it): such a
# job gets ``hist`` too, with a line in its log saying so.
TREE_METHOD = "hist"
BOOTSTRAP_TIMEOUT = 600  # seconds for every host to join: data loading on the slowest host included


def _group(env: TrainingEnv) -> tuple[list[str], int, str, int]:
    hosts = sorted(env.hosts)
    addresses = json.loads(os.environ.get("SHIPYARD_HOST_ADDRESSES") or "{}")
    master = addresses.get(hosts[0]) or os.environ.get("MASTER_ADDR") or "127.0.0.1"
    port = int(os.environ.get("MASTER_PORT") or 9091)
    return hosts, hosts.index(env.current_host), master, port


def distributed_tree_method(requested: str | None) -> tuple[str, str]:
    """(tree method to train with, a log line or "") for a job on several instances."""
    if requested in (None, "", "auto"):
        return TREE_METHOD, ""
    if requested == "exact":
        return TREE_METHOD, (f"tree_method 'exact' does not support distributed training: using "
                             f"'{TREE_METHOD}' on these {{hosts}} instances")
    return requested, ""


@contextmanager
def collective(env: TrainingEnv):
    from xgboost import collective as coll
    from xgboost.tracker import RabitTracker

    hosts, rank, master, port = _group(env)
    tracker = None
    if rank == 0:
        tracker = RabitTracker(n_workers=len(hosts), host_ip=master, port=port, sortby="task",
                               timeout=BOOTSTRAP_TIMEOUT)
        tracker.start()
    args = {"dmlc_tracker_uri": master, "dmlc_tracker_port": port, "dmlc_task_id": f"{rank:05d}",
            "dmlc_retry": 60, "dmlc_timeout": BOOTSTRAP_TIMEOUT}
    print(f"Joining the XGBoost collective as rank {rank} of {len(hosts)} (tracker {master}:{port})", flush=True)
    with coll.CommunicatorContext(**args):
        yield rank
    if tracker is not None:
        tracker.wait_for(BOOTSTRAP_TIMEOUT)
