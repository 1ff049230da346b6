"""The built-in XGBoost saves its model as the image version the job named does: SageMaker's images before
1.3-1 pickle the Booster (AWS's abalone pipeline evaluates it with ``pickle.load`` on that image's xgboost),
later ones use xgboost's own format. The training executor passes the image in ``SHIPYARD_ALGORITHM_IMAGE``.

A pre-1.3 pickle holds what those images' xgboost reads: the legacy binary model (``legacy_binary.from_json``),
alone for 0.90, inside xgboost 1.0 - 1.2's serialisation for 1.x. The round trips check it against the reader
(``legacy_binary.convert``) and Shipyard's serving path; where the xgboost-1.0-1 environment is built, that
environment's own xgboost 1.0.2 unpickles it."""

from __future__ import annotations

import json
import os
import pickle
import pickletools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb

from shipyard.algorithms.env import ALGORITHM_IMAGE_VARIABLE
from shipyard.algorithms.xgboost import legacy_binary, model_formats
from shipyard.algorithms.xgboost.train import model_bytes

from xgb_helpers import layout, load_model, make_regression, write_csv

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:{}"


def _train(base, image: str | None):
    X, y = make_regression(200)
    write_csv(base / "input/data/train/t.csv", X, y)
    layout(base, {"num_round": 4, "max_depth": 2}, {"train": "text/csv"})
    env = {k: v for k, v in os.environ.items() if not k.startswith("SM_") and k != ALGORITHM_IMAGE_VARIABLE}
    env.update(SAGEMAKER_BASE_DIR=str(base), SM_NUM_CPUS="2")
    if image is not None:
        env[ALGORITHM_IMAGE_VARIABLE] = image
    proc = subprocess.run([sys.executable, "-m", "shipyard.algorithms.xgboost.train"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return (base / "model" / "xgboost-model").read_bytes(), X


def _pickle_parts(raw: bytes) -> tuple[str, dict]:
    """(the pickle's class global, its state) without importing any xgboost's Booster."""
    globals_ = [arg for op, arg, _ in pickletools.genops(raw) if op.name in ("GLOBAL", "STACK_GLOBAL")]

    class Capture:
        def __setstate__(self, state):
            self.state = state

    class Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            return Capture if (module, name) == ("xgboost.core", "Booster") else super().find_class(module, name)

    import io

    return globals_[0], Unpickler(io.BytesIO(raw)).load().state


@pytest.mark.parametrize("tag, header", [("1.0-1-cpu-py3", legacy_binary.SERIALISATION_HEADER),
                                         ("0.90-2-cpu-py3", b"")])
def test_images_before_1_3_pickle_a_booster_their_xgboost_reads(tmp_path, tag, header):
    raw, X = _train(tmp_path / "old", IMAGE.format(tag))
    cls, state = _pickle_parts(raw)
    assert cls == "xgboost.core Booster"  # what AWS's evaluation scripts unpickle
    assert set(state) == {"handle", "feature_names", "feature_types"} and isinstance(state["handle"], bytearray)
    assert bytes(state["handle"]).startswith(header) and not bytes(state["handle"]).startswith(b"{")
    # Shipyard's serving path reads it, and predicts as the same training saved in xgboost's own format does
    served = model_formats.load_booster(tmp_path / "old" / "model")
    _, _ = _train(tmp_path / "new", IMAGE.format("1.3-1"))
    current = load_model(tmp_path / "new" / "model" / "xgboost-model")
    assert served.num_boosted_rounds() == 4
    np.testing.assert_allclose(served.predict(xgb.DMatrix(X)), current.predict(xgb.DMatrix(X)), rtol=1e-6)


@pytest.mark.parametrize("image", [IMAGE.format("1.3-1"), IMAGE.format("1"), None])
def test_later_or_unversioned_images_save_xgboost_format(tmp_path, image):
    raw, _ = _train(tmp_path, image)
    assert raw[:1] == b"{"  # UBJSON, loadable with Booster.load_model
    assert load_model(tmp_path / "model" / "xgboost-model").num_boosted_rounds() == 4


# ------------------------------------------------------------------ current JSON -> legacy binary, and back
CASES = {
    "regression": ({"max_depth": 3}, "reg"),
    "regression-base_score": ({"max_depth": 3, "base_score": 3.0}, "reg"),
    "binary-logistic": ({"objective": "binary:logistic", "max_depth": 3}, "binary"),
    "binary-logistic-base_score": ({"objective": "binary:logistic", "base_score": 0.2}, "binary"),
    "binary-logitraw": ({"objective": "binary:logitraw"}, "binary"),
    "multi-softprob": ({"objective": "multi:softprob", "num_class": 3, "max_depth": 3}, "multi"),
    "multi-softprob-base_score": ({"objective": "multi:softprob", "num_class": 3, "base_score": 0.5}, "multi"),
    "count-poisson": ({"objective": "count:poisson", "max_depth": 2}, "count"),
}


def _data() -> np.ndarray:
    X = np.random.default_rng(0).random((300, 4))
    X[::7, 1] = np.nan  # missing values take each split's default direction
    return X


def _booster(case: str, rounds: int = 6) -> xgb.Booster:
    params, kind = CASES[case]
    X = _data()
    y = {"reg": X[:, 0] * 3, "binary": (X[:, 0] > 0.3) * 1.0, "multi": np.floor(X[:, 0] * 3),
         "count": np.round(X[:, 0] * 5)}[kind]
    return xgb.train(params, xgb.DMatrix(X, y), rounds)


def _assert_same(a: xgb.Booster, b: xgb.Booster) -> None:
    d = xgb.DMatrix(_data())
    np.testing.assert_allclose(b.predict(d), a.predict(d), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b.predict(d, output_margin=True), a.predict(d, output_margin=True),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("version", [(0, 90), (1, 0)], ids=["0.90", "1.0"])
@pytest.mark.parametrize("case", list(CASES))
def test_legacy_binary_round_trip_predicts_the_same(case, version):
    original = _booster(case)
    raw = legacy_binary.from_json(bytes(original.save_raw("json")), version)
    major = int.from_bytes(raw[20:24], "little")
    assert major == (1 if version >= (1, 0) else 0)
    back = xgb.Booster()
    back.load_model(bytearray(legacy_binary.convert(raw)))
    _assert_same(original, back)


def test_pre_1_0_base_score_is_the_margin_and_1_0_keeps_the_users_value():
    original = _booster("binary-logistic-base_score")  # base_score 0.2: margin log(0.2 / 0.8)
    js = bytes(original.save_raw("json"))
    old = np.frombuffer(legacy_binary.from_json(js, (0, 90))[:4], "<f4")[0]
    new = np.frombuffer(legacy_binary.from_json(js, (1, 0))[:4], "<f4")[0]
    assert old == pytest.approx(np.log(0.2 / 0.8), rel=1e-6) and new == pytest.approx(0.2, rel=1e-6)


@pytest.mark.parametrize("version", [(0, 90), (1, 0)], ids=["0.90", "1.0"])
@pytest.mark.parametrize("case", ["regression", "binary-logistic", "multi-softprob-base_score"])
def test_pickle_loads_in_shipyards_serving_path(case, version, tmp_path):
    original = _booster(case)
    state = legacy_binary.booster_state(bytes(original.save_raw("json")), version)
    (tmp_path / "xgboost-model").write_bytes(legacy_binary.pickled_booster(state))
    _assert_same(original, model_formats.load_booster(tmp_path))


def test_attributes_and_objective_names_the_image_knows():
    X = _data()
    y = X[:, 0] + 0.1
    d, dv = xgb.DMatrix(X[:200], y[:200]), xgb.DMatrix(X[200:], y[200:])
    b = xgb.train({"objective": "reg:squaredlogerror"}, d, 50, evals=[(dv, "v")], early_stopping_rounds=2,
                  verbose_eval=False)
    js = bytes(b.save_raw("json"))
    for version, name in [((0, 90), "reg:squarederror"), ((1, 0), "reg:squaredlogerror")]:
        parsed = legacy_binary.parse(legacy_binary.from_json(js, version))
        assert parsed["objective"] == name  # 0.90 has no squaredlogerror; the same transform predicts the same
        assert parsed["attributes"]["best_iteration"] == b.attr("best_iteration")
    aft = xgb.train({"objective": "survival:aft"}, xgb.DMatrix(X, label_lower_bound=y, label_upper_bound=y), 2)
    with pytest.raises(legacy_binary.LegacyExportError, match=r"survival:aft.*needs xgboost 1\.1"):
        legacy_binary.from_json(bytes(aft.save_raw("json")), (1, 0))


@pytest.mark.parametrize("booster", ["gblinear", "dart"])
def test_other_boosters_are_refused_and_saved_as_this_xgboosts_pickle(booster, monkeypatch, capsys):
    X = _data()
    b = xgb.train({"booster": booster}, xgb.DMatrix(X, X[:, 0]), 3)
    with pytest.raises(legacy_binary.LegacyExportError, match=f"only gbtree.*not '{booster}'"):
        legacy_binary.from_json(bytes(b.save_raw("json")), (1, 0))
    monkeypatch.setenv(ALGORITHM_IMAGE_VARIABLE, IMAGE.format("1.0-1-cpu-py3"))
    raw = model_bytes(b)
    assert "WARNING: the model has no form xgboost 1.0 reads" in capsys.readouterr().out
    assert isinstance(pickle.loads(raw), xgb.Booster)


# ------------------------------------------------------------------ the image's own xgboost
def _environment_python(image: str, monkeypatch) -> Path:
    """The interpreter of ``image``'s environment, as jobs resolve it (``ensure_for_image``), from the shared
    cache the environment tests use; built there first if missing (about 40 s from the package index, once)."""
    from shipyard.environments import ensure_for_image, spec_for_image

    spec = spec_for_image(image)
    assert spec is not None
    root = Path(os.environ.get("SHIPYARD_ENVIRONMENTS_CACHE") or Path.home() / ".cache" / "shipyard" / "environments")
    monkeypatch.setenv("SHIPYARD_ENVIRONMENTS_CACHE", str(root))
    monkeypatch.setenv("SHIPYARD_ENVIRONMENTS", "strict")
    prepared = ensure_for_image(image, None, log=lambda line: None)
    assert prepared.path == root / spec.dirname
    return Path(prepared.python)


_CHECK = """
import json, pickle, sys
import numpy as np, xgboost
X = np.load(sys.argv[1])
out = {"version": xgboost.__version__}
for path in sys.argv[2:]:
    with open(path, "rb") as f:
        booster = pickle.load(f)
    again = pickle.loads(pickle.dumps(booster))  # the image's own pickle of it loads too
    out[path] = [booster.predict(xgboost.DMatrix(X)).tolist(), again.predict(xgboost.DMatrix(X)).tolist()]
print(json.dumps(out))
"""


def test_the_1_0_1_images_xgboost_unpickles_and_predicts_the_same(tmp_path, monkeypatch):
    image = IMAGE.format("1.0-1-cpu-py3")
    python = _environment_python(image, monkeypatch)
    X = _data()
    np.save(tmp_path / "X.npy", X)
    expected = {}
    for case in CASES:
        original = _booster(case)
        path = tmp_path / f"{case}.pkl"
        path.write_bytes(legacy_binary.pickled_booster(
            legacy_binary.booster_state(bytes(original.save_raw("json")), (1, 0))))
        expected[str(path)] = original.predict(xgb.DMatrix(X))
    proc = subprocess.run([str(python), "-c", _CHECK, str(tmp_path / "X.npy"), *expected], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Loading model from XGBoost < 1.0.0" not in proc.stderr  # it reads as its own version's model
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["version"] == "1.0.2"
    for path, want in expected.items():
        first, again = (np.asarray(p).reshape(want.shape) for p in got[path])
        np.testing.assert_allclose(first, want, rtol=1e-5, atol=1e-6, err_msg=path)
        np.testing.assert_allclose(again, want, rtol=1e-5, atol=1e-6, err_msg=path)
