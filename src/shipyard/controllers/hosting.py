"""The hosting controller: makes running model servers match each endpoint's row in the metadata store.

Per endpoint status:

- ``Creating``: fetch every variant's model, start ``InitialInstanceCount`` model servers through the
  runner, wait for ``/ping``, then ``InService`` and publish the route. Any failure: ``Failed`` with the
  reason, and whatever started is stopped.
- ``Updating`` with ``_next`` (UpdateEndpoint): blue/green. Start the new config's instances, switch the
  route table in one assignment, record, *then* stop the old ones after a short drain: no request fails.
  With ``_desired`` (UpdateEndpointWeightsAndCapacities): change weights, add or remove instances.
- ``InService``: an instance whose process died is replaced (the endpoint stays InService). After a server
  restart, recorded instances are re-attached through ``runner.attach`` and pinged; dead ones are replaced.
  One that died at its instance type's memory limit leaves the reason in the endpoint's ``FailureReason``
  (and its log), as a failed update does.

Each variant's model servers get its instance type's memory and CPU share, and no network when its model says
``EnableNetworkIsolation`` (:class:`shipyard.serving.deploy.ServerIsolation`, recorded with the prepared
variant so that every replacement gets the same).
- ``Deleting``: unpublish the route, stop the processes, delete the row.

Process handles (``_instances``, ``_starting``) are recorded in the row, so a restart in the middle of any
step finds and stops or reuses them. Slow steps run on a thread per endpoint; the loop itself never blocks.

This controller is the one owner of endpoint instances and of the route table (``services.router``). Others
ask it through its public methods, reached as ``services.hosting`` (see
:class:`shipyard.serving.serverless.EndpointHost`): :meth:`HostingController.scale_up` and
:meth:`HostingController.scale_down` change a variant's running instances while holding the endpoint's busy
mark, so they never interleave with this controller's own create/update/heal steps for the same endpoint.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..domain import job_keys
from ..domain.endpoint_state import EndpointSpec, EndpointState, Instance, Prepared, VariantSpec
from ..errors import ConflictError, MissingResource, ServiceUnavailable, ValidationError
from ..metastore.base import Resource
from ..runners.base import JobHandle
from ..serving.capture import sink_for
from ..serving import container_instance as byo
from ..serving.containers import prepare_variant
from ..serving.deploy import (DeployError, ServerIsolation, exit_reason, ping, start_instance, startup_timeout,
                              wait_ready)
from ..serving.multimodel import KEY_KIND, model_key_env, model_key_name, revoke_model_keys
from .base import Controller

if TYPE_CHECKING:
    from ..context import Services

log = logging.getLogger("shipyard.controllers.hosting")

KIND = "endpoint"
ACTIVE = ("Creating", "Updating", "InService", "SystemUpdating", "Deleting")
DRAIN_SECONDS = 1.0

Started = tuple[JobHandle, Instance, VariantSpec]  # an instance started, not yet recorded as serving


def _dicts(instances: list[Instance]) -> list[dict]:
    return [i.to_dict() for i in instances]


class HostingController(Controller):
    kind = KIND
    tick = 1.0

    def __init__(self, services: Services):
        super().__init__(services)
        self.services: Services = services
        self.meta = services.meta
        self.runner = services.runner
        self.router = services.router
        services.hosting = self  # the public interface others call (serverless scale-to-zero)
        self._handles: dict[str, JobHandle] = {}
        self._busy: set[str] = set()
        self._verified: set[str] = set()  # endpoints whose instances this process has checked
        self._lock = threading.Lock()
        self._prime_routes()
        job_keys.for_home(services.settings.home).prune(self._model_key_in_use)  # multi-model servers' keys

    # --- helpers ---
    def _home(self, endpoint: str) -> Path:
        return Path(self.services.settings.home) / "runs" / "endpoints" / endpoint

    def _prime_routes(self) -> None:
        """Serve what the store says is live straight away after a restart; reconcile then verifies it."""
        try:
            for r in self._rows(("InService", "Updating")):
                self._publish(r.name, r.doc)
        except Exception:  # noqa: BLE001 - a store hiccup at start-up: the first reconcile retries
            log.exception("could not load endpoint routes")

    def _rows(self, statuses: Iterable[str]) -> Iterable[Resource]:
        return self.meta.list_in_status(KIND, statuses)

    def _publish(self, name: str, doc: dict) -> None:
        state = EndpointState.from_doc(doc)
        spec = state.spec

        def variants(shadow: bool) -> list:
            return [(v.name, v.weight, [(i.host, i.port, i.token) for i in state.instances.get(v.name, [])])
                    for v in (spec.variants if spec is not None else []) if v.shadow == shadow]

        capture = spec.data_capture if spec is not None else None
        self.router.set_route(name, variants(False), variants(True), sink_for(self.services, name, capture))

    def _handle(self, handle_id: str) -> JobHandle | None:
        h = self._handles.get(handle_id)
        if h is None:
            h = self.runner.attach(handle_id)
            if h is not None:
                self._handles[handle_id] = h
        return h

    def _stop(self, instances: list[Instance], wait: float = 0.0) -> None:
        handles = [h for h in (self._handle(i.id) for i in instances) if h is not None]
        for h in handles:
            h.stop(grace=10.0)
        deadline = time.monotonic() + wait
        while wait and time.monotonic() < deadline and any(h.poll() is None for h in handles):
            time.sleep(0.05)
        for i in instances:
            self._handles.pop(i.id, None)

    def _model_key_in_use(self, kind: str, name: str) -> bool:
        """Whether a multi-model server's key (named endpoint/variant/gen) belongs to a recorded deployment."""
        if kind != KEY_KIND:
            return True  # another kind's controller decides
        try:
            r = self.meta.get(KIND, name.split("/", 1)[0])
        except MissingResource:
            return False
        prepared = EndpointState.from_doc(r.doc).prepared.values()
        return r.status in ACTIVE and name in {model_key_name(p.to_dict()) for p in prepared}

    def _start(self, endpoint: str, v: VariantSpec, prepared: Prepared) -> tuple[JobHandle, Instance]:
        spec = prepared.to_dict()
        spec["env"] = {**spec["env"], **model_key_env(self.services, spec)}  # a multi-model server's own key
        start = byo.start_instance if byo.is_container_instance(spec) else start_instance  # bring-your-own image
        handle, inst = start(self.runner, endpoint, v.name, spec, self._home(endpoint) / v.name)
        self._handles[handle.id] = handle
        return handle, Instance.from_dict(inst)

    def _prepare(self, endpoint: str, v: VariantSpec, gen: int, config: str) -> Prepared:
        variant, folder = v.to_dict(), self._home(endpoint) / v.name
        prepared = byo.prepare_variant(self.services, variant, folder, gen)  # None: not a bring-your-own image
        p = Prepared.from_dict(prepared or prepare_variant(self.services, variant, folder, gen))
        p.extra["isolation"] = self._isolation(config, v).to_dict()
        return p

    def _isolation(self, config: str, v: VariantSpec) -> ServerIsolation:
        """The variant's instance type (or serverless memory) and its model's EnableNetworkIsolation: from the
        deployed snapshot where it says them, else from the config and the model as stored now."""
        instance_type, network_isolation = v.extra.get("instance_type"), v.extra.get("network_isolation")
        serverless = v.serverless or {}
        if instance_type is None and not serverless:
            try:
                doc = self.meta.get("endpoint-config", config).doc
                variants: list[dict] = (doc.get("ProductionVariants") or []) + (doc.get("ShadowProductionVariants")
                                                                                 or [])
                pv: dict = next((p for p in variants if p.get("VariantName") == v.name), {})
                instance_type = pv.get("InstanceType")
            except MissingResource:
                log.warning("endpoint config %s is gone: variant %s runs without its instance type's limits",
                            config, v.name)
        if network_isolation is None:
            try:
                network_isolation = bool(self.meta.get("model", str(v.extra.get("model") or "")).doc.get(
                    "EnableNetworkIsolation"))
            except MissingResource:
                log.warning("model %s is gone: variant %s runs with the network", v.extra.get("model"), v.name)
        return ServerIsolation.for_variant(instance_type, serverless.get("MemorySizeInMB"), bool(network_isolation))

    def _log_path(self, endpoint: str, vname: str, inst: Instance) -> str:
        return str(self._home(endpoint) / vname / f"instance-{inst.instance}.log")

    def _wait_ready(self, endpoint: str, handle: JobHandle, inst: Instance, v: VariantSpec) -> None:
        wait_ready(handle, inst.host, inst.port, startup_timeout(v.to_dict()), self._log_path(endpoint, v.name, inst),
                   inst.token)

    @staticmethod
    def _variants_summary(spec: EndpointSpec, instances: dict[str, list[Instance]]) -> list[dict]:
        out = []
        for v in spec.variants:
            images = [{"SpecifiedImage": c.get("Image", ""), "ResolvedImage": c.get("Image", ""),
                       "ResolutionTime": time.time()} for c in v.containers if c.get("Image")]
            n = len(instances.get(v.name, []))
            out.append({"VariantName": v.name, "DeployedImages": images, "CurrentWeight": v.weight,
                        "DesiredWeight": v.weight, "CurrentInstanceCount": n, "DesiredInstanceCount": v.count})
            if v.serverless:  # scale-to-zero variants (shipyard.serving.serverless)
                out[-1].update({"CurrentServerlessConfig": v.serverless, "DesiredServerlessConfig": v.serverless})
        return out

    def _spawn(self, name: str, fn) -> None:
        with self._lock:
            if name in self._busy:
                return
            self._busy.add(name)

        def work():
            try:
                fn(name)
            except MissingResource:
                pass  # deleted meanwhile
            except Exception:  # noqa: BLE001 - logged; the next tick retries
                log.exception("endpoint %s: reconcile step failed", name)
            finally:
                with self._lock:
                    self._busy.discard(name)

        threading.Thread(target=work, name=f"endpoint-{name}", daemon=True).start()

    # --- the loop ---
    def reconcile_all(self) -> None:
        for r in self._rows(ACTIVE):
            with self._lock:
                if r.name in self._busy:
                    continue
            if r.status == "Creating":
                self._spawn(r.name, self._create)
            elif r.status == "Updating":
                self._spawn(r.name, self._update)
            elif r.status == "Deleting":
                self._spawn(r.name, self._delete)
            elif self._needs_healing(r):
                self._spawn(r.name, self._heal)

    def _dead(self, inst: Instance, check_ping: bool) -> bool:
        h = self._handle(inst.id)
        if h is None or h.poll() is not None:
            return True
        return check_ping and not ping(inst.host, inst.port, token=inst.token)

    def _needs_healing(self, r: Resource) -> bool:
        first = r.name not in self._verified
        dead = any(self._dead(i, first) for i in EndpointState.from_doc(r.doc).all_instances())
        if not dead:
            self._verified.add(r.name)
            if first:
                self._publish(r.name, r.doc)
        return dead

    # --- deploying ---
    def _deploy(self, name: str, spec: EndpointSpec, gen: int) -> tuple[dict[str, Prepared], dict[str, list[Instance]]]:
        """Start every instance of ``spec``; return (prepared per variant, instances per variant)."""
        prepared: dict[str, Prepared] = {}
        instances: dict[str, list[Instance]] = {}
        started: list[Started] = []
        try:
            for v in spec.variants:
                prepared[v.name] = p = self._prepare(name, v, gen, spec.config)  # pipeline/MME aware
                for _ in range(v.count):
                    handle, inst = self._start(name, v, p)
                    started.append((handle, inst, v))
                    instances.setdefault(v.name, []).append(inst)
            self.meta.update(KIND, name, EndpointState(starting=[i for _, i, _ in started]).to_changes(["starting"]))
            for handle, inst, v in started:
                try:
                    self._wait_ready(name, handle, inst, v)
                except DeployError as e:
                    raise DeployError(f"Variant {v.name}: {e}") from None
        except BaseException:
            self._stop([i for _, i, _ in started])
            raise
        return prepared, instances

    def _leftovers(self, state: EndpointState) -> None:
        """Stop processes a previous, interrupted step started but never recorded as serving."""
        serving = {i.id for i in state.all_instances()}
        stale = [i for i in state.starting or [] if i.id not in serving]
        if stale:
            self._stop(stale, wait=5.0)

    def _create(self, name: str) -> None:
        r = self.meta.get(KIND, name)
        if r.status != "Creating":
            return
        state = EndpointState.from_doc(r.doc)
        self._stop(state.all_instances() + list(state.starting or []), wait=5.0)
        assert state.spec is not None  # CreateEndpoint records it
        spec, gen = state.spec, state.gen or 0
        try:
            prepared, instances = self._deploy(name, spec, gen)
        except DeployError as e:
            log.warning("endpoint %s failed: %s", name, e)
            self.meta.update(KIND, name, {"EndpointStatus": "Failed", "FailureReason": str(e)[:1024],
                                          "_starting": None, "LastModifiedTime": time.time()},
                             status="Failed", expect_status={"Creating"})
            revoke_model_keys(self.services, name)
            return
        new = EndpointState(instances=instances, prepared=prepared)
        changes = {**new.to_changes(["instances", "prepared", "starting"]), "EndpointStatus": "InService",
                   "ProductionVariants": self._variants_summary(spec, instances), "LastModifiedTime": time.time()}
        try:
            r = self.meta.update(KIND, name, changes, status="InService", expect_status={"Creating"})
        except (ConflictError, MissingResource):  # deleted while we were starting
            self._stop([i for insts in instances.values() for i in insts])
            revoke_model_keys(self.services, name)
            return
        self._verified.add(name)
        self._publish(name, r.doc)

    def _update(self, name: str) -> None:
        r = self.meta.get(KIND, name)
        if r.status != "Updating":
            return
        state = EndpointState.from_doc(r.doc)
        self._leftovers(state)
        if state.next is not None:
            self._blue_green(r, state)
        elif state.desired:
            self._rescale(r, state)
        else:
            self.meta.update(KIND, name, {"EndpointStatus": "InService"}, status="InService",
                             expect_status={"Updating"})

    def _blue_green(self, r: Resource, state: EndpointState) -> None:
        name = r.name
        assert state.next is not None
        nxt, gen = state.next, (state.gen or 0) + 1
        try:
            prepared, instances = self._deploy(name, nxt, gen)
        except DeployError as e:  # roll back: the old deployment keeps serving
            self.meta.update(KIND, name, {"EndpointStatus": "InService", "FailureReason": str(e)[:1024],
                                          "_next": None, "_starting": None, "LastModifiedTime": time.time()},
                             status="InService", expect_status={"Updating"})
            revoke_model_keys(self.services, name, keep=self._key_names(state.prepared))
            return
        old = state.all_instances()
        new = EndpointState(spec=nxt, next=None, gen=gen, instances=instances, prepared=prepared)
        changes = {**new.to_changes(["spec", "next", "gen", "instances", "prepared", "starting"]),
                   "EndpointConfigName": nxt.config, "EndpointStatus": "InService",
                   "ProductionVariants": self._variants_summary(nxt, instances), "LastModifiedTime": time.time()}
        try:
            r = self.meta.update(KIND, name, changes, status="InService", expect_status={"Updating"})
        except (ConflictError, MissingResource):
            self._stop([i for insts in instances.values() for i in insts])
            return
        self._publish(name, r.doc)  # new instances take every request from here on
        time.sleep(DRAIN_SECONDS)  # requests already sent to the old ones finish
        self._stop(old)
        self._cleanup_models(name, state.prepared, prepared)
        revoke_model_keys(self.services, name, keep=self._key_names(prepared))

    @staticmethod
    def _key_names(prepared: dict[str, Prepared]) -> set[str]:
        return {n for n in (model_key_name(p.to_dict()) for p in prepared.values()) if n}

    def _cleanup_models(self, name: str, old: dict[str, Prepared], new: dict[str, Prepared]) -> None:
        keep = {p.model_dir for p in new.values()}
        for p in old.values():
            if p.model_dir not in keep:
                shutil.rmtree(p.model_dir, ignore_errors=True)

    def _rescale(self, r: Resource, state: EndpointState) -> None:
        name = r.name
        assert state.spec is not None
        spec = state.spec  # a fresh copy, parsed from the document: changing it changes nothing stored yet
        instances = state.instances
        prepared = state.prepared
        removed: list[Instance] = []
        added: list[Started] = []
        try:
            for v in spec.variants:
                want = state.desired.get(v.name)
                if want is None:
                    continue
                if want.weight is not None:
                    v.weight = float(want.weight)
                if want.count is not None:
                    v.count = int(want.count)
                current = instances.setdefault(v.name, [])
                dead = [i for i in current if self._dead(i, False)]
                if dead:  # scale from what actually runs
                    self._stop(dead)
                    current[:] = [i for i in current if i not in dead]
                while len(current) > v.count:
                    removed.append(current.pop())
                for _ in range(v.count - len(current)):
                    handle, inst = self._start(name, v, prepared[v.name])
                    added.append((handle, inst, v))
            if added:
                self.meta.update(KIND, name, EndpointState(starting=[i for _, i, _ in added]).to_changes(["starting"]))
            for handle, inst, v in added:
                self._wait_ready(name, handle, inst, v)
                instances[v.name].append(inst)
        except DeployError as e:
            self._stop([i for _, i, _ in added])
            self.meta.update(KIND, name, {"EndpointStatus": "InService", "FailureReason": str(e)[:1024],
                                          "_desired": None, "_starting": None}, status="InService",
                             expect_status={"Updating"})
            return
        new = EndpointState(spec=spec, instances=instances)
        changes = {**new.to_changes(["spec", "instances", "desired", "starting"]),
                   "EndpointStatus": "InService", "ProductionVariants": self._variants_summary(spec, instances),
                   "LastModifiedTime": time.time()}
        r = self.meta.update(KIND, name, changes, status="InService", expect_status={"Updating"})
        self._publish(name, r.doc)
        if removed:
            time.sleep(DRAIN_SECONDS)
            self._stop(removed)

    def _heal(self, name: str) -> None:
        r = self.meta.get(KIND, name)
        if r.status not in ("InService", "SystemUpdating"):
            return
        state = EndpointState.from_doc(r.doc)
        self._leftovers(state)
        check_ping = name not in self._verified
        assert state.spec is not None
        variants = {v.name: v for v in state.spec.variants}
        replaced = []
        for vname, insts in state.instances.items():
            for k, inst in enumerate(insts):
                if not self._dead(inst, check_ping):
                    continue
                reason = exit_reason(self._log_path(name, vname, inst))  # e.g. killed at its memory limit
                if reason:
                    self._record_reason(name, f"Variant {vname}: an instance was replaced: {reason}")
                log.warning("endpoint %s: instance %s of %s is gone; replacing it%s", name, inst.id, vname,
                            f" ({reason})" if reason else "")
                self._stop([inst])
                p = state.prepared.get(vname)
                if p is None or not Path(p.model_dir).exists():
                    p = state.prepared[vname] = self._prepare(name, variants[vname], state.gen or 0,
                                                              state.spec.config)
                handle, new = self._start(name, variants[vname], p)
                self.meta.update(KIND, name, EndpointState(starting=[new]).to_changes(["starting"]))
                try:
                    self._wait_ready(name, handle, new, variants[vname])
                except DeployError as e:
                    self._stop([new])
                    self._record_reason(name, f"Variant {vname}: a replacement instance did not start: {e}")
                    raise
                insts[k] = new
                replaced.append(new)
        try:
            # Updating too: an update requested meanwhile waits for us (busy) and then reads these instances
            changes = EndpointState(instances=state.instances, prepared=state.prepared).to_changes(
                ["instances", "prepared", "starting"])
            r = self.meta.update(KIND, name, changes, expect_status={"InService", "SystemUpdating", "Updating"})
        except (ConflictError, MissingResource):
            self._stop(replaced)
            return
        self._verified.add(name)
        self._publish(name, r.doc)

    def _record_reason(self, name: str, reason: str) -> None:
        """Say on the (still serving) endpoint why an instance died, as a rolled-back update does."""
        try:
            self.meta.update(KIND, name, {"FailureReason": reason[:1024]},
                             expect_status={"InService", "SystemUpdating", "Updating"})
        except (ConflictError, MissingResource):
            pass

    def _delete(self, name: str) -> None:
        r = self.meta.get(KIND, name)
        if r.status != "Deleting":
            return
        self.router.remove(name)
        state = EndpointState.from_doc(r.doc)
        self._stop(state.all_instances() + list(state.starting or []), wait=15.0)
        for p in state.prepared.values():
            shutil.rmtree(p.model_dir, ignore_errors=True)
        revoke_model_keys(self.services, name)
        try:
            self.meta.delete(KIND, name)
        except MissingResource:
            pass
        self._verified.discard(name)

    # --- the public interface (services.hosting) ---
    def _claim(self, name: str, wait: float) -> bool:
        """Take the endpoint's busy mark (what the loop's own steps hold), waiting up to ``wait`` seconds."""
        deadline = time.monotonic() + wait
        while True:
            with self._lock:
                if name not in self._busy:
                    self._busy.add(name)
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    def _release(self, name: str) -> None:
        with self._lock:
            self._busy.discard(name)

    def scale_up(self, endpoint: str, variants: Sequence[str], count: int = 1, wait: float = 120.0) -> list[str]:
        """Bring each of ``variants`` of an InService endpoint to at least ``count`` running instances.

        The new instances are started, health-checked, recorded and published before this returns; the
        variants' configured counts (``_spec``) are left alone. Returns the variants it started instances for
        (none when every one already had ``count``). Waits up to ``wait`` seconds for another step on the
        endpoint to finish (``TimeoutError`` after); ``ServiceUnavailable`` when the endpoint is not
        InService; ``DeployError`` when an instance does not start (whatever started is stopped).
        """
        if not self._claim(endpoint, wait):
            raise TimeoutError(f"endpoint {endpoint} is busy with another step")
        try:
            r = self.meta.get(KIND, endpoint)
            if r.status != "InService":
                raise ServiceUnavailable(f"Endpoint {endpoint} is {r.status}, not InService.")
            state = EndpointState.from_doc(r.doc)
            assert state.spec is not None
            spec = state.spec
            unknown = [v for v in variants if spec.variant(v) is None]
            if unknown:
                raise ValidationError(f"Endpoint {endpoint} has no variant {', '.join(unknown)}.")
            started: list[Started] = []
            try:
                for vname in variants:
                    v = spec.variant(vname)
                    assert v is not None
                    missing = count - len(state.instances.get(vname, []))
                    if missing <= 0:
                        continue
                    p = state.prepared.get(vname)
                    if p is None or not Path(p.model_dir).exists():
                        p = state.prepared[vname] = self._prepare(endpoint, v, state.gen or 0, spec.config)
                    for _ in range(missing):
                        handle, inst = self._start(endpoint, v, p)
                        started.append((handle, inst, v))
                if not started:
                    return []
                self.meta.update(KIND, endpoint,
                                 EndpointState(starting=[i for _, i, _ in started]).to_changes(["starting"]))
                for handle, inst, v in started:
                    self._wait_ready(endpoint, handle, inst, v)
                    state.instances.setdefault(v.name, []).append(inst)
                state.starting = None
                changes = {**state.to_changes(["instances", "prepared", "starting"]),
                           "ProductionVariants": self._variants_summary(spec, state.instances)}
                r = self.meta.update(KIND, endpoint, changes, expect_status={"InService"})
            except BaseException:
                self._stop([i for _, i, _ in started])
                raise
            self._publish(endpoint, r.doc)
            return sorted({v.name for _, _, v in started})
        finally:
            self._release(endpoint)

    def scale_down(self, endpoint: str, variants: Sequence[str], wait: float = 0.0, drain: float = 15.0) -> bool:
        """Take every instance of ``variants`` of an InService endpoint out of service: unpublish, record zero
        instances, then stop them (SIGTERM, waiting up to ``drain`` seconds so requests in progress finish).

        Returns False, doing nothing, when the endpoint is busy with another step for longer than ``wait``
        seconds or is not InService: the caller asks again later.
        """
        if not self._claim(endpoint, wait):
            return False
        try:
            r = self.meta.get(KIND, endpoint)
            if r.status != "InService":
                return False
            state = EndpointState.from_doc(r.doc)
            assert state.spec is not None
            removed = [i for vname in variants for i in state.instances.pop(vname, [])]
            for vname in variants:
                state.instances[vname] = []
            changes = {**state.to_changes(["instances"]),
                       "ProductionVariants": self._variants_summary(state.spec, state.instances)}
            r = self.meta.update(KIND, endpoint, changes, expect_status={"InService"})
            self._publish(endpoint, r.doc)  # no new request reaches them from here on
            self._stop(removed, wait=drain)
            revoke_model_keys(self.services, endpoint, variants=set(variants))
            return True
        finally:
            self._release(endpoint)

    def shutdown(self) -> None:
        """Model servers keep running across a server restart; only in-memory handles are dropped."""
        self._handles.clear()
