"""Data capture: sampled request/response pairs of an endpoint, written to S3 as SageMaker lays them out.

The request path only decides whether to sample (one ``random()``) and appends a tuple of references to a
deque; encoding, JSON and the S3 writes happen on one background thread per server, which flushes every
``FLUSH_SECONDS`` or as soon as ``FLUSH_RECORDS`` are waiting. A full queue drops records (counted)
instead of growing without bound or slowing the caller.

Layout (SageMaker's): ``<DestinationS3Uri>/<endpoint>/<variant>/yyyy/mm/dd/hh/<MM-SS-mmm>-<uuid>.jsonl``, one
JSON object per line::

    {"captureData": {"endpointInput":  {"observedContentType": "text/csv", "mode": "INPUT",
                                        "data": "1,2,3", "encoding": "CSV"},
                     "endpointOutput": {"observedContentType": "text/csv", "mode": "OUTPUT",
                                        "data": "0.5", "encoding": "CSV"}},
     "eventMetadata": {"eventId": "<uuid>", "inferenceId": "<X-Amzn-SageMaker-Inference-Id>",
                       "inferenceTime": "2024-05-01T12:00:00Z"},
     "eventVersion": "0"}

Content types listed in ``CaptureContentTypeHeader.CsvContentTypes`` / ``JsonContentTypes`` are stored as
text with encoding CSV / JSON; anything else (or text that is not UTF-8) as BASE64, as SageMaker does.
"""

from __future__ import annotations

import base64
import collections
import logging
import threading
import time
import uuid
from random import random

import orjson

from ..objectstore.base import parse_s3_uri

log = logging.getLogger("shipyard.serving.capture")

FLUSH_SECONDS = 1.0
FLUSH_RECORDS = 500
MAX_QUEUED = 50_000
YIELD_EVERY = 32
_WRITER_LOCK = threading.Lock()


def _media(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


class CaptureSink:
    """One endpoint's capture settings, bound to the server's writer. ``offer`` is the request-path call."""

    __slots__ = ("endpoint", "percent", "bucket", "prefix", "inputs", "outputs", "csv", "json", "writer")

    def __init__(self, endpoint: str, config: dict, writer: "CaptureWriter"):
        self.endpoint = endpoint
        self.percent = float(config.get("InitialSamplingPercentage", 100))
        self.bucket, prefix = parse_s3_uri(config["DestinationS3Uri"])
        self.prefix = prefix.strip("/")
        modes = {o.get("CaptureMode") for o in config.get("CaptureOptions") or [{"CaptureMode": "InputAndOutput"}]}
        self.inputs = bool(modes & {"Input", "InputAndOutput"})
        self.outputs = bool(modes & {"Output", "InputAndOutput"})
        header = config.get("CaptureContentTypeHeader") or {}
        self.csv = frozenset(_media(t) for t in header.get("CsvContentTypes") or [])
        self.json = frozenset(_media(t) for t in header.get("JsonContentTypes") or [])
        self.writer = writer

    def offer(self, variant: str, body: bytes, content_type: str, out: bytes, out_type: str | None,
              inference_id: str | None) -> None:
        if self.percent < 100 and random() * 100 >= self.percent:
            return
        self.writer.put((self, variant, time.time(), body, content_type, out, out_type, inference_id))

    # --- background side ---
    def _part(self, data: bytes, content_type: str | None, mode: str) -> dict:
        media = _media(content_type)
        encoding = "CSV" if media in self.csv else "JSON" if media in self.json else "BASE64"
        if encoding != "BASE64":
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                encoding = "BASE64"
        if encoding == "BASE64":
            text = base64.b64encode(data).decode("ascii")
        return {"observedContentType": content_type or "", "mode": mode, "data": text, "encoding": encoding}

    def record(self, t: float, body: bytes, content_type: str, out: bytes, out_type: str | None,
               inference_id: str | None) -> bytes:
        data: dict = {}
        if self.inputs:
            data["endpointInput"] = self._part(body, content_type, "INPUT")
        if self.outputs:
            data["endpointOutput"] = self._part(out, out_type, "OUTPUT")
        meta = {"eventId": str(uuid.uuid4())}
        if inference_id:
            meta["inferenceId"] = inference_id
        meta["inferenceTime"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
        return orjson.dumps({"captureData": data, "eventMetadata": meta, "eventVersion": "0"})

    def folder(self, variant: str, t: float) -> str:
        hour = time.strftime("%Y/%m/%d/%H", time.gmtime(t))
        return "/".join(p for p in (self.prefix, self.endpoint, variant, hour) if p)


class CaptureWriter:
    """The server's one capture thread: batches queued records into ``.jsonl`` objects."""

    def __init__(self, objects):
        self.objects = objects
        self._queue: collections.deque = collections.deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one flush at a time (the thread, or flush() from elsewhere)
        self.dropped = 0
        self.written = 0
        self.failed = 0
        self._thread = threading.Thread(target=self._run, name="data-capture", daemon=True)
        self._thread.start()

    def put(self, item: tuple) -> None:
        q = self._queue
        if len(q) >= MAX_QUEUED:
            self.dropped += 1
            return
        q.append(item)
        if len(q) >= FLUSH_RECORDS:
            self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(FLUSH_SECONDS)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - capture must never take the server down
                log.exception("data capture flush failed")

    def flush(self) -> int:
        """Write everything queued now; returns the number of records written."""
        with self._lock:
            batch = []
            q = self._queue
            while q:
                batch.append(q.popleft())
            if not batch:
                return 0
            files: dict[tuple[CaptureSink, str, str], list[bytes]] = {}
            for n, (sink, variant, t, body, ctype, out, out_type, inference_id) in enumerate(batch, 1):
                key = (sink, sink.bucket, sink.folder(variant, t))
                files.setdefault(key, []).append(sink.record(t, body, ctype, out, out_type, inference_id))
                if n % YIELD_EVERY == 0:
                    time.sleep(0)  # hand the GIL to the event loop: encoding a batch must not stall requests
            done = 0
            for (sink, bucket, folder), lines in files.items():
                now = time.time()
                name = time.strftime("%M-%S", time.gmtime(now)) + f"-{int(now * 1000) % 1000:03d}-{uuid.uuid4()}"
                try:
                    self.objects.put_object(bucket, f"{folder}/{name}.jsonl", b"\n".join(lines) + b"\n",
                                            content_type="application/jsonl")
                    done += len(lines)
                except Exception as e:  # noqa: BLE001 - a missing bucket etc.: log, drop, keep serving
                    self.failed += len(lines)
                    log.warning("data capture for endpoint %s could not write to s3://%s/%s: %s", sink.endpoint,
                                bucket, folder, getattr(e, "message", None) or e)
            self.written += done
            return done

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)
        self.flush()

    async def aclose(self) -> None:
        """Server shutdown: write what is queued (the lifespan handler calls this)."""
        import asyncio

        await asyncio.to_thread(self.close)


def sink_for(services, endpoint: str, config: dict | None) -> CaptureSink | None:
    """The sink for an endpoint's DataCaptureConfig (None when capture is off), on the shared writer."""
    if not config or not config.get("EnableCapture", True) or not config.get("DestinationS3Uri"):
        return None
    with _WRITER_LOCK:
        writer = services.extras.get("capture")
        if writer is None:
            writer = services.extras["capture"] = CaptureWriter(services.objects)
    return CaptureSink(endpoint, config, writer)
