"""A short way in for the hottest endpoint, in front of the whole middleware stack.

``POST /run/event`` is what an ISV's backend calls for every event of every user. Its FastAPI
route stays the documented one (OpenAPI, and the same handler); :class:`Api` answers it before
FastAPI's middleware stack (exception and telemetry layers, body limit, CORS, version prefix,
route matching), which together cost about as much as the handler itself
(``docs/benchmarks.md``). Only the plain case is taken here: a request with a
``Content-Length`` within the limit, no ``Origin`` and no ``x-api-version`` header. Anything
else (a browser's request, a chunked body, a version header to check) goes through the stack
as for any other route, so every answer stays the same; errors get the same
``{"message": ..., "field": ...}`` bodies.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from solder.api.errors import answer
from solder.api.errors import body as error_body
from solder.api.versioning import PATH_VERSIONS

Handler = Callable[[Request], Awaitable[Any]]
_JSON = (b"content-type", b"application/json")
_STACK_HEADERS = frozenset({b"origin", b"x-api-version", b"transfer-encoding"})


class Api(FastAPI):
    """The FastAPI application, with ``hot`` routes answered before its middleware stack."""

    hot: dict[str, Handler]
    """``path -> handler`` of POST routes to take the short way (unversioned paths)."""
    max_body_bytes: int = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = self._hot_handler(scope)
        if handler is None:
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self  # what FastAPI sets, and what the handler reads its services from
        try:
            status, body = 200, await handler(Request(scope, receive))
        except Exception as exc:  # noqa: BLE001 - every error becomes its answer, as elsewhere
            status, message = answer(exc)
            body = error_body(exc, message)
        raw = json.dumps(body).encode()
        headers = [_JSON, (b"content-length", str(len(raw)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": raw})

    def _hot_handler(self, scope: Scope) -> Handler | None:
        if scope["type"] != "http" or scope["method"] != "POST" or not getattr(self, "hot", None):
            return None
        path: str = scope["path"]
        first, _, rest = path.lstrip("/").partition("/")
        handler = self.hot.get("/" + rest if first in PATH_VERSIONS else path)
        if handler is None:
            return None
        length = -1
        for name, value in scope["headers"]:
            if name in _STACK_HEADERS:
                return None
            if name == b"content-length":
                length = int(value) if value.isdigit() else -1
        if length < 0 or length > self.max_body_bytes:
            return None  # the stack's body limit counts it, or refuses it with its message
        return handler
