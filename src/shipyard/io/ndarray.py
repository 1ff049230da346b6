"""MXNet's NDArray file format (``mx.nd.save`` / ``mx.nd.load``) in pure numpy.

The AWS built-in algorithms (k-means, PCA, linear learner, factorization machines, ...) keep their model
parameters in this format, so reading and writing it lets a model move between AWS and Shipyard without
MXNet. The layout (little-endian throughout, as dmlc::Stream writes it on every platform MXNet ships for):

file::

    uint64  0x112                       kMXAPINDArrayListMagic
    uint64  0                           reserved
    uint64  n                           number of arrays, then n x <array>
    uint64  m                           number of names (0 for a list, n for a dict), then m x <string>

string: ``uint64 length`` + UTF-8 bytes.

array (V2, magic 0xF993FAC9, what MXNet >= 1.0 writes)::

    uint32  0xF993FAC9
    int32   storage type                0 dense, 1 row_sparse, 2 csr
    [shape  storage shape]              sparse only
    shape   shape                       ndim 0: an empty (none) array, nothing follows
    int32   device type, int32 device id    (1, 0) = cpu(0)
    int32   dtype flag                  see DTYPES
    [sparse only: per aux array (row_sparse: indices; csr: indptr, indices): int32 dtype flag, shape]
    data    prod(storage shape or shape) values
    [sparse only: the aux arrays' values]

shape: ``uint32 ndim`` + ndim x int64. V1 arrays (magic 0xF993FAC8) are the V2 layout without the storage
type (always dense). Older still, the first uint32 is ndim itself and the dims are uint32.
"""

from __future__ import annotations

import io
import os
import struct
from typing import BinaryIO, Mapping, Sequence, Union

import numpy as np

LIST_MAGIC = 0x112
V1_MAGIC = 0xF993FAC8
V2_MAGIC = 0xF993FAC9

DEFAULT_STORAGE, ROW_SPARSE_STORAGE, CSR_STORAGE = 0, 1, 2
CPU = 1

# mshadow type flags
DTYPES: dict[int, np.dtype] = {
    0: np.dtype("<f4"), 1: np.dtype("<f8"), 2: np.dtype("<f2"), 3: np.dtype("u1"), 4: np.dtype("<i4"),
    5: np.dtype("i1"), 6: np.dtype("<i8"), 7: np.dtype("?"), 8: np.dtype("<i2"), 9: np.dtype("<u2"),
    10: np.dtype("<u4"), 11: np.dtype("<u8"),
}
_FLAGS = {np.dtype(dt.type): flag for flag, dt in DTYPES.items()}

Arrays = Union[list, dict]


class NDArrayFormatError(ValueError):
    """The bytes are not an MXNet NDArray file (or it is truncated or uses an unknown dtype)."""


def is_ndarray_file(data: bytes) -> bool:
    return len(data) >= 16 and struct.unpack_from("<QQ", data, 0) == (LIST_MAGIC, 0)


# ------------------------------------------------------------------ reading
class _Reader:
    def __init__(self, data: bytes):
        self.buf = memoryview(data)
        self.pos = 0

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.buf):
            raise NDArrayFormatError(f"truncated NDArray file: wanted {n} bytes at offset {self.pos}, "
                                     f"{len(self.buf) - self.pos} left")
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str):
        size = struct.calcsize(fmt)
        return struct.unpack(fmt, self.take(size))

    def u32(self) -> int:
        return self.unpack("<I")[0]

    def i32(self) -> int:
        return self.unpack("<i")[0]

    def u64(self) -> int:
        return self.unpack("<Q")[0]

    def shape(self) -> tuple[int, ...]:
        ndim = self.i32()
        if ndim < 0:  # -1: unknown shape (MXNet >= 1.5 numpy semantics); no dims follow
            return ()
        if ndim > 32:
            raise NDArrayFormatError(f"implausible ndim {ndim} at offset {self.pos - 4}")
        return tuple(int(d) for d in self.unpack(f"<{ndim}q")) if ndim else ()

    def values(self, flag: int, shape: tuple[int, ...]) -> np.ndarray:
        dt = DTYPES.get(flag)
        if dt is None:
            raise NDArrayFormatError(f"unsupported NDArray dtype flag {flag}")
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        raw = self.take(count * dt.itemsize)
        return np.frombuffer(raw, dtype=dt).reshape(shape).astype(dt.newbyteorder("="), copy=True)


def _read_array(r: _Reader) -> np.ndarray | None:
    magic = r.u32()
    if magic == V2_MAGIC:
        stype = r.i32()
        if stype not in (DEFAULT_STORAGE, ROW_SPARSE_STORAGE, CSR_STORAGE):
            raise NDArrayFormatError(f"unknown NDArray storage type {stype}")
        n_aux = {DEFAULT_STORAGE: 0, ROW_SPARSE_STORAGE: 1, CSR_STORAGE: 2}[stype]
        sshape = r.shape() if n_aux else None
        shape = r.shape()
    elif magic == V1_MAGIC:
        stype, n_aux, sshape = DEFAULT_STORAGE, 0, None
        shape = r.shape()
    else:  # legacy: the magic is ndim, dims are uint32
        if magic > 32:
            raise NDArrayFormatError(f"bad NDArray magic 0x{magic:08x}")
        stype, n_aux, sshape = DEFAULT_STORAGE, 0, None
        shape = tuple(int(d) for d in r.unpack(f"<{magic}I")) if magic else ()
    if not shape:
        return None
    r.unpack("<ii")  # context (device type, device id): always loaded onto the CPU here
    flag = r.i32()
    aux = []
    for _ in range(n_aux):
        aux.append((r.i32(), r.shape()))
    data = r.values(flag, sshape if n_aux else shape)
    if not n_aux:
        return data
    aux_values = [r.values(f, s) for f, s in aux]
    dense = np.zeros(shape, dtype=data.dtype)
    if stype == ROW_SPARSE_STORAGE:
        dense[aux_values[0].astype(np.int64)] = data
    else:  # csr: aux 0 = indptr, aux 1 = indices
        indptr, indices = aux_values[0].astype(np.int64), aux_values[1].astype(np.int64)
        for row in range(shape[0]):
            lo, hi = indptr[row], indptr[row + 1]
            dense[row, indices[lo:hi]] = data[lo:hi]
    return dense


def loads(data: bytes) -> Arrays:
    """Parse an ``mx.nd.save`` file: a list of numpy arrays, or a dict when the file names them.
    Sparse arrays come back dense; an empty (none) NDArray comes back as None."""
    r = _Reader(bytes(data))
    if len(data) < 16:
        raise NDArrayFormatError("not an MXNet NDArray file: shorter than its 16-byte header")
    header, _reserved = r.unpack("<QQ")
    if header != LIST_MAGIC:
        raise NDArrayFormatError(f"not an MXNet NDArray file: header 0x{header:x}, expected 0x{LIST_MAGIC:x}")
    n = r.u64()
    if n > len(data):
        raise NDArrayFormatError(f"implausible array count {n}")
    arrays = [_read_array(r) for _ in range(n)]
    m = r.u64()
    if m not in (0, n):
        raise NDArrayFormatError(f"NDArray file has {n} arrays but {m} names")
    names = []
    for _ in range(m):
        length = r.u64()
        names.append(bytes(r.take(length)).decode("utf-8"))
    if r.pos != len(r.buf):
        raise NDArrayFormatError(f"{len(r.buf) - r.pos} unexpected trailing bytes after the NDArray list")
    return dict(zip(names, arrays)) if m else arrays


def load(file: Union[str, "os.PathLike[str]", BinaryIO]) -> Arrays:
    if hasattr(file, "read"):
        return loads(file.read())  # type: ignore[union-attr]
    with open(file, "rb") as f:
        return loads(f.read())


# ------------------------------------------------------------------ writing
def _flag(dtype: np.dtype) -> int:
    dt = np.dtype(dtype)
    flag = _FLAGS.get(np.dtype(dt.type))
    if flag is None:
        raise NDArrayFormatError(f"MXNet has no NDArray dtype for {dt}")
    return flag


def _write_array(out: BinaryIO, arr) -> None:
    a = np.asarray(arr)
    if a.ndim == 0:
        a = a.reshape(1)  # MXNet (legacy semantics) has no 0-d arrays: ndim 0 means "none"
    flag = _flag(a.dtype)
    out.write(struct.pack("<Ii", V2_MAGIC, DEFAULT_STORAGE))
    out.write(struct.pack(f"<i{a.ndim}q", a.ndim, *a.shape))
    out.write(struct.pack("<iii", CPU, 0, flag))
    out.write(np.ascontiguousarray(a, dtype=DTYPES[flag]).tobytes())


def dumps(arrays: Union[Sequence, Mapping[str, object]]) -> bytes:
    """Serialise a list (or a name -> array dict) of numpy arrays the way ``mx.nd.save`` does (V2, dense,
    cpu(0)). Dict order is kept."""
    if isinstance(arrays, np.ndarray):
        arrays = [arrays]
    if isinstance(arrays, Mapping):
        names, values = [str(k) for k in arrays], list(arrays.values())
    else:
        names, values = [], list(arrays)
    out = io.BytesIO()
    out.write(struct.pack("<QQQ", LIST_MAGIC, 0, len(values)))
    for v in values:
        _write_array(out, v)
    out.write(struct.pack("<Q", len(names)))
    for name in names:
        raw = name.encode("utf-8")
        out.write(struct.pack("<Q", len(raw)))
        out.write(raw)
    return out.getvalue()


def save(file: Union[str, "os.PathLike[str]", BinaryIO], arrays: Union[Sequence, Mapping[str, object]]) -> None:
    data = dumps(arrays)
    if hasattr(file, "write"):
        file.write(data)  # type: ignore[union-attr]
    else:
        with open(file, "wb") as f:
            f.write(data)

