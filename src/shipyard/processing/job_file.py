"""``job.json`` of one processing host: :class:`shipyard.domain.job_file.ProcessingJobFile`, beside the other
kinds' files (one contract for all: keys kept, defaults for missing keys, unknown keys kept in ``extra``).
Re-exported here for the processing package's own imports."""

from __future__ import annotations

from ..domain.job_file import ProcessingJobFile

__all__ = ["ProcessingJobFile"]
