"""Shipyard Studio: the web console served at ``/studio`` on the server's port.

Server-rendered pages (Jinja2 templates in ``templates/``), live parts polled with htmx, metric curves drawn
with uPlot; both libraries are vendored under ``static/`` (see ``static/VENDORED.md``). Every page and action
runs the API's own operations as the signed-in key (:mod:`.operations`); sign-in and CSRF in :mod:`.session`.

:func:`build` is what the server calls: the console, or, where Jinja2 is not installed, a stand-in that says
so (the API never depends on the console being importable).
"""

from __future__ import annotations

from typing import Any

PREFIX = "/studio"


def wants(path: str) -> bool:
    """Whether a path is the console's."""
    return path == PREFIX or path.startswith(PREFIX + "/")


def build(services: Any) -> Any:
    """The console's ASGI app over ``services``."""
    try:
        from .app import Console
    except ModuleNotFoundError as exc:
        if exc.name != "jinja2":
            raise
        return _missing(f"The console needs Jinja2, which is not installed: pip install jinja2 ({exc}).")
    return Console(services)


def _missing(message: str):
    body = message.encode()

    async def app(scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 501,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
        await send({"type": "http.response.body", "body": body})
    return app


__all__ = ["PREFIX", "build", "wants"]
