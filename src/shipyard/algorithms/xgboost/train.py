"""The built-in XGBoost training program: ``python -m shipyard.algorithms.xgboost.train``.

It sees only the training contract (:class:`~shipyard.algorithms.env.TrainingEnv`), like a user's script.
Per-round metrics go to stdout in xgboost's own format (``[3]<TAB>train-rmse:0.1<TAB>validation-rmse:0.2``)
which SageMaker's logs show as ``#011``; the model is saved as ``xgboost-model`` in the model dir. A user
error (bad hyperparameter, unreadable data) ends with exit code 1 and ``output/failure`` saying why.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from ...errors import ValidationError
from ..env import TrainingEnv, exit_without_teardown, image_version
from . import ALGORITHM
from .params import CUSTOM_METRICS, XGB_METRICS

MODEL_FILE = "xgboost-model"

# Hyperparameters consumed here rather than handed to xgboost.
_NOT_XGB = {"num_round", "early_stopping_rounds", "csv_weights", "eval_metric", "save_model_on_termination",
            "use_dask_gpu_training", "prob_buffer_row", "silent", "dsplit", "single_precision_histogram",
            "deterministic_histogram", "predictor"}  # predictor: gone from xgboost 2+, inference picks


def xgb_params(hp: dict[str, Any], num_cpus: int, hosts: int = 1) -> tuple[dict[str, Any], list[str]]:
    """(xgboost params, custom metric names) from validated hyperparameters (for a job on ``hosts``
    instances: several train data-parallel, with the distributed tree method)."""
    params = {k: v for k, v in hp.items() if k not in _NOT_XGB and v is not None}
    if params.get("tree_method") == "gpu_hist":
        params["tree_method"] = "hist"  # CPU build: same algorithm on the CPU
    if hosts > 1 and params.get("booster") != "gblinear":
        from .distributed import distributed_tree_method

        params["tree_method"], note = distributed_tree_method(params.get("tree_method"))
        if note:
            print(note.format(hosts=hosts), flush=True)
    if params.get("objective") == "reg:linear":
        params["objective"] = "reg:squarederror"
    if "silent" in hp and "verbosity" not in hp:
        params["verbosity"] = 0 if hp["silent"] else 1
    params.setdefault("nthread", num_cpus)
    metrics = list(hp.get("eval_metric") or [])
    custom = [m for m in metrics if m in CUSTOM_METRICS]
    builtin = [m for m in metrics if m not in CUSTOM_METRICS]
    if builtin:
        params["eval_metric"] = builtin
    return params, custom


def with_tuning_objective(metrics: list[str] | None, objective: str | None) -> list[str] | None:
    """As SageMaker's XGBoost container does, evaluate a tuning job's objective (``validation:auc``) even
    when ``eval_metric`` does not name it, so the tuner gets its value."""
    name = (objective or "").split(":", 1)[-1]
    if not name or name not in XGB_METRICS + CUSTOM_METRICS or name in (metrics or []):
        return metrics
    return list(metrics or []) + [name]


def _modes(env: TrainingEnv, channel: str) -> str:
    return "Pipe" if env.input_mode(channel).lower() == "pipe" else "File"


def _check_ranking(params: dict, env: TrainingEnv) -> None:
    objective = str(params.get("objective", ""))
    if objective.startswith("rank:") and not env.content_type("train").startswith(("text/libsvm", "text/x-libsvm")):
        raise ValidationError(f"Objective '{objective}' needs query groups: send the train channel as "
                              "text/libsvm with a 'qid:<group>' after each label (CSV and RecordIO-protobuf "
                              "carry no query id).")


def run(env: TrainingEnv) -> None:
    hp = ALGORITHM.validate(env.hyperparameters)
    hp["eval_metric"] = with_tuning_objective(hp.get("eval_metric"), env.hyperparameters.get("_tuning_objective_metric"))
    if "train" not in env.channels:
        raise ValidationError("The XGBoost algorithm requires a 'train' channel; got channels: "
                              f"{', '.join(sorted(env.channels)) or 'none'}.")
    import xgboost as xgb  # after validation: a bad request fails fast

    from . import checkpoints
    from .data import load_channel
    from .metrics import make_custom_metric

    params, custom = xgb_params(hp, env.num_cpus, len(env.hosts))
    _check_ranking(params, env)
    csv_weights = bool(hp.get("csv_weights"))
    started = time.time()
    # hist (the default) can bin features while loading: QuantileDMatrix, same trees, less time and memory
    use_quantile = params.get("tree_method", "auto") in ("auto", "hist") and params.get("booster", "gbtree") != \
        "gblinear" and "updater" not in params and "process_type" not in params
    quantile = {"max_bin": params.get("max_bin", 256)} if use_quantile else None
    dtrain = load_channel(env.channels["train"], env.content_type("train"), csv_weights, params["nthread"],
                          quantile, _modes(env, "train"))
    evals = [(dtrain, "train")]
    if "validation" in env.channels:
        dval = load_channel(env.channels["validation"], env.content_type("validation"), csv_weights,
                            params["nthread"], {**quantile, "ref": dtrain} if quantile else None,
                            _modes(env, "validation"))
        if dval.num_col() != dtrain.num_col() and not env.content_type("validation").startswith(
                ("text/libsvm", "text/x-libsvm")):
            raise ValidationError(f"The validation data has {dval.num_col()} feature column(s) but the train "
                                  f"data has {dtrain.num_col()}.")
        evals.append((dval, "validation"))
    print(f"Loaded {dtrain.num_row()} training rows x {dtrain.num_col()} features in "
          f"{time.time() - started:.2f}s", flush=True)
    early = hp.get("early_stopping_rounds")
    if early and len(evals) < 2:
        raise ValidationError("early_stopping_rounds needs a 'validation' channel.")
    resumed, done = checkpoints.load(env.checkpoint_dir)
    if resumed is not None:
        print(f"Resuming from checkpoint {checkpoints.PREFIX}.{done - 1}: {done} of {hp['num_round']} rounds "
              "done", flush=True)
    remaining = max(hp["num_round"] - done, 0)
    callbacks = [checkpoints.monitor(done)]
    if checkpoints.requested():
        callbacks.append(checkpoints.make_callback(env.checkpoint_dir, done))
    if hp.get("save_model_on_termination"):
        callbacks.append(checkpoints.stop_on_sigterm())
    from .debugger import make_callback

    debug_hook = make_callback(env, dtrain, evals[1][0] if len(evals) > 1 else None, remaining)
    if debug_hook is not None:  # a DebugHookConfig: metrics, feature importance, SHAP... as AWS's image saves
        callbacks.append(debug_hook)
    if remaining:
        trained = time.time()
        booster = xgb.train(params, dtrain, num_boost_round=remaining, evals=evals, xgb_model=resumed,
                            early_stopping_rounds=early, callbacks=callbacks, verbose_eval=False,
                            custom_metric=make_custom_metric(custom, params.get("objective", "reg:squarederror")))
        print(f"Trained {remaining} rounds in {time.time() - trained:.2f}s", flush=True)
    else:
        booster = resumed
    env.model_dir.mkdir(parents=True, exist_ok=True)
    best = booster.attr("best_iteration") if early and remaining else None  # counts resumed rounds too
    if best is not None and int(best) + 1 < booster.num_boosted_rounds():
        try:
            booster = booster[: int(best) + 1]
            print(f"Early stopping: keeping {booster.num_boosted_rounds()} rounds", flush=True)
        except (ValueError, xgb.core.XGBoostError):  # gblinear cannot be sliced: keep every round
            pass
    if env.current_host == sorted(env.hosts)[0]:  # data-parallel: every host holds the same model; algo-1 saves
        (env.model_dir / MODEL_FILE).write_bytes(model_bytes(booster))


def model_bytes(booster) -> bytes:
    """The saved model as the image version the job named writes it: SageMaker's XGBoost images before 1.3-1
    pickle the Booster (AWS's notebooks load it with ``pickle.load`` and that image's xgboost, e.g. the abalone
    pipeline's evaluation step), so the pickle holds the state their xgboost (0.90 - 1.2) reads: the legacy
    binary model (:mod:`.legacy_binary`), not a current Booster's UBJSON. 1.3-1 and later, and a job that named
    no version, save xgboost's own format (UBJSON here)."""
    version = image_version()
    if version is not None and version < (1, 3):
        from . import legacy_binary

        try:
            state = legacy_binary.booster_state(bytes(booster.save_raw("json")), version)
        except legacy_binary.LegacyExportError as e:
            import pickle

            print(f"WARNING: the model has no form xgboost {version[0]}.{version[1]} reads ({e}); it is saved "
                  "as a pickle of this xgboost's Booster, which Shipyard serves but that image's xgboost "
                  "cannot unpickle", flush=True)
            return pickle.dumps(booster, protocol=pickle.HIGHEST_PROTOCOL)
        return legacy_binary.pickled_booster(state)
    return bytes(booster.save_raw("ubj"))


def main() -> int:
    sys.stdout.reconfigure(line_buffering=True)
    env = TrainingEnv.load()
    from .data import import_xgboost

    import_xgboost()  # this process's first xgboost import, without scikit-learn (about 1 s less start-up)
    try:
        if len(env.hosts) > 1:  # several instances: one xgboost collective, each host training on its shard
            from .distributed import collective

            with collective(env):
                run(env)
        else:
            run(env)
    except ValidationError as e:
        message = f"ClientError: {e.message}"
        print(message, file=sys.stderr, flush=True)
        env.write_failure(message)
        return 1
    except Exception as e:  # noqa: BLE001 - the failure file is the contract for any error
        import traceback

        traceback.print_exc()
        message = f"AlgorithmError: {type(e).__name__}: {e}"
        env.write_failure(message[:1024])
        return 2
    return 0


if __name__ == "__main__":
    exit_without_teardown(main())
