"""Monitoring schedules' ``ScheduleExpression``: AWS's 6-field cron, Model Monitor's restrictions on it, ``NOW``,
the analysis-window offsets (``-PT1H``), and the fire times a scheduler needs.

Two layers, because they answer different questions:

- :func:`parse_cron` reads any AWS cron expression (``cron(minutes hours day-of-month month day-of-week year)``:
  ``*``, ``?``, lists ``a,b``, ranges ``a-b``, steps ``a/n`` and ``a-b/n``, month and weekday names), as
  EventBridge defines it, into a :class:`Cron` that computes fire times;
- :func:`parse_schedule_expression` accepts only what Model Monitor accepts (``cron(0 * ? * * *)`` hourly,
  ``cron(0 H ? * * *)`` daily at hour H, ``cron(0 H/N ? * * *)`` every N hours from H, or ``NOW``) and refuses the
  rest with a ValidationException that names ``ScheduleConfig.ScheduleExpression`` and shows a valid one. A
  well-formed cron AWS would run elsewhere (``cron(15 10 ? * MON-FRI *)``) is still refused here: a monitoring
  schedule on AWS refuses it too, and a schedule that runs here but not there helps nobody.

Times are seconds since the epoch, UTC (the store's convention); everything here is pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

from ..errors import ValidationError

FIELD = "MonitoringScheduleConfig.ScheduleConfig.ScheduleExpression"
NOW = "NOW"
EXAMPLES = ("cron(0 * ? * * *) (hourly), cron(0 12 ? * * *) (daily at 12:00 UTC), "
            "cron(0 0/6 ? * * *) (every 6 hours from 00:00 UTC) or NOW (once, at once)")
_MONTHS = {name: i for i, name in enumerate(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), start=1)}
_WEEKDAYS = {name: i for i, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), start=1)}
# (name, low, high, names) of the six fields, in order; AWS numbers weekdays 1 (Sunday) to 7 (Saturday).
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minutes", 0, 59, {}), ("hours", 0, 23, {}), ("day-of-month", 1, 31, {}),
    ("month", 1, 12, _MONTHS), ("day-of-week", 1, 7, _WEEKDAYS), ("year", 1970, 2199, {}))
_SEARCH_YEARS = 10  # how far ahead (or back) a fire time is looked for before saying there is none


def _refuse(expr: str, why: str) -> ValidationError:
    return ValidationError(f"{FIELD} {expr!r} is not valid: {why}. Model Monitor accepts {EXAMPLES}.")


@dataclass(frozen=True)
class Cron:
    """A parsed AWS cron expression: the allowed values of each field (``None`` for ``?``: unrestricted, the
    other day field decides)."""

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int] | None
    months: frozenset[int]
    weekdays: frozenset[int] | None
    years: frozenset[int]

    def _day_matches(self, d: datetime) -> bool:
        if d.year not in self.years or d.month not in self.months:
            return False
        if self.days is not None and d.day not in self.days:
            return False
        aws_weekday = (d.isoweekday() % 7) + 1  # Monday=1..Sunday=7 -> Sunday=1..Saturday=7
        return self.weekdays is None or aws_weekday in self.weekdays

    def next_after(self, t: float) -> float | None:
        """The first fire time strictly after ``t``, or None when there is none within ten years."""
        start = datetime.fromtimestamp(t, timezone.utc)
        day = start.replace(hour=0, minute=0, second=0, microsecond=0)
        for _ in range(366 * _SEARCH_YEARS):
            if self._day_matches(day):
                for h in sorted(self.hours):
                    for m in sorted(self.minutes):
                        at = day.replace(hour=h, minute=m)
                        if at.timestamp() > t:
                            return at.timestamp()
            day += timedelta(days=1)
        return None

    def last_at_or_before(self, t: float) -> float | None:
        """The latest fire time at or before ``t``, or None when there is none within ten years."""
        start = datetime.fromtimestamp(t, timezone.utc)
        day = start.replace(hour=0, minute=0, second=0, microsecond=0)
        for _ in range(366 * _SEARCH_YEARS):
            if self._day_matches(day):
                for h in sorted(self.hours, reverse=True):
                    for m in sorted(self.minutes, reverse=True):
                        at = day.replace(hour=h, minute=m)
                        if at.timestamp() <= t:
                            return at.timestamp()
            day -= timedelta(days=1)
        return None


def _value(token: str, low: int, high: int, names: dict[str, int], expr: str, field: str) -> int:
    value = names.get(token.upper()) if names else None
    if value is None:
        if not token.isdigit():
            raise _refuse(expr, f"{field} value {token!r} is not a number")
        value = int(token)
    if not low <= value <= high:
        raise _refuse(expr, f"{field} value {value} is outside {low}-{high}")
    return value


def _field(token: str, index: int, expr: str) -> frozenset[int] | None:
    field, low, high, names = _FIELDS[index]
    if token == "?":
        if field not in ("day-of-month", "day-of-week"):
            raise _refuse(expr, f"'?' is only allowed in day-of-month or day-of-week, not in {field}")
        return None
    values: set[int] = set()
    for part in token.split(","):
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) < 1:
                raise _refuse(expr, f"{field} step {step_text!r} must be a positive number")
            step = int(step_text)
        if base == "*":
            first, last = low, high
        elif "-" in base:
            a, _, b = base.partition("-")
            first, last = _value(a, low, high, names, expr, field), _value(b, low, high, names, expr, field)
            if first > last:
                raise _refuse(expr, f"{field} range {base!r} runs backwards")
        else:
            first = _value(base, low, high, names, expr, field)
            last = high if step_text else first
        values.update(range(first, last + 1, step))
    return frozenset(values)


_CRON = re.compile(r"^cron\((.*)\)$", re.IGNORECASE)


def parse_cron(expr: str) -> Cron:
    """Any AWS cron expression (see the module docstring); ValidationError naming the field otherwise."""
    m = _CRON.match(expr.strip())
    if not m:
        raise _refuse(expr, "it is not of the form cron(minutes hours day-of-month month day-of-week year)")
    tokens = m.group(1).split()
    if len(tokens) != 6:
        raise _refuse(expr, f"a cron expression has 6 fields (minutes hours day-of-month month day-of-week "
                            f"year), this one has {len(tokens)}")
    for token in tokens:
        if any(c in token for c in "LW#"):
            raise _refuse(expr, f"{token!r}: the L, W and # forms are not supported")
    fields = [_field(token, i, expr) for i, token in enumerate(tokens)]
    if (fields[2] is None) == (fields[4] is None):
        raise _refuse(expr, "exactly one of day-of-month and day-of-week must be '?'")
    minutes, hours, days, months, weekdays, years = fields
    assert minutes is not None and hours is not None and months is not None and years is not None
    return Cron(expr.strip(), minutes, hours, days, months, weekdays, years)


@dataclass(frozen=True)
class ScheduleExpression:
    """A monitoring schedule's expression: ``NOW`` (one run, at once) or an hourly/daily cron."""

    text: str
    cron: Cron | None  # None for NOW

    @property
    def is_now(self) -> bool:
        return self.cron is None

    def next_after(self, t: float) -> float | None:
        return None if self.cron is None else self.cron.next_after(t)

    def last_at_or_before(self, t: float) -> float | None:
        return None if self.cron is None else self.cron.last_at_or_before(t)


_HOUR = re.compile(r"^(\*|\d{1,2}|\d{1,2}/\d{1,2})$")


def parse_schedule_expression(expr: str) -> ScheduleExpression:
    """A monitoring schedule's expression, within Model Monitor's forms (module docstring)."""
    text = (expr or "").strip()
    if text == NOW:
        return ScheduleExpression(NOW, None)
    cron = parse_cron(text)
    minutes, hours, dom, month, dow, year = _CRON.match(text).group(1).split()  # type: ignore[union-attr]
    if minutes != "0":
        raise _refuse(expr, "monitoring schedules run on the hour: the minutes field must be 0")
    if not _HOUR.match(hours):
        raise _refuse(expr, f"the hours field {hours!r} must be *, an hour (0-23) or hour/interval (e.g. 0/6)")
    if "/" in hours and not 1 <= int(hours.split("/")[1]) <= 24:
        raise _refuse(expr, "the interval after / in the hours field must be 1-24")
    if dom != "?" or month != "*" or dow != "*" or year != "*":
        raise _refuse(expr, "monitoring schedules run hourly or daily: the last four fields must be ? * * *")
    if "/" in hours:
        start, step = (int(x) for x in hours.split("/"))
        if 24 % step == 0:  # AWS: cron(0 17/12 ? * * *) is "every 12 hours, starting at 5 PM": 17:00 and 05:00
            cron = replace(cron, hours=frozenset(h for h in range(24) if (h - start) % step == 0))
    return ScheduleExpression(text, cron)


# ------------------------------------------------------------------ analysis windows
_OFFSET = re.compile(r"^-P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


def parse_offset(value: str, field: str) -> float:
    """An ISO 8601 duration before the scheduled time (``-PT1H``, ``-PT30M``, ``-P1D``, ``-PT0H``) in seconds
    (zero or negative); ValidationError naming ``field`` otherwise."""
    m = _OFFSET.match((value or "").strip())
    if not m or not any(g is not None for g in m.groups()) or value.strip().endswith("T"):
        raise ValidationError(f"{field} {value!r} is not a negative ISO 8601 duration: give an offset before the "
                              "scheduled time such as -PT1H (one hour) or -PT0H (the scheduled time itself).")
    d, h, mi, s = (int(g or 0) for g in m.groups())
    return -float(d * 86400 + h * 3600 + mi * 60 + s)


MAX_WINDOW = 24 * 3600.0


def analysis_window(start: str, end: str, start_field: str, end_field: str) -> tuple[float, float]:
    """The (start, end) offsets of an analysis window, checked as AWS does: start before end, at most 24 hours
    apart."""
    a, b = parse_offset(start, start_field), parse_offset(end, end_field)
    if a >= b:
        raise ValidationError(f"{start_field} {start!r} must be earlier than {end_field} {end!r} (for example "
                              "-PT1H and -PT0H: the hour before the scheduled time).")
    if b - a > MAX_WINDOW:
        raise ValidationError(f"{start_field} {start!r} must not precede {end_field} {end!r} by more than 24 "
                              "hours.")
    return a, b


def hours_between(start: float, end: float) -> list[float]:
    """The UTC hour starts whose hour overlaps ``[start, end)`` (the capture folders of that window)."""
    first = start - (start % 3600)
    out = []
    t = first
    while t < end:
        out.append(t)
        t += 3600
    return out


def iso(t: float) -> str:
    """``2026-12-07T06:00:00Z``: how the scheduler writes times into the container's environment."""
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def hour_path(t: float) -> str:
    """``yyyy/mm/dd/hh`` of ``t`` (data capture's folder of that hour)."""
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y/%m/%d/%H")


def stamp(t: float) -> str:
    """``yyyymmddHHMM`` of ``t`` (the part of an execution's processing-job name that says when)."""
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y%m%d%H%M")


__all__ = ["Cron", "ScheduleExpression", "parse_cron", "parse_schedule_expression", "parse_offset",
           "analysis_window", "hours_between", "iso", "hour_path", "stamp", "NOW", "FIELD"]
