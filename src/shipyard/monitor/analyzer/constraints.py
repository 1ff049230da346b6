"""Suggested constraints (``constraints.json``) from a baseline's profiles, in AWS's schema and defaults.

Per feature: its inferred type, its completeness (the fraction of values present), ``is_non_negative`` for
numbers, and for string features with few distinct values the observed ``domains``. ``monitoring_config`` holds
AWS's defaults: every check on, a data type and domain match of 100% required, and distribution comparison with
threshold 0.1 (``Robust``) and categorical threshold 0.1 (``LInfinity``, or the ``categorical_drift_method`` the
job was given).
"""

from __future__ import annotations

from .statistics import ColumnProfile

# A string feature is categorical (gets a domain) when it has at most this many distinct values and each value
# repeats on average (distinct <= half the present values): identifiers and free text get no domain.
MAX_DOMAIN_VALUES = 120
CATEGORICAL_DRIFT_METHODS = ("LInfinity", "ChiSquared", "JensenShannon")
COMPARISON_METHODS = ("Simple", "Robust")


def default_monitoring_config(categorical_drift_method: str | None = None) -> dict:
    return {
        "evaluate_constraints": "Enabled",
        "emit_metrics": "Enabled",
        "datatype_check_threshold": 1.0,
        "domain_content_threshold": 1.0,
        "distribution_constraints": {
            "perform_comparison": "Enabled",
            "comparison_threshold": 0.1,
            "comparison_method": "Robust",
            "categorical_comparison_threshold": 0.1,
            "categorical_drift_method": categorical_drift_method or "LInfinity",
        },
    }


def is_categorical(p: ColumnProfile) -> bool:
    return p.inferred_type == "String" and 0 < p.distinct_count <= MAX_DOMAIN_VALUES and \
        p.distinct_count <= max(1, p.num_present // 2)


def feature_constraints(p: ColumnProfile) -> dict:
    feature: dict = {"name": p.name, "inferred_type": p.inferred_type, "completeness": p.completeness}
    if p.numeric and p.values is not None:
        feature["num_constraints"] = {"is_non_negative": bool(len(p.values) == 0 or p.values.min() >= 0)}
    elif is_categorical(p):
        feature["string_constraints"] = {"domains": sorted(str(v) for v in p.categories)}
    return feature


def constraints_document(profiles: list[ColumnProfile], categorical_drift_method: str | None = None) -> dict:
    """constraints.json: ``{version: 0, features: [...], monitoring_config: {...}}``."""
    return {"version": 0.0, "features": [feature_constraints(p) for p in profiles],
            "monitoring_config": default_monitoring_config(categorical_drift_method)}
