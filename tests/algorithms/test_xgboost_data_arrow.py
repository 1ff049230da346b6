"""The built-in XGBoost's CSV loading: Arrow columns straight into xgboost, models as from a numpy matrix."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest

from shipyard.algorithms.xgboost import data


def test_column_reads_nulls_offsets_and_chunks():
    chunk = pa.array([1.0, None, 3.0, None, 5.0], pa.float32()).slice(1)
    table = pa.table({"a": pa.chunked_array([chunk, pa.array([7.0], pa.float32())])})
    np.testing.assert_array_equal(data._column(table, 0), np.array([np.nan, 3, np.nan, 5, 7], np.float32))
    doubles = pa.table({"a": pa.array([1.5, None], pa.float64())})
    out = data._column(doubles, 0)
    assert out.dtype == np.float32 and out[0] == 1.5 and np.isnan(out[1])


def test_feature_table_has_no_offsets():
    table = pa.table({"y": [1.0, 2.0], "x": pa.array([0.5, None, 0.7], pa.float32()).slice(1)})
    features = data._feature_table(table, 1)
    col = features.column(0).chunks[0]
    assert col.offset == 0 and col.to_pylist()[0] is None and col.to_pylist()[1] == pytest.approx(0.7)


@pytest.mark.parametrize("quantile", [{"max_bin": 256}, None])
def test_arrow_path_trains_the_same_model_as_a_numpy_matrix(tmp_path, quantile):
    import xgboost as xgb

    rng = np.random.default_rng(1)
    X = rng.random((2000, 5), dtype=np.float32)
    X[rng.random(X.shape) < 0.05] = np.nan
    y = (X[:, 0] > 0.5).astype(np.float32)
    path = tmp_path / "train.csv"
    with open(path, "w") as f:
        for yi, row in zip(y, X):
            f.write(",".join([f"{yi:g}"] + ["" if np.isnan(v) else repr(float(v)) for v in row]) + "\n")
    dnew = data.load_channel(path, "text/csv", False, 2, quantile)
    table = data.read_csv_table([path])
    M = np.column_stack([data._column(table, j) for j in range(1, table.num_columns)])
    dold = (xgb.QuantileDMatrix(M, label=y, missing=np.nan, nthread=2, **quantile) if quantile
            else xgb.DMatrix(M, label=y, missing=np.nan, nthread=2))
    params = {"max_depth": 4, "tree_method": "hist", "objective": "binary:logistic", "nthread": 2}
    new, old = xgb.train(params, dnew, 5), xgb.train(params, dold, 5)
    assert new.feature_names is None and new.feature_types is None
    assert bytes(new.save_raw("json")) == bytes(old.save_raw("json"))
    if quantile:  # a validation set binned against the training set's cuts
        dval = data.load_channel(path, "text/csv", False, 2, {**quantile, "ref": dnew})
        assert dval.num_row() == 2000 and dval.num_col() == 5


def test_import_xgboost_leaves_sklearn_out_and_importable():
    code = ("import sys; from shipyard.algorithms.xgboost.data import import_xgboost; import_xgboost(); "
            "assert 'xgboost' in sys.modules and 'sklearn' not in sys.modules, sorted(sys.modules); "
            "import sklearn.base; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
