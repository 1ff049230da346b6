"""The model server: SageMaker's inference container contract (``GET /ping``, ``POST /invocations``).

    python -m shipyard.serving.model_server --model-dir D --port P
        [--handler module:Class | --script-program inference.py --code-dir DIR] [--token-file F]

Built for latency: the model loads before the port opens (so ``/ping`` answering 200 means ready),
``gc.freeze()`` then moves the loaded model out of the collector's way, and each request is parsed and
answered inline on the event loop by :mod:`.httpserver` (payloads over ``OFFLOAD_BYTES`` run in a thread).
Handler errors become a 4xx carrying the message (the handler's own ``status_code``/``http_status`` if it
has one, else 400), so the caller sees why; the server itself never dies of a bad request.

``--unix-socket PATH`` listens on a Unix socket instead of the port: a model server with no network of its own
(``EnableNetworkIsolation``) is reached through a socket file in its folder, which its sandbox shares.

In a sandbox, Shipyard starts it under :func:`shipyard.runners.sandbox.supervise`, which says in the log (and
in a ``.reason`` file the hosting controller reads) when the kernel killed it at its memory limit.

Only its router may call it: Shipyard starts every model server with ``--token-file``, a 0600 file holding a
per-instance secret that the server reads and deletes before the model (and so any user code) loads. From
then on every request, ``/ping`` included, must carry it in ``X-Shipyard-Token``; anything else gets ``403``
before any model code runs (see :mod:`.httpserver`). Started by hand without ``--token-file``, it answers
anyone, as SageMaker's container contract expects.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import gc
import importlib
import logging
import os
import signal
import sys
from typing import Any

from .httpserver import TOKEN_HEADER, HttpServer, Request, Response, run_forever

log = logging.getLogger("shipyard.serving")

OFFLOAD_BYTES = 256 * 1024
ATTRS = "x-amzn-sagemaker-custom-attributes"
_TEXT = [("Content-Type", "text/plain; charset=utf-8")]


def load_handler(model_dir: str, handler: str | None = None, program: str | None = None,
                 code_dir: str | None = None):
    """The InferenceHandler for a model: a built-in class (``module:Class``) or the user's script."""
    if handler:
        mod_name, _, cls_name = handler.partition(":")
        cls = getattr(importlib.import_module(mod_name), cls_name)
        if code_dir and getattr(cls, "accepts_code_dir", False):  # TensorFlow's: its inference.py may lie outside
            return cls(model_dir, code_dir)
        return cls(model_dir)
    from .script_handler import ScriptHandler

    program = program or os.environ.get("SAGEMAKER_PROGRAM", "inference.py")
    return ScriptHandler(model_dir, program, code_dir)


def error_status(exc: BaseException) -> int:
    for attr in ("status_code", "http_status", "status"):
        value = getattr(exc, attr, None)
        if isinstance(value, int) and 400 <= value <= 599:
            return value
    return 400


class ModelApp:
    """Routes a parsed request to the handler. Synchronous: called on the loop or in a worker thread."""

    def __init__(self, handler: Any, max_concurrent_transforms: int = 1, max_payload_mb: int = 6):
        self.handler = handler
        self.exec_params = (f'{{"MaxConcurrentTransforms":{max_concurrent_transforms},'
                            f'"BatchStrategy":"MULTI_RECORD","MaxPayloadInMB":{max_payload_mb}}}').encode()

    def offload(self, req: Request) -> bool:
        return len(req.body) > OFFLOAD_BYTES

    def __call__(self, req: Request) -> Response:
        path, method = req.path, req.method
        if path == "/invocations":
            if method != "POST":
                return 405, _TEXT, b"Use POST for /invocations."
            return self.invoke(req)
        if path == "/ping":
            return 200, [], b""
        if path == "/execution-parameters" and method == "GET":
            return 200, [("Content-Type", "application/json")], self.exec_params
        return 404, _TEXT, f"No route for {method} {path}.".encode()

    def invoke(self, req: Request) -> Response:
        headers = req.headers
        content_type = headers.get("content-type", "")
        accept = headers.get("accept", "")
        try:
            body, out_type = self.handler.invoke(req.body, content_type, accept)
        except Exception as exc:  # noqa: BLE001 - every handler error is the caller's answer
            status = error_status(exc)
            message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            if status >= 500 or not isinstance(exc, (ValueError, LookupError)) and status == 400 \
                    and type(exc).__module__ not in ("shipyard.errors",):
                log.warning("handler error (%s): %s", status, message, exc_info=exc)
            return status, _TEXT, message.encode("utf-8", "replace")
        out_headers = [("Content-Type", out_type or "application/octet-stream")]
        attrs = headers.get(ATTRS)
        if attrs is not None:
            out_headers.append(("X-Amzn-SageMaker-Custom-Attributes", attrs))
        return 200, out_headers, body if isinstance(body, bytes) else bytes(body)


def read_token(path: str) -> bytes:
    """The instance's secret from ``path``, which is removed at once: no other process finds it there later."""
    with open(path, "rb") as f:
        token = f.read().strip()
    try:
        os.unlink(path)
    except OSError:
        pass
    if not token:
        raise ValueError(f"the token file {path} is empty")
    return token


async def serve(app: ModelApp, host: str, port: int, ready_file: str | None = None,
                token: bytes | None = None, unix_socket: str | None = None) -> None:
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=int(os.environ.get(
        "SAGEMAKER_MODEL_SERVER_WORKERS", "2")), thread_name_prefix="predict")
    server = HttpServer(app, executor, token)
    bound: int | str
    if unix_socket:
        bound = await server.start_unix(unix_socket)
        print(f"Model server listening on unix:{bound}", flush=True)
    else:
        bound = await server.start(host, port)
        print(f"Model server listening on http://{host}:{bound}", flush=True)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if ready_file:
        with open(ready_file + ".tmp", "w") as f:
            f.write(str(bound))
        os.replace(ready_file + ".tmp", ready_file)
    await stop.wait()
    print("Model server stopping: finishing requests in progress", flush=True)
    await server.stop(grace=float(os.environ.get("SHIPYARD_STOP_GRACE", "10")))
    executor.shutdown(wait=False)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m shipyard.serving.model_server", description=__doc__.split("\n")[0])
    p.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR", "/opt/ml/model"))
    p.add_argument("--port", type=int, default=int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080")))
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--handler", help="module:Class of a built-in InferenceHandler")
    p.add_argument("--script-program", help="the user's inference script (SAGEMAKER_PROGRAM)")
    p.add_argument("--code-dir", help="folder holding the script (default <model-dir>/code)")
    p.add_argument("--ready-file", help="write the bound port here once serving (for port 0)")
    p.add_argument("--pipeline", help="JSON spec of an inference pipeline's containers (see .pipeline)")
    p.add_argument("--multi-model", help="S3 prefix of a multi-model endpoint's models (see .multimodel)")
    p.add_argument("--token-file", help="read (then delete) the secret every request must carry in "
                                        f"{TOKEN_HEADER}")
    p.add_argument("--unix-socket", help="listen on this Unix socket instead of --host/--port")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    try:
        token = read_token(args.token_file) if args.token_file else None  # before any user code is imported
    except (OSError, ValueError) as exc:
        print(f"Model server cannot start: {exc}", file=sys.stderr, flush=True)
        return 1
    try:
        if args.pipeline or args.multi_model:  # several handlers in one server (see .containers)
            from .containers import special_app

            special = special_app(args)
        else:
            special = None
            handler = load_handler(args.model_dir, args.handler, args.script_program, args.code_dir)
    except Exception as exc:  # noqa: BLE001 - report why the model cannot load, then exit non-zero
        log.exception("could not load the model from %s", args.model_dir)
        print(f"Model load failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    app = special or ModelApp(handler, int(os.environ.get("SAGEMAKER_MAX_CONCURRENT_TRANSFORMS", "1")),
                              int(os.environ.get("SAGEMAKER_MAX_PAYLOAD_IN_MB", "6")))
    gc.collect()
    gc.freeze()  # the model and libraries are long-lived: keep them out of every future collection
    run_forever(lambda: serve(app, args.host, args.port, args.ready_file, token, args.unix_socket))
    return 0


if __name__ == "__main__":
    sys.exit(main())
