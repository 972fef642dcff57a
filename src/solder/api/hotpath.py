"""A short way in for the hottest endpoint, past the framework's per-request machinery.

``POST /run/event`` is what an ISV's backend calls for every event of every user. Its FastAPI
route stays the documented one (OpenAPI, and the same handler); this middleware only reaches
that handler without the dependency solving, route matching and exception-middleware layers
around it, which cost about as much as the handler itself (``docs/benchmarks.md``). It sits
inside the body limit and the version prefix, so a request is checked and its path normalised
exactly as for any other route, and errors get the same ``{"message": ...}`` answers.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from solder.api.errors import answer

Handler = Callable[[Request], Awaitable[Any]]
_JSON = (b"content-type", b"application/json")


class HotPath:
    def __init__(self, app: ASGIApp, routes: dict[tuple[str, str], Handler]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = (
            self.routes.get((scope["method"], scope["path"])) if scope["type"] == "http" else None
        )
        if handler is None:
            await self.app(scope, receive, send)
            return
        try:
            status, body = 200, await handler(Request(scope, receive))
        except Exception as exc:  # noqa: BLE001 - every error becomes its answer, as elsewhere
            status, message = answer(exc)
            body = {"message": message}
        raw = json.dumps(body).encode()
        headers = [_JSON, (b"content-length", str(len(raw)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": raw})
