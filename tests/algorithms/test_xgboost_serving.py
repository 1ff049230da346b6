"""Built-in XGBoost serving shapes (SageMaker's) and training refusals with their reasons."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest

from shipyard.algorithms.env import TrainingEnv
from shipyard.algorithms.xgboost.handler import XGBoostHandler
from shipyard.algorithms.xgboost.train import run
from shipyard.errors import ValidationError
from shipyard.io.protobuf import decode_record, write_recordio_protobuf
from shipyard.io.recordio import split_records

from xgb_helpers import make_regression, write_csv, write_libsvm

X, Y = make_regression(150, 4, seed=5)
Y_BIN = (Y > 0).astype(float)
Y_MULTI = np.digitize(Y, [-1.0, 1.0]).astype(float)


def _env(tmp_path, hps, channels, mode="File") -> TrainingEnv:
    return TrainingEnv(hyperparameters={k: str(v) for k, v in hps.items()},
                       channels={c: tmp_path / c for c in channels},
                       input_config={c: {"ContentType": ct, "TrainingInputMode": mode} for c, ct in channels.items()},
                       model_dir=tmp_path / "model", output_dir=tmp_path / "output",
                       output_data_dir=tmp_path / "output/data", checkpoint_dir=tmp_path / "ckpt", num_cpus=1)


def _train(tmp_path, label, hps) -> str:
    write_csv(tmp_path / "train/t.csv", X, label)
    run(_env(tmp_path, {"num_round": 4, **hps}, {"train": "text/csv"}))
    return str(tmp_path / "model")


def _csv(rows) -> bytes:
    return "\n".join(",".join(f"{v:.9g}" for v in np.asarray(r, np.float32)) for r in rows).encode()


def test_default_shapes_for_multiclass_probabilities(tmp_path):
    handler = XGBoostHandler(_train(tmp_path, Y_MULTI, {"objective": "multi:softprob", "num_class": 3}))
    body = _csv(X[:4])
    csv, _ = handler.invoke(body, "text/csv", "text/csv")
    probs = np.array([[float(v) for v in line.split(",")] for line in csv.decode().splitlines()])
    assert probs.shape == (4, 3) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    doc = json.loads(handler.invoke(body, "text/csv", "application/json")[0])
    assert np.allclose([p["score"] for p in doc["predictions"]], probs, atol=1e-6)
    lines = handler.invoke(body, "text/csv", "application/jsonlines")[0].decode().splitlines()
    assert np.allclose([json.loads(ln)["score"] for ln in lines], probs, atol=1e-6)
    rec = handler.invoke(body, "text/csv", "application/x-recordio-protobuf")[0]
    scores = [decode_record(p).label["score"].values for p in split_records(rec)]
    assert np.allclose(scores, probs, atol=1e-6)


def test_recordio_request_and_unsupported_types(tmp_path):
    handler = XGBoostHandler(_train(tmp_path, Y, {}))
    buf = io.BytesIO()
    write_recordio_protobuf(buf, X[:3].astype(np.float32))
    from_pb, _ = handler.invoke(buf.getvalue(), "application/x-recordio-protobuf", "text/csv")
    from_csv, _ = handler.invoke(_csv(X[:3]), "text/csv", "text/csv")
    assert np.allclose(np.array(from_pb.split(), float), np.array(from_csv.split(), float), atol=1e-5)
    with pytest.raises(ValidationError, match="Accept type image/png is not supported"):
        handler.invoke(_csv(X[:1]), "text/csv", "image/png")
    with pytest.raises(ValidationError, match="inference data 3 is not consistent with .* trained model 4"):
        handler.invoke(_csv(X[:1, :3]), "text/csv", "text/csv")


def test_selectable_inference_output(tmp_path, monkeypatch):
    model = _train(tmp_path, Y_BIN, {"objective": "binary:logistic"})
    monkeypatch.setenv("SAGEMAKER_INFERENCE_OUTPUT", "predicted_label, probabilities,predicted_score")
    handler = XGBoostHandler(model)
    body = _csv(X[:5])
    doc = json.loads(handler.invoke(body, "text/csv", "application/json")[0])
    prob = XGBoostHandler.predict(handler, handler.decode(body, "text/csv"))
    for p, row in zip(prob, doc["predictions"]):
        assert row["predicted_label"] == int(p > 0.5)
        assert np.allclose(row["probabilities"], [1 - p, p], atol=1e-6)
        assert row["predicted_score"] is None  # not valid for a classifier: NaN, which JSON writes as null
    csv = handler.invoke(body, "text/csv", "text/csv")[0].decode().splitlines()
    label, probs, score = csv[0].split(",", 1)[0], csv[0].split('"')[1], csv[0].rsplit(",", 1)[1]
    assert int(label) == int(prob[0] > 0.5) and np.allclose(json.loads(probs), [1 - prob[0], prob[0]], atol=1e-6)
    assert score == "nan"
    rec = handler.invoke(body, "text/csv", "application/x-recordio-protobuf")[0]
    first = decode_record(split_records(rec)[0]).label
    assert set(first) == {"predicted_label", "probabilities", "predicted_score"}


def test_pipe_mode_refuses_libsvm_and_ranking_needs_qid(tmp_path):
    write_libsvm(tmp_path / "train/t.libsvm", X, Y_BIN)
    with pytest.raises(ValidationError, match="Pipe mode is not supported for content type 'text/libsvm'"):
        run(_env(tmp_path, {"num_round": 2}, {"train": "text/libsvm"}, mode="Pipe"))
    write_csv(tmp_path / "csv/t.csv", X, Y_BIN)
    env = _env(tmp_path, {"num_round": 2, "objective": "rank:ndcg"}, {"csv": "text/csv"})
    env.channels["train"] = env.channels.pop("csv")
    env.input_config["train"] = env.input_config.pop("csv")
    with pytest.raises(ValidationError, match="needs query groups: send the train channel as text/libsvm"):
        run(env)


@pytest.mark.parametrize("metric, ok", [("ndcg@5", True), ("map@3-", True), ("error@0.7", True), ("pre@2", True),
                                        ("error@7", False), ("auc@3", False), ("rmse,nope", False)])
def test_eval_metric_names(metric, ok):
    from shipyard.algorithms.xgboost import ALGORITHM

    if ok:
        assert ALGORITHM.validate({"num_round": "1", "eval_metric": metric})["eval_metric"] == metric.split(",")
    else:
        with pytest.raises(ValidationError, match="Hyperparameter 'eval_metric' has value"):
            ALGORITHM.validate({"num_round": "1", "eval_metric": metric})


@pytest.mark.parametrize("hps, message", [
    ({"updater": "grow_colmaker,prune"}, None),
    ({"booster": "gblinear", "updater": "shotgun"}, None),
    ({"updater": "grow_magic"}, "Hyperparameter 'updater' has value 'grow_magic'; expected a comma-separated list"),
    ({"booster": "gblinear", "updater": "prune"}, "expected one of shotgun, coord_descent"),
    ({"process_type": "update", "updater": "grow_colmaker"}, "expected a comma-separated list of refresh, prune"),
    ({"eval_metric": "auc"}, "'auc', which needs a classification or ranking objective"),
    ({"objective": "multi:softprob", "num_class": "3", "eval_metric": "auc"}, None),
])
def test_cross_hyperparameter_rules(hps, message):
    from shipyard.algorithms.xgboost import ALGORITHM

    if message is None:
        ALGORITHM.validate({"num_round": "1", **hps})
    else:
        with pytest.raises(ValidationError, match=re.escape(message)):
            ALGORITHM.validate({"num_round": "1", **hps})


@pytest.mark.parametrize("body", [b"1 0:1.5 3:2\n0 1:-1\n", b"0:1 2:3\n", b"1 qid:3 0:1 2:2\n", b"\n\n1 0:2\n\n",
                                  b"1 0:1e-3 1:inf\n", b"1 0:1 2:x\n", b"1 0:1 40:2\n", b"1 1.5:2\n", b"1 0:1 2:\n",
                                  b""])
def test_libsvm_fast_path_agrees_with_the_checked_parser(body):
    """NumPy's one-call parse of plain LibSVM gives the checked loop's matrix; anything else (qid, bad entries,
    indices out of range) falls back to the loop, whose errors name the line."""
    from shipyard.algorithms.xgboost.handler import _parse_libsvm_checked, parse_libsvm

    def outcome(fn):
        try:
            return fn(body, 5).toarray().tolist()
        except ValidationError as e:
            return str(e)

    assert outcome(parse_libsvm) == outcome(_parse_libsvm_checked)
