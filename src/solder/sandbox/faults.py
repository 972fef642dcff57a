"""Faults on demand for any sandbox app: the next API calls answer a chosen status.

``with_faults(app, render)`` wraps a sandbox's ASGI app. ``POST /_sandbox/faults`` with
``{"status": 429, "count": 2, "headers": {"Retry-After": "3"}}`` makes the next two API calls
(any path outside ``/_sandbox/``) answer 429 with those headers and the body ``render(status)``
gives, in that app's own error shape, without reaching the app. ``DELETE /_sandbox/faults``
clears them; ``GET`` lists what is queued. The conformance suite uses it to check that every
connector maps 429 and 5xx answers to the right error kinds.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

Render = Callable[[int], Any]
"""The JSON body an app sends with ``status``, in its own error shape."""


class FaultQueue:
    def __init__(self) -> None:
        self._queued: list[tuple[int, dict[str, str]]] = []
        self._lock = threading.Lock()

    def add(self, status: int, count: int, headers: dict[str, str]) -> None:
        with self._lock:
            self._queued += [(status, headers)] * count

    def take(self) -> tuple[int, dict[str, str]] | None:
        with self._lock:
            return self._queued.pop(0) if self._queued else None

    def clear(self) -> None:
        with self._lock:
            self._queued.clear()

    def listed(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{"status": s, "headers": h} for s, h in self._queued]


async def _json(send: Send, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
    raw = json.dumps(body).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    head += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": raw})


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def with_faults(app: ASGIApp, render: Render) -> ASGIApp:
    """``app`` answering queued faults first; the queue is ``wrapped.faults``."""
    queue = FaultQueue()

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        if path == "/_sandbox/faults":
            if method == "POST":
                try:
                    asked = json.loads(await _body(receive) or b"{}")
                    status = int(asked["status"])
                    count = int(asked.get("count", 1))
                    headers = {str(k): str(v) for k, v in dict(asked.get("headers", {})).items()}
                    if not 400 <= status <= 599 or count < 1:
                        raise ValueError("status must be 4xx or 5xx, count at least 1")
                except (ValueError, KeyError, TypeError) as exc:
                    await _json(send, 400, {"error": f"faults: {exc}"})
                    return
                queue.add(status, count, headers)
            elif method == "DELETE":
                queue.clear()
            await _json(send, 200, {"queued": queue.listed()})
            return
        fault = None if path.startswith("/_sandbox/") else queue.take()
        if fault is None:
            await app(scope, receive, send)
            return
        status, headers = fault
        await _json(send, status, render(status), headers)

    wrapped.faults = queue  # type: ignore[attr-defined]
    wrapped.state = getattr(app, "state", None)  # type: ignore[attr-defined]
    return wrapped
