"""What a built-in algorithm is: hyperparameter rules as data, its metrics, a training program, a handler.

Following scikit-learn's contract, declaring an algorithm does no work: the server reads ``hyperparameters``
to validate a CreateTrainingJob request before anything starts, and ``metrics`` to fill
``FinalMetricDataList`` and to check a tuning objective. Training runs ``python -m <training_module>`` under
the ``/opt/ml`` contract exactly like a user's script (see :mod:`.env`); serving loads ``handler`` in the
model server.
"""

from __future__ import annotations

import difflib
import importlib.util
import math
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import ValidationError

_TRUE = {"true", "1", "yes", "t"}
_FALSE = {"false", "0", "no", "f"}


@dataclass(frozen=True)
class Param:
    """One hyperparameter rule. ``kind``: int | float | str | bool | list (comma-separated or JSON list)."""

    kind: str
    default: Any = None
    required: bool = False
    min: float | None = None
    max: float | None = None
    choices: tuple | None = None
    min_exclusive: bool = False
    max_exclusive: bool = False
    allow_auto: bool = False  # accepts the literal "auto" besides typed values
    description: str = ""  # documentation, e.g. that a value is accepted for compatibility but has no effect

    def allowed(self) -> str:
        if self.choices:
            text = "one of " + ", ".join(str(c) for c in self.choices)
            return ("a list, each " + text) if self.kind == "list" else text
        lo = "-inf" if self.min is None else self.min
        hi = "+inf" if self.max is None else self.max
        left = "(" if self.min_exclusive or self.min is None else "["
        right = ")" if self.max_exclusive or self.max is None else "]"
        text = f"{self.kind} in {left}{lo}, {hi}{right}"
        return text + (" or 'auto'" if self.allow_auto else "")

    def parse(self, name: str, raw: Any) -> Any:
        text = str(raw).strip()
        if text.startswith('"') and text.endswith('"') and len(text) >= 2:
            text = text[1:-1]  # framework SDKs json.dumps values
        if self.allow_auto and text.lower() == "auto":
            return "auto"
        try:
            value: Any
            if self.kind == "int":
                f = float(text)
                if not f.is_integer():
                    raise ValueError
                value = int(f)
            elif self.kind == "float":
                value = float(text)
                if math.isnan(value):
                    raise ValueError
            elif self.kind == "bool":
                low = text.lower()
                if low not in _TRUE | _FALSE:
                    raise ValueError
                value = low in _TRUE
            elif self.kind == "list":
                value = [v.strip().strip("'\"") for v in text.strip("[]").split(",") if v.strip()]
            else:
                value = text
        except ValueError:
            raise ValidationError(
                f"Hyperparameter '{name}' has value '{raw}', which is not a valid {self.kind}; "
                f"expected {self.allowed()}.") from None
        if self.choices is not None:
            items = value if isinstance(value, list) else [value]
            for item in items:
                if item not in self.choices:
                    hint = did_you_mean(str(item), [str(c) for c in self.choices])
                    raise ValidationError(
                        f"Hyperparameter '{name}' has value '{raw}'; expected {self.allowed()}.{hint}")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            too_low = self.min is not None and (value <= self.min if self.min_exclusive else value < self.min)
            too_high = self.max is not None and (value >= self.max if self.max_exclusive else value > self.max)
            if too_low or too_high:
                raise ValidationError(
                    f"Hyperparameter '{name}' has value '{raw}', out of range; expected {self.allowed()}.")
        return value


def did_you_mean(word: str, candidates, quote: str = "") -> str:
    """" Did you mean X?" for the closest candidate (case-insensitive), or "" when none is close."""
    by_lower: dict[str, str] = {}
    for c in candidates:
        by_lower.setdefault(str(c).lower(), str(c))
    match = difflib.get_close_matches(word.lower(), list(by_lower), n=1)
    return f" Did you mean {quote}{by_lower[match[0]]}{quote}?" if match else ""


@dataclass
class SampleRequest:
    """One inference request of a :class:`SampleData`: a body, how many answers its response holds, and the
    same instances one per request (``singles``, for the suite's "a batch answers as one by one" check)."""

    __test__ = False

    content_type: str
    body: bytes
    answers: int
    singles: tuple[bytes, ...] = ()


@dataclass
class SampleData:
    """An algorithm's own tiny data set, for algorithms whose data is not a feature matrix (text, pairs, time
    series, images). ``channels``: channel -> ({file name: bytes}, ContentType); ``hyperparameters`` are added
    to the test problem's."""

    __test__ = False

    channels: dict[str, tuple[dict[str, bytes], str]]
    requests: list[SampleRequest]
    hyperparameters: dict[str, str] = field(default_factory=dict)


@dataclass
class TestProblem:
    """A tiny problem the algorithm conformance suite (shipyard.testing.algorithm) trains on.

    ``kind`` picks the generated data: binary | multiclass | regression | clusters | entity_ip, or ``sample``:
    the algorithm makes its own data with ``sample`` ("module:function", called as ``function(content_type)``
    for each of the algorithm's ``input_content_types``, returning a :class:`SampleData`; imported only by the
    suite, so a declaration stays free of heavy imports).
    Channels outside ``labelled_channels`` are written without labels (CSV ``label_size=0``).
    ``output_key`` "" means the response is a top-level JSON list (BlazingText, image classification).
    """

    __test__ = False  # not a pytest test class

    kind: str
    hyperparameters: dict[str, str]
    channels: tuple[str, ...] = ("train",)
    labelled_channels: tuple[str, ...] = ("train", "validation", "test")
    n_rows: int = 300
    n_features: int = 6
    metrics: tuple[str, ...] = ()          # metric names the run must log (keys of Algorithm.metrics)
    output_key: str = "predictions"        # top-level key of the JSON response
    output_fields: tuple[str, ...] = ()    # keys of each per-row response object
    sample: str = ""                       # kind "sample": "module:function" making a SampleData


@dataclass
class Algorithm:
    """A built-in algorithm's declaration. Instances live in each algorithm module as ``ALGORITHM``."""

    name: str                                  # short name, e.g. "xgboost"
    image_repos: tuple[str, ...]               # ECR repository names that select it
    training_module: str                       # run as ``python -m``
    handler: str                               # "module:Class" implementing InferenceHandler
    hyperparameters: dict[str, Param]
    metrics: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (regex, Maximize|Minimize)
    input_content_types: tuple[str, ...] = ("text/csv",)
    supports_pipe: bool = False
    default_accept: str = "application/json"
    # a check across hyperparameters (e.g. num_class needed for multi:softmax); raises ValidationError
    cross_check: Callable[[dict[str, Any]], None] | None = None
    # Added for the conformance suite (all optional; defaults keep older declarations valid):
    supports_sparse: bool = False              # sparse RecordIO-protobuf (and libsvm, if listed) training data
    inference_content_types: tuple[str, ...] = ("text/csv",)     # request Content-Types the handler decodes
    inference_accepts: tuple[str, ...] = ("application/json",)   # response types the handler encodes
    test_problem: TestProblem | None = None    # None: the suite checks hyperparameters only
    # Python modules the training program and handler need beyond the core install (the neural built-ins need
    # "torch"), and the extra that installs them: a job is refused at Create time when one is missing.
    requires: tuple[str, ...] = ()
    extra: str = ""
    gpu_capable: bool = False                  # trains on CUDA when the instance type has GPUs and torch sees one

    def check_installed(self) -> None:
        """Raise ValidationError naming the extra to install when a module in ``requires`` is missing."""
        missing = [m for m in self.requires if not _installed(m)]
        if missing:
            how = f"pip install 'shipyard[{self.extra}]'" if self.extra else f"pip install {' '.join(missing)}"
            raise ValidationError(
                f"The {self.name} algorithm needs {', '.join(missing)}, which this Shipyard server does not have: "
                f"install it with {how} and restart the server.")

    def validate(self, raw: dict[str, str]) -> dict[str, Any]:
        """Parse and check user hyperparameters; return the full set with defaults filled in.

        Keys starting with ``sagemaker_`` or ``_`` are platform keys (script mode, tuning) and pass through
        unchecked. Unknown keys are an error that names the known ones.
        """
        out: dict[str, Any] = {}
        for key, value in raw.items():
            if key.startswith(("sagemaker_", "_")):
                continue
            rule = self.hyperparameters.get(key)
            if rule is None:
                hint = did_you_mean(key, self.hyperparameters, quote="'")
                if hint:
                    raise ValidationError(
                        f"Hyperparameter '{key}' is not supported by the {self.name} algorithm.{hint}")
                known = ", ".join(sorted(self.hyperparameters))
                raise ValidationError(
                    f"Hyperparameter '{key}' is not supported by the {self.name} algorithm; known ones: {known}.")
            out[key] = rule.parse(key, value)
        missing = [k for k, r in self.hyperparameters.items() if r.required and k not in out]
        if missing:
            raise ValidationError(
                f"The {self.name} algorithm requires hyperparameter(s) {', '.join(sorted(missing))}.")
        for key, rule in self.hyperparameters.items():
            if key not in out and rule.default is not None:
                out[key] = rule.default
        if self.cross_check is not None:
            self.cross_check(out)
        return out


def _installed(module: str) -> bool:
    if module not in _INSTALLED:
        _INSTALLED[module] = importlib.util.find_spec(module) is not None
    return _INSTALLED[module]


_INSTALLED: dict[str, bool] = {}


class InferenceHandler:
    """What the model server calls, mirroring the inference toolkit's model_fn/input_fn/predict_fn/output_fn.

    Subclasses override what they need. ``decode``/``encode`` raise ValidationError (or ValueError) for
    bad payloads; the model server turns that into a 4xx carrying the message.
    """

    default_accept = "application/json"

    def __init__(self, model_dir: str):
        self.model_dir = model_dir

    def decode(self, body: bytes, content_type: str) -> Any:
        raise NotImplementedError

    def predict(self, data: Any) -> Any:
        raise NotImplementedError

    def encode(self, prediction: Any, accept: str) -> tuple[bytes, str]:
        raise NotImplementedError

    def invoke(self, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]:
        return self.encode(self.predict(self.decode(body, content_type)), accept or self.default_accept)
