"""Reading an XGBoost model in any form SageMaker's XGBoost containers have written, by sniffing its bytes.

* JSON (``{"learner": ...``) and UBJSON (``{`` then a UBJSON type marker): ``Booster.save_model`` /
  ``save_raw("json" | "ubj")``; 1.x containers from 1.3 on and Shipyard write these.
* pickle (``\\x80`` + protocol) and joblib (pickle, or zlib / gzip / bz2 / xz / lz4 compressed): the 0.90 and
  1.0-1.2 containers pickle the Booster as ``xgboost-model``; users also pickle an ``XGBClassifier`` /
  ``XGBRegressor`` (its Booster is used).
* XGBoost's legacy binary format (``binf`` header, or the headerless pre-1.0 layout), alone or inside a
  Booster pickled by xgboost 0.90 (the state is the binary model) or 1.0 - 1.2 (``CONFIG-offset:``, the
  binary model, then its configuration): xgboost 2 and later cannot read it, so ``legacy_binary`` converts it
  to the JSON model format first. Shipyard's own pre-1.3 training writes these pickles too, for the images'
  xgboost to read (``train.model_bytes``).

``load_booster`` raises ValidationError naming the file and the reason when a model is present but unusable.
"""

from __future__ import annotations

import io
import pickle
import struct
from pathlib import Path

from ...errors import ValidationError

MODEL_FILE = "xgboost-model"

_COMPRESSED = {b"\x78": "zlib", b"\x1f\x8b": "gzip", b"BZh": "bz2", b"\xfd7zXZ": "xz", b"\x04\x22\x4d\x18": "lz4"}
_UBJ_MARKERS = b"iUIlLdDSHTFZN$#{[C"


def sniff(data: bytes) -> str:
    """json | ubj | pickle | joblib-<codec> | legacy-binary | unknown."""
    head = data[:16]
    stripped = data[:64].lstrip()
    if stripped.startswith(b"{"):
        after = stripped[1:2]
        if after in (b'"', b"}", b"") or after.isspace():
            return "json"
        if after and after in _UBJ_MARKERS:
            return "ubj"
    if head[:1] == b"\x80" and len(head) > 1 and 2 <= head[1] <= 5:
        return "pickle"
    for magic, codec in _COMPRESSED.items():
        if head.startswith(magic) and (codec != "zlib" or (len(head) > 1 and (head[0] * 256 + head[1]) % 31 == 0)):
            return f"joblib-{codec}"
    if head.startswith(b"binf") or _looks_like_old_binary(data):
        return "legacy-binary"
    return "unknown"


def _looks_like_old_binary(data: bytes) -> bool:
    """Pre-1.0 binary models start with LearnerModelParam (base_score f32, num_feature u32, num_class i32, ...)
    and then the objective's name as a length-prefixed string such as ``reg:linear``."""
    if len(data) < 136 + 8:
        return False
    try:
        n = struct.unpack_from("<Q", data, 136)[0]
        if not 0 < n < 64:
            return False
        name = data[144:144 + n].decode("ascii")
    except (struct.error, UnicodeDecodeError):
        return False
    return ":" in name or name in ("gbtree", "gblinear", "dart")


def _from_object(obj, path: Path, kind: str):
    import xgboost as xgb

    if isinstance(obj, xgb.Booster):
        return obj
    get = getattr(obj, "get_booster", None)
    if callable(get):
        return get()
    raise ValidationError(f"XGBoost model file {path.name} is a {kind} of a {type(obj).__module__}."
                          f"{type(obj).__name__}, not an xgboost Booster (or XGBModel).")


def booster_from_bytes(data: bytes, path: Path):
    """A Booster from one file's bytes; ValidationError saying which format was seen and why it failed."""
    import xgboost as xgb

    kind = sniff(data)
    size = f"{len(data)} bytes"
    if kind in ("json", "ubj"):
        booster = xgb.Booster()
        try:
            booster.load_model(bytearray(data))
        except xgb.core.XGBoostError as e:
            raise ValidationError(f"Could not load XGBoost model {path.name} ({kind.upper()}, {size}): "
                                  f"{_first_line(e)}") from None
        return booster
    if kind == "pickle" or kind.startswith("joblib"):
        try:
            obj = _unpickle(data, kind)
        except Exception as e:  # noqa: BLE001 - unpickling can fail in any way; the user sees why
            first = e
            try:  # a Booster pickled by an older xgboost (0.90 containers): its state is a legacy binary model
                obj = _unpickle(data, kind, legacy=True)
            except Exception:  # noqa: BLE001
                obj = None
            if obj is None or _legacy_state(obj) is None:
                raise ValidationError(f"Could not load XGBoost model {path.name} ({kind}, {size}): "
                                      f"{type(first).__name__}: {_first_line(first)}") from None
        state = _legacy_state(obj)
        if state is not None:
            raw = state.raw()
            if raw is None:
                raise ValidationError(f"Could not load XGBoost model {path.name} ({kind}, {size}): the pickled "
                                      "Booster holds no model (it was pickled before training).")
            return _booster_from_raw(raw, path, f"{kind} of an older xgboost's Booster, {size}")
        return _from_object(obj, path, kind)
    if kind == "legacy-binary":
        return _booster_from_raw(data, path, f"legacy binary, {size}")
    raise ValidationError(f"Could not load XGBoost model {path.name} ({size}): not a JSON, UBJ, pickle, joblib "
                          f"or legacy binary XGBoost model (it starts with {data[:8]!r}).")


def _unpickle(data: bytes, kind: str, legacy: bool = False):
    if legacy:
        return _LegacyUnpickler(io.BytesIO(_decompressed(data, kind))).load()
    try:
        import joblib
    except ImportError:  # pragma: no cover - joblib ships with scikit-learn
        joblib = None
    if joblib is not None:
        return joblib.load(io.BytesIO(data))
    if kind != "pickle":
        raise ValidationError(f"a {kind} file needs joblib to read")
    return pickle.loads(data)


def _decompressed(data: bytes, kind: str) -> bytes:
    codec = kind.split("-", 1)[1] if "-" in kind else ""
    if codec == "zlib":
        import zlib

        # joblib's zlib files are a stream of one or more zlib objects
        out, rest = b"", data
        while rest:
            d = zlib.decompressobj()
            out += d.decompress(rest)
            rest = d.unused_data
        return out
    if codec == "gzip":
        import gzip

        return gzip.decompress(data)
    if codec == "bz2":
        import bz2

        return bz2.decompress(data)
    if codec == "xz":
        import lzma

        return lzma.decompress(data)
    return data


class _LegacyBoosterState:
    """Stands in for ``xgboost.core.Booster`` while unpickling an old pickle; keeps the pickled state."""

    def __setstate__(self, state):
        self.state = state

    def raw(self) -> bytes | None:
        state = getattr(self, "state", None)
        handle = state.get("handle") if isinstance(state, dict) else None
        return bytes(handle) if handle is not None else None


class _LegacyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if name == "Booster" and module.startswith("xgboost"):
            return _LegacyBoosterState
        return super().find_class(module, name)


def _legacy_state(obj) -> _LegacyBoosterState | None:
    if isinstance(obj, _LegacyBoosterState):
        return obj
    inner = getattr(obj, "__dict__", {}).get("_Booster")
    return inner if isinstance(inner, _LegacyBoosterState) else None


def _booster_from_raw(raw: bytes, path: Path, what: str):
    """A Booster from raw model bytes: what xgboost reads itself, else a converted legacy binary model."""
    import xgboost as xgb

    from . import legacy_binary

    booster = xgb.Booster()
    try:
        booster.load_model(bytearray(raw))
        return booster
    except Exception as e:  # noqa: BLE001 - XGBoostError, or a UnicodeDecodeError of its message
        native = _first_line(e)
    try:
        converted = legacy_binary.convert(raw)
    except legacy_binary.LegacyFormatError as e:
        raise ValidationError(f"Could not load XGBoost model {path.name} ({what}): xgboost {xgb.__version__} "
                              f"cannot read it ({native}) and it does not convert from XGBoost's legacy binary "
                              f"format: {e}.") from None
    booster = xgb.Booster()
    try:
        booster.load_model(bytearray(converted))
    except xgb.core.XGBoostError as e:
        raise ValidationError(f"Could not load XGBoost model {path.name} ({what}): converted from XGBoost's "
                              f"legacy binary format, xgboost {xgb.__version__} still rejects it: "
                              f"{_first_line(e)}") from None
    return booster


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def load_booster(model_dir: str | Path):
    """The model in ``model_dir``: ``xgboost-model`` if present, otherwise the first other file that holds an
    XGBoost model (SageMaker's container loads whatever file the archive has)."""
    folder = Path(model_dir)
    preferred = folder / MODEL_FILE
    if preferred.is_file():
        return booster_from_bytes(preferred.read_bytes(), preferred)
    others = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")) \
        if folder.is_dir() else []
    reasons = []
    for path in others:
        data = path.read_bytes()
        if sniff(data) == "unknown":
            reasons.append(f"{path.name}: not a model")
            continue
        try:
            return booster_from_bytes(data, path)
        except ValidationError as e:
            reasons.append(e.message if hasattr(e, "message") and e.message else str(e))
    detail = f" Tried {'; '.join(reasons)}." if reasons else ""
    raise ValidationError(f"No XGBoost model found in {model_dir} (expected a file named {MODEL_FILE}).{detail}")
