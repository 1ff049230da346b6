"""What the neural built-ins (NTM, BlazingText, Object2Vec, seq2seq, DeepAR, image classification) share on top
of :mod:`.builtin`: importing torch with a message that names the extra, picking the device, and seeding.

Only the training programs and handlers import this (never an algorithm's declaration in its ``__init__``), so
the server validates a job without torch; :meth:`~.base.Algorithm.check_installed` refuses the job at Create
time when torch is missing.

The device: CUDA when the job's instance type has GPUs (the runner sets ``SM_NUM_GPUS``, see
:mod:`shipyard.runners.contract`) and torch sees one; else the CPU with as many threads as the instance type's
vCPUs (``SM_NUM_CPUS``), so a job on a 2-vCPU instance type does not take the whole machine.
"""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np

from ..errors import ValidationError

TORCH_EXTRA = "torch"


def import_torch() -> Any:
    """``torch``, or a ValidationError that says how to install it (the job fails as a ClientError)."""
    try:
        import torch
    except ImportError:
        raise ValidationError(
            "This algorithm needs PyTorch, which is not installed where the job runs: "
            f"pip install 'shipyard[{TORCH_EXTRA}]'.") from None
    return torch


def device() -> Any:
    """The torch device this process should use: ``cuda`` when GPUs were given to the job (or, outside a job,
    whenever one is visible), else ``cpu`` with ``SM_NUM_CPUS`` threads."""
    torch = import_torch()
    gpus = os.environ.get("SM_NUM_GPUS")
    wants_gpu = gpus is None or int(gpus or 0) > 0
    if wants_gpu and torch.cuda.is_available():
        return torch.device("cuda")
    cpus = os.environ.get("SM_NUM_CPUS")
    if cpus and int(cpus) > 0:
        torch.set_num_threads(max(1, min(int(cpus), os.cpu_count() or 1)))
    omp = os.environ.get("OMP_NUM_THREADS", "")
    if omp.isdigit() and 0 < int(omp) < torch.get_num_threads():
        torch.set_num_threads(int(omp))  # a job's Environment that caps the threads is honoured
    return torch.device("cpu")


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and torch, so that the same job on the same data gives the same model (on the CPU)."""
    torch = import_torch()
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


def no_grad_inference() -> Any:
    """A context for serving: no autograd bookkeeping (``torch.inference_mode``)."""
    return import_torch().inference_mode()


def fit_threads_to(model: Any, dev: Any, small: int = 2_000_000) -> None:
    """One torch thread for a small network on the CPU. Measured (seq2seq, 2 vCPUs shared with other jobs):
    18.8 s an epoch on two contended threads against 0.34 s on one, because OpenMP threads spin-wait on each
    other for work that small; a bigger network keeps the ``SM_NUM_CPUS`` threads :func:`device` set."""
    torch = import_torch()
    if getattr(dev, "type", str(dev)) == "cpu" and sum(p.numel() for p in model.parameters()) < small:
        torch.set_num_threads(1)
