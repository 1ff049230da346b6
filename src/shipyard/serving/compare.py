"""Client-side views of an endpoint's variant metrics: the table ``shipyard endpoints describe`` prints and the
A/B report of ``shipyard endpoints compare`` (do two variants differ in latency or error rate?).

The numbers come from the server's loopback route ``/shipyard/endpoints/<name>/metrics`` (plain HTTP, no
signing), so this module needs only the standard library and, for the tests, scipy:

- latency: Mann-Whitney U on the two variants' recent model-latency samples (no normality assumption;
  latency distributions are skewed);
- errors: a two-proportion z-test on (4xx + 5xx) / invocations.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request


def fetch_metrics(base_url: str, endpoint: str, samples: bool = False, timeout: float = 5.0) -> dict | None:
    """The endpoint's metrics JSON, or None when the server does not serve them (AWS, older server, no route)."""
    url = f"{base_url.rstrip('/')}/shipyard/endpoints/{endpoint}/metrics" + ("?samples=1" if samples else "")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return json.loads(r.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _ms(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def metrics_rows(data: dict) -> tuple[list[str], list[list]]:
    headers = ["VARIANT", "SHADOW", "WEIGHT", "INSTANCES", "INVOCATIONS", "4XX", "5XX", "IN-FLIGHT",
               "MODEL P50 MS", "MODEL P99 MS", "OVERHEAD P50 MS", "OVERHEAD P99 MS"]
    rows = [[v["VariantName"], "yes" if v.get("Shadow") else "no", v["Weight"], v["InstanceCount"],
             v["Invocations"], v["Invocation4XXErrors"], v["Invocation5XXErrors"], v["InFlight"],
             _ms(v["ModelLatencyP50Ms"]), _ms(v["ModelLatencyP99Ms"]), _ms(v["OverheadLatencyP50Ms"]),
             _ms(v["OverheadLatencyP99Ms"])] for v in data["Variants"]]
    return headers, rows


def two_proportion_z(errors_a: int, n_a: int, errors_b: int, n_b: int) -> tuple[float, float]:
    """(z, two-sided p) for H0: both variants have the same error rate."""
    from scipy.stats import norm

    if n_a == 0 or n_b == 0:
        return 0.0, 1.0
    pooled = (errors_a + errors_b) / (n_a + n_b)
    if pooled in (0.0, 1.0):
        return 0.0, 1.0
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    z = (errors_a / n_a - errors_b / n_b) / se
    return z, float(2 * norm.sf(abs(z)))


def compare(a: dict, b: dict, alpha: float = 0.05) -> dict:
    """Latency and error-rate tests between two variants' metrics (entries of the JSON's ``Variants``)."""
    from scipy.stats import mannwhitneyu

    out: dict = {"A": a["VariantName"], "B": b["VariantName"], "alpha": alpha}
    sa, sb = a.get("ModelLatencySamplesMs") or [], b.get("ModelLatencySamplesMs") or []
    if len(sa) >= 5 and len(sb) >= 5:
        u, p = mannwhitneyu(sa, sb, alternative="two-sided")
        out["latency"] = {"test": "Mann-Whitney U", "U": float(u), "p": float(p), "n": [len(sa), len(sb)],
                          "median_ms": [_median(sa), _median(sb)], "significant": bool(p < alpha)}
    else:
        out["latency"] = {"test": "Mann-Whitney U", "p": None, "n": [len(sa), len(sb)], "significant": False,
                          "note": "need at least 5 samples per variant"}
    ea = a["Invocation4XXErrors"] + a["Invocation5XXErrors"]
    eb = b["Invocation4XXErrors"] + b["Invocation5XXErrors"]
    z, p = two_proportion_z(ea, a["Invocations"], eb, b["Invocations"])
    out["errors"] = {"test": "two-proportion z", "z": z, "p": p, "n": [a["Invocations"], b["Invocations"]],
                     "rate": [ea / a["Invocations"] if a["Invocations"] else 0.0,
                              eb / b["Invocations"] if b["Invocations"] else 0.0],
                     "significant": bool(p < alpha)}
    return out


def _median(samples: list[float]) -> float:
    s = sorted(samples)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def report(result: dict) -> str:
    a, b = result["A"], result["B"]
    lat, err = result["latency"], result["errors"]
    lines = [f"{a} vs {b} (alpha {result['alpha']:g})"]
    if lat["p"] is None:
        lines.append(f"latency: not enough samples ({lat['n'][0]} vs {lat['n'][1]}); {lat['note']}")
    else:
        verdict = "DIFFERENT" if lat["significant"] else "no significant difference"
        lines.append(f"latency: median {lat['median_ms'][0]:.3f} ms vs {lat['median_ms'][1]:.3f} ms "
                     f"(n={lat['n'][0]}/{lat['n'][1]}), Mann-Whitney U p={lat['p']:.4g}: {verdict}")
    verdict = "DIFFERENT" if err["significant"] else "no significant difference"
    lines.append(f"errors: {err['rate'][0]:.2%} vs {err['rate'][1]:.2%} (n={err['n'][0]}/{err['n'][1]}), "
                 f"two-proportion z={err['z']:.3f} p={err['p']:.4g}: {verdict}")
    return "\n".join(lines)
