"""Running a flow for the console: its sources' sample staged as the signed-in identity, its steps in the job
sandbox, never in the server process.

A preview executes the flow's steps, custom pandas/SQL steps included, so the console never imports a flow's
code path itself. :func:`stage_sources` reads each S3 source's sample through the API's S3 rules for the
console's identity (a job's key only under its scope, a viewer's reads), at most ``SAMPLE_BYTES`` per source,
into a fresh folder under the server's home; :func:`run_child` starts :mod:`.wrangle_child` there inside the
sandbox the jobs use (``runners.sandbox``: no network, the home hidden but for that folder, a memory limit),
with an empty environment (no server credentials), a time limit, and a size limit on what it hands back.
Whatever goes wrong (a step, the sample, the limits) comes back as ``{"error": ...}`` for the page to show.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import OrderedDict
from pathlib import Path

from ..errors import ShipyardError
from ..runners.sandbox import Sandbox, isolation_enabled, wrap
from .operations import Identity, authorize_s3_request

SAMPLE_BYTES = 32 * 1024 * 1024   # read from each source for a preview (CSV/JSON Lines cut at a line end)
MAX_OBJECTS = 200                 # objects read under one source prefix
TIME_LIMIT = 90.0                 # seconds one preview may run
MEMORY_MB = 2048                  # the preview's memory limit (where cgroups allow one)
RESULT_LIMIT = 8 * 1024 * 1024    # bytes of result.json the console reads
LOG_CHARS = 2000                  # of the child's stderr shown when it dies without a result
CACHE_SECONDS = 120.0
CACHE_ENTRIES = 32
_SLOTS = threading.BoundedSemaphore(2)  # previews at once: each is a Python with pandas
_cache: OrderedDict[str, tuple[float, dict]] = OrderedDict()
_cache_lock = threading.Lock()


class SampleError(Exception):
    """A source whose sample cannot be staged (not s3://, nothing there, too large to preview)."""


def _source_uris(flow) -> list[tuple[str, str, str]]:
    """(node id, s3 URI, content type) of every S3 source node of a flow."""
    out = []
    for node in flow.nodes.values():
        if node.operator != "sagemaker.s3_source_0.1":
            continue
        context = (node.parameters.get("dataset_definition") or {}).get("s3ExecutionContext") or {}
        uri = str(context.get("s3Uri") or "")
        if not uri.startswith("s3://"):
            raise SampleError(f"Source node {node.node_id!r} reads {uri!r}: the console reads sources from S3 "
                              "only (an s3:// URI); upload the data and point the source at it.")
        out.append((node.node_id, uri, str(context.get("s3ContentType") or "csv").lower()))
    return out


def _keys(store, identity: Identity, bucket: str, key: str) -> list[tuple[str, int]]:
    """The objects a source reads, as the engine picks them: the object itself, else those under ``key/``."""
    authorize_s3_request(identity, "GET", bucket, query={"prefix": key})
    found: list[tuple[str, int]] = []
    after = ""
    for _ in range(100):  # pages of 1000; a source of more objects is previewed on its first ones
        page = store.list_objects(bucket, key, "", after, 1000)
        found += [(o.key, o.size) for o in page.objects if not o.key.endswith("/")]
        if not page.is_truncated or not page.next_marker or len(found) > 10 * MAX_OBJECTS:
            break
        after = page.next_marker
    exact = [(k, s) for k, s in found if k == key]
    if exact:
        return exact
    folder = key.rstrip("/") + "/" if key else ""
    return sorted((k, s) for k, s in found
                  if k.startswith(folder) and not os.path.basename(k).startswith((".", "_")))[:MAX_OBJECTS]


def _read(store, bucket: str, key: str, size: int, budget: int, content_type: str) -> bytes:
    if content_type == "parquet" and size > budget:
        raise SampleError(f"s3://{bucket}/{key} is a Parquet object of {size} bytes; the console previews at most "
                          f"{SAMPLE_BYTES // (1024 * 1024)} MiB of a source. Preview a smaller part of the data (a "
                          "source on one object), or export the flow as a processing job to run it on all of it.")
    if size == 0:
        return b""
    _info, chunks = store.open_object(bucket, key, 0, min(size, budget) - 1)
    try:
        data = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close:
            close()
    if size > budget:  # a cut text object: keep whole lines
        data = data[:data.rfind(b"\n") + 1]
    return data


def stage_sources(store, identity: Identity, flow, folder: Path) -> dict[str, str]:
    """Copy each S3 source's sample into ``folder/data/<n>/`` as ``identity``; {uri: relative folder}."""
    staged: dict[str, str] = {}
    for n, (node_id, uri, content_type) in enumerate(_source_uris(flow)):
        if uri in staged:
            continue
        bucket, _, key = uri[len("s3://"):].partition("/")
        keys = _keys(store, identity, bucket, key)
        if not keys:
            raise SampleError(f"Source node {node_id!r}: no S3 objects at {uri}.")
        target = folder / "data" / str(n)
        target.mkdir(parents=True)
        budget = SAMPLE_BYTES
        for i, (obj_key, size) in enumerate(keys):
            if budget <= 0:
                break
            authorize_s3_request(identity, "GET", bucket, obj_key)
            data = _read(store, bucket, obj_key, size, budget, content_type)
            budget -= len(data)
            name = re.sub(r"[^A-Za-z0-9._-]", "_", os.path.basename(obj_key)) or "part"
            (target / f"{i:05d}-{name}").write_bytes(data)
        staged[uri] = f"data/{n}"
    return staged


def _cached(key: str) -> dict | None:
    with _cache_lock:
        hit = _cache.get(key)
        if hit is None or time.monotonic() - hit[0] > CACHE_SECONDS:
            return None
        _cache.move_to_end(key)
        return hit[1]


def remember(key: str, result: dict) -> None:
    """Keep a result (not an error: a failed sample may be fixed) for a while."""
    if "error" in result:
        return
    with _cache_lock:
        _cache[key] = (time.monotonic(), result)
        while len(_cache) > CACHE_ENTRIES:
            _cache.popitem(last=False)


def cache_key(flow_id: str, request: dict) -> str:
    return flow_id + "\n" + json.dumps(request, sort_keys=True)


STALE_SECONDS = 3600.0


def _sweep(previews: Path) -> None:
    """Remove preview folders a killed server left behind (every preview removes its own when it ends)."""
    try:
        entries = list(os.scandir(previews))
    except OSError:
        return
    now = time.time()
    for entry in entries:
        try:
            if now - entry.stat().st_mtime > STALE_SECONDS:
                shutil.rmtree(entry.path, ignore_errors=True)
        except OSError:
            continue


def evaluate(services, identity: Identity, flow, request: dict, flow_id: str = "", fresh: bool = False) -> dict:
    """The child's answer for ``request`` on ``flow`` (``flow_id`` names the flow's stored version, for the
    cache; "" caches nothing)."""
    key = cache_key(flow_id, request) if flow_id else ""
    if key and not fresh:
        hit = _cached(key)
        if hit is not None:
            return hit
    previews = Path(services.settings.home) / "wrangle-previews"
    _sweep(previews)
    folder = previews / uuid.uuid4().hex
    folder.mkdir(parents=True)
    try:
        try:
            sources = stage_sources(services.objects, identity, flow, folder)
        except SampleError as e:
            return {"error": str(e)}
        except ShipyardError as e:
            return {"error": f"Reading the sample as {identity.user_name or identity.access_key_id}: {e.code}: "
                             f"{e.message or e}"}
        (folder / "flow.flow").write_text(json.dumps(flow.to_doc()))
        (folder / "sources.json").write_text(json.dumps(sources))
        (folder / "request.json").write_text(json.dumps(request))
        extra = getattr(services.settings, "extra", {}) or {}
        with _SLOTS:
            result = run_child(folder, isolation_enabled(extra.get("job_isolation")))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if key:
        remember(key, result)
    return result


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def hidden_folders(home: Path) -> tuple[list[str], list[str]]:
    """What a preview may not see: the server's home and the server user's own home folder (``~/.aws`` and
    the like); and the folders of Python and Shipyard inside those, shown again read-only."""
    hide = [os.path.realpath(home)]
    user_home = os.path.realpath(os.path.expanduser("~"))
    if user_home not in ("/", "") and os.path.isdir(user_home):
        if _inside(hide[0], user_home):
            hide = [user_home]
        elif not _inside(user_home, hide[0]):
            hide.append(user_home)
    code = Path(__file__).resolve().parents[2]  # the folder `shipyard` is imported from
    roots = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, str(code))}
    shown = sorted(r for r in roots if any(_inside(r, h) for h in hide))
    return hide, shown


def run_child(folder: Path, isolate: bool = True) -> dict:
    """Run :mod:`.wrangle_child` on ``folder`` (sandboxed when ``isolate``) under the limits; its result."""
    cmd = [sys.executable, "-I", "-m", "shipyard.ui.wrangle_child", str(folder)]
    launch = None
    if isolate:
        hide, shown = hidden_folders(folder.parent.parent)
        launch = wrap(cmd, Sandbox(opt_ml=str(folder), hide=hide, read_only=shown, network=False,
                                   memory_mb=MEMORY_MB), folder)
        cmd = launch.command
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(folder), "LANG": "C.UTF-8",
           "PYTHONDONTWRITEBYTECODE": "1"}
    log_path = folder / "child.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=str(folder), env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            proc.wait(timeout=TIME_LIMIT)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            proc.wait(timeout=30)
    oom = launch.finish() if launch is not None else False
    if timed_out:
        return {"error": f"The preview ran past its {TIME_LIMIT:.0f} s limit and was stopped: make the flow's "
                         "steps cheaper, or export it as a processing job to run it on the data."}
    if oom:
        return {"error": f"The preview ran out of memory (its limit is {MEMORY_MB} MiB) and was stopped: preview "
                         "less data, or export the flow as a processing job on a larger instance type."}
    result_path = folder / "result.json"
    try:
        size = result_path.stat().st_size
    except OSError:
        tail = log_path.read_bytes()[-LOG_CHARS:].decode("utf-8", "replace").strip()
        return {"error": f"The preview ended (exit code {proc.returncode}) without a result: {tail or 'no output'}"}
    if size > RESULT_LIMIT:
        return {"error": f"The preview's result is {size} bytes, over the console's {RESULT_LIMIT} byte limit."}
    try:
        result = json.loads(result_path.read_text())
    except ValueError as e:
        return {"error": f"The preview's result is not JSON ({e})."}
    return result if isinstance(result, dict) else {"error": "The preview's result is not a JSON object."}
