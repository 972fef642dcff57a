"""One router, every API version: dated path prefixes and the ``x-api-version`` header.

``/2023-12/users`` and ``/users`` with ``x-api-version: 2025-09`` reach the same route. The
prefix is stripped before routing; an unknown version in the header is a 400.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

PATH_VERSIONS = ("2023-01", "2023-06", "2023-12", "2024-03", "2024-06", "2025-01", "2025-09")
HEADER_VERSIONS = frozenset(PATH_VERSIONS)


class VersionPrefix:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            first, _, rest = path.lstrip("/").partition("/")
            if first in PATH_VERSIONS:
                scope = dict(scope)
                scope["path"] = "/" + rest
                scope["raw_path"] = ("/" + rest).encode()
            else:
                for name, value in scope["headers"]:
                    if name == b"x-api-version" and value.decode() not in HEADER_VERSIONS:
                        await _reject(send, f"x-api-version: unknown version {value.decode()!r}")
                        return
        await self.app(scope, receive, send)


async def _reject(send: Send, message: str) -> None:
    body = json.dumps({"message": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})
