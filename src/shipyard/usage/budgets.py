"""Budgets per tag (beyond SageMaker): once a tag's spend in the period reaches its limit, new work is refused.

``shipyard usage budget set --tag team=vision --limit-usd 50 --period month`` stores a budget (a row of kind
``usage-budget`` in the metadata store, named after its tag unless named otherwise). The spend is the cost
estimate of every usage interval carrying the tag since the period began (calendar month, ISO week or day, in
UTC; ``total`` for all time). :func:`check_budget` is the one check the create paths call (CreateTrainingJob,
CreateProcessingJob, CreateTransformJob, CreateHyperParameterTuningJob, CreateEndpoint): a request whose Tags
match a budget that is spent is refused with ``ResourceLimitExceeded``, naming the budget, the spend and the
limit. Work already running is never stopped: a budget is a gate for new work, as AWS Budgets actions are.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from dataclasses import dataclass
from typing import Any, Iterable

from ..errors import MissingResource, ResourceLimitExceeded, ResourceNotFound, ValidationError
from ..metastore.base import ListQuery, MetaStore
from . import prices, store
from .intervals import parse_tag, spend

KIND = "usage-budget"
PERIODS = ("day", "week", "month", "total")
_ARN_PREFIX = "arn:shipyard:usage:::budget/"
_MAX_BUDGETS = 1000


@dataclass
class Budget:
    name: str
    tag_key: str
    tag_value: str | None   # None: any value of the key
    limit_usd: float
    period: str = "month"

    @property
    def tag(self) -> str:
        return self.tag_key if self.tag_value is None else f"{self.tag_key}={self.tag_value}"

    def to_doc(self) -> dict[str, Any]:
        return {"BudgetName": self.name, "TagKey": self.tag_key, "TagValue": self.tag_value,
                "LimitUsd": self.limit_usd, "Period": self.period}

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Budget:
        return cls(name=str(doc["BudgetName"]), tag_key=str(doc["TagKey"]), tag_value=doc.get("TagValue"),
                   limit_usd=float(doc["LimitUsd"]), period=str(doc.get("Period") or "month"))

    def applies_to(self, tags: dict[str, str]) -> bool:
        return self.tag_key in tags and (self.tag_value is None or tags[self.tag_key] == self.tag_value)


def usd(amount: float) -> str:
    """US dollars as a person reads them: cents, or a tenth of a cent's precision for small sums."""
    return f"${amount:,.2f}" if amount == 0 or abs(amount) >= 1 else f"${amount:.4f}"


def period_start(period: str, now: float) -> float | None:
    """When the current period began (UTC): midnight, Monday's midnight, the 1st; None for ``total``."""
    t = dt.datetime.fromtimestamp(now, dt.timezone.utc)
    day = t.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day.timestamp()
    if period == "week":
        return (day - dt.timedelta(days=day.weekday())).timestamp()
    if period == "month":
        return day.replace(day=1).timestamp()
    if period == "total":
        return None
    raise ValidationError(f"Unknown budget period {period!r}: use one of {', '.join(PERIODS)}.")


def make(tag: str, limit_usd: float, period: str = "month", name: str | None = None) -> Budget:
    """A validated budget from the CLI's words (``--tag team=vision --limit-usd 50``)."""
    key, value = parse_tag(tag)
    if not key:
        raise ValidationError(f"The budget's tag {tag!r} has no key: give KEY=VALUE (or KEY for any value).")
    if not (isinstance(limit_usd, (int, float)) and math.isfinite(limit_usd) and limit_usd >= 0):
        raise ValidationError(f"The budget's limit {limit_usd!r} must be a non-negative number of US dollars.")
    period_start(period, time.time())  # validates the period
    budget = Budget(name=name or (key if value is None else f"{key}={value}"), tag_key=key, tag_value=value,
                    limit_usd=float(limit_usd), period=period)
    if not budget.name or len(budget.name) > 255:
        raise ValidationError("A budget's name must be 1 to 255 characters.")
    return budget


def put(meta: MetaStore, budget: Budget) -> Budget:
    """Create the budget, or replace the one of that name."""
    if meta.find(KIND, budget.name) is None:
        meta.create(KIND, budget.name, _ARN_PREFIX + budget.name, "Active", budget.to_doc())
    else:
        meta.update(KIND, budget.name, budget.to_doc())
    return budget


def delete(meta: MetaStore, name: str) -> None:
    try:
        meta.delete(KIND, name)
    except MissingResource:
        raise ResourceNotFound(f"There is no budget named {name!r} (shipyard usage budget list shows them).") from None


def list_budgets(meta: MetaStore) -> list[Budget]:
    page = meta.list(KIND, ListQuery(sort_by="name", descending=False, max_results=_MAX_BUDGETS))
    return [Budget.from_doc(r.doc) for r in page.items]


def spent(meta: MetaStore, budget: Budget, now: float, table: dict[str, float] | None = None) -> float:
    """US dollars spent under ``budget`` in its current period."""
    since = period_start(budget.period, now)
    return spend(store.intervals(meta, since, now), budget.tag_key, budget.tag_value, since, now, table)


def status(meta: MetaStore, now: float, table: dict[str, float] | None = None) -> list[tuple[Budget, float]]:
    """Every budget with its spend so far in the period."""
    return [(b, spent(meta, b, now, table)) for b in list_budgets(meta)]


def check_budget(services: Any, tags: Iterable[dict] | None) -> None:
    """Refuse new work whose ``tags`` (a Create request's Tags) fall under a budget that is spent.

    Raises :class:`ResourceLimitExceeded` naming the budget, the spend and the limit. Cheap when there are no
    budgets (one indexed query), so every create path may call it."""
    given = {str(t.get("Key")): str(t.get("Value", "")) for t in tags or [] if isinstance(t, dict) and t.get("Key")}
    if not given:
        return
    budgets = [b for b in list_budgets(services.meta) if b.applies_to(given)]
    if not budgets:
        return
    now = time.time()
    table = prices.load_table(services.settings.home)
    for b in budgets:
        used = spent(services.meta, b, now, table)
        if used >= b.limit_usd:
            when = "in total" if b.period == "total" else f"this {b.period} (UTC)"
            raise ResourceLimitExceeded(
                f"The budget {b.name!r} for tag {b.tag} is exceeded: {usd(used)} spent {when} of a "
                f"{usd(b.limit_usd)} limit, so new work tagged {b.tag} is refused. Raise the limit with "
                f"`shipyard usage budget set --tag {b.tag} --limit-usd N`, delete the budget, or wait for "
                "the next period.")
