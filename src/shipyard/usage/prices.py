"""The price table: US dollars per instance-hour by SageMaker instance type, operator-editable.

The defaults are AWS's public on-demand SageMaker prices in us-east-1 for the common sizes (training and
hosting list the same figure for these types), so a cost estimate reads like the bill a team would get on AWS.
A size missing from the table is priced from its family's per-vCPU figure (``ml.m5.24xlarge`` = 48 x the
``ml.m5.large`` price / 2), and a family missing altogether from :data:`DEFAULT_PER_VCPU`, so every type the API
accepts has a price. The operator replaces or adds entries with a JSON file named by ``SHIPYARD_PRICES`` or
``<home>/prices.json``::

    {"ml.m5.large": 0.05, "ml.g5.xlarge": 0.9}

Why not read AWS's Price List API: nothing here may reach the network, and the operator's own hardware has its
own cost; the table is a starting point to edit.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from ..errors import ValidationError

# US dollars per hour, on-demand, us-east-1 (public SageMaker pricing page).
DEFAULT_PRICES: dict[str, float] = {
    "ml.t3.medium": 0.05, "ml.t3.large": 0.10, "ml.t3.xlarge": 0.20, "ml.t3.2xlarge": 0.399,
    "ml.m4.xlarge": 0.24, "ml.m4.2xlarge": 0.48, "ml.m4.4xlarge": 0.96, "ml.m4.10xlarge": 2.40,
    "ml.m5.large": 0.115, "ml.m5.xlarge": 0.23, "ml.m5.2xlarge": 0.461, "ml.m5.4xlarge": 0.922,
    "ml.m5.12xlarge": 2.765, "ml.m5.24xlarge": 5.53,
    "ml.c4.xlarge": 0.239, "ml.c4.2xlarge": 0.477, "ml.c4.4xlarge": 0.955, "ml.c4.8xlarge": 1.91,
    "ml.c5.large": 0.102, "ml.c5.xlarge": 0.204, "ml.c5.2xlarge": 0.408, "ml.c5.4xlarge": 0.816,
    "ml.c5.9xlarge": 1.836, "ml.c5.18xlarge": 3.672,
    "ml.r5.large": 0.151, "ml.r5.xlarge": 0.302, "ml.r5.2xlarge": 0.605, "ml.r5.4xlarge": 1.21,
    "ml.p2.xlarge": 1.125, "ml.p2.8xlarge": 8.64, "ml.p2.16xlarge": 17.28,
    "ml.p3.2xlarge": 3.825, "ml.p3.8xlarge": 14.688, "ml.p3.16xlarge": 28.152,
    "ml.p4d.24xlarge": 37.688,
    "ml.g4dn.xlarge": 0.736, "ml.g4dn.2xlarge": 0.94, "ml.g4dn.4xlarge": 1.505, "ml.g4dn.8xlarge": 2.72,
    "ml.g4dn.12xlarge": 4.89, "ml.g4dn.16xlarge": 5.44,
    "ml.g5.xlarge": 1.408, "ml.g5.2xlarge": 1.515, "ml.g5.4xlarge": 2.03, "ml.g5.8xlarge": 3.06,
    "ml.g5.12xlarge": 7.09, "ml.g5.16xlarge": 6.12, "ml.g5.24xlarge": 10.18, "ml.g5.48xlarge": 20.36,
}

# Per-vCPU-hour figures for a family (or a missing size of a listed family); GPU families by their smallest size.
DEFAULT_PER_VCPU = 0.0576  # ml.m5's figure: the general-purpose default

_SIZE_VCPUS = {"medium": 1, "large": 2, "xlarge": 4}
_TYPE = re.compile(r"^ml\.([a-z0-9-]+)\.(\d*)(medium|large|xlarge)$")


def vcpus(instance_type: str) -> int | None:
    """The vCPU count a type's size names (``large`` = 2, ``<n>xlarge`` = 4n), or None for a malformed name."""
    m = _TYPE.match(instance_type)
    if not m:
        return None
    n = int(m.group(2) or 1)
    return _SIZE_VCPUS[m.group(3)] * n


def _family_per_vcpu(family: str, table: dict[str, float]) -> float:
    figures = [price / v for name, price in table.items()
               if name.split(".")[1:2] == [family] and (v := vcpus(name))]
    return min(figures) if figures else DEFAULT_PER_VCPU


def load_table(home: str | Path | None = None) -> dict[str, float]:
    """The defaults overlaid with the operator's file (``$SHIPYARD_PRICES``, else ``<home>/prices.json``)."""
    table = dict(DEFAULT_PRICES)
    path = os.environ.get("SHIPYARD_PRICES") or (str(Path(home) / "prices.json") if home else "")
    if path and Path(path).is_file():
        try:
            extra = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise ValidationError(f"The price table {path} is not valid JSON: {exc}") from exc
        if not isinstance(extra, dict) or not all(
                isinstance(k, str) and isinstance(v, (int, float)) and v >= 0 for k, v in extra.items()):
            raise ValidationError(f"The price table {path} must map instance types to non-negative "
                                  "US dollars per hour, e.g. {\"ml.m5.large\": 0.115}.")
        table.update({k: float(v) for k, v in extra.items()})
    return table


def price_per_hour(instance_type: str, table: dict[str, float] | None = None) -> float:
    """US dollars per instance-hour for ``instance_type`` (serverless and local types cost nothing)."""
    table = DEFAULT_PRICES if table is None else table
    if instance_type in table:
        return table[instance_type]
    n = vcpus(instance_type)
    if n is None:
        return 0.0  # "local", "local_gpu", serverless: no instance to price
    return round(_family_per_vcpu(instance_type.split(".")[1], table) * n, 4)


def cost(instance_type: str, instance_seconds: float, table: dict[str, float] | None = None) -> float:
    """The cost estimate of ``instance_seconds`` of ``instance_type``: billed by the second, no minimum."""
    return price_per_hour(instance_type, table) * instance_seconds / 3600.0
