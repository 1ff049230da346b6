"""DeepAR inference, answering as AWS's DeepAR container does.

``application/json``: ``{"instances": [{"start", "target", "cat", "dynamic_feat"}, ...], "configuration":
{"num_samples": 100, "output_types": ["mean", "quantiles", "samples"], "quantiles": ["0.1", "0.5", "0.9"]}}`` ->
``{"predictions": [{"mean": [...], "quantiles": {"0.1": [...], ...}, "samples": [[...], ...]}, ...]}`` with only
the requested output types. Without a configuration: 100 samples, mean and the quantiles 0.1 .. 0.9.
``application/jsonlines`` (batch transform): one instance per line, one prediction object per line; its
configuration comes from the ``DEEPAR_INFERENCE_CONFIG`` environment variable, as on AWS.

Each forecast starts right after the instance's last target value and is ``prediction_length`` long; the
sampling of each instance is seeded from the instance and the configuration, so the same request always gets
the same answer and a batch answers as one request per instance would.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import numpy as np

from ...errors import ValidationError
from ...io import codecs
from ..base import InferenceHandler
from ..builtin import load_model
from . import DEFAULT_QUANTILES
from .data import Series, parse_series

OUTPUT_TYPES = ("mean", "quantiles", "samples")
MAX_SAMPLES = 10000
CONFIG_VARIABLE = "DEEPAR_INFERENCE_CONFIG"


def parse_configuration(conf: Any) -> dict[str, Any]:
    if conf is None:
        conf = {}
    if not isinstance(conf, dict):
        raise ValidationError("'configuration' must be an object with num_samples, output_types and quantiles.")
    unknown = set(conf) - {"num_samples", "output_types", "quantiles"}
    if unknown:
        raise ValidationError(f"Unknown configuration key(s) {sorted(unknown)}; known ones: num_samples, "
                              "output_types, quantiles.")
    num = conf.get("num_samples", 100)
    if isinstance(num, bool) or not isinstance(num, (int, str)) or not str(num).strip().isdigit() \
            or not 1 <= int(num) <= MAX_SAMPLES:
        raise ValidationError(f"configuration.num_samples is {num!r}; expected an integer from 1 to {MAX_SAMPLES}.")
    types = conf.get("output_types", ["mean", "quantiles"])
    if not isinstance(types, list) or not types or any(t not in OUTPUT_TYPES for t in types):
        raise ValidationError(f"configuration.output_types is {types!r}; expected a non-empty list of "
                              f"{', '.join(OUTPUT_TYPES)}.")
    quantiles = conf.get("quantiles", list(DEFAULT_QUANTILES))
    if not isinstance(quantiles, list) or not quantiles:
        raise ValidationError("configuration.quantiles must be a non-empty list such as [\"0.1\", \"0.5\", \"0.9\"].")
    keys, values = [], []
    for q in quantiles:
        try:
            v = float(q)
            if isinstance(q, bool) or not 0.0 < v < 1.0:
                raise ValueError
        except (TypeError, ValueError):
            raise ValidationError(f"configuration.quantiles holds {q!r}; each quantile must be a number strictly "
                                  "between 0 and 1 (as a string, e.g. \"0.9\").") from None
        keys.append(str(q))
        values.append(v)
    return {"num_samples": int(num), "output_types": list(dict.fromkeys(types)), "quantile_keys": keys,
            "quantiles": values}


def instance_seed(instance: Any, conf: dict[str, Any]) -> int:
    text = json.dumps([instance, conf["num_samples"]], sort_keys=True, default=str)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


class DeepARHandler(InferenceHandler):
    default_accept = codecs.JSON

    def __init__(self, model_dir: str):
        super().__init__(model_dir)
        from .. import neural
        from .model import Config, from_arrays

        meta, arrays = load_model(model_dir)
        self.cfg = Config(**meta["config"])
        self.device = neural.device()
        if self.device.type == "cpu":
            neural.import_torch().set_num_threads(1)  # one sampling step is too small to gain from threads
        self.net = from_arrays(self.cfg, arrays, self.device)

    # ------------------------------------------------------------------ requests
    def decode(self, body: bytes, content_type: str) -> tuple[list[tuple[Any, Series]], dict[str, Any], str]:
        m = codecs.mime(content_type) or codecs.JSON
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError("The request body is not UTF-8 JSON.") from None
        try:
            if m == codecs.JSON:
                doc = json.loads(text)
                if not isinstance(doc, dict) or not isinstance(doc.get("instances"), list):
                    raise ValidationError('The request must be {"instances": [{"start": ..., "target": [...]}, '
                                          '...], "configuration": {...}}.')
                raw, conf = doc["instances"], parse_configuration(doc.get("configuration"))
            elif m == codecs.JSONLINES:
                raw = [json.loads(line) for line in text.splitlines() if line.strip()]
                env = os.environ.get(CONFIG_VARIABLE)
                conf = parse_configuration(json.loads(env) if env else None)
            else:
                raise ValidationError(f"Content type '{content_type}' is not supported; DeepAR takes "
                                      "application/json or application/jsonlines.")
        except json.JSONDecodeError as e:
            raise ValidationError(f"The request body is not valid JSON: {e.msg}.") from None
        if not raw:
            raise ValidationError("The request holds no instances.")
        instances = [(obj, self.check(parse_series(obj, f"instance {i}"))) for i, obj in enumerate(raw)]
        return instances, conf, m

    def check(self, s: Series) -> Series:
        cfg = self.cfg
        if cfg.cardinality:
            if len(s.cat) != len(cfg.cardinality):
                raise ValidationError(f"{s.where}: the model was trained with {len(cfg.cardinality)} 'cat' "
                                      f"value(s) per series; got {len(s.cat)}.")
            for i, (c, card) in enumerate(zip(s.cat, cfg.cardinality)):
                if c >= card:
                    raise ValidationError(f"{s.where}: cat[{i}] is {c}, a category the model does not know "
                                          f"(it was trained with {card}: 0 .. {card - 1}).")
        if cfg.num_dynamic_feat:
            need = len(s.target) + cfg.prediction_length
            if s.dynamic_feat is None or s.dynamic_feat.shape[0] != cfg.num_dynamic_feat:
                got = 0 if s.dynamic_feat is None else s.dynamic_feat.shape[0]
                raise ValidationError(f"{s.where}: the model was trained with {cfg.num_dynamic_feat} dynamic "
                                      f"feature(s); got {got}.")
            if s.dynamic_feat.shape[1] < need:
                raise ValidationError(
                    f"{s.where}: each 'dynamic_feat' list must cover the target and the prediction range: "
                    f"{need} values (len(target) {len(s.target)} + prediction_length {cfg.prediction_length}); "
                    f"got {s.dynamic_feat.shape[1]}.")
        return s

    # ------------------------------------------------------------------ forecasting
    def predict(self, data) -> tuple[list[dict[str, Any]], str]:
        from .model import forecast

        instances, conf, kind = data
        out = []
        for obj, s in instances:  # one at a time: each instance's answer depends on itself alone
            rng = np.random.default_rng(instance_seed(obj, conf))
            paths = forecast(self.net, [s], conf["num_samples"], [rng], self.device)[0]
            pred: dict[str, Any] = {}
            for t in conf["output_types"]:
                if t == "mean":
                    pred["mean"] = paths.mean(axis=0).tolist()
                elif t == "quantiles":
                    qs = np.quantile(paths, conf["quantiles"], axis=0)
                    pred["quantiles"] = {k: row.tolist() for k, row in zip(conf["quantile_keys"], qs)}
                else:
                    pred["samples"] = paths.tolist()
            out.append(pred)
        return out, kind

    def invoke(self, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]:
        # no Accept (or */*): answer in the request's own type, as AWS does for batch transform's JSON Lines
        return self.encode(self.predict(self.decode(body, content_type)), accept)

    def encode(self, prediction, accept: str) -> tuple[bytes, str]:
        rows, kind = prediction
        a = codecs.mime(accept) if accept and accept.strip() != "*/*" else kind
        if a == codecs.JSON:
            return json.dumps({"predictions": rows}).encode(), codecs.JSON
        if a == codecs.JSONLINES:
            return ("\n".join(json.dumps(r) for r in rows) + "\n").encode(), codecs.JSONLINES
        raise ValidationError(f"Accept '{accept}' is not supported; DeepAR answers application/json or "
                              "application/jsonlines.")
