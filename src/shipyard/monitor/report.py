"""A monitoring report: per feature, the baseline's distribution beside the latest execution's, and the violations.

Input is the analyzer's documents as AWS writes them (two ``statistics.json``, one ``constraint_violations.json``'s
``violations``); output is self-contained HTML (inline SVG and CSS, no script, no external asset) that opens from
a file, an e-mail or an S3 link alike. ``shipyard monitor report`` writes it; the console embeds the same SVG
(:func:`feature_charts`), so the two cannot disagree.

Numeric features' KLL buckets have different edges in the two documents, so both are spread over one common set
of :data:`BINS` bins (a bucket's count shared out by overlap) and drawn as fractions of their data set; string
features show their categorical buckets' shares, the :data:`TOP_VALUES` most frequent values. Pure: stdlib only.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

BINS = 20
TOP_VALUES = 12
WIDTH, HEIGHT, PAD = 420, 170, 28
BASELINE_COLOR, CURRENT_COLOR = "#4e79a7", "#f28e2b"


@dataclass
class FeatureChart:
    name: str
    kind: str                      # "numeric", "categorical" or "none"
    svg: str
    violations: list[dict[str, Any]] = field(default_factory=list)


def _features(stats: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    return {str(f.get("name")): f for f in (stats or {}).get("features") or [] if isinstance(f, dict)}


def _kll(feature: dict[str, Any] | None) -> list[tuple[float, float, float]]:
    dist = ((feature or {}).get("numerical_statistics") or {}).get("distribution") or {}
    out = []
    for b in (dist.get("kll") or {}).get("buckets") or []:
        try:
            out.append((float(b["lower_bound"]), float(b["upper_bound"]), float(b["count"])))
        except (KeyError, TypeError, ValueError):
            continue
    return out


def _categories(feature: dict[str, Any] | None) -> dict[str, float]:
    dist = ((feature or {}).get("string_statistics") or {}).get("distribution") or {}
    out: dict[str, float] = {}
    for b in (dist.get("categorical") or {}).get("buckets") or []:
        try:
            out[str(b["value"])] = out.get(str(b["value"]), 0.0) + float(b["count"])
        except (KeyError, TypeError, ValueError):
            continue
    return out


def rebin(buckets: list[tuple[float, float, float]], low: float, high: float, bins: int = BINS) -> list[float]:
    """Each bucket's count shared out over ``bins`` equal bins of [low, high] by overlap, as fractions of the
    total (a zero-width bucket goes wholly to the bin it falls in)."""
    out = [0.0] * bins
    width = (high - low) / bins if high > low else 1.0
    total = sum(c for _, _, c in buckets) or 1.0
    for lo, hi, count in buckets:
        if hi <= lo:
            index = min(bins - 1, max(0, int((lo - low) / width)))
            out[index] += count
            continue
        for i in range(bins):
            a, b = low + i * width, low + (i + 1) * width
            overlap = min(hi, b) - max(lo, a)
            if overlap > 0:
                out[i] += count * overlap / (hi - lo)
    return [v / total for v in out]


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def _bars_svg(labels: list[str], base: list[float], cur: list[float], title: str, rotate: bool) -> str:
    n = max(1, len(labels))
    top = max([*base, *cur, 1e-9])
    plot_w, plot_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD
    slot = plot_w / n
    parts = [f'<svg class="feature-chart" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{html.escape(title)}">',
             f"<title>{html.escape(title)}</title>",
             f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#999"/>',
             f'<text x="{PAD}" y="{PAD - 8}" font-size="10" fill="#555">max {top:.0%}</text>']
    for i in range(len(labels)):
        for j, (values, color) in enumerate(((base, BASELINE_COLOR), (cur, CURRENT_COLOR))):
            v = values[i] if i < len(values) else 0.0
            h = plot_h * v / top
            x = PAD + i * slot + j * slot / 2
            parts.append(f'<rect class="{"baseline" if j == 0 else "current"}" x="{x:.1f}" '
                         f'y="{HEIGHT - PAD - h:.1f}" width="{max(slot / 2 - 1, 0.5):.1f}" height="{h:.1f}" '
                         f'fill="{color}"><title>{html.escape(labels[i])}: {v:.1%}</title></rect>')
    step = max(1, n // 6) if not rotate else 1
    for i in range(0, len(labels), step):
        x = PAD + (i + 0.5) * slot
        text = html.escape(labels[i][:14])
        if rotate:
            parts.append(f'<text x="{x:.1f}" y="{HEIGHT - PAD + 10}" font-size="9" fill="#333" '
                         f'transform="rotate(30 {x:.1f} {HEIGHT - PAD + 10})">{text}</text>')
        else:
            parts.append(f'<text x="{x:.1f}" y="{HEIGHT - PAD + 14}" font-size="9" fill="#333" '
                         f'text-anchor="middle">{text}</text>')
    parts.append("</svg>")
    return "".join(parts)


def feature_chart(name: str, baseline: dict[str, Any] | None, current: dict[str, Any] | None) -> FeatureChart:
    """One feature's chart: baseline (blue) vs current (orange)."""
    kb, kc = _kll(baseline), _kll(current)
    if kb or kc:
        edges = [x for lo, hi, _ in kb + kc for x in (lo, hi)]
        low, high = min(edges), max(edges)
        if high <= low:
            high = low + 1.0
        width = (high - low) / BINS
        labels = [_fmt(low + (i + 0.5) * width) for i in range(BINS)]
        svg = _bars_svg(labels, rebin(kb, low, high), rebin(kc, low, high), f"{name}: baseline vs current", False)
        return FeatureChart(name, "numeric", svg)
    cb, cc = _categories(baseline), _categories(current)
    if cb or cc:
        tb, tc = sum(cb.values()) or 1.0, sum(cc.values()) or 1.0
        values = sorted(set(cb) | set(cc), key=lambda v: -(cb.get(v, 0.0) / tb + cc.get(v, 0.0) / tc))[:TOP_VALUES]
        svg = _bars_svg(values, [cb.get(v, 0.0) / tb for v in values], [cc.get(v, 0.0) / tc for v in values],
                        f"{name}: baseline vs current", True)
        return FeatureChart(name, "categorical", svg)
    return FeatureChart(name, "none", "")


def feature_charts(baseline: dict[str, Any] | None, current: dict[str, Any] | None,
                   violations: list[dict[str, Any]] | None = None) -> list[FeatureChart]:
    """A chart per feature of either document (the baseline's order, then features only the current has), each
    with the violations that name it."""
    fb, fc = _features(baseline), _features(current)
    names = list(fb) + [n for n in fc if n not in fb]
    charts = [feature_chart(n, fb.get(n), fc.get(n)) for n in names]
    for chart in charts:
        chart.violations = [v for v in violations or [] if str(v.get("feature_name")) == chart.name]
    return charts


LEGEND = (f'<p class="legend"><span style="color:{BASELINE_COLOR}">&#9632;</span> baseline '
          f'<span style="color:{CURRENT_COLOR}">&#9632;</span> latest execution</p>')

_CSS = """body{font-family:system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:8px 0}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}th{background:#f4f4f4}
.features{display:flex;flex-wrap:wrap;gap:16px}.feature{border:1px solid #e4e4e4;padding:8px;border-radius:4px}
.feature h3{margin:0 0 4px;font-size:14px}.bad{color:#b00020}.muted{color:#777}"""


def violations_table(violations: list[dict[str, Any]]) -> str:
    if not violations:
        return '<p class="muted" id="no-violations">No violations.</p>'
    rows = "".join(f"<tr><td>{html.escape(str(v.get('feature_name', '')))}</td>"
                   f"<td><code>{html.escape(str(v.get('constraint_check_type', '')))}</code></td>"
                   f"<td>{html.escape(str(v.get('description', '')))}</td></tr>" for v in violations)
    return (f'<table id="violations"><thead><tr><th>Feature</th><th>Check</th><th>Description</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>")


def render_report(title: str, facts: dict[str, Any], baseline: dict[str, Any] | None,
                  current: dict[str, Any] | None, violations: list[dict[str, Any]]) -> str:
    """The whole report as one HTML document."""
    fact_rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                        for k, v in facts.items() if v not in (None, ""))
    cards = []
    for chart in feature_charts(baseline, current, violations):
        flag = f' <span class="bad">{len(chart.violations)} violation(s)</span>' if chart.violations else ""
        body = chart.svg or '<p class="muted">No distribution in either statistics document.</p>'
        cards.append(f'<div class="feature" data-feature="{html.escape(chart.name)}"><h3>'
                     f"{html.escape(chart.name)}{flag}</h3>{body}</div>")
    missing = "" if current else '<p class="muted">No statistics from the latest execution yet.</p>'
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1><table>{fact_rows}</table>"
            f"<h2>Violations ({len(violations)})</h2>{violations_table(violations)}"
            f'<h2>Features</h2>{LEGEND}{missing}<div class="features">{"".join(cards)}</div></body></html>')
