"""What a tuning job tried and how each try scored: one row per training job, as dicts or a pandas DataFrame.

The rows come from ListTrainingJobsForHyperParameterTuningJob (paginated) and are the same ones the
``shipyard tuning leaderboard`` command prints. pandas is optional (a test extra, not a core dependency), so
it is imported only by :meth:`HyperparameterTuningJobAnalytics.dataframe`, which says how to install it when
it is missing; :meth:`~HyperparameterTuningJobAnalytics.rows` needs nothing beyond boto3.
"""

from __future__ import annotations

from typing import Any

from .session import Session

MAX_PAGES = 1000  # 100 jobs a page: far beyond any tuning job's MaxNumberOfTrainingJobs


def _number(text: Any) -> Any:
    """Tuned values arrive as strings; give numbers back as numbers (categoricals stay strings).

    Script-mode categoricals are JSON-encoded (``'"adam"'``); their quotes are removed."""
    if not isinstance(text, str):
        return text
    s = text.strip()
    if len(s) >= 2 and s[0] == s[-1] == '"':
        return s[1:-1]
    try:
        return int(s) if s.lstrip("+-").isdigit() else float(s)
    except ValueError:
        return text


def _epoch(value: Any) -> float | None:
    """boto3 gives datetimes; tests and callers may pass floats."""
    if value is None:
        return None
    return value.timestamp() if hasattr(value, "timestamp") else float(value)


def job_summaries(session: Session, tuning_job_name: str) -> list[dict]:
    """Every training job the tuning job launched (the raw HyperParameterTrainingJobSummary dicts),
    oldest first."""
    sm = session.sagemaker_client
    out: list[dict] = []
    kwargs: dict[str, Any] = {"HyperParameterTuningJobName": tuning_job_name, "MaxResults": 100,
                              "SortBy": "CreationTime", "SortOrder": "Ascending"}
    for _ in range(MAX_PAGES):
        page = sm.list_training_jobs_for_hyper_parameter_tuning_job(**kwargs)
        out.extend(page.get("TrainingJobSummaries", []))
        token = page.get("NextToken")
        if not token or token == kwargs.get("NextToken"):
            break
        kwargs["NextToken"] = token
    return out


def summary_row(summary: dict) -> dict[str, Any]:
    """One flat row: the tuned hyperparameters (numbers where they are numbers), then the job's facts."""
    row: dict[str, Any] = {k: _number(v) for k, v in (summary.get("TunedHyperParameters") or {}).items()}
    start, end = _epoch(summary.get("TrainingStartTime")), _epoch(summary.get("TrainingEndTime"))
    objective = summary.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
    row.update({
        "TrainingJobName": summary.get("TrainingJobName"),
        "TrainingJobStatus": summary.get("TrainingJobStatus"),
        "FinalObjectiveValue": objective.get("Value"),
        "TrainingStartTime": summary.get("TrainingStartTime"),
        "TrainingEndTime": summary.get("TrainingEndTime"),
        "TrainingElapsedTimeSeconds": (end - start) if start is not None and end is not None else None,
    })
    if summary.get("TrainingJobDefinitionName"):
        row["TrainingJobDefinitionName"] = summary["TrainingJobDefinitionName"]
    return row


class HyperparameterTuningJobAnalytics:
    """Results of one tuning job. Results are fetched once and cached; pass ``force_refresh=True`` to re-read
    a job that is still running."""

    def __init__(self, tuning_job_name: str, session: Session | None = None):
        self.name = tuning_job_name
        self.session = session or Session()
        self._summaries: list[dict] | None = None
        self._description: dict | None = None

    def description(self, force_refresh: bool = False) -> dict:
        """The DescribeHyperParameterTuningJob answer."""
        if force_refresh or self._description is None:
            self._description = self.session.sagemaker_client.describe_hyper_parameter_tuning_job(
                HyperParameterTuningJobName=self.name)
        return self._description

    def training_job_summaries(self, force_refresh: bool = False) -> list[dict]:
        if force_refresh or self._summaries is None:
            self._summaries = job_summaries(self.session, self.name)
        return self._summaries

    def rows(self, force_refresh: bool = False) -> list[dict[str, Any]]:
        """One dict per training job, in launch order (what :meth:`dataframe` holds, without pandas)."""
        return [summary_row(s) for s in self.training_job_summaries(force_refresh)]

    def dataframe(self, force_refresh: bool = False) -> Any:
        """A pandas DataFrame: one row per training job, a column per tuned hyperparameter, plus
        TrainingJobName, TrainingJobStatus, FinalObjectiveValue, TrainingStartTime, TrainingEndTime and
        TrainingElapsedTimeSeconds."""
        try:
            import pandas as pd
        except ImportError as e:
            raise ImportError(
                "HyperparameterTuningJobAnalytics.dataframe() needs pandas, which is not installed: "
                "run `pip install pandas` (or use .rows(), which needs nothing beyond boto3)") from e
        return pd.DataFrame(self.rows(force_refresh))


def leaderboard(rows: list[dict[str, Any]], maximize: bool) -> list[dict[str, Any]]:
    """Rows sorted best objective first; jobs without an objective value last, in launch order."""
    scored = [r for r in rows if r.get("FinalObjectiveValue") is not None]
    unscored = [r for r in rows if r.get("FinalObjectiveValue") is None]
    scored.sort(key=lambda r: r["FinalObjectiveValue"], reverse=maximize)
    return scored + unscored


def running_best(values: list[float | None], maximize: bool) -> list[float | None]:
    """For each position, the best value seen so far (None until the first value)."""
    best: float | None = None
    out: list[float | None] = []
    for v in values:
        if v is not None and (best is None or (v > best if maximize else v < best)):
            best = v
        out.append(best)
    return out
