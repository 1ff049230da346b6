import gzip
import io
import json
import os
import threading

import numpy as np
import pytest
import scipy.sparse as sp

from shipyard.errors import ValidationError
from shipyard.io.codecs import decode_features, encode_predictions
from shipyard.io.protobuf import decode_record, write_recordio_protobuf
from shipyard.io.readers import iter_batches, load_channel
from shipyard.io.recordio import split_records


@pytest.fixture
def data():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(250, 5)).astype(np.float32)
    y = rng.integers(0, 2, 250).astype(np.float32)
    return X, y


def write_csv(path, X, y=None):
    rows = X if y is None else np.column_stack([y, X])
    path.write_text("\n".join(",".join(repr(float(v)) for v in r) for r in rows) + "\n")


def test_csv_folder_in_minibatches_label_first(tmp_path, data):
    X, y = data
    (tmp_path / "sub").mkdir()
    write_csv(tmp_path / "a.csv", X[:100], y[:100])
    write_csv(tmp_path / "sub" / "b.csv", X[100:], y[100:])
    (tmp_path / ".hidden").write_text("not,data\n")
    batches = list(iter_batches(tmp_path, "text/csv", batch_size=64))
    assert [len(b) for b in batches] == [64, 64, 64, 58]
    np.testing.assert_allclose(np.vstack([b.X for b in batches]), X, rtol=1e-6)
    np.testing.assert_array_equal(np.concatenate([b.y for b in batches]), y)


def test_csv_label_size_zero_and_gzip(tmp_path, data):
    X, _ = data
    write_csv(tmp_path / "plain.csv", X)
    raw = (tmp_path / "plain.csv").read_bytes()
    (tmp_path / "plain.csv").unlink()
    (tmp_path / "x.csv.gz").write_bytes(gzip.compress(raw))
    b = load_channel(tmp_path, "text/csv;label_size=0")
    assert b.y is None
    np.testing.assert_allclose(b.X, X, rtol=1e-6)


def test_recordio_dense_sparse_and_feature_dim_check(tmp_path, data):
    X, y = data
    with open(tmp_path / "d.rec", "wb") as f:
        write_recordio_protobuf(f, X, y)
    b = load_channel(tmp_path, "application/x-recordio-protobuf", feature_dim=5)
    np.testing.assert_array_equal(b.X, X)
    np.testing.assert_array_equal(b.y, y)
    with pytest.raises(ValidationError, match="feature_dim"):
        load_channel(tmp_path, "application/x-recordio-protobuf", feature_dim=6)
    S = sp.random(90, 300, density=0.02, format="csr", random_state=2, dtype=np.float32)
    sdir = tmp_path / "sparse"
    sdir.mkdir()
    with open(sdir / "s.rec", "wb") as f:
        write_recordio_protobuf(f, S, np.ones(90, np.float32))
    batches = list(iter_batches(sdir, "application/x-recordio-protobuf", batch_size=40))
    assert [len(b) for b in batches] == [40, 40, 10] and all(sp.issparse(b.X) for b in batches)
    assert (sp.vstack([b.X for b in batches]) != S).nnz == 0


def test_libsvm(tmp_path):
    (tmp_path / "t.libsvm").write_text("1 0:1.5 3:2\n0 2:-1 # comment\n\n1 qid:3 1:4\n")
    b = load_channel(tmp_path, "text/libsvm")
    assert b.X.shape == (3, 4)
    np.testing.assert_array_equal(b.X.toarray(), [[1.5, 0, 0, 2], [0, 0, -1, 0], [0, 4, 0, 0]])
    np.testing.assert_array_equal(b.y, [1, 0, 1])
    (tmp_path / "bad.libsvm").write_text("1 x:2\n")
    with pytest.raises(ValidationError, match="LibSVM line 1"):
        load_channel(tmp_path, "text/libsvm")


def test_pipe_mode_streams_each_epoch_fifo(tmp_path, data):
    X, y = data
    buf = io.BytesIO()
    write_recordio_protobuf(buf, X, y)
    base = tmp_path / "train"
    for epoch in range(2):
        os.mkfifo(f"{base}_{epoch}")
    done = []

    def feed():
        for epoch in range(2):
            with open(f"{base}_{epoch}", "wb") as f:
                payload = buf.getvalue()
                for i in range(0, len(payload), 4093):  # odd-sized writes split records
                    f.write(payload[i:i + 4093])
            done.append(epoch)

    t = threading.Thread(target=feed, daemon=True)
    t.start()
    for epoch in range(2):
        b = load_channel(base, "application/x-recordio-protobuf", mode="Pipe", epoch=epoch)
        np.testing.assert_array_equal(b.X, X)
    t.join(10)
    assert done == [0, 1]


def test_unknown_content_type():
    with pytest.raises(ValidationError, match="not supported"):
        list(iter_batches("/nonexistent", "application/x-parquet"))


def test_codecs_decode_every_request_type(data):
    X, _ = data
    X = X[:3]
    csv = "\n".join(",".join(str(v) for v in r) for r in X).encode()
    np.testing.assert_allclose(decode_features(csv, "text/csv"), X, rtol=1e-6)
    js = json.dumps({"instances": [{"features": r.tolist()} for r in X]}).encode()
    np.testing.assert_allclose(decode_features(js, "application/json"), X, rtol=1e-6)
    jl = "\n".join(json.dumps({"features": r.tolist()}) for r in X).encode()
    np.testing.assert_allclose(decode_features(jl, "application/jsonlines"), X, rtol=1e-6)
    buf = io.BytesIO()
    write_recordio_protobuf(buf, X)
    np.testing.assert_array_equal(decode_features(buf.getvalue(), "application/x-recordio-protobuf"), X)
    sparse = {"instances": [{"data": {"features": {"keys": [1, 4], "values": [2.0, 3.0], "shape": [6]}}}]}
    m = decode_features(json.dumps(sparse).encode(), "application/json")
    assert sp.issparse(m) and m.toarray().tolist() == [[0, 2, 0, 0, 3, 0]]
    with pytest.raises(ValidationError, match="text/csv"):
        decode_features(b"1,2", "image/png")
    with pytest.raises(ValidationError, match="Could not parse"):
        decode_features(b"1,abc", "text/csv")


def test_codecs_encode_every_response_type():
    rows = [{"score": 0.75, "predicted_label": 1.0}, {"score": 0.25, "predicted_label": 0.0}]
    body, ct = encode_predictions(rows, "application/json")
    assert ct == "application/json" and json.loads(body) == {"predictions": rows}
    body, ct = encode_predictions(rows, "application/jsonlines")
    assert [json.loads(ln) for ln in body.decode().splitlines()] == rows
    body, ct = encode_predictions(rows, "application/x-recordio-protobuf")
    recs = [decode_record(p) for p in split_records(body)]
    assert [r.label["score"].values.tolist() for r in recs] == [[0.75], [0.25]]
    body, ct = encode_predictions(rows, "text/csv")
    assert body.decode().splitlines() == ["0.75,1.0", "0.25,0.0"]


def test_recordio_fast_and_general_paths_agree(tmp_path):
    """Uniform records take the vectorised path; any odd record sends the batch through the general one."""
    from shipyard.io.protobuf import encode_record
    from shipyard.io.recordio import frame
    X = np.zeros((30, 4), np.float32)
    X[5] = [1, 2, 3, 4]
    y = np.zeros(30, np.float32)
    buf = io.BytesIO()
    write_recordio_protobuf(buf, X, y)
    odd = frame(encode_record(features={"values": np.array([9, 9, 9, 9], np.float64)},
                              label={"values": np.array([1.0], np.float32)}))
    (tmp_path / "a.rec").write_bytes(buf.getvalue() + odd)
    b = load_channel(tmp_path, "application/x-recordio-protobuf")
    np.testing.assert_array_equal(b.X, np.vstack([X, [[9, 9, 9, 9]]]))
    np.testing.assert_array_equal(b.y, np.append(y, 1.0))
    short = frame(encode_record(features={"values": np.array([1, 2], np.float32)}))
    (tmp_path / "a.rec").write_bytes(buf.getvalue() + short)
    with pytest.raises(ValidationError, match="labelled and unlabelled|different numbers"):
        load_channel(tmp_path, "application/x-recordio-protobuf")
