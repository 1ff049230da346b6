"""``job.json`` of one processing host: what the controller hands the executor, typed.

The same contract as training's (:mod:`shipyard.domain.job_file`): every field keeps its key, a missing key
reads as its default, unknown keys are kept in ``extra``; the file holds the job's own key, so it is written
0600 (:func:`~shipyard.domain.job_file.write_private`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..domain.job_file import _JobFile


@dataclass
class ProcessingJobFile(_JobFile):
    """One host (``algo-N``) of a processing job (``controllers/processing.py`` -> ``processing/executor.py``)."""

    arn: str = ""
    program: dict[str, Any] = field(default_factory=dict)  # processing/program.py: {"kind": ..., ...}
    region: str = "us-east-1"
    stop_grace: float | None = None            # SIGTERM -> SIGKILL for the program (None: the executor's)
    hosts: list[str] = field(default_factory=lambda: ["algo-1"])  # every host of the job, algo-1 first
    host_index: int = 0                        # which of ``hosts`` this one is
    continuous_interval: float | None = None   # seconds between Continuous output uploads (tests shorten it)
