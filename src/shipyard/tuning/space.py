"""The search space of a tuning job: SageMaker's ParameterRanges, mapped to and from the unit cube.

Every strategy works in ``[0, 1]^d`` and leaves the SageMaker details here: a continuous or integer range
takes one dimension, warped by its ScalingType (Linear, Logarithmic, ReverseLogarithmic; Auto picks
Logarithmic when the range spans two decades or more of positive values, as SageMaker's Auto does for
ranges where that makes sense, else Linear); a categorical range takes one dimension per value (one-hot),
decoded by argmax, so a uniform point in the cube gives each value an equal chance and a Gaussian process
does not invent an order between values.

Hyperparameter values are strings on the wire (``"0.1"``, ``"7"``), and stay strings here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

from ..errors import ValidationError

MAX_TUNABLE = 30
SCALING_TYPES = ("Auto", "Linear", "Logarithmic", "ReverseLogarithmic")


def _num(name: str, field_name: str, raw: Any) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ValidationError(
            f"The {field_name} '{raw}' of hyperparameter range '{name}' is not a number.") from None
    if math.isnan(value) or math.isinf(value):
        raise ValidationError(f"The {field_name} '{raw}' of hyperparameter range '{name}' must be finite.")
    return value


@dataclass
class NumericRange:
    """An Integer or Continuous range; ``scaling`` is resolved (never Auto) after construction."""

    name: str
    low: float
    high: float
    integer: bool
    scaling: str = "Linear"

    @classmethod
    def from_aws(cls, spec: dict, integer: bool) -> "NumericRange":
        name = spec.get("Name") or ""
        if not name:
            raise ValidationError("Every hyperparameter range needs a Name.")
        low = _num(name, "MinValue", spec.get("MinValue"))
        high = _num(name, "MaxValue", spec.get("MaxValue"))
        if integer and (not low.is_integer() or not high.is_integer()):
            raise ValidationError(
                f"The IntegerParameterRange '{name}' needs integer MinValue and MaxValue; got "
                f"'{spec.get('MinValue')}' and '{spec.get('MaxValue')}'.")
        if low > high:
            raise ValidationError(
                f"The MinValue ({spec.get('MinValue')}) of hyperparameter range '{name}' is greater than its "
                f"MaxValue ({spec.get('MaxValue')}).")
        scaling = spec.get("ScalingType") or "Auto"
        if scaling not in SCALING_TYPES:
            raise ValidationError(
                f"ScalingType '{scaling}' of hyperparameter range '{name}' is not one of {', '.join(SCALING_TYPES)}.")
        if scaling == "Logarithmic" and low <= 0:
            raise ValidationError(
                f"Hyperparameter range '{name}' uses Logarithmic scaling, which needs MinValue > 0; "
                f"got MinValue {spec.get('MinValue')}.")
        if scaling == "ReverseLogarithmic":
            if integer:
                raise ValidationError(
                    f"ReverseLogarithmic scaling is only valid for continuous ranges; '{name}' is an integer range.")
            if low < 0 or high >= 1:
                raise ValidationError(
                    f"Hyperparameter range '{name}' uses ReverseLogarithmic scaling, which needs "
                    f"0 <= MinValue <= MaxValue < 1; got [{spec.get('MinValue')}, {spec.get('MaxValue')}].")
        if scaling == "Auto":
            scaling = "Logarithmic" if low > 0 and high / low >= 100 else "Linear"
        return cls(name=name, low=low, high=high, integer=integer, scaling=scaling)

    # --- warping: value <-> t in [0, 1] ---
    def _bounds(self) -> tuple[float, float]:
        # integers sample the widened interval [low-0.5, high+0.5] so the end values are as likely as others
        if self.integer and self.scaling == "Linear":
            return self.low - 0.4999, self.high + 0.4999
        return self.low, self.high

    def to_unit(self, value: float) -> float:
        lo, hi = self._bounds()
        if hi == lo:
            return 0.5
        if self.scaling == "Logarithmic":
            t = (math.log(value) - math.log(lo)) / (math.log(hi) - math.log(lo))
        elif self.scaling == "ReverseLogarithmic":
            t = 1 - (math.log(1 - value) - math.log(1 - hi)) / (math.log(1 - lo) - math.log(1 - hi))
        else:
            t = (value - lo) / (hi - lo)
        return min(1.0, max(0.0, t))

    def from_unit(self, t: float) -> float:
        t = min(1.0, max(0.0, float(t)))
        lo, hi = self._bounds()
        if self.scaling == "Logarithmic":
            value = math.exp(math.log(lo) + t * (math.log(hi) - math.log(lo)))
        elif self.scaling == "ReverseLogarithmic":
            value = 1 - math.exp(math.log(1 - hi) + (1 - t) * (math.log(1 - lo) - math.log(1 - hi)))
        else:
            value = lo + t * (hi - lo)
        if self.integer:
            value = float(round(value))
        return min(self.high, max(self.low, value))

    def format(self, value: float) -> str:
        return str(int(round(value))) if self.integer else f"{float(value):.10g}"


@dataclass
class CategoricalRange:
    name: str
    values: list[str]

    @classmethod
    def from_aws(cls, spec: dict) -> "CategoricalRange":
        name = spec.get("Name") or ""
        if not name:
            raise ValidationError("Every hyperparameter range needs a Name.")
        values = [str(v) for v in spec.get("Values") or []]
        if not 1 <= len(values) <= 30:
            raise ValidationError(
                f"CategoricalParameterRange '{name}' needs between 1 and 30 Values; got {len(values)}.")
        if len(set(values)) != len(values):
            raise ValidationError(f"CategoricalParameterRange '{name}' lists a value more than once.")
        return cls(name=name, values=values)


@dataclass
class SearchSpace:
    numeric: list[NumericRange] = field(default_factory=list)
    categorical: list[CategoricalRange] = field(default_factory=list)

    @classmethod
    def from_aws(cls, ranges: dict | None, static: dict | None = None, strategy: str = "Bayesian") -> "SearchSpace":
        """Build and validate from ``HyperParameterRanges``; ``static`` must not repeat a tuned name."""
        ranges = ranges or {}
        space = cls(
            numeric=[NumericRange.from_aws(r, integer=True) for r in ranges.get("IntegerParameterRanges") or []]
            + [NumericRange.from_aws(r, integer=False) for r in ranges.get("ContinuousParameterRanges") or []],
            categorical=[CategoricalRange.from_aws(r) for r in ranges.get("CategoricalParameterRanges") or []],
        )
        names = space.names
        if len(names) > MAX_TUNABLE:
            raise ValidationError(
                f"A tuning job can tune at most {MAX_TUNABLE} hyperparameters; this one has {len(names)}.")
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValidationError(f"Hyperparameter(s) {', '.join(dup)} appear in more than one range.")
        clash = sorted(set(names) & set(static or {}))
        if clash:
            raise ValidationError(
                f"Hyperparameter(s) {', '.join(clash)} are both static and tuned; a hyperparameter can be only one.")
        if strategy == "Grid" and space.numeric:
            raise ValidationError(
                "The Grid strategy supports only CategoricalParameterRanges; remove the Integer/Continuous range(s) "
                + ", ".join(r.name for r in space.numeric) + " or use another strategy.")
        return space

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.numeric] + [r.name for r in self.categorical]

    @property
    def dim(self) -> int:
        return len(self.numeric) + sum(len(c.values) for c in self.categorical)

    def grid_size(self) -> int:
        return math.prod(len(c.values) for c in self.categorical) if self.categorical else 1

    def decode(self, x: Sequence[float]) -> dict[str, str]:
        """A point of the unit cube -> hyperparameter strings."""
        out: dict[str, str] = {}
        i = 0
        for r in self.numeric:
            out[r.name] = r.format(r.from_unit(x[i]))
            i += 1
        for c in self.categorical:
            block = list(x[i:i + len(c.values)])
            out[c.name] = c.values[max(range(len(block)), key=block.__getitem__)]
            i += len(c.values)
        return out

    def encode(self, params: dict[str, str]) -> list[float]:
        """Hyperparameter strings -> the unit cube (a value outside the range is clipped; unknown -> middle)."""
        x: list[float] = []
        for r in self.numeric:
            try:
                x.append(r.to_unit(float(params[r.name])))
            except (KeyError, TypeError, ValueError):
                x.append(0.5)
        for c in self.categorical:
            v = params.get(c.name)
            x.extend(1.0 if v == val else 0.0 for val in c.values)
        return x

    def contains(self, params: dict[str, Any]) -> bool:
        """Whether ``params`` names every tuned hyperparameter with an in-range value (for warm starts)."""
        for r in self.numeric:
            try:
                v = float(params[r.name])
            except (KeyError, TypeError, ValueError):
                return False
            if not r.low - 1e-9 <= v <= r.high + 1e-9:
                return False
        return all(str(params.get(c.name)) in c.values for c in self.categorical)

    def canonical(self, params: dict[str, Any]) -> dict[str, str]:
        """The tuned subset of ``params``, re-formatted so equal points compare equal (idempotent)."""
        out: dict[str, str] = {}
        for r in self.numeric:
            try:
                out[r.name] = r.format(float(params[r.name]))
            except (KeyError, TypeError, ValueError):
                out[r.name] = str(params.get(r.name))
        for c in self.categorical:
            out[c.name] = str(params.get(c.name))
        return out
