"""Data wrangling: Data Wrangler's ``.flow`` documents run on pandas.

The small public surface (what the CLI and the console build on; heavy imports happen inside):

- :func:`load_flow`, :func:`parse_flow`, :func:`new_flow`, :func:`add_step` — read, check, start and extend a flow;
- :func:`preview` — the frame after one node, on a sample (or the whole data);
- :func:`run_flow` — every output of the flow (what a processing job writes);
- :func:`quality_report`, :func:`report_html` — the data quality and insights report (JSON, HTML);
- :func:`processing_job_request`, :func:`pipeline_step`, :func:`python_code` — the exports.
"""

from __future__ import annotations

from typing import Any

from .flow import Flow, load as load_flow, parse as parse_flow

__all__ = ["Flow", "load_flow", "parse_flow", "new_flow", "add_step", "preview", "run_flow", "quality_report",
           "report_html", "processing_job_request", "pipeline_step", "python_code"]


def new_flow(s3_uri: str, *, content_type: str = "csv", has_header: bool = True, delimiter: str = ",",
             name: str | None = None, infer_types: bool = True) -> Flow:
    """A flow that imports ``s3_uri`` (and, by default, infers and casts its column types, as Data Wrangler's
    first step does)."""
    from .editing import new_flow as _new

    return _new(s3_uri, content_type=content_type, has_header=has_header, delimiter=delimiter, name=name,
                infer_types=infer_types)


def add_step(flow: Flow, operator: str, parameters: dict[str, Any], *, after: str | None = None,
             node_id: str | None = None, inputs: list[str] | None = None) -> str:
    """Append a step (an operator's full or short name) reading ``after`` (default: the last data node), or
    ``inputs`` for a join or concatenate; returns the new node's id."""
    from .editing import add_step as _add

    return _add(flow, operator, parameters, after=after, node_id=node_id, inputs=inputs)


def preview(flow: Flow, node_id: str | None = None, *, output: str = "default", sample_rows: int | None = 50_000,
            locate=None, s3_client=None):
    """The pandas frame after ``node_id`` (default: the last data node), computed on each source's first
    ``sample_rows`` rows (None: all)."""
    from .engine import Run

    run = Run(flow, sample_rows=sample_rows, locate=locate, s3_client=s3_client)
    return run.frame(node_id or flow.last_data_node().node_id, output)


def run_flow(flow: Flow, targets=None, *, sample_rows: int | None = None, locate=None, s3_client=None) -> dict:
    """``{(node_id, output_name): frame}`` for ``targets`` (default: every output no node reads), on the full data."""
    from .engine import Run

    return Run(flow, sample_rows=sample_rows, locate=locate, s3_client=s3_client).outputs(targets)


def quality_report(df, target: str | None = None, *, problem_type: str | None = None) -> dict[str, Any]:
    """The data quality and insights report of a frame (see :mod:`.report`)."""
    from .report import quality_report as _report

    return _report(df, target, problem_type=problem_type)


def report_html(report: dict[str, Any], title: str = "Data quality and insights") -> str:
    """A self-contained HTML page of a report."""
    from .report_page import render

    return render(report, title)


def processing_job_request(flow: Flow, **kwargs) -> dict[str, Any]:
    """A CreateProcessingJob request that runs the flow on Data Wrangler's image (see :mod:`.export_job`)."""
    from .export_job import processing_job_request as _request

    return _request(flow, **kwargs)


def pipeline_step(flow: Flow, **kwargs) -> dict[str, Any]:
    """A SageMaker pipeline ``Processing`` step definition running the flow (see :mod:`.export_job`)."""
    from .export_job import pipeline_step as _step

    return _step(flow, **kwargs)


def python_code(flow: Flow, *, name: str = "a flow", script: str = "flow.py") -> str:
    """A standalone pandas script that reproduces the flow (see :mod:`.export_python`)."""
    from .export_python import python_code as _code

    return _code(flow, name=name, script=script)
