"""ISO-8601 durations (``PT1H``, ``P30D``, ``P1DT2H30M``), as ``CacheConfig.ExpireAfter`` carries them.

Its own module so that both the definition parser and :mod:`shipyard.pipelines.caching` can use it without
importing each other.
"""

from __future__ import annotations

import re

from shipyard.errors import ValidationError

# Years and months have no fixed length; AWS reads them as 365 and 30 days, and so do we.
_DURATION = re.compile(
    r"P(?!$)(?:(?P<Y>\d+(?:\.\d+)?)Y)?(?:(?P<M>\d+(?:\.\d+)?)M)?(?:(?P<W>\d+(?:\.\d+)?)W)?"
    r"(?:(?P<D>\d+(?:\.\d+)?)D)?"
    r"(?:T(?=\d)(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?"
)
_SECONDS = {"Y": 365 * 86400.0, "M": 30 * 86400.0, "W": 7 * 86400.0, "D": 86400.0,
            "h": 3600.0, "m": 60.0, "s": 1.0}


def parse_duration(iso: str) -> float:
    """``"PT1H"`` -> 3600.0. ValidationError for anything that is not an ISO-8601 duration."""
    match = _DURATION.fullmatch(iso.strip().upper()) if isinstance(iso, str) else None
    if match is None or not any(match.groupdict().values()):
        raise ValidationError(
            f"{iso!r} is not an ISO-8601 duration; write it like PT1H, P30D or P1DT2H30M.")
    return sum(float(amount) * _SECONDS[unit] for unit, amount in match.groupdict().items() if amount)
