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
- ``Deleting``: unpublish the route, stop the processes, delete the row.

Process handles (``_instances``, ``_starting``) are recorded in the row, so a restart in the middle of any
step finds and stops or reuses them. Slow steps run on a thread per endpoint; the loop itself never blocks.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path

from ..errors import ConflictError, MissingResource
from ..runners.base import JobHandle
from ..serving.capture import sink_for
from ..serving.containers import prepare_variant
from ..serving.deploy import DeployError, ping, start_instance, startup_timeout, wait_ready
from ..serving.router import Router
from .base import Controller

log = logging.getLogger("shipyard.controllers.hosting")

KIND = "endpoint"
ACTIVE = ("Creating", "Updating", "InService", "SystemUpdating", "Deleting")
DRAIN_SECONDS = 1.0


class HostingController(Controller):
    kind = KIND
    tick = 1.0

    def __init__(self, services):
        super().__init__(services)
        self.meta = services.meta
        self.runner = services.runner
        self.router = services.extras.get("router")
        if not isinstance(self.router, Router):
            self.router = Router(services.account)
            services.extras["router"] = self.router
        self._handles: dict[str, JobHandle] = {}
        self._busy: set[str] = set()
        self._verified: set[str] = set()  # endpoints whose instances this process has checked
        self._lock = threading.Lock()
        self._prime_routes()

    # --- helpers ---
    def _home(self, endpoint: str) -> Path:
        return Path(self.services.settings.home) / "runs" / "endpoints" / endpoint

    def _prime_routes(self) -> None:
        """Serve what the store says is live straight away after a restart; reconcile then verifies it."""
        try:
            for r in self.meta.list_in_status(KIND, ("InService", "Updating")):
                self._publish(r.name, r.doc)
        except Exception:  # noqa: BLE001 - a store hiccup at start-up: the first reconcile retries
            log.exception("could not load endpoint routes")

    def _publish(self, name: str, doc: dict) -> None:
        spec, instances = doc.get("_spec") or {}, doc.get("_instances") or {}

        def variants(shadow: bool) -> list:
            return [(v["name"], v["weight"],
                     [(i["host"], i["port"], i.get("token")) for i in instances.get(v["name"], [])])
                    for v in spec.get("variants", []) if bool(v.get("shadow")) == shadow]

        self.router.set_route(name, variants(False), variants(True),
                              sink_for(self.services, name, spec.get("data_capture")))

    def _handle(self, handle_id: str) -> JobHandle | None:
        h = self._handles.get(handle_id)
        if h is None:
            h = self.runner.attach(handle_id)
            if h is not None:
                self._handles[handle_id] = h
        return h

    def _stop(self, instances, wait: float = 0.0) -> None:
        handles = [h for h in (self._handle(i["id"]) for i in instances) if h is not None]
        for h in handles:
            h.stop(grace=10.0)
        deadline = time.monotonic() + wait
        while wait and time.monotonic() < deadline and any(h.poll() is None for h in handles):
            time.sleep(0.05)
        for i in instances:
            self._handles.pop(i["id"], None)

    @staticmethod
    def _variants_summary(spec: dict, instances: dict) -> list[dict]:
        out = []
        for v in spec["variants"]:
            images = [{"SpecifiedImage": c.get("Image", ""), "ResolvedImage": c.get("Image", ""),
                       "ResolutionTime": time.time()} for c in v["containers"] if c.get("Image")]
            n = len(instances.get(v["name"], []))
            out.append({"VariantName": v["name"], "DeployedImages": images, "CurrentWeight": v["weight"],
                        "DesiredWeight": v["weight"], "CurrentInstanceCount": n, "DesiredInstanceCount": v["count"]})
            if v.get("serverless"):  # scale-to-zero variants (shipyard.serving.serverless)
                out[-1].update({"CurrentServerlessConfig": v["serverless"], "DesiredServerlessConfig": v["serverless"]})
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
        for r in self.meta.list_in_status(KIND, ACTIVE):
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

    def _dead(self, inst: dict, check_ping: bool) -> bool:
        h = self._handle(inst["id"])
        if h is None or h.poll() is not None:
            return True
        return check_ping and not ping(inst["host"], inst["port"], token=inst.get("token"))

    def _needs_healing(self, r) -> bool:
        first = r.name not in self._verified
        instances = r.doc.get("_instances") or {}
        dead = any(self._dead(i, first) for insts in instances.values() for i in insts)
        if not dead:
            self._verified.add(r.name)
            if first:
                self._publish(r.name, r.doc)
        return dead

    # --- deploying ---
    def _deploy(self, name: str, spec: dict, gen: int) -> tuple[dict, dict]:
        """Start every instance of ``spec``; return (prepared per variant, instances per variant)."""
        prepared: dict[str, dict] = {}
        instances: dict[str, list[dict]] = {}
        started: list[tuple[JobHandle, dict, dict]] = []
        try:
            for v in spec["variants"]:
                vdir = self._home(name) / v["name"]
                prepared[v["name"]] = p = prepare_variant(self.services, v, vdir, gen)  # pipeline/MME aware
                for _ in range(v["count"]):
                    handle, inst = start_instance(self.runner, name, v["name"], p, vdir)
                    self._handles[handle.id] = handle
                    started.append((handle, inst, v))
                    instances.setdefault(v["name"], []).append(inst)
            self.meta.update(KIND, name, {"_starting": [i for _, i, _ in started]})
            for handle, inst, v in started:
                log_path = str(self._home(name) / v["name"] / f"instance-{inst['instance']}.log")
                try:
                    wait_ready(handle, inst["host"], inst["port"], startup_timeout(v), log_path, inst.get("token"))
                except DeployError as e:
                    raise DeployError(f"Variant {v['name']}: {e}") from None
        except BaseException:
            self._stop([i for _, i, _ in started])
            raise
        return prepared, instances

    def _leftovers(self, doc: dict) -> None:
        """Stop processes a previous, interrupted step started but never recorded as serving."""
        serving = {i["id"] for insts in (doc.get("_instances") or {}).values() for i in insts}
        stale = [i for i in doc.get("_starting") or [] if i["id"] not in serving]
        if stale:
            self._stop(stale, wait=5.0)

    def _create(self, name: str) -> None:
        r = self.meta.get(KIND, name)
        if r.status != "Creating":
            return
        old = [i for insts in (r.doc.get("_instances") or {}).values() for i in insts]
        self._stop(old + list(r.doc.get("_starting") or []), wait=5.0)
        spec, gen = r.doc["_spec"], int(r.doc.get("_gen", 0))
        try:
            prepared, instances = self._deploy(name, spec, gen)
        except DeployError as e:
            log.warning("endpoint %s failed: %s", name, e)
            self.meta.update(KIND, name, {"EndpointStatus": "Failed", "FailureReason": str(e)[:1024],
                                          "_starting": None, "LastModifiedTime": time.time()},
                             status="Failed", expect_status={"Creating"})
            return
        changes = {"_instances": instances, "_prepared": prepared, "_starting": None, "EndpointStatus": "InService",
                   "ProductionVariants": self._variants_summary(spec, instances), "LastModifiedTime": time.time()}
        try:
            r = self.meta.update(KIND, name, changes, status="InService", expect_status={"Creating"})
        except (ConflictError, MissingResource):  # deleted while we were starting
            self._stop([i for insts in instances.values() for i in insts])
            return
        self._verified.add(name)
        self._publish(name, r.doc)

    def _update(self, name: str) -> None:
        r = self.meta.get(KIND, name)
        if r.status != "Updating":
            return
        self._leftovers(r.doc)
        if r.doc.get("_next"):
            self._blue_green(r)
        elif r.doc.get("_desired"):
            self._rescale(r)
        else:
            self.meta.update(KIND, name, {"EndpointStatus": "InService"}, status="InService",
                             expect_status={"Updating"})

    def _blue_green(self, r) -> None:
        name, doc = r.name, r.doc
        nxt, gen = doc["_next"], int(doc.get("_gen", 0)) + 1
        try:
            prepared, instances = self._deploy(name, nxt, gen)
        except DeployError as e:  # roll back: the old deployment keeps serving
            self.meta.update(KIND, name, {"EndpointStatus": "InService", "FailureReason": str(e)[:1024],
                                          "_next": None, "_starting": None, "LastModifiedTime": time.time()},
                             status="InService", expect_status={"Updating"})
            return
        old = [i for insts in (doc.get("_instances") or {}).values() for i in insts]
        changes = {"_spec": nxt, "_next": None, "_gen": gen, "_instances": instances, "_prepared": prepared,
                   "_starting": None, "EndpointConfigName": nxt["config"], "EndpointStatus": "InService",
                   "ProductionVariants": self._variants_summary(nxt, instances), "LastModifiedTime": time.time()}
        try:
            r = self.meta.update(KIND, name, changes, status="InService", expect_status={"Updating"})
        except (ConflictError, MissingResource):
            self._stop([i for insts in instances.values() for i in insts])
            return
        self._publish(name, r.doc)  # new instances take every request from here on
        time.sleep(DRAIN_SECONDS)  # requests already sent to the old ones finish
        self._stop(old)
        self._cleanup_models(name, doc.get("_prepared") or {}, prepared)

    def _cleanup_models(self, name: str, old: dict, new: dict) -> None:
        keep = {p["model_dir"] for p in new.values()}
        for p in old.values():
            if p["model_dir"] not in keep:
                shutil.rmtree(p["model_dir"], ignore_errors=True)

    def _rescale(self, r) -> None:
        name, doc = r.name, r.doc
        spec = {**doc["_spec"], "variants": [dict(v) for v in doc["_spec"]["variants"]]}
        instances = {k: list(v) for k, v in (doc.get("_instances") or {}).items()}
        prepared = doc.get("_prepared") or {}
        removed: list[dict] = []
        added: list[tuple[JobHandle, dict, dict]] = []
        try:
            for v in spec["variants"]:
                want = doc["_desired"].get(v["name"])
                if not want:
                    continue
                if want.get("weight") is not None:
                    v["weight"] = float(want["weight"])
                if want.get("count") is not None:
                    v["count"] = int(want["count"])
                current = instances.setdefault(v["name"], [])
                dead = [i for i in current if self._dead(i, False)]
                if dead:  # scale from what actually runs
                    self._stop(dead)
                    current[:] = [i for i in current if i not in dead]
                while len(current) > v["count"]:
                    removed.append(current.pop())
                vdir = self._home(name) / v["name"]
                for _ in range(v["count"] - len(current)):
                    handle, inst = start_instance(self.runner, name, v["name"], prepared[v["name"]], vdir)
                    self._handles[handle.id] = handle
                    added.append((handle, inst, v))
            if added:
                self.meta.update(KIND, name, {"_starting": [i for _, i, _ in added]})
            for handle, inst, v in added:
                wait_ready(handle, inst["host"], inst["port"], startup_timeout(v), token=inst.get("token"))
                instances[v["name"]].append(inst)
        except DeployError as e:
            self._stop([i for _, i, _ in added])
            self.meta.update(KIND, name, {"EndpointStatus": "InService", "FailureReason": str(e)[:1024],
                                          "_desired": None, "_starting": None}, status="InService",
                             expect_status={"Updating"})
            return
        changes = {"_spec": spec, "_instances": instances, "_desired": None, "_starting": None,
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
        self._leftovers(r.doc)
        check_ping = name not in self._verified
        instances = {k: list(v) for k, v in (r.doc.get("_instances") or {}).items()}
        prepared = r.doc.get("_prepared") or {}
        variants = {v["name"]: v for v in r.doc["_spec"]["variants"]}
        replaced = []
        for vname, insts in instances.items():
            for k, inst in enumerate(insts):
                if not self._dead(inst, check_ping):
                    continue
                log.warning("endpoint %s: instance %s of %s is gone; replacing it", name, inst["id"], vname)
                self._stop([inst])
                vdir = self._home(name) / vname
                p = prepared.get(vname)
                if p is None or not Path(p["model_dir"]).exists():
                    p = prepared[vname] = prepare_variant(self.services, variants[vname], vdir,
                                                          int(r.doc.get("_gen", 0)))
                handle, new = start_instance(self.runner, name, vname, p, vdir)
                self._handles[handle.id] = handle
                self.meta.update(KIND, name, {"_starting": [new]})
                try:
                    wait_ready(handle, new["host"], new["port"], startup_timeout(variants[vname]),
                               token=new.get("token"))
                except DeployError:
                    self._stop([new])
                    raise
                insts[k] = new
                replaced.append(new)
        try:
            # Updating too: an update requested meanwhile waits for us (busy) and then reads these instances
            r = self.meta.update(KIND, name, {"_instances": instances, "_prepared": prepared, "_starting": None},
                                 expect_status={"InService", "SystemUpdating", "Updating"})
        except (ConflictError, MissingResource):
            self._stop(replaced)
            return
        self._verified.add(name)
        self._publish(name, r.doc)

    def _delete(self, name: str) -> None:
        r = self.meta.get(KIND, name)
        if r.status != "Deleting":
            return
        self.router.remove(name)
        instances = [i for insts in (r.doc.get("_instances") or {}).values() for i in insts]
        self._stop(instances + list(r.doc.get("_starting") or []), wait=15.0)
        for p in (r.doc.get("_prepared") or {}).values():
            shutil.rmtree(p["model_dir"], ignore_errors=True)
        try:
            self.meta.delete(KIND, name)
        except MissingResource:
            pass
        self._verified.discard(name)

    def shutdown(self) -> None:
        """Model servers keep running across a server restart; only in-memory handles are dropped."""
        self._handles.clear()
