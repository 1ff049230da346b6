"""The ASGI application: one port speaks every AWS protocol Shipyard serves.

Dispatch happens on the credential scope's service (and the path), in this order:

- ``GET /shipyard/health``                      unauthenticated readiness probe
- unsigned ``GET /`` asking for HTML (a browser) a landing page (``shipyard.server.landing``)
- unsigned ``/studio...``                        the web console (``shipyard.ui``: its own session sign-in)
- unsigned ``GET /metrics``, ``GET /shipyard/endpoints/{name}/metrics``  loopback-only serving metrics
- service ``s3``                                the whole request goes to ``shipyard.api.s3.handle_s3``
                                                (the body is streamed there; auth never reads it)
- ``/endpoints/{name}/invocations`` (sagemaker) sagemaker-runtime REST: the endpoint router
- ``PUT /BatchPutMetrics`` (service sagemaker)  sagemaker-metrics REST-JSON (``shipyard.api.metrics``)
- ``X-Amz-Target: <Prefix>.<Op>``               JSON 1.1: SageMaker, CloudWatch Logs, Application Auto Scaling
- ``smithy-protocol: rpc-v2-cbor``              Smithy RPC v2 CBOR (CloudWatch metrics): ``shipyard.wire.rpcv2``
- service ``sts``                               the query protocol (form-encoded ``Action=...``), XML answers

This is a plain ASGI callable rather than a routing framework: the runtime path is latency-critical, so
a request costs one signature check, one dict lookup and the router call. Errors are rendered once, here,
through :mod:`shipyard.wire.errors`; an unexpected exception is logged with its traceback and answered with
``InternalFailure`` and no traceback text.

Hostile clients: a request's Authorization header (or presigned query) is checked before its body is read,
and a declared ``Content-Length`` over the limit is refused at once (``RequestEntityTooLarge`` 413, S3
``EntityTooLarge``); bodies that stop arriving are answered ``RequestTimeout`` (``SHIPYARD_BODY_IDLE_TIMEOUT``,
``SHIPYARD_BODY_TIMEOUT``; reading and answering live in :mod:`.bodies`); an answer given before the body was
read closes the connection. Header timeouts and the connection limit are set where uvicorn is started
(``shipyard.server.main``).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import importlib
import inspect
import logging
import os
import time
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.concurrency import run_in_threadpool

from ..api import registry
from ..api.metrics import ROUTES as METRICS_ROUTES
from ..domain.acting import acting_as
from ..errors import (
    AuthError,
    NotImplementedYet,
    OperationNotImplemented,
    RequestTimeout,
    RequestTooLarge,
    S3Error,
    SerializationError,
    ShipyardError,
    UnknownOperation,
    UnknownPath,
    ValidationError,
)
from ..wire import errors as wire_errors
from ..wire.models import TARGET_PREFIXES, operation_model
from ..wire.serialize import dump_json, render_query_response
from ..wire.validate import validate_input
from .. import ui
from ..git import http as git_http
from ..git.repos import hosted_root
from . import landing, metrics_route
from .bodies import (DeadlineReceive, declared_length, has_body, read_body,
                     request_headers, respond)
from .limits import STS_XMLNS
from ..domain import job_keys as _job_keys
from ..domain import users as _users
from .acting import acting_name
from .auth import (SignedRequest, authorize_call, authorize_s3, authorize_user, authorize_user_s3, check_parsed,
                   claimed_access_key, parse_auth, parse_credential_service, parse_query, verify)

log = logging.getLogger("shipyard.server")

MAX_INVOKE_BYTES = 6 * 1024 * 1024
MAX_JSON_BYTES = 32 * 1024 * 1024
MAX_QUERY_BYTES = 1024 * 1024
MAX_S3_OBJECT_BYTES = 5 * 1024 ** 3  # S3's single PUT / UploadPart limit


# The query protocol (STS) names auth failures differently from the JSON services.
QUERY_AUTH_CODES = {
    "MissingAuthenticationTokenException": "MissingAuthenticationToken",
    "UnrecognizedClientException": "InvalidClientTokenId",
    "InvalidSignatureException": "SignatureDoesNotMatch",
    "IncompleteSignatureException": "IncompleteSignature",
}
RUNTIME_HEADERS = (
    "x-amzn-sagemaker-custom-attributes",
    "x-amzn-sagemaker-target-model",
    "x-amzn-sagemaker-target-variant",
    "x-amzn-sagemaker-target-container-hostname",
    "x-amzn-sagemaker-inference-id",
    "x-amzn-sagemaker-inputlocation",
    "x-amzn-sagemaker-requestttlseconds",
    "x-amzn-sagemaker-invocationtimeoutseconds",
    "x-amzn-sagemaker-enable-explanations",
    "x-amzn-sagemaker-inference-component",
)


def _log_failure(exc: BaseException, what: str) -> None:
    if isinstance(exc, ShipyardError) and exc.http_status < 500:
        log.debug("%s: %s %s", what, exc.code, exc.message)
    elif isinstance(exc, ShipyardError):
        log.warning("%s: %s %s", what, exc.code, exc.message)
    else:
        log.error("%s: unexpected error", what, exc_info=exc)


def _find_s3_handler(broken: dict[str, str]):
    try:
        from ..api.s3 import handle_s3
    except ModuleNotFoundError as e:
        if e.name == "shipyard.api.s3":
            return None
        log.exception("the S3 API module failed to import; S3 requests will get 501")
        broken["shipyard.api.s3"] = f"{type(e).__name__}: {e}"
        return None
    except Exception as e:  # noqa: BLE001 - one broken family must not take the whole server down
        log.exception("the S3 API module failed to import; S3 requests will get 501")
        broken["shipyard.api.s3"] = f"{type(e).__name__}: {e}"
        return None
    return handle_s3


def _load_operations(broken: dict[str, str]) -> None:
    """Import every operation module (``registry.OPERATION_MODULES``).

    Unlike ``registry.load_all`` this survives a module that fails to import: the error is logged with its
    traceback and reported by ``/shipyard/health`` (``"degraded"``), and that family's operations answer
    ``UnknownOperationException``; every other family keeps working.
    """
    for name in registry.OPERATION_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:
                continue
            log.exception("operation module %s failed to import", name)
            broken[name] = f"{type(e).__name__}: {e}"
        except Exception as e:  # noqa: BLE001
            log.exception("operation module %s failed to import", name)
            broken[name] = f"{type(e).__name__}: {e}"


def load_plugins(services: Any, names: str | None = None) -> list[str]:
    """Import the modules named in ``$SHIPYARD_PLUGINS`` (comma-separated) and call their ``install(services)``.

    A plugin may register extra operations (``@operation``) or put objects into ``services.extras`` (an
    endpoint router, say). Tests use this to exercise the server's error paths with a real process.
    """
    names = os.environ.get("SHIPYARD_PLUGINS", "") if names is None else names
    loaded = []
    for name in (n.strip() for n in names.split(",")):
        if not name:
            continue
        module = importlib.import_module(name)
        install = getattr(module, "install", None)
        if callable(install):
            install(services)
        loaded.append(name)
        log.info("loaded plugin %s", name)
    return loaded


class ShipyardApp:
    """The ASGI callable. ``services`` is the :class:`~shipyard.context.Services` of this process."""

    def __init__(self, services: Any):
        self.services = services
        settings = services.settings
        self.key_id = settings.access_key_id
        self.secret = settings.secret_access_key
        self.job_keys = _job_keys.for_home(settings.home)  # per-job keys, scoped: see job_keys.py
        self.users = _users.for_home(settings.home)  # users' own keys (admin or viewer): see users.py
        self.broken: dict[str, str] = {}
        _load_operations(self.broken)
        load_plugins(services)
        self.s3_handler = _find_s3_handler(self.broken)
        # "started": a client judging "no invocations in the last hour" needs to know whether this process
        # was up for that hour (endpoint metrics live in memory: `shipyard cleanup` keeps endpoints otherwise).
        health: dict = {"status": "ok", "started": round(time.time(), 3)}
        if self.broken:
            health["degraded"] = self.broken
        self.health_body = orjson.dumps(health)
        self.console = ui.build(services)

    async def __call__(self, scope, receive, send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self.http(scope, receive, send)
        elif kind == "lifespan":
            await self.lifespan(receive, send)

    async def lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                # Extras holding async resources (an HTTP client pool, say) may define ``aclose()``;
                # it must release them only: model servers and jobs keep running across restarts.
                for name, extra in list(self.services.extras.items()):
                    aclose = getattr(extra, "aclose", None)
                    if aclose is not None:
                        try:
                            await aclose()
                        except Exception:  # noqa: BLE001 - shutdown goes on regardless
                            log.exception("closing %s failed", name)
                await send({"type": "lifespan.shutdown.complete"})
                return

    # --- dispatch ---
    async def http(self, scope, receive, send) -> None:
        path = scope["path"]
        method = scope["method"]
        if path == "/shipyard/health" and method in ("GET", "HEAD"):
            await respond(send, 200, [(b"content-type", b"application/json")], self.health_body)
            return
        headers = request_headers(scope)
        if metrics_route.wants(method, path, headers):  # unsigned GET /metrics, loopback only
            await metrics_route.handle(self.services, scope, send)
            return
        query_string = scope.get("query_string", b"").decode("latin-1")
        if path == "/" and landing.wants(method, path, headers, query_string):
            settings = self.services.settings
            host = headers.get("host")
            body = landing.page(f"http://{host}" if host else settings.endpoint_url, settings.region)
            await respond(send, 200, [(b"content-type", b"text/html; charset=utf-8")],
                          b"" if method == "HEAD" else body)
            return
        if git_http.wants(path):  # hosted Git repositories over smart HTTP, Basic auth with a Shipyard key
            await git_http.serve(scope, receive, send, headers, hosted_root(self.services.settings.home),
                                 self._git_access)
            return
        if ui.wants(path) and "authorization" not in headers and "X-Amz-" not in query_string:
            await self.console(scope, receive, send)
            return
        service = parse_credential_service(headers.get("authorization"),
                                           parse_query(query_string) if "X-Amz-" in query_string else {})
        if service == "s3":
            await self.s3(scope, receive, send, headers, query_string)
        elif path.startswith("/endpoints/"):
            await self.runtime(scope, receive, send, headers, query_string)
        elif headers.get("smithy-protocol") == "rpc-v2-cbor" or (service == "monitoring"
                                                                 and path.startswith("/service/")):
            await self.rpcv2(scope, receive, send, headers, query_string)
        elif service == "sagemaker" and (method, path) in METRICS_ROUTES:  # sagemaker-metrics REST-JSON
            await self.metrics(scope, receive, send, headers, query_string)
        elif "x-amz-target" in headers:
            await self.json11(scope, receive, send, headers, query_string)
        elif service == "sts" or (service is None and method == "POST" and path == "/"
                                  and headers.get("content-type", "").startswith(
                                      "application/x-www-form-urlencoded")):
            await self.query(scope, receive, send, headers, query_string)
        elif service is None:  # anonymous or Signature V2 (boto3's default S3 presigning)
            await self.s3(scope, receive, send, headers, query_string)
        else:
            await self.unknown(scope, receive, send, headers, query_string)

    async def unknown(self, scope, receive, send, headers, query_string) -> None:
        """A signed request for a service or route Shipyard does not serve (sagemaker-metrics, say)."""
        request_id = wire_errors.new_request_id()
        body = None
        try:
            body = await self._signed_body(scope, receive, headers, query_string, MAX_JSON_BYTES)
            raise UnknownPath(f"No operation at {scope['method']} {scope['path']} is supported by Shipyard.")
        except Exception as exc:  # noqa: BLE001
            _log_failure(exc, f"{scope['method']} {scope['path']}")
            await respond(send, *wire_errors.render_rest_json(exc, request_id),
                          close=body is None and has_body(headers))

    def _git_access(self, key_id: str, secret: str) -> str | None:
        """What a key may do to a hosted Git repository: ``write`` (the server's key, an admin's or a notebook
        instance's), ``read`` (a viewer's), or None (no such key, or the wrong secret). Jobs' keys get none."""
        if key_id == self.key_id:
            return "write" if hmac.compare_digest(secret.encode(), self.secret.encode()) else None
        user = self.users.lookup(key_id)
        if user is None or not hmac.compare_digest(secret.encode(), user.secret_access_key.encode()):
            return None
        return "read" if user.read_only else "write"

    def _caller(self, scope, access_key: str) -> _job_keys.Caller:
        """Who a request claims to be: the server's key, a job's, or a user's, looked up in that order (a job's
        scope or a user's role is kept in the ASGI scope for :meth:`_authorize`; the key's secret checks the
        signature). An unknown key resolves to the server's id, so the key check refuses it."""
        other = bool(access_key) and access_key != self.key_id
        job_key = self.job_keys.lookup(access_key) if other else None
        user = self.users.lookup(access_key) if other and job_key is None else None
        if job_key is not None:
            caller = _job_keys.Caller(job_key.access_key_id, job_key.scope)
            secret = job_key.secret_access_key
        elif user is not None:
            caller = _job_keys.Caller(user.access_key_id, user=user)
            secret = user.secret_access_key
        else:
            caller = _job_keys.Caller(self.key_id)
            secret = self.secret
        scope["shipyard.caller"] = caller
        scope["shipyard.job_scope"] = caller.job
        scope["shipyard.user"] = caller.user
        scope["shipyard.signing_secret"] = secret  # aws-chunked bodies are signed with the same secret
        return caller

    def _authenticate(self, scope, headers, query_string, s3: bool) -> SignedRequest | None:
        """Parse the request's credentials once and check all but the signature (known key, form, time):
        the parsed claim goes on to :meth:`_verify`. None for S3's Signature Version 2, which
        :func:`~.auth.verify` parses and checks in one go."""
        query = parse_query(query_string)
        authorization = headers.get("authorization")
        if s3 and ((authorization or "").startswith("AWS ") or (not authorization and "AWSAccessKeyId" in query)):
            self._caller(scope, claimed_access_key(headers, query_string))
            return None
        claim = parse_auth(authorization, query, s3)
        caller = self._caller(scope, claim.access_key)
        return check_parsed(claim, headers=headers, access_key_id=caller.access_key_id, s3=s3)

    def _authorize(self, scope, service: str, operation: str, params) -> None:
        """A job's key may do only what its scope allows, a viewer's only read (checked after the signature, on
        every request)."""
        job_scope = scope.get("shipyard.job_scope")
        if job_scope is not None:
            authorize_call(job_scope, service, operation, params if isinstance(params, dict) else {})
        user = scope.get("shipyard.user")
        if user is not None:
            authorize_user(user, service, operation, self.services.settings.account)

    def _verify(self, scope, headers, query_string, payload_hash, s3: bool, claim: SignedRequest | None):
        raw_path = scope.get("raw_path")
        raw = raw_path.decode("latin-1") if raw_path else scope["path"]
        return verify(method=scope["method"], raw_path=raw, query_string=query_string, headers=headers,
                      payload_hash=payload_hash, access_key_id=scope["shipyard.caller"].access_key_id,
                      secret_access_key=scope["shipyard.signing_secret"], s3=s3, claim=claim)

    def _call(self, handler, params: dict, caller: _job_keys.Caller):
        """Run a handler as whoever signed the request (what it creates records them: ``shipyard.domain.acting``);
        one with a ``caller`` parameter (GetCallerIdentity) is also told who that is."""
        with acting_as(acting_name(self.services.meta, caller.job, caller.user)):
            if _wants_caller(handler):
                return handler(self.services, params, caller=caller)
            return handler(self.services, params)

    async def _signed_body(self, scope, receive, headers, query_string, limit: int,
                           too_large=RequestTooLarge) -> bytes:
        """Authenticate, then read the body, then check the signature over it.

        The Authorization header (presence, known key, form, time) is checked before a byte of the body is
        read, and a declared Content-Length over ``limit`` is refused at once: an unsigned client can neither
        make the server buffer a body nor hold a connection open waiting for one.
        """
        claim = self._authenticate(scope, headers, query_string, s3=False)
        length = declared_length(headers)
        if length is not None and length > limit:
            raise too_large(f"Request body of {length} bytes exceeds the maximum of {limit} bytes.")
        body = await read_body(receive, limit, too_large)
        self._verify(scope, headers, query_string, hashlib.sha256(body).hexdigest(), s3=False, claim=claim)
        return body

    # --- JSON 1.1 ---
    async def json11(self, scope, receive, send, headers, query_string) -> None:
        request_id = wire_errors.new_request_id()
        target = headers.get("x-amz-target", "")
        body = None
        try:
            body = await self._signed_body(scope, receive, headers, query_string, MAX_JSON_BYTES)
            prefix, _, op = target.partition(".")
            service = TARGET_PREFIXES.get(prefix)
            model = operation_model(service, op) if service and op else None
            if model is None:
                raise UnknownOperation(f"Operation {target!r} is not recognised.")
            try:
                params = orjson.loads(body) if body.strip() else {}
            except orjson.JSONDecodeError:
                raise SerializationError("The request body is not valid JSON.") from None
            # The handler first: an operation Shipyard does not serve is never validated, so AWS patterns it
            # never checked for safety (some backtrack for seconds) never run on the event loop.
            handler = registry.lookup(service, op)
            if handler is None:
                raise OperationNotImplemented(f"Operation {op} of {service} is not supported by Shipyard.")
            params = validate_input(model.input_shape, params)
            self._authorize(scope, service, op, params)
            result = await run_in_threadpool(self._call, handler, params, scope["shipyard.caller"])
            out = dump_json(result)
        except Exception as exc:  # noqa: BLE001 - the one edge where every error is translated
            _log_failure(exc, target)
            await respond(send, *wire_errors.render_json(exc, request_id), close=body is None and has_body(headers))
            return
        await respond(send, 200, [(b"content-type", wire_errors.JSON_CONTENT_TYPE.encode()),
                                  (b"x-amzn-requestid", request_id.encode())], out)

    # --- sagemaker-metrics REST-JSON (BatchPutMetrics; botocore signs it with service name "sagemaker") ---
    async def metrics(self, scope, receive, send, headers, query_string) -> None:
        request_id = wire_errors.new_request_id()
        op = METRICS_ROUTES[(scope["method"], scope["path"])]
        body = None
        try:
            body = await self._signed_body(scope, receive, headers, query_string, MAX_JSON_BYTES)
            try:
                params = orjson.loads(body) if body.strip() else {}
            except orjson.JSONDecodeError:
                raise SerializationError("The request body is not valid JSON.") from None
            handler = registry.lookup("sagemaker-metrics", op)
            if handler is None:
                raise OperationNotImplemented(f"Operation {op} of sagemaker-metrics is not supported by Shipyard.")
            model = operation_model("sagemaker-metrics", op)
            assert model is not None  # ROUTES names only operations of botocore's model
            params = validate_input(model.input_shape, params)
            self._authorize(scope, "sagemaker-metrics", op, params)
            result = await run_in_threadpool(self._call, handler, params, scope["shipyard.caller"])
            out = dump_json(result)
        except Exception as exc:  # noqa: BLE001 - the one edge where every error is translated
            _log_failure(exc, op)
            await respond(send, *wire_errors.render_rest_json(exc, request_id),
                          close=body is None and has_body(headers))
            return
        await respond(send, 200, [(b"content-type", b"application/json"), (b"x-amzn-requestid", request_id.encode())],
                      out)

    # --- Smithy RPC v2 CBOR (CloudWatch) ---
    async def rpcv2(self, scope, receive, send, headers, query_string) -> None:
        from ..wire import rpcv2

        request_id = wire_errors.new_request_id()
        service = model = None
        body = None
        try:
            body = await self._signed_body(scope, receive, headers, query_string, MAX_JSON_BYTES)
            service, model = rpcv2.operation_for(scope["path"])
            handler = registry.lookup(service, model.name)
            if handler is None:
                raise OperationNotImplemented(f"Operation {model.name} of {service} is not supported by Shipyard.")
            params = validate_input(model.input_shape, rpcv2.decode_request(body))
            self._authorize(scope, service, model.name, params)
            result = await run_in_threadpool(self._call, handler, params, scope["shipyard.caller"])
            out = rpcv2.encode_response(result, model.output_shape)
        except Exception as exc:  # noqa: BLE001
            _log_failure(exc, f"rpc-v2 {scope['path']}")
            await respond(send, *rpcv2.render_error(exc, request_id, service, model),
                          close=body is None and has_body(headers))
            return
        await respond(send, 200, rpcv2.headers(request_id), out)

    # --- sagemaker-runtime REST ---
    async def runtime(self, scope, receive, send, headers, query_string) -> None:
        request_id = wire_errors.new_request_id()
        body = None
        try:
            if scope["method"] != "POST":
                raise UnknownPath("Only POST is supported on runtime paths.")
            body = await self._signed_body(scope, receive, headers, query_string, MAX_INVOKE_BYTES,
                                           too_large=_invoke_too_large)
            parts = scope["path"].split("/")
            if len(parts) != 4 or not parts[2]:
                raise UnknownPath(f"No runtime operation at {scope['path']}.")
            endpoint, action = parts[2], parts[3]
            self._authorize(scope, "sagemaker-runtime", action, {})
            router = self.services.router
            fwd = {h: headers[h] for h in RUNTIME_HEADERS if h in headers}
            if action == "invocations":
                status, out, content_type, extra = await router.invoke(
                    endpoint, body, headers.get("content-type", "application/octet-stream"),
                    headers.get("accept", ""), fwd)
            elif action == "async-invocations" and hasattr(router, "invoke_async"):
                status, out, content_type, extra = await router.invoke_async(endpoint, headers, body)
            else:
                raise UnknownPath(f"Runtime operation {action!r} is not supported by Shipyard.")
        except Exception as exc:  # noqa: BLE001
            _log_failure(exc, f"runtime {scope['path']}")
            await respond(send, *wire_errors.render_rest_json(exc, request_id),
                          close=body is None and has_body(headers))
            return
        resp_headers = [(b"content-type", (content_type or "application/octet-stream").encode()),
                        (b"x-amzn-requestid", request_id.encode())]
        for k, v in (extra or {}).items():
            resp_headers.append((k.encode("latin-1"), str(v).encode("latin-1")))
        await respond(send, status, resp_headers, out)

    # --- STS (query protocol) ---
    async def query(self, scope, receive, send, headers, query_string) -> None:
        request_id = wire_errors.new_request_id()
        body = None
        try:
            body = await self._signed_body(scope, receive, headers, query_string, MAX_QUERY_BYTES)
            form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
            form.update(dict(parse_qsl(query_string, keep_blank_values=True)))
            action = form.pop("Action", "")
            form.pop("Version", None)
            handler = registry.lookup("sts", action)
            if handler is None or operation_model("sts", action) is None:
                raise UnknownOperation(f"Could not find operation {action}")  # the query protocol's InvalidAction
            self._authorize(scope, "sts", action, form)
            result = await run_in_threadpool(self._call, handler, form, scope["shipyard.caller"])
            out = render_query_response(action, result, request_id, STS_XMLNS)
        except Exception as exc:  # noqa: BLE001
            _log_failure(exc, "sts")
            if isinstance(exc, AuthError):
                exc.code = QUERY_AUTH_CODES.get(exc.code, exc.code)
            await respond(send, *wire_errors.render_query_xml(exc, request_id, STS_XMLNS),
                          close=body is None and has_body(headers))
            return
        await respond(send, 200, [(b"content-type", b"text/xml"), (b"x-amzn-requestid", request_id.encode())], out)

    # --- S3 ---
    async def s3(self, scope, receive, send, headers, query_string) -> None:
        request_id = wire_errors.new_request_id()
        started = False
        try:
            self._verify(scope, headers, query_string, None, s3=True,
                         claim=self._authenticate(scope, headers, query_string, s3=True))
            if scope.get("shipyard.job_scope") is not None:
                authorize_s3(scope["shipyard.job_scope"], method=scope["method"], path=scope["path"],
                             query=parse_query(query_string), headers=headers)
            if scope.get("shipyard.user") is not None:
                authorize_user_s3(scope["shipyard.user"], method=scope["method"], path=scope["path"],
                                  account=self.services.settings.account)
            # aws-chunked framing adds a little to Content-Length: the decoded length is the object's size.
            for name in ("x-amz-decoded-content-length", "content-length"):
                raw = headers.get(name, "").strip()
                if not raw:
                    continue
                if not raw.isdigit():
                    raise S3Error("InvalidArgument", f"The {name} header is not a number.", 400)
                if int(raw) > MAX_S3_OBJECT_BYTES:
                    raise RequestTooLarge("Your proposed upload exceeds the maximum allowed size.")
                break
            if self.s3_handler is None:
                raise NotImplementedYet("The S3 API is not available in this build.")
            from starlette.requests import Request

            started = True
            body_receive = DeadlineReceive(receive)
            response = await self.s3_handler(self.services, Request(scope, body_receive))
            if not body_receive.done and has_body(headers):  # answered before the body was read (or in full)
                response.headers["connection"] = "close"
        except Exception as exc:  # noqa: BLE001
            _log_failure(exc, f"s3 {scope['method']} {scope['path']}")
            await respond(send, *wire_errors.render_s3_xml(exc, request_id, scope["path"]),
                          close=has_body(headers) and (not started or isinstance(exc, RequestTimeout)))
            return
        await response(scope, body_receive, send)


@functools.lru_cache(maxsize=None)
def _wants_caller(handler) -> bool:
    """Whether a handler takes ``caller`` (asked once per handler)."""
    try:
        return "caller" in inspect.signature(handler).parameters
    except (TypeError, ValueError):
        return False


def _invoke_too_large(message: str) -> ShipyardError:
    # sagemaker-runtime names an oversized payload a ValidationError (its 400 for "payload too large").
    return ValidationError(message.replace("Request body", "Received payload"))


def create_app(services: Any) -> ShipyardApp:
    """Build the ASGI app over ``services`` (registers every operation module on the way)."""
    return ShipyardApp(services)
