"""Shared helpers of the analyzer tests: tables from rows, running the program on a folder."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa

from shipyard.monitor.analyzer import program


def write_csv(path: Path, header: list[str] | None, rows: list[list]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ([",".join(header)] if header else []) + [",".join("" if v is None else str(v) for v in r) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def table(**columns) -> pa.Table:
    return pa.table(columns)


def run_analyzer(root: Path, env: dict[str, str]) -> tuple[int, dict[str, dict], str]:
    """Run the program with ``root`` as /opt/ml; (exit code, output documents by name, exit message)."""
    rc = program.main({"SAGEMAKER_BASE_DIR": str(root), **env})
    out = root / "processing" / "output"
    docs = {p.name: json.loads(p.read_text()) for p in out.glob("*.json")} if out.exists() else {}
    message_file = root / "output" / "message"
    return rc, docs, message_file.read_text() if message_file.exists() else ""
