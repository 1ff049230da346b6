"""MXNet NDArray files (mx.nd.save / mx.nd.load) read and written without MXNet."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from shipyard.io import ndarray


def _shape(*dims: int) -> bytes:
    return struct.pack("<I", len(dims)) + struct.pack(f"<{len(dims)}q", *dims)


def _v2_dense(arr: np.ndarray, flag: int) -> bytes:
    """One array the way NDArray::Save writes it, built field by field from the layout in ndarray.cc."""
    return (struct.pack("<I", 0xF993FAC9) + struct.pack("<i", 0) + _shape(*arr.shape)
            + struct.pack("<ii", 1, 0) + struct.pack("<i", flag) + arr.astype(arr.dtype.newbyteorder("<")).tobytes())


def _file(arrays: list[bytes], names: list[str]) -> bytes:
    out = struct.pack("<QQ", 0x112, 0) + struct.pack("<Q", len(arrays)) + b"".join(arrays)
    out += struct.pack("<Q", len(names))
    for n in names:
        out += struct.pack("<Q", len(n.encode())) + n.encode()
    return out


def test_hand_built_list_fixture_reads_and_writes_identically():
    centroids = np.array([[1.5, -2.0, 3.25], [0.0, 4.0, -1.0]], dtype=np.float32)
    fixture = _file([_v2_dense(centroids, 0)], [])
    # the exact bytes, spelled out: header, count, magic, stype, ndim + dims, ctx, dtype, data, name count
    assert fixture[:16] == bytes.fromhex("1201000000000000" "0000000000000000")
    assert fixture[16:24] == (1).to_bytes(8, "little")
    assert fixture[24:28] == bytes.fromhex("c9fa93f9")
    assert len(fixture) == 16 + 8 + 4 + 4 + (4 + 16) + 8 + 4 + 24 + 8
    loaded = ndarray.loads(fixture)
    assert isinstance(loaded, list) and len(loaded) == 1
    assert loaded[0].dtype == np.float32 and loaded[0].shape == (2, 3)
    np.testing.assert_array_equal(loaded[0], centroids)
    assert ndarray.dumps([centroids]) == fixture


def test_hand_built_dict_fixture_with_mixed_dtypes():
    mean = np.array([[0.5, 0.25]], dtype=np.float32)
    s = np.array([1.0, 2.0], dtype=np.float64)
    idx = np.array([7, -3, 11], dtype=np.int64)
    fixture = _file([_v2_dense(mean, 0), _v2_dense(s, 1), _v2_dense(idx, 6)], ["mean", "s", "arg:idx"])
    loaded = ndarray.loads(fixture)
    assert list(loaded) == ["mean", "s", "arg:idx"]
    np.testing.assert_array_equal(loaded["mean"], mean)
    assert loaded["s"].dtype == np.float64 and loaded["arg:idx"].dtype == np.int64
    np.testing.assert_array_equal(loaded["arg:idx"], idx)
    assert ndarray.dumps({"mean": mean, "s": s, "arg:idx": idx}) == fixture


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.uint8, np.int32, np.int8, np.int64])
def test_round_trip_dtypes_and_shapes(dtype):
    rng = np.random.default_rng(1)
    arrays = {"a": (rng.normal(size=(3, 4, 2)) * 10).astype(dtype), "b": np.arange(5).astype(dtype),
              "c": np.ones((1, 1), dtype=dtype)}
    back = ndarray.loads(ndarray.dumps(arrays))
    assert list(back) == list(arrays)
    for k in arrays:
        assert back[k].dtype == np.dtype(dtype) and back[k].shape == arrays[k].shape
        np.testing.assert_array_equal(back[k], arrays[k])
    as_list = ndarray.loads(ndarray.dumps(list(arrays.values())))
    assert isinstance(as_list, list) and len(as_list) == 3


def test_v1_and_legacy_arrays():
    arr = np.array([[1.0, 2.0]], dtype=np.float32)
    v1 = struct.pack("<I", 0xF993FAC8) + _shape(1, 2) + struct.pack("<iii", 1, 0, 0) + arr.tobytes()
    legacy = struct.pack("<I", 2) + struct.pack("<II", 1, 2) + struct.pack("<iii", 1, 0, 0) + arr.tobytes()
    for body in (v1, legacy):
        np.testing.assert_array_equal(ndarray.loads(_file([body], ["x"]))["x"], arr)


def test_sparse_arrays_come_back_dense():
    # csr 2 x 3 [[0, 5, 0], [7, 0, 9]]: storage shape (3,), aux indptr (3,), indices (3,)
    csr = (struct.pack("<Ii", 0xF993FAC9, 2) + _shape(3) + _shape(2, 3) + struct.pack("<iii", 1, 0, 0)
           + struct.pack("<i", 6) + _shape(3) + struct.pack("<i", 6) + _shape(3)
           + np.array([5, 7, 9], np.float32).tobytes() + np.array([0, 1, 3], np.int64).tobytes()
           + np.array([1, 0, 2], np.int64).tobytes())
    # row_sparse 3 x 2 with row 2 only: storage shape (1, 2), aux indices (1,)
    rsp = (struct.pack("<Ii", 0xF993FAC9, 1) + _shape(1, 2) + _shape(3, 2) + struct.pack("<iii", 1, 0, 0)
           + struct.pack("<i", 6) + _shape(1) + np.array([3, 4], np.float32).tobytes()
           + np.array([2], np.int64).tobytes())
    out = ndarray.loads(_file([csr, rsp], []))
    np.testing.assert_array_equal(out[0], [[0, 5, 0], [7, 0, 9]])
    np.testing.assert_array_equal(out[1], [[0, 0], [0, 0], [3, 4]])


def test_none_array_and_gpu_context():
    none = struct.pack("<Ii", 0xF993FAC9, 0) + struct.pack("<I", 0)
    arr = np.array([3.0], np.float32)
    gpu = struct.pack("<Ii", 0xF993FAC9, 0) + _shape(1) + struct.pack("<iii", 2, 1, 0) + arr.tobytes()
    out = ndarray.loads(_file([none, gpu], []))
    assert out[0] is None
    np.testing.assert_array_equal(out[1], arr)


@pytest.mark.parametrize("bad, why", [
    (b"PK\x03\x04" + b"\0" * 40, "header"),
    (struct.pack("<QQ", 0x112, 0), "truncated"),
    (_file([_v2_dense(np.ones(4, np.float32), 0)], [])[:-12], "truncated"),
    (_file([_v2_dense(np.ones(2, np.float32), 0)], ["a", "b"]), "1 arrays but 2 names"),
    (_file([_v2_dense(np.ones(2, np.float32), 0)], []) + b"junk", "trailing"),
], ids=["zip", "no-count", "short-data", "names", "trailing"])
def test_malformed_files_raise_with_reason(bad, why):
    with pytest.raises(ndarray.NDArrayFormatError, match=why):
        ndarray.loads(bad)


def test_unknown_dtype_is_named():
    body = struct.pack("<Ii", 0xF993FAC9, 0) + _shape(1) + struct.pack("<iii", 1, 0, 99) + b"\0" * 4
    with pytest.raises(ndarray.NDArrayFormatError, match="dtype flag 99"):
        ndarray.loads(_file([body], []))
    with pytest.raises(ndarray.NDArrayFormatError, match="no NDArray dtype"):
        ndarray.dumps([np.array(["x"])])


def test_file_helpers(tmp_path):
    path = tmp_path / "model_algo-1"
    ndarray.save(path, [np.eye(2, dtype=np.float32)])
    assert ndarray.is_ndarray_file(path.read_bytes())
    np.testing.assert_array_equal(ndarray.load(path)[0], np.eye(2))


# Bytes that mx.nd.save wrote (MXNet 1.9.1), kept as they came out, for both directions of the interop:
# mx.nd.save("f", {"mean": mx.nd.array([[1, 2, 3]]), "v": mx.nd.array(np.eye(3)), "s": mx.nd.array([1, 2, 3])})
MXNET_DICT = bytes.fromhex(
    "120100000000000000000000000000000300000000000000c9fa93f900000000020000000100000000000000030000000000"
    "00000100000000000000000000000000803f0000004000004040c9fa93f90000000002000000030000000000000003000000"
    "000000000100000000000000000000000000803f0000000000000000000000000000803f0000000000000000000000000000"
    "803fc9fa93f9000000000100000003000000000000000100000000000000000000000000803f000000400000404003000000"
    "0000000004000000000000006d65616e010000000000000076010000000000000073"
)
# mx.nd.save("f", [csr of [[0, 5, 0], [7, 0, 9]], row_sparse of [[0, 0], [0, 0], [3, 4]]])
MXNET_SPARSE = bytes.fromhex(
    "120100000000000000000000000000000200000000000000c9fa93f902000000010000000300000000000000020000000200"
    "0000000000000300000000000000010000000000000000000000060000000100000003000000000000000600000001000000"
    "03000000000000000000a0400000e04000001041000000000000000001000000000000000300000000000000010000000000"
    "000000000000000000000200000000000000c9fa93f901000000020000000100000000000000020000000000000002000000"
    "0300000000000000020000000000000001000000000000000000000006000000010000000100000000000000000040400000"
    "804002000000000000000000000000000000"
)


def test_reads_what_mxnet_wrote_and_writes_it_byte_for_byte():
    loaded = ndarray.loads(MXNET_DICT)
    assert list(loaded) == ["mean", "v", "s"]
    np.testing.assert_array_equal(loaded["mean"], [[1, 2, 3]])
    np.testing.assert_array_equal(loaded["v"], np.eye(3))
    np.testing.assert_array_equal(loaded["s"], [1, 2, 3])
    assert all(a.dtype == np.float32 for a in loaded.values())
    assert ndarray.dumps(loaded) == MXNET_DICT


def test_reads_mxnet_sparse_arrays():
    csr, rsp = ndarray.loads(MXNET_SPARSE)
    np.testing.assert_array_equal(csr, [[0, 5, 0], [7, 0, 9]])
    np.testing.assert_array_equal(rsp, [[0, 0], [0, 0], [3, 4]])
