"""The ``sagemaker-metrics`` service: ``BatchPutMetrics`` (REST-JSON ``PUT /BatchPutMetrics``), the call behind
the SDK's ``run.log_metric``, and ``BatchGetMetrics`` (``POST /BatchGetMetrics``), a run's metric curves (what
``shipyard experiments compare --plot`` draws).

The server routes it here by path (:mod:`shipyard.server.app`); points go to the trial component's metric series
(:func:`shipyard.resources.trial_component.put_metrics`), and points the service refuses come back in ``Errors``
with their index, as the model says, while the others are stored.
"""

from __future__ import annotations

from typing import Any

from ..context import Services
from ..resources import trial_component
from .registry import operation

SERVICE = "sagemaker-metrics"
# REST-JSON routes of the service: (method, path) -> operation name.
ROUTES = {("PUT", "/BatchPutMetrics"): "BatchPutMetrics", ("POST", "/BatchGetMetrics"): "BatchGetMetrics"}


@operation(SERVICE, "BatchPutMetrics")
def batch_put_metrics(services: Services, params: dict) -> dict:
    errors = trial_component.put_metrics(services, params["TrialComponentName"], params["MetricData"])
    out: dict[str, Any] = {}
    if errors:
        out["Errors"] = errors
    return out


@operation(SERVICE, "BatchGetMetrics")
def batch_get_metrics(services: Services, params: dict) -> dict:
    return {"MetricQueryResults": [trial_component.query_metrics(services, q) for q in params["MetricQueries"]]}
