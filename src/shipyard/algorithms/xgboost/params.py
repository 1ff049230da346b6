"""XGBoost hyperparameter rules, as data (names and defaults of SageMaker's XGBoost container).

Only rules here: :mod:`.train` turns the parsed values into xgboost's ``params``. ``None`` defaults mean
"leave it to xgboost", so an unset value never overrides the library's own default.
"""

from __future__ import annotations

import re
from typing import Any

from ...errors import ValidationError
from ..base import Param

OBJECTIVES = (
    "reg:squarederror", "reg:squaredlogerror", "reg:logistic", "reg:pseudohubererror", "reg:absoluteerror",
    "reg:quantileerror", "reg:linear", "binary:logistic", "binary:logitraw", "binary:hinge",
    "count:poisson", "survival:cox", "survival:aft", "multi:softmax", "multi:softprob",
    "rank:pairwise", "rank:ndcg", "rank:map", "reg:gamma", "reg:tweedie",
)

# Metrics computed by us rather than by xgboost (SageMaker's container adds the same ones).
CUSTOM_METRICS = ("accuracy", "f1", "mse", "r2", "balanced_accuracy", "precision", "recall")

XGB_METRICS = (
    "rmse", "rmsle", "mae", "mape", "mphe", "logloss", "error", "merror", "mlogloss", "auc", "aucpr",
    "ndcg", "map", "poisson-nloglik", "gamma-nloglik", "cox-nloglik", "gamma-deviance", "tweedie-nloglik",
    "aft-nloglik", "interval-regression-accuracy", "pre",
)


def _f(lo=None, hi=None, default=None, lo_excl=False, **kw) -> Param:
    return Param("float", default=default, min=lo, max=hi, min_exclusive=lo_excl, **kw)


def _i(lo=None, hi=None, default=None, **kw) -> Param:
    return Param("int", default=default, min=lo, max=hi, **kw)


def _s(*choices, default=None) -> Param:
    return Param("str", default=default, choices=tuple(choices) if choices else None)


HYPERPARAMETERS: dict[str, Param] = {
    "num_round": _i(1, None, required=True, description="boosting rounds"),
    "num_class": _i(2, None, description="classes; required for multi:softmax and multi:softprob"),
    "objective": _s(*OBJECTIVES, default="reg:squarederror"),
    "booster": _s("gbtree", "gblinear", "dart"),
    "verbosity": _i(0, 3),
    "silent": _i(0, 1),
    "nthread": _i(1, None),
    "eta": _f(0, 1),
    "learning_rate": _f(0, 1),
    "gamma": _f(0),
    "max_depth": _i(0),
    "min_child_weight": _f(0),
    "max_delta_step": _f(0),
    "subsample": _f(0, 1, lo_excl=True),
    "sampling_method": _s("uniform", "gradient_based"),
    "colsample_bytree": _f(0, 1, lo_excl=True),
    "colsample_bylevel": _f(0, 1, lo_excl=True),
    "colsample_bynode": _f(0, 1, lo_excl=True),
    "lambda": _f(0),
    "reg_lambda": _f(0),
    "alpha": _f(0),
    "reg_alpha": _f(0),
    "tree_method": _s("auto", "exact", "approx", "hist", "gpu_hist"),
    "sketch_eps": _f(0, 1, lo_excl=True),
    "scale_pos_weight": _f(0, lo_excl=True),
    "predictor": _s("auto", "cpu_predictor", "gpu_predictor"),
    "updater": _s(),
    "refresh_leaf": _i(0, 1),
    "process_type": _s("default", "update"),
    "grow_policy": _s("depthwise", "lossguide"),
    "max_leaves": _i(0),
    "max_bin": _i(2),
    "max_cat_to_onehot": _i(1),
    "num_parallel_tree": _i(1),
    "sample_type": _s("uniform", "weighted"),
    "normalize_type": _s("tree", "forest"),
    "rate_drop": _f(0, 1),
    "one_drop": _i(0, 1),
    "skip_drop": _f(0, 1),
    "lambda_bias": _f(0),
    "tweedie_variance_power": _f(1, 2, lo_excl=True),
    "huber_slope": _f(0, lo_excl=True),
    "quantile_alpha": _f(0, 1, lo_excl=True),
    "aft_loss_distribution": _s("normal", "logistic", "extreme"),
    "aft_loss_distribution_scale": _f(0, lo_excl=True),
    "base_score": Param("float"),
    "eval_metric": Param("list", description="comma-separated metric names; see check_eval_metrics"),
    "seed": _i(),
    "seed_per_iteration": Param("bool"),
    "csv_weights": _i(0, 1, default=0),
    "early_stopping_rounds": _i(1),
    "interaction_constraints": _s(),
    "monotone_constraints": _s(),
    "single_precision_histogram": Param("bool"),
    "deterministic_histogram": Param("bool"),
    "save_model_on_termination": Param("bool"),
    "use_dask_gpu_training": Param("bool"),
    "prob_buffer_row": _f(1),
    "dsplit": _s("row", "col"),
}


# ndcg@5, map@10-, pre@3, error@0.7, ndcg-, map-: xgboost's parameterised metric names
_PARAMETERISED = re.compile(r"^(?:(?:ndcg|map|pre)(?:@\d+)?-?|error@(?:0(?:\.\d+)?|1(?:\.0+)?|\.\d+))$")


def check_eval_metrics(names: list[str]) -> None:
    for name in names:
        if name not in XGB_METRICS and name not in CUSTOM_METRICS and not _PARAMETERISED.match(name):
            raise ValidationError(
                f"Hyperparameter 'eval_metric' has value '{name}'; expected a comma-separated list of "
                f"{', '.join(XGB_METRICS + CUSTOM_METRICS)}, or ndcg@n, map@n, pre@n (optionally with a "
                "trailing '-'), error@t with t in [0, 1].")


_TREE_UPDATERS = ("grow_colmaker", "grow_histmaker", "grow_quantile_histmaker", "grow_local_histmaker", "sync",
                  "refresh", "prune", "distcol", "grow_skmaker")
_LINEAR_UPDATERS = ("shotgun", "coord_descent")


def check_updater(value: str | None, booster: str | None, process_type: str | None) -> None:
    if value is None:
        return
    items = [v.strip() for v in value.split(",") if v.strip()]
    if booster == "gblinear":
        allowed = _LINEAR_UPDATERS
        ok = len(items) == 1 and items[0] in allowed
    elif process_type == "update":
        allowed = ("refresh", "prune")
        ok = bool(items) and all(v in allowed for v in items)
    else:
        allowed = _TREE_UPDATERS
        ok = bool(items) and all(v in allowed for v in items)
    if not ok:
        kind = "one of" if booster == "gblinear" else "a comma-separated list of"
        raise ValidationError(f"Hyperparameter 'updater' has value '{value}'; expected {kind} "
                              f"{', '.join(allowed)} (booster {booster or 'gbtree'}).")


def cross_check(hp: dict[str, Any]) -> None:
    """Rules that span hyperparameters, with the messages SageMaker's container gives."""
    check_eval_metrics(hp.get("eval_metric") or [])
    check_updater(hp.get("updater"), hp.get("booster"), hp.get("process_type"))
    objective = hp.get("objective", "reg:squarederror")
    if "auc" in (hp.get("eval_metric") or []) and not objective.startswith(("binary:", "rank:", "multi:")):
        raise ValidationError(f"Hyperparameter 'eval_metric' has value 'auc', which needs a classification or "
                              f"ranking objective (binary:*, multi:*, rank:*); objective is '{objective}'.")
    if objective.startswith("multi:") and "num_class" not in hp:
        raise ValidationError(f"Hyperparameter 'num_class' is required when objective is '{objective}'.")
    if "num_class" in hp and not objective.startswith("multi:"):
        raise ValidationError(
            f"Hyperparameter 'num_class' is only valid with objective multi:softmax or multi:softprob, "
            f"not '{objective}'.")
    if objective == "reg:tweedie" and "tweedie_variance_power" not in hp:
        hp["tweedie_variance_power"] = 1.5
    for key in ("interaction_constraints", "monotone_constraints"):
        value = hp.get(key)
        if value is not None and not (value.startswith(("[", "(")) and value.endswith(("]", ")"))):
            raise ValidationError(f"Hyperparameter '{key}' has value '{value}'; expected a list such as "
                                  f"{'[[0, 1], [2]]' if key.startswith('inter') else '(1,0,-1)'}.")
