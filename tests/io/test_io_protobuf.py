"""The hand-written Record codec against the SageMaker SDK's protobuf-generated one (a real peer)."""

import io
import os
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from shipyard.io.protobuf import (BytesValue, Tensor, decode_record, decode_varints, encode_record,
                                  encode_varints, read_recordio_protobuf, write_recordio_protobuf)

os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
warnings.filterwarnings("ignore")
sdk = pytest.importorskip("sagemaker.amazon.common")
from sagemaker.amazon.record_pb2 import Record as PbRecord  # noqa: E402


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_dense_bytes_identical_to_sdk_and_round_trip(dtype):
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(25, 9)) * 1000).astype(dtype)
    y = rng.integers(-5, 5, 25).astype(dtype)
    ours, theirs = io.BytesIO(), io.BytesIO()
    assert write_recordio_protobuf(ours, X, y) == 25
    sdk.write_numpy_to_dense_tensor(theirs, X, y)
    assert ours.getvalue() == theirs.getvalue()
    ours.seek(0)
    rows = list(read_recordio_protobuf(ours))
    np.testing.assert_array_equal(np.stack([r[0] for r in rows]), X)
    np.testing.assert_array_equal(np.array([r[1] for r in rows]), y)


def test_sparse_bytes_identical_to_sdk_and_round_trip():
    S = sp.random(40, 5000, density=0.003, format="csr", random_state=3, dtype=np.float32)
    S = S.tolil()
    S[7, :] = 0  # an empty row: only the shape is written
    S = S.tocsr()
    S.eliminate_zeros()
    y = np.arange(40, dtype=np.float32)
    ours, theirs = io.BytesIO(), io.BytesIO()
    write_recordio_protobuf(ours, S, y)
    sdk.write_spmatrix_to_sparse_tensor(theirs, S, y)
    assert ours.getvalue() == theirs.getvalue()
    ours.seek(0)
    rows = list(read_recordio_protobuf(ours))
    assert all(sp.issparse(r[0]) and r[0].shape == (1, 5000) for r in rows)
    assert (sp.vstack([r[0] for r in rows]) != S).nnz == 0
    assert [r[1] for r in rows] == list(range(40))


def test_sdk_parses_our_records_with_every_field():
    payload = encode_record(
        features={"values": Tensor(np.array([1.5, -2.0], np.float32)),
                  "ids": Tensor(np.array([-7, 300], np.int32)),
                  "blob": BytesValue([b"ab", b"\x00\xff"], "image/png")},
        label={"score": np.array([0.25], np.float64),
               "sparse": Tensor(np.array([3.0], np.float32), np.array([2**40], np.uint64), (2**41,))},
        uid="u-1", metadata="m", configuration="{}")
    pb = PbRecord()
    pb.ParseFromString(payload)
    assert list(pb.features["values"].float32_tensor.values) == [1.5, -2.0]
    assert list(pb.features["ids"].int32_tensor.values) == [-7, 300]
    assert list(pb.features["blob"].bytes.value) == [b"ab", b"\x00\xff"]
    assert pb.features["blob"].bytes.content_type == "image/png"
    assert list(pb.label["score"].float64_tensor.values) == [0.25]
    assert list(pb.label["sparse"].float32_tensor.keys) == [2**40]
    assert list(pb.label["sparse"].float32_tensor.shape) == [2**41]
    assert (pb.uid, pb.metadata, pb.configuration) == ("u-1", "m", "{}")
    # and we parse what the SDK serializes
    back = decode_record(pb.SerializeToString())
    assert back.features["ids"].values.tolist() == [-7, 300]
    assert back.features["blob"].value == [b"ab", b"\x00\xff"]
    assert back.label["sparse"].keys.tolist() == [2**40] and back.label["sparse"].shape == (2**41,)
    assert (back.uid, back.metadata, back.configuration) == ("u-1", "m", "{}")


def test_varints_round_trip_at_boundaries():
    vals = np.array([0, 1, 127, 128, 16383, 16384, 2**32, 2**63 - 1, 2**64 - 1], dtype=np.uint64)
    assert decode_varints(encode_varints(vals)).tolist() == vals.tolist()


def test_labels_must_match_rows():
    with pytest.raises(ValueError, match="Label shape"):
        write_recordio_protobuf(io.BytesIO(), np.zeros((3, 2), np.float32), np.zeros(5, np.float32))
    with pytest.raises(ValueError, match="Matrix"):
        write_recordio_protobuf(io.BytesIO(), np.zeros(3, np.float32))
