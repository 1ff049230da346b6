"""``python -m shipyard.ui.wrangle_child FOLDER``: the console's flow preview, run in a sandbox, never in the server.

Previewing a flow runs its steps, and custom pandas, SQL and formula steps are the user's code, so the console
(:mod:`.wrangle_sandbox`) stages the flow and its sources' sample in ``FOLDER`` and starts this program inside
the job sandbox (no network, the server's home hidden but for ``FOLDER``). It reads

- ``FOLDER/flow.flow`` (the flow), ``FOLDER/sources.json`` (``{s3 uri: path of its staged sample}``),
- ``FOLDER/request.json``: ``{"mode": "preview" | "report", "node", "output", "rows", "sample_rows", "target"}``,

and writes ``FOLDER/result.json``: ``{"columns": [{"name", "dtype"}], "rows": [[cell, ...]], "sample_rows"}``
(preview), ``{"report": {...}, "html": "..."}`` (report) or ``{"error": "what went wrong"}``. The console
trusts none of it: it checks the shape and size, escapes every value, and shows the report's HTML in a
sandboxed frame.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

CELL_CHARS = 200  # a cell's text is cut here: the grid is for looking, the export keeps the data


def _cell(value: Any) -> str | None:
    import pandas as pd

    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):  # a list or array in a cell
        pass
    text = str(value)
    return text if len(text) <= CELL_CHARS else text[:CELL_CHARS] + "…"


def run(folder: Path) -> dict[str, Any]:
    from shipyard import wrangle
    from shipyard.errors import ShipyardError

    request = json.loads((folder / "request.json").read_text())
    sources = {uri: str(folder / rel) for uri, rel in json.loads((folder / "sources.json").read_text()).items()}

    def locate(uri: str) -> str | None:
        return sources.get(uri)

    try:
        flow = wrangle.parse_flow((folder / "flow.flow").read_text())
        df = wrangle.preview(flow, request.get("node") or None, output=request.get("output") or "default",
                             sample_rows=request.get("sample_rows"), locate=locate)
        if request.get("mode") == "report":
            report = wrangle.quality_report(df, request.get("target") or None)
            return {"report": report, "html": wrangle.report_html(report, request.get("title") or
                                                                  "Data quality and insights")}
        head = df.head(int(request.get("rows") or 50))
        return {"columns": [{"name": str(c), "dtype": str(t)} for c, t in head.dtypes.items()],
                "rows": [[_cell(v) for v in row] for row in head.itertuples(index=False, name=None)],
                "sample_rows": int(len(df))}
    except ShipyardError as e:
        return {"error": e.message or str(e)}
    except Exception as e:  # noqa: BLE001 - the user's flow: say what failed, the console shows it
        return {"error": f"{type(e).__name__}: {e}"}


def main(argv: list[str]) -> int:
    folder = Path(argv[0])
    result = run(folder)
    (folder / "result.json").write_text(json.dumps(result, default=_plain))
    return 0


def _plain(value: Any) -> Any:
    """numpy scalars and the like, as JSON has them."""
    if hasattr(value, "item"):
        return value.item()
    return str(value)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
