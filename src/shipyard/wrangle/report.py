"""The data quality and insights report of a frame, as Data Wrangler's: per-column statistics (missing,
cardinality, mean/median/min/max, most frequent values), duplicate rows, target leakage (each feature's
prediction power on its own), a quick model's feature importance, and histogram/scatter data.

Prediction power is a cross-validated score of a shallow decision tree given one feature: for classification
the balanced accuracy rescaled so chance is 0 and perfect is 1; for regression R² (floored at 0). A feature
scoring at least :data:`LEAKAGE_POWER` is reported as possible target leakage. The quick model is a random
forest on every feature; its importances are impurity based and sum to 1. Large frames are sampled
(:data:`MODEL_ROWS` rows, seeded) for the models; statistics use every row."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

LEAKAGE_POWER = 0.9
MODEL_ROWS = 20_000
HISTOGRAM_BINS = 20
TOP_LABELS = 20
SCATTER_POINTS = 500
SEED = 0


def _number(value) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if np.isnan(value) or np.isinf(value) else value


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def column_stats(series: pd.Series) -> dict[str, Any]:
    n = len(series)
    missing = int(series.isna().sum())
    counts = series.dropna().astype("string").value_counts()
    out: dict[str, Any] = {
        "type": "numeric" if _is_numeric(series) else "categorical", "dtype": str(series.dtype), "count": n,
        "missing": missing, "missing_ratio": missing / n if n else 0.0, "cardinality": int(counts.size),
        "labels": [str(v) for v in counts.index[:TOP_LABELS]],
        "label_counts": [int(c) for c in counts.iloc[:TOP_LABELS]],
    }
    if _is_numeric(series):
        x = series.astype("float64")
        out.update(mean=_number(x.mean()), std=_number(x.std()), min=_number(x.min()), max=_number(x.max()),
                   median=_number(x.median()), q25=_number(x.quantile(0.25)), q75=_number(x.quantile(0.75)))
        finite = x[np.isfinite(x)]
        if len(finite):
            counts_, edges = np.histogram(finite, bins=HISTOGRAM_BINS)
            out["histogram"] = {"counts": counts_.tolist(), "edges": [float(e) for e in edges]}
    else:
        out["histogram"] = {"labels": out["labels"], "counts": out["label_counts"]}
    return out


def infer_problem_type(target: pd.Series) -> str:
    if _is_numeric(target) and target.nunique(dropna=True) > 10:
        return "Regression"
    return "Classification"


def _encode_features(df: pd.DataFrame) -> pd.DataFrame:
    """Numbers as they are (missing -> median), anything else as category codes (missing -> -1)."""
    cols = {}
    for name in df.columns:
        s = df[name]
        if _is_numeric(s):
            x = s.astype("float64")
            cols[name] = x.fillna(x.median() if x.notna().any() else 0.0)
        elif pd.api.types.is_bool_dtype(s):
            cols[name] = s.astype("float64").fillna(-1)
        else:
            cols[name] = pd.Series(pd.Categorical(s.astype("string")).codes, index=s.index).astype("float64")
    return pd.DataFrame(cols, index=df.index)


def _target_values(target: pd.Series, problem_type: str):
    if problem_type == "Regression":
        return target.astype("float64").to_numpy()
    return pd.Categorical(target.astype("string")).codes


def _power(model, x: np.ndarray, y: np.ndarray, problem_type: str) -> float:
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict

    if problem_type == "Classification":
        from sklearn.metrics import balanced_accuracy_score

        classes = np.unique(y)
        if len(classes) < 2:
            return 0.0
        smallest = int(np.bincount(y).min(initial=len(y))) if y.min() >= 0 else 3
        folds = StratifiedKFold(n_splits=max(2, min(3, smallest)), shuffle=True, random_state=SEED)
        predicted = cross_val_predict(model, x, y, cv=folds)
        chance = 1.0 / len(classes)
        return float(max(0.0, (balanced_accuracy_score(y, predicted) - chance) / (1 - chance)))
    from sklearn.metrics import r2_score

    predicted = cross_val_predict(model, x, y, cv=KFold(n_splits=3, shuffle=True, random_state=SEED))
    return float(max(0.0, r2_score(y, predicted)))


def target_analysis(df: pd.DataFrame, target: str, problem_type: str) -> dict[str, Any]:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    rows = df[df[target].notna()]
    if len(rows) > MODEL_ROWS:
        rows = rows.sample(MODEL_ROWS, random_state=SEED)
    features = [c for c in rows.columns if c != target]
    if len(rows) < 6 or not features:
        return {"prediction_power": {}, "leaky_features": [], "feature_importance": {}, "quick_model_score": None,
                "note": "too few rows or no features to model"}
    x = _encode_features(rows[features])
    y = _target_values(rows[target], problem_type)
    tree = DecisionTreeClassifier if problem_type == "Classification" else DecisionTreeRegressor
    power = {name: _power(tree(max_depth=4, random_state=SEED), x[[name]].to_numpy(), y, problem_type)
             for name in features}
    forest_cls = RandomForestClassifier if problem_type == "Classification" else RandomForestRegressor
    forest = forest_cls(n_estimators=50, max_depth=8, random_state=SEED, n_jobs=1)
    score = _power(forest, x.to_numpy(), y, problem_type)
    forest.fit(x.to_numpy(), y)
    importance = {name: float(v) for name, v in zip(features, forest.feature_importances_)}
    return {"prediction_power": power,
            "leaky_features": sorted((n for n, p in power.items() if p >= LEAKAGE_POWER), key=lambda n: -power[n]),
            "feature_importance": dict(sorted(importance.items(), key=lambda kv: -kv[1])),
            "quick_model_score": score}


def scatter_data(df: pd.DataFrame, x: str, y: str, points: int = SCATTER_POINTS) -> dict[str, Any]:
    pair = df[[x, y]].dropna()
    if len(pair) > points:
        pair = pair.sample(points, random_state=SEED)
    return {"x": x, "y": y, "points": [[_number(a) if _is_numeric(pair[x]) else str(a),
                                        _number(b) if _is_numeric(pair[y]) else str(b)]
                                       for a, b in pair.itertuples(index=False)]}


def quality_report(df: pd.DataFrame, target: str | None = None, *, problem_type: str | None = None) -> dict[str, Any]:
    if target is not None and target not in df.columns:
        from ..errors import ValidationError

        raise ValidationError(f"Target column {target!r} is not in the data; its columns: {list(df.columns)}.")
    duplicates = int(df.duplicated().sum()) if len(df) else 0
    report: dict[str, Any] = {
        "rows": int(len(df)), "columns": int(df.shape[1]),
        "duplicate_rows": duplicates, "duplicate_ratio": duplicates / len(df) if len(df) else 0.0,
        "missing_cells": int(df.isna().sum().sum()),
        "column_stats": {str(c): column_stats(df[c]) for c in df.columns},
        "warnings": [],
    }
    if duplicates:
        report["warnings"].append({"title": "Duplicate rows", "severity": "high" if report["duplicate_ratio"] > 0.05
                                   else "low", "text": f"{duplicates} rows ({report['duplicate_ratio']:.1%}) are "
                                   "duplicates of an earlier row."})
    for name, stats in report["column_stats"].items():
        if stats["missing_ratio"] > 0.2:
            report["warnings"].append({"title": "Many missing values", "severity": "medium",
                                       "text": f"{name}: {stats['missing_ratio']:.1%} of the values are missing."})
    if target is not None:
        kind = problem_type or infer_problem_type(df[target])
        report.update(target=target, problem_type=kind)
        report.update(target_analysis(df, target, kind))
        for name in report["leaky_features"]:
            report["warnings"].append({"title": "Target leakage", "severity": "high",
                                       "text": f"{name} predicts {target} on its own (prediction power "
                                       f"{report['prediction_power'][name]:.2f}): it may not be known at "
                                       "prediction time; drop it if so."})
        top = [n for n in report["feature_importance"] if _is_numeric(df[n])][:3]
        report["scatter"] = [scatter_data(df, n, target) for n in top]
    return report
