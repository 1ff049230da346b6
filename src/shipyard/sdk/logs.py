"""Reading a job's log streams through the CloudWatch Logs API, incrementally.

SageMaker writes one stream per instance, named ``<job>/algo-<n>-<epoch>``, in the group
``/aws/sagemaker/TrainingJobs`` (``/aws/sagemaker/Endpoints/<name>`` for endpoints). A tailer remembers
each stream's forward token, so every :meth:`LogTailer.poll` returns only the lines written since the last one.
"""

from __future__ import annotations

from typing import Any, Iterator

TRAINING_LOG_GROUP = "/aws/sagemaker/TrainingJobs"

# A missing group or stream just means "nothing logged yet".
_NOT_YET = {"ResourceNotFoundException"}


class LogTailer:
    def __init__(self, logs_client: Any, job_name: str, log_group: str = TRAINING_LOG_GROUP):
        self.client = logs_client
        self.job_name = job_name
        self.log_group = log_group
        self._tokens: dict[str, str | None] = {}

    def _streams(self) -> list[str]:
        names: list[str] = []
        kwargs: dict[str, Any] = {"logGroupName": self.log_group, "logStreamNamePrefix": self.job_name + "/"}
        for _ in range(100):  # bounded pagination
            resp = self.client.describe_log_streams(**kwargs)
            names.extend(s["logStreamName"] for s in resp.get("logStreams", []))
            token = resp.get("nextToken")
            if not token or token == kwargs.get("nextToken"):
                break
            kwargs["nextToken"] = token
        return sorted(names)

    def poll(self) -> Iterator[tuple[str, dict]]:
        """Yield ``(stream_name, event)`` for every event not yet returned, stream by stream."""
        from botocore.exceptions import ClientError

        try:
            streams = self._streams()
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in _NOT_YET:
                return
            raise
        for stream in streams:
            for _ in range(1000):  # bounded: at most 1000 pages per poll
                kwargs: dict[str, Any] = {"logGroupName": self.log_group, "logStreamName": stream,
                                          "startFromHead": True}
                token = self._tokens.get(stream)
                if token:
                    kwargs["nextToken"] = token
                try:
                    resp = self.client.get_log_events(**kwargs)
                except ClientError as e:
                    if e.response.get("Error", {}).get("Code") in _NOT_YET:
                        break
                    raise
                events = resp.get("events", [])
                for event in events:
                    yield stream, event
                new_token = resp.get("nextForwardToken")
                if new_token:
                    self._tokens[stream] = new_token
                if not events or not new_token or new_token == token:
                    break
