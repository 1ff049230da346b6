"""Checking a current data set against a baseline's constraints and statistics: ``constraint_violations.json``.

The checks are AWS's six (``data_type_check``, ``completeness_check``, ``baseline_drift_check``,
``missing_column_check``, ``extra_column_check``, ``categorical_values_check``), each driven by the constraints'
``monitoring_config`` with a feature's ``monitoringConfigOverrides`` on top:

- data type: the fraction of present values that fit the baseline type must reach ``datatype_check_threshold``;
- completeness: the fraction of values present must reach the feature's ``completeness``;
- categorical values: the fraction of present values inside ``string_constraints.domains`` must reach
  ``domain_content_threshold``;
- baseline drift (``distribution_constraints.perform_comparison``): numeric features by the largest CDF
  difference of the two KLL sketches against ``comparison_threshold`` (``Simple``: that alone; ``Robust``: the
  difference must also be significant for the two sample sizes, so a small window's noise is not drift);
  string features by ``categorical_drift_method`` against ``categorical_comparison_threshold``: ``LInfinity``
  (largest difference of value frequencies), ``JensenShannon`` (JS distance, base 2) or ``ChiSquared`` (drift when
  the p-value of Pearson's test of the current counts against the baseline frequencies is below the threshold);
- missing / extra columns: a feature of the baseline the data lacks, a column the baseline does not know.

A current data set without a header (captured traffic, headerless CSV: ``_c0``, ``_c1``...) takes the baseline's
feature names by position, as AWS lines up captured columns with a named training set.
"""

from __future__ import annotations

import math
import re

import numpy as np

from ...errors import ValidationError
from . import sketch as kll
from .constraints import default_monitoring_config
from .statistics import ColumnProfile

_GENERATED = re.compile(r"^_c\d+$")


def align(profiles: list[ColumnProfile], features: list[dict]) -> list[ColumnProfile]:
    """Rename generated column names (``_cN``) to the baseline's names by position."""
    names = [str(f.get("name")) for f in features]
    current = [p.name for p in profiles]
    if not profiles or not all(_GENERATED.match(n) for n in current) or set(current) <= set(names):
        return profiles
    for i, p in enumerate(profiles):
        if i < len(names):
            p.name = names[i]
    return profiles


def effective_config(global_config: dict | None, override: dict | None) -> dict:
    """The feature's monitoring config: AWS's defaults, the document's ``monitoring_config``, then the
    feature's ``monitoringConfigOverrides`` (flat keys or a ``distribution_constraints`` object)."""
    config = default_monitoring_config()
    for layer in (global_config or {}, override or {}):
        for key, value in layer.items():
            if key == "distribution_constraints" and isinstance(value, dict):
                config["distribution_constraints"].update(value)
            elif key in config["distribution_constraints"]:
                config["distribution_constraints"][key] = value
            else:
                config[key] = value
    return config


def check_overrides(features: list[dict], known: set[str]) -> None:
    """A ``monitoringConfigOverrides`` must belong to a feature the data has (the baseline's features, else the
    current data's) and hold only monitoring-config keys: a typo fails the job saying which, instead of being
    silently ignored."""
    allowed = set(default_monitoring_config()) | set(default_monitoring_config()["distribution_constraints"])
    for i, feature in enumerate(features):
        override = feature.get("monitoringConfigOverrides")
        if not override:
            continue
        name = str(feature.get("name"))
        where = f"constraints.json features[{i}].monitoringConfigOverrides"
        if known and name not in known:
            raise ValidationError(f"{where} is for feature {name!r}, which the data does not have; features: "
                                  f"{', '.join(sorted(known)[:20])}.")
        if not isinstance(override, dict):
            raise ValidationError(f"{where} must be an object of monitoring-config settings.")
        unknown = sorted(set(override) - allowed)
        if unknown:
            raise ValidationError(f"{where} has unknown setting(s) {', '.join(unknown)}; the settings are: "
                                  f"{', '.join(sorted(allowed))}.")


def _pct(x: float) -> str:
    return f"{x * 100:.1f}%"


def _violation(feature: str, check: str, description: str) -> dict:
    return {"feature_name": feature, "constraint_check_type": check, "description": description}


def check(profiles: list[ColumnProfile], constraints: dict, baseline_statistics: dict | None = None) -> list[dict]:
    """Every violation of ``constraints`` (and drift from ``baseline_statistics``) by the current profiles."""
    features = list(constraints.get("features") or [])
    global_config = constraints.get("monitoring_config") or {}
    if str(global_config.get("evaluate_constraints", "Enabled")) == "Disabled":
        return []
    profiles = align(profiles, features)
    current = {p.name: p for p in profiles}
    baseline_features = {str(f.get("name")): f for f in (baseline_statistics or {}).get("features") or []}
    check_overrides(features, set(baseline_features) or set(current))
    out: list[dict] = []
    known = set()
    for feature in features:
        name = str(feature.get("name"))
        known.add(name)
        config = effective_config(global_config, feature.get("monitoringConfigOverrides"))
        p = current.get(name)
        if p is None:
            out.append(_violation(name, "missing_column_check",
                                  f"There are missing columns in current dataset. Number of columns in current "
                                  f"dataset: {len(profiles)}, Number of columns in baseline constraints: "
                                  f"{len(features)}. Feature {name} is missing."))
            continue
        out += _type_check(p, feature, config)
        out += _completeness_check(p, feature)
        out += _domain_check(p, feature, config)
        base = baseline_features.get(name)
        if base is not None:
            out += _drift_check(p, base, config)
    for p in profiles:
        if p.name not in known:
            out.append(_violation(p.name, "extra_column_check",
                                  f"There are extra columns in current dataset. Number of columns in current "
                                  f"dataset: {len(profiles)}, Number of columns in baseline constraints: "
                                  f"{len(features)}. Feature {p.name} is not in the baseline."))
    return out


def _type_check(p: ColumnProfile, feature: dict, config: dict) -> list[dict]:
    expected = str(feature.get("inferred_type") or "")
    if expected not in ("Integral", "Fractional", "String") or p.num_present == 0:
        return []
    threshold = float(config.get("datatype_check_threshold", 1.0))
    observed = p.conforming(expected) / p.num_present
    if observed + 1e-12 >= threshold:
        return []
    return [_violation(p.name, "data_type_check",
                       f"Data type match requirement is not met. Expected data type: {expected}, Expected match: "
                       f"{_pct(threshold)}. Observed: Only {_pct(observed)} of data is {expected}.")]


def _completeness_check(p: ColumnProfile, feature: dict) -> list[dict]:
    if feature.get("completeness") is None or p.num_present + p.num_missing == 0:
        return []
    expected = float(feature["completeness"])
    if p.completeness + 1e-12 >= expected:
        return []
    return [_violation(p.name, "completeness_check",
                       f"Data completeness requirement is not met. Expected: {_pct(expected)}, Observed: "
                       f"Only {_pct(p.completeness)} of data is present.")]


def _domain_check(p: ColumnProfile, feature: dict, config: dict) -> list[dict]:
    domains = ((feature.get("string_constraints") or {}).get("domains"))
    if not domains or p.num_present == 0:
        return []
    allowed = {str(d) for d in domains}
    values = p.categories if p.inferred_type == "String" else _numeric_categories(p)
    outside = {v: c for v, c in values.items() if str(v) not in allowed}
    inside = p.num_present - sum(outside.values())
    observed = inside / p.num_present
    threshold = float(config.get("domain_content_threshold", 1.0))
    if observed + 1e-12 >= threshold:
        return []
    shown = ", ".join(str(v) for v in list(outside)[:10]) + (", ..." if len(outside) > 10 else "")
    return [_violation(p.name, "categorical_values_check",
                       f"Data content requirement is not met. Expected: {_pct(threshold)} of data within the "
                       f"baseline domain, Observed: Only {_pct(observed)}. Values not in the domain: {shown}")]


def _numeric_categories(p: ColumnProfile) -> dict[str, int]:
    if p.values is None:
        return {}
    values, counts = np.unique(p.values, return_counts=True)
    return {(str(int(v)) if float(v).is_integer() else str(v)): int(c) for v, c in zip(values, counts)}


def _drift_check(p: ColumnProfile, base: dict, config: dict) -> list[dict]:
    dist = config.get("distribution_constraints") or {}
    if str(dist.get("perform_comparison", "Enabled")) == "Disabled" or p.num_present == 0:
        return []
    if "numerical_statistics" in base and p.numeric:
        return _numeric_drift(p, base, dist)
    if "string_statistics" in base and p.inferred_type == "String":
        return _categorical_drift(p, base, dist)
    return []


def _numeric_drift(p: ColumnProfile, base: dict, dist: dict) -> list[dict]:
    stats = base["numerical_statistics"]
    baseline = kll.sample_of((stats.get("distribution") or {}).get("kll"))
    if baseline is None or p.sketch is None or p.values is None or not len(p.values):
        return []
    current = kll.sample_of({"sketch": kll.document(p.sketch)})
    assert current is not None
    distance = kll.distance(baseline, current)
    threshold = float(dist.get("comparison_threshold", 0.1))
    if distance <= threshold:
        return []
    if str(dist.get("comparison_method", "Robust")) == "Robust":
        n = float((stats.get("common") or {}).get("num_present") or baseline.total)
        if not kll.significant(distance, n, float(len(p.values))):
            return []
    return [_violation(p.name, "baseline_drift_check",
                       f"Baseline drift distance: {distance:.4g} exceeds threshold: {threshold:g}")]


def _categorical_drift(p: ColumnProfile, base: dict, dist: dict) -> list[dict]:
    buckets = ((base["string_statistics"].get("distribution") or {}).get("categorical") or {}).get("buckets") or []
    baseline = {str(b.get("value")): float(b.get("count") or 0) for b in buckets}
    total_b = sum(baseline.values())
    total_c = float(sum(p.categories.values()))
    if total_b <= 0 or total_c <= 0:
        return []
    keys = sorted(set(baseline) | {str(v) for v in p.categories})
    pb = np.array([baseline.get(k, 0.0) for k in keys]) / total_b
    counts_c = np.array([float(p.categories.get(k, 0)) for k in keys])
    pc_ = counts_c / total_c
    method = str(dist.get("categorical_drift_method") or "LInfinity")
    threshold = float(dist.get("categorical_comparison_threshold", 0.1))
    if method == "ChiSquared":
        p_value = _chi_squared_p(counts_c, pb)
        if p_value >= threshold:
            return []
        return [_violation(p.name, "baseline_drift_check",
                           f"Baseline drift ChiSquared p-value: {p_value:.4g} is below threshold: {threshold:g}")]
    distance = _jensen_shannon(pb, pc_) if method == "JensenShannon" else float(np.max(np.abs(pb - pc_)))
    if distance <= threshold:
        return []
    return [_violation(p.name, "baseline_drift_check",
                       f"Baseline drift distance: {distance:.4g} exceeds threshold: {threshold:g}")]


def _jensen_shannon(a: np.ndarray, b: np.ndarray) -> float:
    m = (a + b) / 2

    def kl(x: np.ndarray) -> float:
        mask = x > 0
        return float(np.sum(x[mask] * np.log2(x[mask] / m[mask])))

    return math.sqrt(max(0.0, (kl(a) + kl(b)) / 2))


def _chi_squared_p(observed: np.ndarray, expected_share: np.ndarray) -> float:
    """Pearson's goodness-of-fit p-value of ``observed`` counts against ``expected_share`` (a value the
    baseline never saw gets a small floor share so it counts as surprising rather than dividing by zero); the
    chi-square tail by the Wilson-Hilferty normal approximation (no SciPy in the analyzer)."""
    n = observed.sum()
    share = np.maximum(expected_share, 0.5 / max(n, 1.0))
    share = share / share.sum()
    expected = share * n
    statistic = float(np.sum((observed - expected) ** 2 / expected))
    k = max(len(observed) - 1, 1)
    z = ((statistic / k) ** (1 / 3) - (1 - 2 / (9 * k))) / math.sqrt(2 / (9 * k))
    return 0.5 * math.erfc(z / math.sqrt(2))


def violations_document(violations: list[dict]) -> dict:
    return {"violations": violations}
