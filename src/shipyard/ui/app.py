"""The console's ASGI app (``/studio``): sign-in, the session gate, and the routes of every page.

``shipyard.server.app`` hands it every path under ``/studio``. Only the sign-in page and the static assets
answer without a session; anything else sends a browser to sign-in (303) and answers other clients 401, so
a script cannot mistake the sign-in form for data. Every POST must carry the session's CSRF token.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route, Router
from starlette.staticfiles import StaticFiles

from ..errors import ShipyardError
from . import PREFIX, pages
from .operations import Identity, Operations
from .render import render
from .forms import read_form as _read_form
from .session import COOKIE, CSRF_FIELD, CSRF_HEADER, Session, SessionSigner, load_secret

log = logging.getLogger("shipyard.ui")
STATIC = Path(__file__).resolve().parent / "static"


@dataclass(frozen=True)
class Context:
    """What a page handler gets: the request, who is signed in, the operations and the CSRF token."""

    request: Request
    identity: Identity
    ops: Operations
    csrf: str
    form: dict[str, str]

    def page(self, template: str, http_status: int = 200, **values: Any) -> HTMLResponse:
        return HTMLResponse(render(template, identity=self.identity, csrf=self.csrf, prefix=PREFIX,
                                   request_path=self.request.url.path, **values), status_code=http_status)


PageHandler = Callable[[Context], Awaitable[Response]]


def _is_browser(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "") or "hx-request" in request.headers


class Console:
    """The ``/studio`` ASGI app over one process's services."""

    def __init__(self, services: Any):
        self.ops = Operations(services)
        self.signer = SessionSigner(load_secret(services.settings.home))
        routes: list[Any] = [
            Route(PREFIX + "/signin", self.signin, methods=["GET", "POST"]),
            Route(PREFIX + "/signout", self.gate(self.signout), methods=["POST"]),
            Mount(PREFIX + "/static", app=StaticFiles(directory=str(STATIC)), name="static"),
        ]
        for path, handler, methods in pages.all_routes():
            routes.append(Route(PREFIX + path, self.gate(handler), methods=methods))
        self.router = Router(routes=routes)

    async def __call__(self, scope, receive, send) -> None:
        await self.router(scope, receive, send)

    # --- the gate ---
    def gate(self, handler: PageHandler) -> Callable[[Request], Awaitable[Response]]:
        async def gated(request: Request) -> Response:
            session = self.signer.verify(request.cookies.get(COOKIE))
            identity = self.ops.resolve(session.access_key_id) if session else None
            if session is None or identity is None:
                return self._refuse(request)
            form: dict[str, str] = {}
            if request.method == "POST":
                form = await _read_form(request)
                token = request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD)
                if not self.signer.check_csrf(session, token):
                    return PlainTextResponse("Refused: this action needs the page's CSRF token; reload the page "
                                             "and try again.", status_code=403)
            ctx = Context(request, identity, self.ops, self.signer.csrf_token(session), form)
            try:
                return await handler(ctx)
            except ShipyardError as exc:
                status = exc.http_status if 400 <= exc.http_status < 500 else 400
                return ctx.page("error.html", http_status=status, code=exc.code, message=exc.message or str(exc))
            except Exception:  # noqa: BLE001 - a bug: logged with its traceback, answered without it
                log.exception("console %s %s failed", request.method, request.url.path)
                return ctx.page("error.html", http_status=500, code="InternalFailure",
                                message="The console failed to answer; the server log has the details.")
        return gated

    @staticmethod
    def _refuse(request: Request) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        signin = f"{PREFIX}/signin?next={quote(target, safe='')}"
        if "hx-request" in request.headers:
            return Response(status_code=401, headers={"HX-Redirect": signin})
        if request.method == "GET" and _is_browser(request):
            return RedirectResponse(signin, status_code=303)
        return PlainTextResponse("Sign in at /studio/signin first: the console needs a session.", status_code=401,
                                 headers={"WWW-Authenticate": 'Cookie realm="shipyard-console"'})

    # --- sign-in / out ---
    async def signin(self, request: Request) -> Response:
        next_path = request.query_params.get("next", "")
        if not next_path.startswith(PREFIX) or next_path.startswith("//"):
            next_path = PREFIX
        error = ""
        status = 200
        if request.method == "POST":
            form = await _read_form(request)
            identity = self.ops.sign_in(form.get("access_key_id", ""), form.get("secret_access_key", ""))
            if identity is not None:
                cookie, session = self.signer.issue(identity.access_key_id)
                response = RedirectResponse(next_path, status_code=303)
                self._set_cookie(response, cookie, session)
                return response
            error = ("Those keys are not accepted here: use an access key pair the API accepts (the server's, "
                     "from shipyard env, or a user's, from shipyard users add).")
            status = 403
        return HTMLResponse(render("signin.html", prefix=PREFIX, error=error, next=next_path),
                            status_code=status)

    async def signout(self, ctx: Context) -> Response:
        response = RedirectResponse(PREFIX + "/signin", status_code=303)
        response.delete_cookie(COOKIE, path=PREFIX)
        return response

    def _set_cookie(self, response: Response, cookie: str, session: Session) -> None:
        response.set_cookie(COOKIE, cookie, max_age=int(self.signer.lifetime), path=PREFIX, httponly=True,
                            samesite="strict", secure=False)
