"""The private state of an endpoint: the ``_`` keys of its stored document, typed.

An endpoint's document is its DescribeEndpoint response plus keys only the server reads: the deployed
snapshot of its config (``_spec``) and the one an UpdateEndpoint is rolling out (``_next``), which generation
of model folders is live (``_gen``), the model-server instances serving each variant (``_instances``) and
those being started (``_starting``), each variant's prepared model folder and command (``_prepared``), the
weights/counts an UpdateEndpointWeightsAndCapacities asked for (``_desired``) and how far each instance log
has been shipped (``_log_offsets``). They stay in the document under the names older servers wrote, so a
server restarted on an old database reads them unchanged; :class:`EndpointState` is how code reads and writes
them, instead of ``doc.get("_x")`` strings.

Absent and ``None`` are the same thing at the top level (the metadata store deletes a key whose change is
``None``), so ``EndpointState.from_doc(doc).to_changes()`` merged into ``doc`` gives ``doc`` back. Inside the
records, keys this version does not know are kept (``extra``), so an older or newer server's additions
survive a round trip through this one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

# field name -> the document key it is stored under (the historical names: never rename one)
KEYS = {
    "spec": "_spec",
    "next": "_next",
    "gen": "_gen",
    "instances": "_instances",
    "starting": "_starting",
    "prepared": "_prepared",
    "desired": "_desired",
    "log_offsets": "_log_offsets",
}


@dataclass
class Instance:
    """One model-server process: its runner handle id, where it listens, its short id (the log file's name)
    and the secret token requests must carry (None for a server started before tokens existed)."""

    id: str
    host: str
    port: int
    instance: str | None = None
    token: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    _KNOWN = ("id", "host", "port", "instance", "token")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Instance:
        return cls(id=d["id"], host=d["host"], port=int(d["port"]), instance=d.get("instance"),
                   token=d.get("token"), extra={k: v for k, v in d.items() if k not in cls._KNOWN})

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "host": self.host, "port": self.port}
        if self.instance is not None:
            out["instance"] = self.instance
        if self.token is not None:
            out["token"] = self.token
        out.update(self.extra)
        return out


@dataclass
class Prepared:
    """A variant's model, fetched and unpacked for one generation: its folder, the model server's extra
    arguments and environment, and the interpreter of a framework image's environment (None: the server's).
    Other keys the preparation records (the environment image, a warning) are kept in ``extra``."""

    model_dir: str
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    _KNOWN = ("model_dir", "args", "env")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Prepared:
        return cls(model_dir=d["model_dir"], args=list(d.get("args") or []), env=dict(d.get("env") or {}),
                   extra={k: v for k, v in d.items() if k not in cls._KNOWN})

    def to_dict(self) -> dict[str, Any]:
        return {"model_dir": self.model_dir, "args": list(self.args), "env": dict(self.env), **self.extra}

    @property
    def python(self) -> str | None:
        value = self.extra.get("python")
        return str(value) if value else None


@dataclass
class VariantSpec:
    """One variant of a deployed config snapshot: the fields the server changes (weight, count) typed; the
    model's container definitions and the variant's options (shadow, serverless, startup timeout, execution
    mode) as they were recorded, read through properties."""

    name: str
    weight: float
    count: int
    extra: dict[str, Any] = field(default_factory=dict)

    _KNOWN = ("name", "weight", "count")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VariantSpec:
        return cls(name=d["name"], weight=d["weight"], count=d["count"],
                   extra={k: v for k, v in d.items() if k not in cls._KNOWN})

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "weight": self.weight, "count": self.count, **self.extra}

    @property
    def containers(self) -> list[dict[str, Any]]:
        return list(self.extra.get("containers") or [])

    @property
    def shadow(self) -> bool:
        return bool(self.extra.get("shadow"))

    @property
    def serverless(self) -> dict[str, Any] | None:
        """The variant's ServerlessConfig: it scales to zero when idle (``shipyard.serving.serverless``)."""
        value = self.extra.get("serverless")
        return dict(value) if value else None


@dataclass
class EndpointSpec:
    """A snapshot of an endpoint config with its models' containers (what CreateEndpoint/UpdateEndpoint
    recorded), so the endpoint keeps running even if the config or the models are deleted later."""

    config: str
    variants: list[VariantSpec]
    extra: dict[str, Any] = field(default_factory=dict)  # data_capture, async_inference, ...

    _KNOWN = ("config", "variants")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EndpointSpec:
        return cls(config=d["config"], variants=[VariantSpec.from_dict(v) for v in d.get("variants") or []],
                   extra={k: v for k, v in d.items() if k not in cls._KNOWN})

    def to_dict(self) -> dict[str, Any]:
        return {"config": self.config, "variants": [v.to_dict() for v in self.variants], **self.extra}

    def variant(self, name: str) -> VariantSpec | None:
        return next((v for v in self.variants if v.name == name), None)

    @property
    def serverless_variants(self) -> list[VariantSpec]:
        return [v for v in self.variants if v.serverless]

    @property
    def data_capture(self) -> dict[str, Any] | None:
        """The config's DataCaptureConfig (None: no capture)."""
        value = self.extra.get("data_capture")
        return dict(value) if value else None

    @property
    def async_inference(self) -> dict[str, Any] | None:
        """The config's AsyncInferenceConfig (None: a real-time endpoint)."""
        value = self.extra.get("async_inference")
        return dict(value) if value else None


@dataclass
class DesiredVariant:
    """What UpdateEndpointWeightsAndCapacities asked for one variant (None: leave as it is)."""

    weight: float | None = None
    count: int | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DesiredVariant:
        return cls(weight=d.get("weight"), count=d.get("count"))

    def to_dict(self) -> dict[str, Any]:
        return {"weight": self.weight, "count": self.count}


@dataclass
class EndpointState:
    """Every ``_`` key of an endpoint document. Empty collections and None are stored as absent keys (except
    ``starting``, whose empty list is kept as written)."""

    spec: EndpointSpec | None = None
    next: EndpointSpec | None = None
    gen: int | None = None
    instances: dict[str, list[Instance]] = field(default_factory=dict)
    starting: list[Instance] | None = None  # None: no start in progress ([] is kept as it was written)
    prepared: dict[str, Prepared] = field(default_factory=dict)
    desired: dict[str, DesiredVariant] = field(default_factory=dict)
    log_offsets: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> EndpointState:
        spec, nxt = doc.get("_spec"), doc.get("_next")
        gen = doc.get("_gen")
        return cls(
            spec=EndpointSpec.from_dict(spec) if spec else None,
            next=EndpointSpec.from_dict(nxt) if nxt else None,
            gen=int(gen) if gen is not None else None,
            instances={v: [Instance.from_dict(i) for i in insts]
                       for v, insts in (doc.get("_instances") or {}).items()},
            starting=[Instance.from_dict(i) for i in doc["_starting"]] if doc.get("_starting") is not None else None,
            prepared={v: Prepared.from_dict(p) for v, p in (doc.get("_prepared") or {}).items()},
            desired={v: DesiredVariant.from_dict(d) for v, d in (doc.get("_desired") or {}).items()},
            log_offsets={k: int(n) for k, n in (doc.get("_log_offsets") or {}).items()},
        )

    def to_changes(self, only: Iterable[str] | None = None) -> dict[str, Any]:
        """The document changes that store this state (all fields, or those named in ``only``); an empty
        field becomes ``None``, which removes its key."""
        names = list(KEYS) if only is None else list(only)
        unknown = [n for n in names if n not in KEYS]
        if unknown:
            raise KeyError(f"EndpointState has no field {', '.join(unknown)}")
        values: dict[str, Any] = {
            "spec": self.spec.to_dict() if self.spec is not None else None,
            "next": self.next.to_dict() if self.next is not None else None,
            "gen": self.gen,
            # an entry per variant, even an empty list: a scaled-to-zero variant is recorded as []
            "instances": {v: [i.to_dict() for i in insts] for v, insts in self.instances.items()} or None,
            "starting": [i.to_dict() for i in self.starting] if self.starting is not None else None,
            "prepared": {v: p.to_dict() for v, p in self.prepared.items()} or None,
            "desired": {v: d.to_dict() for v, d in self.desired.items()} or None,
            "log_offsets": dict(self.log_offsets) or None,
        }
        return {KEYS[n]: values[n] for n in names}

    # --- what the hosting code asks of it ---
    def all_instances(self) -> list[Instance]:
        return [i for insts in self.instances.values() for i in insts]
