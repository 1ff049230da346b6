"""DeepAR (forecasting-deepar): hyperparameter rules, data formats and checks, forecast quality against a
seasonal-naive forecast, NaN targets, categorical and dynamic features, and the serving contract.

Training runs in this process (``builtin._run`` under a temporary ``/opt/ml``) to spare the interpreter and
torch start-up of a subprocess; the conformance suite runs the real program as a subprocess.
"""

from __future__ import annotations

import gzip
import io
import json
import re
from datetime import datetime

import numpy as np
import pytest

from shipyard.algorithms import builtin
from shipyard.algorithms.deepar import ALGORITHM, parse_cardinality, parse_freq, parse_quantiles
from shipyard.algorithms.deepar.data import lags_for, read_channel, time_features
from shipyard.errors import ValidationError
from shipyard.testing.algorithm_harness import prepare_job

torch = pytest.importorskip("torch", reason="DeepAR needs the torch extra: pip install 'shipyard[torch]'")

from shipyard.algorithms.deepar.handler import DeepARHandler  # noqa: E402
from shipyard.algorithms.deepar.sample import seasonal_dataset, seasonal_naive  # noqa: E402
from shipyard.algorithms.deepar.train import quantile_losses, train  # noqa: E402

JSONL = "application/jsonlines"


def _jsonl(rows) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


@pytest.fixture(autouse=True)
def _keep_torch_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def run_job(tmp_path, monkeypatch, capsys, hps, channels):
    """Train in this process; (exit code, metrics, failure text, model dir)."""
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(tmp_path))
    for key in [k for k in __import__("os").environ if k.startswith("SM_")]:
        monkeypatch.delenv(key)
    prepare_job(tmp_path, hps, channels)
    code = builtin._run(ALGORITHM, train)
    out = capsys.readouterr().out
    metrics = {m[1]: float(m[2]) for m in re.finditer(r"#quality_metric: host=\S+, (\S+ \S+) <score>=(\S+)", out)}
    metrics = {k.replace(" ", ":", 1): v for k, v in metrics.items()}
    failure = (tmp_path / "output" / "failure")
    return code, metrics, failure.read_text() if failure.exists() else "", tmp_path / "model"


BASE_HPS = {"time_freq": "D", "context_length": "14", "prediction_length": "7", "num_cells": "20",
            "num_layers": "2", "mini_batch_size": "32", "learning_rate": "0.005", "num_eval_samples": "100"}


# ------------------------------------------------------------------ hyperparameters

def test_time_freq_forms():
    assert parse_freq("5min") == (5, "min") and parse_freq("H") == (1, "H") and parse_freq("2W") == (2, "W")
    assert parse_freq("M") == (1, "M") and parse_freq("D") == (1, "D")
    for bad in ("5x", "0min", "hourly", "1.5H", ""):
        with pytest.raises(ValidationError, match="'time_freq'"):
            ALGORITHM.validate({"time_freq": bad, "context_length": "5", "prediction_length": "5", "epochs": "1"})


def test_list_hyperparameters():
    assert parse_cardinality("auto") == "auto" and parse_cardinality("ignore") == "ignore"
    assert parse_cardinality("[2, 3]") == [2, 3] and parse_cardinality("") == []
    with pytest.raises(ValidationError, match="'cardinality'"):
        parse_cardinality("[0, 3]")
    assert parse_quantiles(["0.1", "0.5"]) == [0.1, 0.5]
    with pytest.raises(ValidationError, match="'test_quantiles'"):
        parse_quantiles("0.5,1.5")
    full = ALGORITHM.validate({"time_freq": "H", "context_length": "5", "prediction_length": "5", "epochs": "1"})
    assert full["likelihood"] == "student-T" and full["num_cells"] == 40 and full["num_layers"] == 2
    with pytest.raises(ValidationError, match="'num_dynamic_feat'"):
        ALGORITHM.validate({"time_freq": "H", "context_length": "5", "prediction_length": "5", "epochs": "1",
                            "num_dynamic_feat": "-2"})


def test_lags_and_time_features_follow_the_frequency():
    daily = lags_for(1, "D")
    assert {1, 7, 14, 21, 28, 365}.issubset(daily)
    assert {24, 168}.issubset(lags_for(1, "H")) and 12 in lags_for(1, "M")
    assert 12 in lags_for(5, "min")  # an hour of 5-minute steps
    f = time_features(datetime(2021, 1, 1), 1, "M", np.arange(-1, 12))
    assert f.shape == (13, 1) and f[0, 0] == pytest.approx(0.5) and f[1, 0] == pytest.approx(-0.5)
    h = time_features(datetime(2021, 1, 4), 1, "H", np.arange(48))  # a Monday
    assert h.shape == (48, 4) and h[23, 0] == pytest.approx(0.5) and h[0, 1] == pytest.approx(-0.5)
    assert h[24, 1] == pytest.approx(-0.5 + 1 / 6) and h[0, 2] == pytest.approx(-0.5 + 3 / 30)
    # the same features as pandas computes (where pandas is installed)
    pd = pytest.importorskip("pandas")
    stamps = pd.date_range("2020-12-25 07:35:00", periods=500, freq="17min")
    mine = time_features(datetime(2020, 12, 25, 7, 35), 17, "min", np.arange(500))
    np.testing.assert_allclose(mine[:, 0], stamps.minute / 59.0 - 0.5, atol=1e-6)
    np.testing.assert_allclose(mine[:, 1], stamps.hour / 23.0 - 0.5, atol=1e-6)
    np.testing.assert_allclose(mine[:, 2], stamps.day_of_week / 6.0 - 0.5, atol=1e-6)
    np.testing.assert_allclose(mine[:, 4], (stamps.day_of_year - 1) / 365.0 - 0.5, atol=1e-6)
    weeks = pd.date_range("2019-12-23", periods=120, freq="7D")
    mine_w = time_features(datetime(2019, 12, 23), 1, "W", np.arange(120))
    np.testing.assert_allclose(mine_w[:, 1], (weeks.isocalendar().week.to_numpy(float) - 1) / 52.0 - 0.5,
                               atol=1e-6)


# ------------------------------------------------------------------ formats

def test_jsonl_gzip_and_parquet_read_the_same(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"start": "2020-01-01 00:00:00", "target": [1.0, "NaN", 3.0], "cat": [1]},
            {"start": "2020-01-02 00:00:00", "target": [4.0, None, 6.5], "cat": [0]}]
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "part.json").write_bytes(_jsonl(rows))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "part.json.gz").write_bytes(gzip.compress(_jsonl(rows)))
    (tmp_path / "c").mkdir()
    table = pa.table({"start": [r["start"] for r in rows], "target": [[1.0, float("nan"), 3.0], [4.0, None, 6.5]],
                      "cat": [r["cat"] for r in rows]})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    (tmp_path / "c" / "part.parquet").write_bytes(buf.getvalue())
    read = [read_channel(tmp_path / d) for d in "abc"]
    for series in read:
        assert [s.cat for s in series] == [[1], [0]]
        np.testing.assert_array_equal(series[0].target, [1.0, np.nan, 3.0])
        np.testing.assert_array_equal(series[1].target, [4.0, np.nan, 6.5])
        assert str(series[1].start) == "2020-01-02 00:00:00"


@pytest.mark.parametrize("rows, hps, fragment", [
    ([{"start": "2020-01-01 00:00:00"}], {}, "no 'target'"),
    ([{"target": [1, 2, 3]}], {}, "no 'start'"),
    ([{"start": "yesterday-ish", "target": [1, 2]}], {}, "not a timestamp"),
    ([{"start": "2020-01-01", "target": [1, "x"]}], {}, "not a number"),
    ([{"start": "2020-01-01", "target": [1, 2], "cat": [0]}, {"start": "2020-01-01", "target": [1, 2]}], {},
     "same number of 'cat'"),
    ([{"start": "2020-01-01", "target": [1, 2], "cat": [3]}], {"cardinality": "[2]"}, "outside the cardinality"),
    ([{"start": "2020-01-01", "target": [1, 2], "dynamic_feat": [[1, 2, 3]]}], {}, "must have 2 values"),
    ([{"start": "2020-01-01", "target": [0.5, 2.0]}], {"likelihood": "beta"}, "needs targets in [0, 1]"),
    ([{"start": "2020-01-01", "target": ["NaN", "NaN"]}], {}, "all missing"),
])
def test_bad_training_data_fails_with_a_client_error(tmp_path, monkeypatch, capsys, rows, hps, fragment):
    code, _, failure, _ = run_job(tmp_path, monkeypatch, capsys, {**BASE_HPS, "epochs": "1", **hps},
                                  {"train": ({"train.json": _jsonl(rows)}, JSONL)})
    assert code == 1 and failure.startswith("ClientError:"), failure
    assert fragment in failure, failure


def test_bad_json_line_names_the_line(tmp_path, monkeypatch, capsys):
    body = _jsonl([{"start": "2020-01-01", "target": [1, 2]}]) + b"{not json\n"
    code, _, failure, _ = run_job(tmp_path, monkeypatch, capsys, {**BASE_HPS, "epochs": "1"},
                                  {"train": ({"train.json": body}, JSONL)})
    assert code == 1 and "train.json line 2 is not valid JSON" in failure, failure


# ------------------------------------------------------------------ quality

@pytest.mark.slow  # ~5-10 s of training on a shared 2-core machine
def test_beats_seasonal_naive_on_a_seasonal_data_set(tmp_path, monkeypatch, capsys):
    train_rows, test_rows = seasonal_dataset(n_series=20, length=140, prediction_length=7, season=7)
    code, metrics, failure, _ = run_job(
        tmp_path, monkeypatch, capsys, {**BASE_HPS, "epochs": "12"},
        {"train": ({"train.json": _jsonl(train_rows)}, JSONL), "test": ({"test.json": _jsonl(test_rows)}, JSONL)})
    assert code == 0, failure
    truth = np.array([r["target"][-7:] for r in test_rows])
    naive = quantile_losses(truth, seasonal_naive(test_rows, 7, 7)[:, None, :], [0.1 * i for i in range(1, 10)])
    assert metrics["test:mean_wQuantileLoss"] < 0.8 * naive["mean_wQuantileLoss"], (metrics, naive)
    assert metrics["test:RMSE"] < naive["RMSE"], (metrics, naive)
    assert {"train:final_loss", "test:wQuantileLoss[0.5]", "test:wQuantileLoss[0.9]"} <= set(metrics)


# ------------------------------------------------------------------ NaN, cat, dynamic_feat and serving

def _promo_rows(n_series=12, length=100, seed=1):
    """Hourly series whose level doubles while a dynamic 'promotion' feature is on; a few NaN targets; the
    level also depends on cat."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_series):
        promo = (rng.random(length) < 0.3).astype(float)
        level = 10.0 * (1 + i % 3)
        y = level * (1 + promo) * (1 + 0.05 * rng.normal(size=length))
        target: list = [round(float(v), 3) for v in y]
        for j in rng.choice(length, 4, replace=False):
            target[j] = "NaN"
        rows.append({"start": "2021-05-01 00:00:00", "target": target, "cat": [i % 3],
                     "dynamic_feat": [promo.tolist()]})
    return rows


@pytest.fixture(scope="module")
def promo_model(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("deepar-promo")
    mp = pytest.MonkeyPatch()
    threads = torch.get_num_threads()
    try:
        mp.setenv("SAGEMAKER_BASE_DIR", str(tmp))
        for key in [k for k in __import__("os").environ if k.startswith("SM_")]:
            mp.delenv(key)
        rows = _promo_rows()
        prepare_job(tmp, {"time_freq": "H", "context_length": "12", "prediction_length": "4", "epochs": "15",
                          "num_cells": "16", "num_layers": "1", "mini_batch_size": "32", "learning_rate": "0.01",
                          "likelihood": "gaussian"},
                    {"train": ({"train.json": _jsonl(rows)}, JSONL)})
        assert builtin._run(ALGORITHM, train) == 0, (tmp / "output" / "failure").read_text()
        yield DeepARHandler(str(tmp / "model")), rows
    finally:
        mp.undo()
        torch.set_num_threads(threads)


def _ask(handler, instances, configuration=None, accept="application/json"):
    doc = {"instances": instances}
    if configuration is not None:
        doc["configuration"] = configuration
    body, ct = handler.invoke(json.dumps(doc).encode(), "application/json", accept)
    return json.loads(body) if ct == "application/json" else body


def _instance(row, promo_future):
    return {"start": row["start"], "target": row["target"][:60], "cat": row["cat"],
            "dynamic_feat": [row["dynamic_feat"][0][:60] + [promo_future] * 4]}


def test_dynamic_feature_and_cat_are_used(promo_model):
    handler, rows = promo_model
    conf = {"num_samples": 50, "output_types": ["mean"]}
    on = [_ask(handler, [_instance(r, 1.0)], conf)["predictions"][0]["mean"] for r in rows[:6]]
    off = [_ask(handler, [_instance(r, 0.0)], conf)["predictions"][0]["mean"] for r in rows[:6]]
    ratio = np.mean(on) / np.mean(off)
    assert ratio > 1.4, ratio  # the level doubles during a promotion
    assert np.mean(off[2]) > np.mean(off[0])  # cat 2 series are three times cat 0's level


def test_response_shapes_follow_the_configuration(promo_model):
    handler, rows = promo_model
    inst = [_instance(rows[0], 0.0), _instance(rows[1], 1.0)]
    doc = _ask(handler, inst, {"num_samples": 7, "output_types": ["mean", "quantiles", "samples"],
                               "quantiles": ["0.2", "0.8"]})
    assert set(doc) == {"predictions"} and len(doc["predictions"]) == 2
    p = doc["predictions"][0]
    assert set(p) == {"mean", "quantiles", "samples"}
    assert len(p["mean"]) == 4 and set(p["quantiles"]) == {"0.2", "0.8"}
    assert np.array(p["samples"]).shape == (7, 4)
    assert all(a <= b for a, b in zip(p["quantiles"]["0.2"], p["quantiles"]["0.8"]))
    only_q = _ask(handler, inst[:1], {"output_types": ["quantiles"], "quantiles": ["0.5"]})["predictions"][0]
    assert set(only_q) == {"quantiles"} and set(only_q["quantiles"]) == {"0.5"}
    default = _ask(handler, inst[:1])["predictions"][0]
    assert set(default) == {"mean", "quantiles"}
    assert list(default["quantiles"]) == [f"0.{i}" for i in range(1, 10)]
    # deterministic: the same request gives the same answer; a different request may not
    assert _ask(handler, inst[:1]) == _ask(handler, inst[:1])
    lines = handler.invoke(_jsonl(inst), "application/jsonlines", "")
    assert lines[1] == "application/jsonlines"
    assert [set(json.loads(line)) for line in lines[0].decode().splitlines()] == [{"mean", "quantiles"}] * 2


def test_nan_in_the_request_target_is_accepted(promo_model):
    handler, rows = promo_model
    inst = _instance(rows[2], 0.0)
    inst["target"][-3:] = ["NaN", None, "NaN"]
    mean = _ask(handler, [inst], {"output_types": ["mean"]})["predictions"][0]["mean"]
    assert len(mean) == 4 and all(np.isfinite(mean))


@pytest.mark.parametrize("mutate, fragment", [
    (lambda i: i.pop("target"), "no 'target'"),
    (lambda i: i.update(dynamic_feat=[i["dynamic_feat"][0][:62]]), "must cover the target and the prediction"),
    (lambda i: i.pop("dynamic_feat"), "dynamic feature(s); got 0"),
    (lambda i: i.update(cat=[7]), "a category the model does not know"),
    (lambda i: i.update(start="not a date"), "not a timestamp"),
])
def test_bad_instances_are_refused_clearly(promo_model, mutate, fragment):
    handler, rows = promo_model
    inst = _instance(rows[0], 0.0)
    mutate(inst)
    with pytest.raises(ValidationError) as info:
        _ask(handler, [inst])
    assert fragment in str(info.value)


@pytest.mark.parametrize("configuration, fragment", [
    ({"num_samples": 0}, "num_samples"),
    ({"output_types": ["median"]}, "output_types"),
    ({"quantiles": ["1.5"]}, "quantiles"),
    ({"num_sample": 5}, "Unknown configuration"),
])
def test_bad_configuration_is_refused(promo_model, configuration, fragment):
    handler, rows = promo_model
    with pytest.raises(ValidationError, match=fragment):
        _ask(handler, [_instance(rows[0], 0.0)], configuration)


def test_jsonlines_configuration_comes_from_the_environment(promo_model, monkeypatch):
    handler, rows = promo_model
    monkeypatch.setenv("DEEPAR_INFERENCE_CONFIG", json.dumps({"num_samples": 5, "output_types": ["samples"]}))
    body, ct = handler.invoke(_jsonl([_instance(rows[0], 0.0)]), "application/jsonlines", "application/jsonlines")
    line = json.loads(body.decode().splitlines()[0])
    assert ct == "application/jsonlines" and set(line) == {"samples"}
    assert np.array(line["samples"]).shape == (5, 4)


def test_early_stopping_keeps_the_best_epoch(tmp_path, monkeypatch, capsys):
    train_rows, _ = seasonal_dataset(n_series=4, length=40, prediction_length=7)
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(tmp_path))
    prepare_job(tmp_path, {**BASE_HPS, "epochs": "60", "num_cells": "4", "num_layers": "1",
                           "early_stopping_patience": "1", "learning_rate": "0.05"},
                {"train": ({"train.json": _jsonl(train_rows)}, JSONL)})
    assert builtin._run(ALGORITHM, train) == 0
    out = capsys.readouterr().out
    epochs = [float(v) for v in re.findall(r"epoch=\d+, batch=\d+ train loss <loss>=(\S+)", out)]
    assert "early stopping after epoch" in out and len(epochs) < 60
    final = float(re.search(r"train final_loss <score>=(\S+)", out)[1])
    assert final == pytest.approx(min(epochs), rel=1e-5)


@pytest.mark.parametrize("freq", ["5min", "2H", "W", "M"])
def test_each_frequency_trains_and_forecasts(tmp_path, monkeypatch, capsys, freq):
    rows = [{"start": "2019-12-30 00:00:00", "target": [float(5 + (i + j) % 4) for j in range(30)], "cat": [i]}
            for i in range(3)]
    code, metrics, failure, model = run_job(
        tmp_path, monkeypatch, capsys, {"time_freq": freq, "context_length": "6", "prediction_length": "3",
                                        "epochs": "2", "num_cells": "4", "num_layers": "1"},
        {"train": ({"train.json": _jsonl(rows)}, JSONL)})
    assert code == 0, failure
    handler = DeepARHandler(str(model))
    short = {"start": "2019-12-30 00:00:00", "target": [], "cat": [1]}  # nothing observed yet: a cold start
    preds = _ask(handler, [rows[0], short], {"num_samples": 3, "output_types": ["mean"]})["predictions"]
    assert [len(p["mean"]) for p in preds] == [3, 3] and np.isfinite(preds[1]["mean"]).all()
