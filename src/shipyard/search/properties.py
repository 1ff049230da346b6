"""Which property names a Search may filter or sort on, read from botocore's model of the Search record.

A property is a dotted path into the record shape (``TrainingJob``, ``TrialComponent``, ...): a structure's
member, any key of a map (``HyperParameters.eta``), a list's element members (``InputDataConfig.ChannelName``).
Besides the model's members, SageMaker accepts the by-name views ``Metrics.<name>`` (a training job's final
metrics; a trial component's ``Metrics.<name>.<statistic>``) and ``Tags.<key>``. Anything else is unknown,
which Search answers with a ValidationException naming the property.
"""

from __future__ import annotations

import functools

from botocore.model import ListShape, MapShape, Shape, StructureShape

from ..errors import ValidationError
from ..wire.models import service_model
from .types import SearchType

# Record members whose keys are names the user chose (metrics, tags): anything below them is accepted.
_BY_NAME = ("Metrics", "Tags")


@functools.lru_cache(maxsize=None)
def _shape(name: str) -> Shape:
    return service_model("sagemaker").shape_for(name)


def _walk(shape: Shape, parts: list[str]) -> bool:
    for part in parts:
        while isinstance(shape, ListShape):
            shape = shape.member
        if isinstance(shape, MapShape):
            shape = shape.value
            continue
        if not isinstance(shape, StructureShape) or part not in shape.members:
            return False
        shape = shape.members[part]
    return True


@functools.lru_cache(maxsize=4096)
def is_known(shape_name: str, path: str) -> bool:
    parts = path.split(".")
    if not all(parts):
        return False
    if parts[0] in _BY_NAME and len(parts) > 1:
        return True
    return _walk(_shape(shape_name), parts)


# A trial component metric's statistics as stored (TrialComponentMetricSummary's members), by lower-case name:
# AWS accepts ``metrics.<name>.max`` as well as ``Metrics.<name>.Max`` (its own Experiments notebooks sort so).
_STATISTICS = {s.lower(): s for s in ("Max", "Min", "Last", "Count", "Avg", "StdDev")}


def canonical(path: str) -> str:
    """``path`` with the by-name views spelled as stored: ``metrics.x.max`` -> ``Metrics.x.Max``."""
    head, _, rest = path.partition(".")
    by_name = {v.lower(): v for v in _BY_NAME}.get(head.lower())
    if by_name is None or not rest:
        return path
    if by_name == "Metrics":
        name, dot, stat = rest.rpartition(".")
        if dot and stat.lower() in _STATISTICS:
            rest = f"{name}.{_STATISTICS[stat.lower()]}"
    return f"{by_name}.{rest}"


def check_property(search_type: SearchType, path: str, field: str) -> str:
    """Return ``path`` (by-name views spelled as stored, see :func:`canonical`) if ``search_type`` has it, else
    raise a ValidationException naming it."""
    path = canonical(path)
    if not is_known(search_type.shape, path):
        raise ValidationError(
            f"{field}: {path!r} is not a property of {search_type.resource}. Use a property of the "
            f"{search_type.record_key} record as DescribeX returns it, as a dotted path (e.g. "
            f"{_example(search_type)}), Metrics.<metric name> or Tags.<key>.")
    return path


def _example(search_type: SearchType) -> str:
    members = list(getattr(_shape(search_type.shape), "members", {}))
    return ", ".join(members[:3]) or "the resource's name"
