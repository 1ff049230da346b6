"""A report (:mod:`.report`) as one self-contained HTML page: no scripts, no external files; bars are inline
SVG, so it opens anywhere and can be attached to a ticket."""

from __future__ import annotations

import html
from typing import Any


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def _bars(counts: list[int], labels: list[str] | None = None, width: int = 240, height: int = 60) -> str:
    if not counts:
        return ""
    peak = max(counts) or 1
    step = width / len(counts)
    rects = []
    for i, c in enumerate(counts):
        h = c / peak * (height - 2)
        title = f"{html.escape(labels[i])}: {c}" if labels else str(c)
        rects.append(f'<rect x="{i * step:.1f}" y="{height - h:.1f}" width="{max(step - 1, 1):.1f}" '
                     f'height="{h:.1f}" fill="#4a7bd0"><title>{title}</title></rect>')
    return f'<svg width="{width}" height="{height}" role="img">{"".join(rects)}</svg>'


def _scatter(data: dict[str, Any], size: int = 240) -> str:
    pts = [(x, y) for x, y in data["points"] if isinstance(x, (int, float)) and isinstance(y, (int, float))]
    if not pts:
        return ""
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    (x0, x1), (y0, y1) = (min(xs), max(xs) or 1), (min(ys), max(ys) or 1)
    sx = (size - 8) / ((x1 - x0) or 1)
    sy = (size - 8) / ((y1 - y0) or 1)
    dots = "".join(f'<circle cx="{4 + (x - x0) * sx:.1f}" cy="{size - 4 - (y - y0) * sy:.1f}" r="2" '
                   'fill="#d07a4a" fill-opacity="0.6"/>' for x, y in pts)
    return (f'<figure><svg width="{size}" height="{size}" style="border:1px solid #ddd">{dots}</svg>'
            f'<figcaption>{html.escape(data["x"])} vs {html.escape(data["y"])}</figcaption></figure>')


def render(report: dict[str, Any], title: str = "Data quality and insights") -> str:
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}"
             ".high{color:#b00}.medium{color:#b60}.low{color:#666}figure{display:inline-block;margin:1em}</style>",
             f"</head><body><h1>{html.escape(title)}</h1>",
             f"<p>{report['rows']} rows, {report['columns']} columns; {report['duplicate_rows']} duplicate rows "
             f"({report['duplicate_ratio']:.1%}); {report['missing_cells']} missing cells.</p>"]
    if report.get("target"):
        parts.append(f"<p>Target <b>{html.escape(report['target'])}</b> ({html.escape(report['problem_type'])}); "
                     f"quick model score {_fmt(report.get('quick_model_score'))}.</p>")
    parts.append("<h2>Warnings</h2><ul>")
    for w in report["warnings"] or [{"title": "None", "severity": "low", "text": "no issues found"}]:
        parts.append(f"<li class='{html.escape(w['severity'])}'><b>{html.escape(w['title'])}</b>: "
                     f"{html.escape(w['text'])}</li>")
    parts.append("</ul>")
    if report.get("feature_importance"):
        parts.append("<h2>Feature importance and prediction power</h2><table><tr><th>feature</th>"
                     "<th>importance (quick model)</th><th>prediction power alone</th></tr>")
        for name, value in report["feature_importance"].items():
            parts.append(f"<tr><td>{html.escape(name)}</td><td>{_fmt(value)}</td>"
                         f"<td>{_fmt(report['prediction_power'].get(name))}</td></tr>")
        parts.append("</table>")
    parts.append("<h2>Columns</h2><table><tr><th>column</th><th>type</th><th>missing</th><th>cardinality</th>"
                 "<th>mean</th><th>median</th><th>min</th><th>max</th><th>distribution</th></tr>")
    for name, s in report["column_stats"].items():
        hist = s.get("histogram") or {}
        parts.append(f"<tr><td>{html.escape(name)}</td><td>{s['type']} ({html.escape(s['dtype'])})</td>"
                     f"<td>{s['missing']} ({s['missing_ratio']:.1%})</td><td>{s['cardinality']}</td>"
                     f"<td>{_fmt(s.get('mean'))}</td><td>{_fmt(s.get('median'))}</td><td>{_fmt(s.get('min'))}</td>"
                     f"<td>{_fmt(s.get('max'))}</td><td>{_bars(hist.get('counts', []), hist.get('labels'))}</td></tr>")
    parts.append("</table>")
    if report.get("scatter"):
        parts.append("<h2>Scatter plots</h2>" + "".join(_scatter(s) for s in report["scatter"]))
    parts.append("</body></html>")
    return "\n".join(parts)
