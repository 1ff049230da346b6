"""Per-variant serving metrics, measured by the router on the request path.

Why this shape: the router answers thousands of requests a second on one event loop, so recording must
be a handful of integer/float operations and no allocation. A :class:`VariantMetrics` keeps

- cumulative counters (invocations, 4xx and 5xx answers, latency sums), which is what Prometheus wants;
- a fixed-size ring of the most recent model and overhead latencies (written in place; percentiles are
  computed only when someone reads them), which is what p50/p99 and ``shipyard endpoints compare`` need;
- the time integral of the in-flight count (``busy_seconds``), so the autoscaler gets the *mean*
  concurrency over any window from two readings, instead of sampling a jumpy gauge.

Everything is written from the event-loop thread only; readers in other threads (the autoscaling
controller, the ``/metrics`` route) may see a value one request old, which is fine for metrics.
``model`` latency is the model server's round trip as the router sees it (SageMaker's ModelLatency);
``overhead`` is the rest of the router's time for that request (SageMaker's OverheadLatency, minus the
HTTP front end and signature check, which happen before the router).

Each variant also keeps a :class:`Series`: the same requests in wall-clock buckets, which is what CloudWatch's
GetMetricStatistics/GetMetricData serve under namespace ``AWS/SageMaker`` (dimensions EndpointName and
VariantName; see :mod:`shipyard.api.cloudwatch`). A series outlives its endpoint, as CloudWatch's data does.
"""

from __future__ import annotations

import math
from time import perf_counter, sleep, time

RING = 2048  # recent latency samples kept per variant (a power of two)
SECOND_RETENTION = 3600  # seconds of per-second buckets; older ones are folded into per-minute buckets
MINUTE_RETENTION = 15 * 86400  # CloudWatch keeps one-minute data 15 days
_INF = math.inf

# A bucket is a list: [requests, 4xx, 5xx, per-instance sum, min, max, model sum, min, max (seconds),
# overhead sum, min, max (seconds)]. ``requests`` is written last, so a reader that sees it counts a whole request.
N, N4XX, N5XX, PI, MODEL, OVERHEAD = 0, 1, 2, 3, 6, 9


def _empty() -> list:
    return [0, 0, 0, 0.0, _INF, -_INF, 0.0, _INF, -_INF, 0.0, _INF, -_INF]


def _merge(a: list, b: list) -> list:
    out = [a[N] + b[N], a[N4XX] + b[N4XX], a[N5XX] + b[N5XX]]
    for i in (PI, MODEL, OVERHEAD):
        out += [a[i] + b[i], min(a[i + 1], b[i + 1]), max(a[i + 2], b[i + 2])]
    return out


class Series:
    """One variant's requests by wall-clock second (the last hour) and by minute (15 days before that).

    Written from the event-loop thread only (:meth:`add`); :meth:`buckets` may be called from any thread. The
    once-a-minute fold of old seconds into minutes is bracketed by a sequence counter (odd while folding), so a
    reader never sees a request in both a second and its minute, or in neither.
    """

    __slots__ = ("endpoint", "variant", "_secs", "_mins", "_cur", "_cur_sec", "_next_fold", "_gen", "last")

    def __init__(self, endpoint: str = "", variant: str = "") -> None:
        self.endpoint, self.variant = endpoint, variant
        self._secs: dict[int, list] = {}
        self._mins: dict[int, list] = {}
        self._cur: list | None = None
        self._cur_sec = -1
        self._next_fold = 0
        self._gen = 0
        self.last = 0.0  # wall-clock time of the newest request

    def add(self, now: float, status: int, model: float, overhead: float, per_instance: float) -> None:
        sec = int(now)
        b = self._cur
        if sec != self._cur_sec:
            b = self._open(sec)
        b[PI] += per_instance
        if per_instance < b[PI + 1]:
            b[PI + 1] = per_instance
        if per_instance > b[PI + 2]:
            b[PI + 2] = per_instance
        b[MODEL] += model
        if model < b[MODEL + 1]:
            b[MODEL + 1] = model
        if model > b[MODEL + 2]:
            b[MODEL + 2] = model
        b[OVERHEAD] += overhead
        if overhead < b[OVERHEAD + 1]:
            b[OVERHEAD + 1] = overhead
        if overhead > b[OVERHEAD + 2]:
            b[OVERHEAD + 2] = overhead
        if status >= 500:
            b[N5XX] += 1
        elif status >= 400:
            b[N4XX] += 1
        b[N] += 1
        self.last = now

    def _open(self, sec: int) -> list:
        b = self._secs.get(sec)
        if b is None:
            b = self._secs[sec] = _empty()
            if sec >= self._next_fold:
                self._fold(sec)
        self._cur, self._cur_sec = b, sec
        return b

    def _fold(self, now: int) -> None:
        """Fold the whole minutes older than SECOND_RETENTION into minute buckets; drop expired minutes."""
        cutoff = (now - SECOND_RETENTION) // 60 * 60
        self._next_fold = now + 60
        old = [s for s in self._secs if s < cutoff]
        expired = [m for m in self._mins if m < now - MINUTE_RETENTION]
        if not old and not expired:
            return
        folded: dict[int, list] = {}
        for s in old:
            m = s // 60 * 60
            folded[m] = _merge(folded.get(m) or self._mins.get(m) or _empty(), self._secs[s])
        self._gen += 1  # odd: readers wait
        try:
            self._mins.update(folded)  # new lists: a reader holding the old ones sees them unchanged
            for s in old:
                del self._secs[s]
            for m in expired:
                del self._mins[m]
        finally:
            self._gen += 1

    def buckets(self) -> tuple[dict[int, list], dict[int, list]]:
        """(per-second buckets, per-minute buckets), keyed by the bucket's start (epoch seconds)."""
        while True:
            gen = self._gen
            if not gen & 1:
                secs, mins = self._secs.copy(), self._mins.copy()
                if self._gen == gen:
                    return secs, mins
            sleep(0.0005)

    def stale(self, now: float) -> bool:
        return now - self.last > MINUTE_RETENTION


class VariantMetrics:
    __slots__ = ("invocations", "errors_4xx", "errors_5xx", "in_flight", "model_sum", "overhead_sum",
                 "shadow_dropped", "_busy", "_since", "_model", "_overhead", "_n", "series", "per_instance")

    def __init__(self, series: Series | None = None) -> None:
        self.invocations = 0
        self.errors_4xx = 0
        self.errors_5xx = 0
        self.in_flight = 0
        self.model_sum = 0.0
        self.overhead_sum = 0.0
        self.shadow_dropped = 0  # shadow copies not sent because too many were outstanding
        self._busy = 0.0
        self._since = perf_counter()
        self._model = [0.0] * RING
        self._overhead = [0.0] * RING
        self._n = 0
        self.series = series if series is not None else Series()
        self.per_instance = 1.0  # 1 / the variant's instance count (SageMaker's InvocationsPerInstance)

    def set_instances(self, count: int) -> None:
        self.per_instance = 1.0 / max(1, count)

    # --- the request path (event-loop thread) ---
    def begin(self) -> float:
        """A request was routed to this variant; returns its start time for :meth:`end`."""
        now = perf_counter()
        self._busy += self.in_flight * (now - self._since)
        self._since = now
        self.in_flight += 1
        return now

    def end(self, start: float, model_seconds: float, status: int) -> None:
        """The request is over. ``status`` 0 means no model server was reached (not an invocation)."""
        now = perf_counter()
        self._busy += self.in_flight * (now - self._since)
        self._since = now
        self.in_flight -= 1
        if not status:
            return
        self.invocations += 1
        if status >= 500:
            self.errors_5xx += 1
        elif status >= 400:
            self.errors_4xx += 1
        overhead = now - start - model_seconds
        i = self._n & (RING - 1)
        self._model[i] = model_seconds
        self._overhead[i] = overhead
        self._n += 1
        self.model_sum += model_seconds
        self.overhead_sum += overhead
        self.series.add(time(), status, model_seconds, overhead, self.per_instance)

    # --- readers (any thread) ---
    def busy_seconds(self) -> float:
        """Integral of the in-flight count over time since creation (request-seconds)."""
        return self._busy + self.in_flight * (perf_counter() - self._since)

    def samples(self, which: str = "model") -> list[float]:
        """The most recent latency samples in seconds (oldest first), at most ``RING`` of them."""
        ring = self._model if which == "model" else self._overhead
        n = self._n
        if n <= RING:
            return ring[:n]
        i = n & (RING - 1)
        return ring[i:] + ring[:i]

    def snapshot(self, with_samples: bool = False) -> dict:
        model, overhead = self.samples("model"), self.samples("overhead")
        out = {"Invocations": self.invocations, "Invocation4XXErrors": self.errors_4xx,
               "Invocation5XXErrors": self.errors_5xx, "InFlight": self.in_flight,
               "ModelLatencyP50Ms": _ms(quantile(model, 0.5)), "ModelLatencyP99Ms": _ms(quantile(model, 0.99)),
               "OverheadLatencyP50Ms": _ms(quantile(overhead, 0.5)),
               "OverheadLatencyP99Ms": _ms(quantile(overhead, 0.99)),
               "ModelLatencySumSeconds": self.model_sum, "OverheadLatencySumSeconds": self.overhead_sum,
               "BusySeconds": self.busy_seconds(), "ShadowDropped": self.shadow_dropped}
        if with_samples:
            out["ModelLatencySamplesMs"] = [round(s * 1000, 4) for s in model]
        return out


def quantile(samples: list[float], q: float) -> float | None:
    """Nearest-rank quantile of ``samples`` (None when empty)."""
    if not samples:
        return None
    s = sorted(samples)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 4)


class MetricsRegistry:
    """VariantMetrics by (endpoint, variant); they outlive route changes (rescale, blue/green, heal).

    Their :class:`Series` outlive the endpoint too (CloudWatch answers for a deleted endpoint's past), until
    they hold nothing newer than MINUTE_RETENTION; an endpoint created again under the same name goes on in
    the same series, as it does in CloudWatch.
    """

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str], VariantMetrics] = {}
        self._series: dict[tuple[str, str], Series] = {}

    def get(self, endpoint: str, variant: str, instances: int | None = None) -> VariantMetrics:
        key = (endpoint.lower(), variant)
        m = self._by_key.get(key)
        if m is None:
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = Series(endpoint, variant)
            m = self._by_key[key] = VariantMetrics(series)
        if instances is not None:
            m.set_instances(instances)
        return m

    def series(self, endpoint: str, variant: str) -> Series | None:
        return self._series.get((endpoint.lower(), variant))

    def all_series(self) -> list[Series]:
        return list(self._series.values())

    def find(self, endpoint: str, variant: str) -> VariantMetrics | None:
        return self._by_key.get((endpoint.lower(), variant))

    def drop(self, endpoint: str) -> None:
        low = endpoint.lower()
        for key in [k for k in self._by_key if k[0] == low]:
            del self._by_key[key]
        now = time()
        for key in [k for k, s in self._series.items() if k not in self._by_key and s.stale(now)]:
            del self._series[key]


# --- exposition ---

def endpoint_metrics(router, endpoint: str, with_samples: bool = False) -> dict | None:
    """JSON view of one endpoint's variants (production and shadow), or None if it has no route."""
    route = router.routes.get(endpoint.lower())
    if route is None:
        return None
    variants = []
    for v, shadow in [(v, False) for v in route.variants] + [(v, True) for v in getattr(route, "shadows", ())]:
        snap = v.metrics.snapshot(with_samples)
        snap.update({"VariantName": v.name, "Shadow": shadow, "Weight": v.weight, "InstanceCount": len(v.instances)})
        variants.append(snap)
    return {"EndpointName": route.endpoint, "Variants": variants}


_HELP = [
    ("shipyard_endpoint_invocations_total", "counter", "Requests routed to the variant that reached a model."),
    ("shipyard_endpoint_invocation_4xx_errors_total", "counter", "Requests the model answered with a 4xx."),
    ("shipyard_endpoint_invocation_5xx_errors_total", "counter", "Requests that failed with a 5xx."),
    ("shipyard_endpoint_model_latency_seconds", "summary", "Model server round trip seen by the router."),
    ("shipyard_endpoint_overhead_latency_seconds", "summary", "Router time around the model call."),
    ("shipyard_endpoint_in_flight_requests", "gauge", "Requests being processed now."),
    ("shipyard_endpoint_busy_seconds_total", "counter", "Integral of in-flight requests over time."),
    ("shipyard_endpoint_instances", "gauge", "Running model-server instances."),
    ("shipyard_endpoint_variant_weight", "gauge", "Current traffic weight of the variant."),
]


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_prometheus(router) -> str:
    """All endpoints' variant metrics in the Prometheus text exposition format (version 0.0.4)."""
    lines: dict[str, list[str]] = {name: [] for name, _, _ in _HELP}
    for route in list(router.routes.values()):
        pairs = [(v, "false") for v in route.variants] + [(v, "true") for v in getattr(route, "shadows", ())]
        for v, shadow in pairs:
            m = v.metrics
            lab = f'endpoint="{_label(route.endpoint)}",variant="{_label(v.name)}",shadow="{shadow}"'
            lines["shipyard_endpoint_invocations_total"].append(f"{{{lab}}} {m.invocations}")
            lines["shipyard_endpoint_invocation_4xx_errors_total"].append(f"{{{lab}}} {m.errors_4xx}")
            lines["shipyard_endpoint_invocation_5xx_errors_total"].append(f"{{{lab}}} {m.errors_5xx}")
            for name, which, total in (("shipyard_endpoint_model_latency_seconds", "model", m.model_sum),
                                       ("shipyard_endpoint_overhead_latency_seconds", "overhead",
                                        m.overhead_sum)):
                samples = m.samples(which)
                for q in (0.5, 0.99):
                    value = quantile(samples, q)
                    lines[name].append(f'{{{lab},quantile="{q}"}} {"NaN" if value is None else repr(value)}')
                lines[name].append(f"_sum{{{lab}}} {total!r}")
                lines[name].append(f"_count{{{lab}}} {m.invocations}")
            lines["shipyard_endpoint_in_flight_requests"].append(f"{{{lab}}} {m.in_flight}")
            lines["shipyard_endpoint_busy_seconds_total"].append(f"{{{lab}}} {m.busy_seconds()!r}")
            lines["shipyard_endpoint_instances"].append(f"{{{lab}}} {len(v.instances)}")
            lines["shipyard_endpoint_variant_weight"].append(f"{{{lab}}} {float(v.weight)!r}")
    out = []
    for name, kind, text in _HELP:
        out.append(f"# HELP {name} {text}")
        out.append(f"# TYPE {name} {kind}")
        for rest in lines[name]:
            out.append(name + rest)
    return "\n".join(out) + "\n"
