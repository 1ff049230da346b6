"""The built-in XGBoost's Debugger hook: what AWS's XGBoost container saves when the job has a
``DebugHookConfig`` (the config file ``debughookconfig.json`` is there), in smdebug's layout.

Collections, with AWS's tensor names:

- ``metrics`` (always): ``train-rmse``, ``validation-auc``... one scalar per evaluation metric;
- ``feature_importance``: ``feature_importance/<weight|gain|cover|total_gain|total_cover>/<feature>``;
- ``average_shap``: ``average_shap/<feature>``, the mean SHAP value of each feature over the training rows;
- ``labels`` / ``predictions``: the validation channel's labels and the model's predictions on it;
- ``trees``: ``trees/Tree``, ``trees/Node``, ``trees/Gain``, ``trees/Cover`` (``trees_to_dataframe``'s numeric
  columns; the built-in TreeDepth rule reads ``trees/Node``).

Besides ``metrics`` a collection is saved when ``CollectionConfigurations`` names it; every
``save_interval`` rounds (the collection's, else ``HookParameters.save_interval``, else 10) and at the last
round. ``full_shap`` (one SHAP row per training row) is not saved.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_INTERVAL = 10
_IMPORTANCE = ("weight", "gain", "cover", "total_gain", "total_cover")


def config_path(env) -> Path | None:
    """The job's ``debughookconfig.json``, or None when the job saves no tensors."""
    given = os.environ.get("SHIPYARD_DEBUGHOOKCONFIG")
    path = Path(given) if given else Path(os.environ.get("SM_INPUT_CONFIG_DIR", "/opt/ml/input/config")) / \
        "debughookconfig.json"
    return path if path.is_file() else None


def make_callback(env, dtrain, dval, num_round: int):
    """An xgboost TrainingCallback saving the collections above, or None when the job has no DebugHookConfig."""
    path = config_path(env)
    if path is None or env.current_host != sorted(env.hosts)[0]:
        return None
    import json

    import numpy as np
    import xgboost as xgb

    from ...debugger.hook import Hook

    config = json.loads(path.read_text())
    hook = Hook.create_from_json_file(str(path))
    if not (config.get("HookParameters") or {}).get("save_interval"):
        hook.save_interval = DEFAULT_INTERVAL
    wanted = set(hook.collections) | {"metrics"}
    last = num_round - 1

    def due(step: int, collection: str) -> bool:
        return collection in wanted and (hook.should_save(step, collection) or step == last)

    class DebugHookCallback(xgb.callback.TrainingCallback):
        def after_iteration(self, model, epoch, evals_log):
            step = int(epoch)
            if due(step, "metrics"):
                for data, metrics in evals_log.items():
                    for metric, values in metrics.items():
                        if values:
                            hook.add(f"{data}-{metric}", float(np.asarray(values[-1]).ravel()[-1]), step, "metrics")
            if due(step, "feature_importance"):
                for kind in _IMPORTANCE:
                    try:
                        scores = model.get_score(importance_type=kind)
                    except xgb.core.XGBoostError:  # gblinear: weight only
                        continue
                    for feature, value in scores.items():
                        hook.add(f"feature_importance/{kind}/{feature}", value, step, "feature_importance")
            if due(step, "average_shap"):
                try:
                    contribs = model.predict(dtrain, pred_contribs=True)
                    names = model.feature_names or [f"f{i}" for i in range(contribs.shape[-1] - 1)]
                    means = np.asarray(contribs).reshape(-1, contribs.shape[-1]).mean(axis=0)
                    for i, name in enumerate(names):
                        hook.add(f"average_shap/{name}", float(means[i]), step, "average_shap")
                except Exception as e:  # noqa: BLE001 - SHAP is extra: the training goes on
                    print(f"Debugger: SHAP values not saved: {e}", flush=True)
                    wanted.discard("average_shap")
            if dval is not None and due(step, "labels"):
                hook.add("labels", dval.get_label(), step, "labels")
            if dval is not None and due(step, "predictions"):
                hook.add("predictions", model.predict(dval), step, "predictions")
            if due(step, "trees"):
                try:
                    frame = model.trees_to_dataframe()
                    for column in ("Tree", "Node", "Gain", "Cover"):
                        hook.add(f"trees/{column}", frame[column].to_numpy(dtype=float), step, "trees")
                except Exception as e:  # noqa: BLE001 - gblinear has no trees; pandas may be missing
                    print(f"Debugger: trees not saved: {e}", flush=True)
                    wanted.discard("trees")
            hook.flush()
            return False

        def after_training(self, model):
            hook.close()
            return model

    return DebugHookCallback()
