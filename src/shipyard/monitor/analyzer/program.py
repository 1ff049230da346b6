"""The analyzer program: AWS's model-monitor container contract, read from the environment, run once.

Environment (what the SageMaker SDK's ``suggest_baseline`` and the monitoring scheduler set):

- ``dataset_format`` (JSON, :mod:`.datasets`), ``dataset_source`` (the staged data, e.g.
  ``/opt/ml/processing/input/baseline_dataset_input`` or ``/opt/ml/processing/input/endpoint``), ``output_path``
  (``/opt/ml/processing/output``, ``/opt/ml/processing/resultdata``);
- a monitoring run adds ``baseline_constraints`` and/or ``baseline_statistics`` (each a file or the folder it was
  staged in), ``start_time``/``end_time`` (captured records outside the window are left out),
  ``sagemaker_endpoint_name``, ``sagemaker_monitoring_schedule_name``, ``publish_cloudwatch_metrics``;
- model quality adds ``analysis_type=MODEL_QUALITY``, ``problem_type``, ``inference_attribute``,
  ``probability_attribute``, ``probability_threshold_attribute``, ``ground_truth_attribute``; a scheduled model
  quality run reads ground truth from ``/opt/ml/processing/groundtruth`` (or ``ground_truth_source``);
- ``categorical_drift_method`` (the SDK's monitoring_config_override) goes into suggested constraints;
- ``record_preprocessor_script`` / ``post_analytics_processor_script``: the user's scripts (:mod:`.scripts`).

A baseline run writes ``statistics.json`` and ``constraints.json``; a monitoring run ``statistics.json`` and
``constraint_violations.json``. Where violations fire the program exits 0 with ``/opt/ml/output/message``
``CompletedWithViolations: ...``: the processing job ends ``Completed`` with that ``ExitMessage``, which is how
AWS's container signals it and how the monitoring execution's status is decided. A failure exits 1 with its
reason in the same file (the job's ``FailureReason``).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from ...errors import ShipyardError, ValidationError
from . import capture, datasets, model_quality, scripts
from . import constraints as suggest
from . import statistics as stats
from . import violations as checks

OPT_ML = Path("/opt/ml")
GROUND_TRUTH = "/opt/ml/processing/groundtruth"
COMPLETED_WITH_VIOLATIONS = "CompletedWithViolations"
NO_DATA = "Job inputs had no data"


def opt_ml_root(environ: Mapping[str, str], cwd: Path | None = None) -> Path:
    """``/opt/ml`` when the job sees it (its sandbox mounts it), else ``$SAGEMAKER_BASE_DIR``, else the working
    folder when it is a job's folder (the processing executor starts programs there)."""
    if any((OPT_ML / name).exists() for name in ("config", "processing")):
        return OPT_ML
    base = environ.get("SAGEMAKER_BASE_DIR")
    if base:
        return Path(base)
    here = Path(cwd or os.getcwd())
    return here if (here / "config" / "processingjobconfig.json").exists() else OPT_ML


class Paths:
    """Container paths (``/opt/ml/...``) as this process sees them."""

    def __init__(self, root: Path):
        self.root = root

    def __call__(self, container_path: str | Path) -> Path:
        p = Path(container_path)
        if self.root != OPT_ML and (p == OPT_ML or OPT_ML in p.parents):
            return self.root / p.relative_to(OPT_ML)
        return p


def _json_file(path: Path, name: str) -> dict:
    """A JSON document given as a file or as the folder it was staged in (the one ``.json`` there)."""
    if path.is_dir():
        candidates = sorted(path.rglob(name)) or sorted(path.rglob("*.json"))
        if not candidates:
            raise ValidationError(f"No {name} under {path}: the baseline input was staged without it.")
        path = candidates[0]
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ValidationError(f"{path} does not exist: the baseline {name} was not staged there.") from None
    except json.JSONDecodeError as e:
        raise ValidationError(f"{path} is not JSON: {e}") from None


def _write(folder: Path, name: str, doc: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{name}.tmp"
    tmp.write_text(json.dumps(doc, indent=4))
    os.replace(tmp, folder / name)


class Analyzer:
    def __init__(self, environ: Mapping[str, str], root: Path):
        self.env = environ
        self.path = Paths(root)
        self.root = root

    def _var(self, name: str) -> str | None:
        value = self.env.get(name)
        return value if value not in (None, "") else None

    @property
    def output(self) -> Path:
        return self.path(self._var("output_path") or "/opt/ml/processing/output")

    @property
    def source(self) -> Path:
        return self.path(self._var("dataset_source") or "/opt/ml/processing/input/baseline_dataset_input")

    @property
    def monitoring(self) -> bool:
        return bool(self._var("baseline_constraints") or self._var("baseline_statistics"))

    def run(self) -> tuple[int, str]:
        """(violation count, summary line)."""
        fmt = datasets.parse_format(self._var("dataset_format"))
        if str(self._var("analysis_type") or "").upper() == "MODEL_QUALITY":
            result = self.model_quality(fmt)
        else:
            result = self.data_quality(fmt)
        post = self._var("post_analytics_processor_script")
        if post:
            scripts.load_handler(self.path(post), "postprocess_handler")()
        return result

    def _preprocessor(self):
        script = self._var("record_preprocessor_script")
        return scripts.load_handler(self.path(script), "preprocess_handler") if script else None

    # --- data quality ---
    def _read(self, fmt: datasets.DatasetFormat):
        if fmt.kind == "sagemakerCaptureJson":
            start = capture.parse_time(self._var("start_time"))
            end = capture.parse_time(self._var("end_time"))
            found = capture.read_captures(datasets.data_files(self.source), fmt.capture_indexes, start, end,
                                          self._preprocessor())
            if found.skipped:
                print(f"note: {found.skipped} line(s) were not capture records and were skipped")
            return found.table
        return datasets.read(self.source, fmt)

    def data_quality(self, fmt: datasets.DatasetFormat) -> tuple[int, str]:
        began = time.monotonic()
        table = self._read(fmt)
        if table.num_rows == 0:
            raise NoData(f"{NO_DATA}: no records in {self.source}")
        profiles = stats.profile(table)
        if not self.monitoring:
            statistics = stats.statistics_document(profiles, table.num_rows)
            constraints = suggest.constraints_document(profiles, self._var("categorical_drift_method"))
            _write(self.output, "statistics.json", statistics)
            _write(self.output, "constraints.json", constraints)
            return 0, (f"baseline of {table.num_rows} rows x {table.num_columns} features in "
                       f"{time.monotonic() - began:.2f} s")
        baseline_constraints = self._baseline("baseline_constraints", "constraints.json")
        baseline_statistics = self._baseline("baseline_statistics", "statistics.json")
        found = checks.check(profiles, baseline_constraints or {"features": []}, baseline_statistics)
        statistics = stats.statistics_document(profiles, table.num_rows)  # names as aligned to the baseline
        _write(self.output, "statistics.json", statistics)
        _write(self.output, "constraint_violations.json", checks.violations_document(found))
        self._cloudwatch(profiles, baseline_statistics)
        return len(found), (f"checked {table.num_rows} rows x {table.num_columns} features: {len(found)} "
                            f"violation(s) in {time.monotonic() - began:.2f} s")

    def _baseline(self, variable: str, name: str) -> dict | None:
        value = self._var(variable)
        return _json_file(self.path(value), name) if value else None

    def _cloudwatch(self, profiles: list[stats.ColumnProfile], baseline_statistics: dict | None) -> None:
        """Per-feature metrics where ``publish_cloudwatch_metrics`` is Enabled, in AWS's file layout
        (``/opt/ml/output/metrics/cloudwatch/*.jsonl``) for whoever publishes them."""
        if self._var("publish_cloudwatch_metrics") != "Enabled":
            return
        from . import sketch as kll

        base = {str(f.get("name")): f for f in (baseline_statistics or {}).get("features") or []}
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        endpoint = self._var("sagemaker_endpoint_name") or ""
        schedule = self._var("sagemaker_monitoring_schedule_name") or ""
        dimensions = [{"Name": "Endpoint", "Value": endpoint}, {"Name": "MonitoringSchedule", "Value": schedule}]
        data = []
        for p in profiles:
            present = max(p.num_present, 1)
            values = {"feature_non_null": p.completeness, "feature_integral": p.integral / present,
                      "feature_fractional": p.fractional / present,
                      "feature_string": max(p.num_present - p.integral - p.fractional, 0) / present}
            b = kll.sample_of(((base.get(p.name) or {}).get("numerical_statistics") or {})
                              .get("distribution", {}).get("kll"))
            if b is not None and p.sketch is not None:
                current = kll.sample_of({"sketch": kll.document(p.sketch)})
                if current is not None:
                    values["feature_baseline_drift"] = kll.distance(b, current)
            data += [{"MetricName": f"{k}_{p.name}", "Timestamp": now, "Dimensions": dimensions, "Value": v}
                     for k, v in values.items()]
        folder = self.path("/opt/ml/output/metrics/cloudwatch")
        folder.mkdir(parents=True, exist_ok=True)
        doc = {"Metadata": {"Endpoint": endpoint, "MonitoringScheduleName": schedule},
               "Namespace": "aws/sagemaker/Endpoints/data-metrics", "MetricData": data}
        (folder / "cloudwatch_metrics.jsonl").write_text(json.dumps(doc) + "\n")

    # --- model quality ---
    def model_quality(self, fmt: datasets.DatasetFormat) -> tuple[int, str]:
        problem = self._var("problem_type") or ""
        threshold = float(self._var("probability_threshold_attribute") or 0.5)
        inference = self._var("inference_attribute")
        probability = self._var("probability_attribute")
        if fmt.kind == "sagemakerCaptureJson":
            table, truth_attr = self._merged_captures(fmt)
        else:
            table, truth_attr = datasets.read(self.source, fmt), self._var("ground_truth_attribute")
        if table.num_rows == 0:
            raise NoData(f"{NO_DATA}: no labelled records in {self.source}")
        if inference is None and probability is None and fmt.kind == "sagemakerCaptureJson":
            inference = "0"
        col = model_quality.attribute_column
        data = model_quality.labelled(problem, col(table, truth_attr), col(table, inference),
                                      col(table, probability), threshold)
        statistics = model_quality.statistics_document(problem, data)
        _write(self.output, "statistics.json", statistics)
        if not self.monitoring:
            _write(self.output, "constraints.json", model_quality.constraints_document(problem, statistics))
            return 0, f"model quality baseline ({problem}) over {len(data.truth)} labelled rows"
        baseline_constraints = self._baseline("baseline_constraints", "constraints.json") or {}
        found = model_quality.check(problem, statistics, baseline_constraints)
        _write(self.output, "constraint_violations.json", checks.violations_document(found))
        return len(found), f"model quality ({problem}) over {len(data.truth)} labelled rows: {len(found)} violation(s)"

    def _merged_captures(self, fmt: datasets.DatasetFormat):
        """Captured predictions joined to ground truth: a table of the output's columns plus ``groundTruth``."""
        start = capture.parse_time(self._var("start_time"))
        end = capture.parse_time(self._var("end_time"))
        found = capture.read_captures(datasets.data_files(self.source), ("endpointOutput",), start, end)
        truth_folder = self.path(self._var("ground_truth_source") or GROUND_TRUTH)
        labels = capture.read_ground_truth(datasets.data_files(truth_folder)) if truth_folder.exists() else {}
        rows = []
        for record in found.records:
            label = labels.get(record.join_key, labels.get(record.event_id))
            outputs = capture.payload_rows(record.output)
            if label is None or not outputs:
                continue
            row = datasets.flatten(outputs[0])
            for attribute in (self._var("inference_attribute"), self._var("probability_attribute")):
                if attribute and attribute.startswith("$"):  # a JSONPath into the whole response
                    row[attribute] = capture.json_path(capture.decode(record.output), attribute)
            row["groundTruth"] = capture.scalar(label.split(",")[0]) if label else None
            rows.append(row)
        print(f"merged {len(rows)} of {len(found.records)} captured record(s) with {len(labels)} ground-truth label(s)")
        return datasets.rows_to_table(rows), "groundTruth"


class NoData(Exception):
    """The window (or the baseline input) holds no records: the job fails as AWS's does, with that reason."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _message(root: Path, text: str) -> None:
    folder = Paths(root)("/opt/ml/output")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "message").write_text(text[:1024])
    except OSError:
        pass


def main(environ: Mapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    root = opt_ml_root(environ)
    analyzer = Analyzer(environ, root)
    try:
        count, summary = analyzer.run()
    except NoData as e:
        print(e.message, file=sys.stderr)
        _message(root, e.message)
        return 1
    except (ValidationError, ShipyardError) as e:
        print(f"ClientError: {e.message}", file=sys.stderr)
        _message(root, f"ClientError: {e.message}")
        return 1
    print(summary)
    if count:
        doc = "constraint_violations.json"
        _message(root, f"{COMPLETED_WITH_VIOLATIONS}: {count} violation(s) found; see {doc} in the output.")
    return 0
