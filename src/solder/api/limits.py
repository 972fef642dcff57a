"""Limits on what a caller may send: request body size, and failed attempts per key.

``BodyLimit``: ``Content-Length`` over the cap gets a 413 at once; a body sent without a
length (chunked) is counted as it arrives and refused when it passes the cap.

``FailureLimit``: failures counted per key (an account's email, a client address) over a
fixed window; once a key reaches the limit, :meth:`FailureLimit.wait` says how long until
its window ends. Held in memory by each process.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._refuse(send)
                return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {"message": f"body: larger than the limit of {self.max_bytes} bytes"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


class FailureLimit:
    def __init__(
        self,
        limit: int,
        window: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self.max_keys = max_keys
        self._seen: dict[str, tuple[float, int]] = {}  # key -> (window start, failures)
        self._lock = threading.Lock()

    def wait(self, key: str) -> float | None:
        """Seconds until ``key`` may try again, or None when it may now."""
        with self._lock:
            entry = self._seen.get(key)
            if entry is None:
                return None
            left = entry[0] + self.window - self.clock()
            if left <= 0:
                del self._seen[key]
                return None
            return left if entry[1] >= self.limit else None

    def failed(self, key: str) -> None:
        with self._lock:
            now = self.clock()
            start, count = self._seen.pop(key, (now, 0))
            if start + self.window <= now:
                start, count = now, 0
            self._seen[key] = (start, count + 1)  # re-inserted: the dict stays oldest first
            if len(self._seen) > self.max_keys:
                self._forget(now)

    def clear(self, key: str) -> None:
        with self._lock:
            self._seen.pop(key, None)

    def _forget(self, now: float) -> None:
        """Drop ended windows, then the least recently failed keys, down to ``max_keys``."""
        for key in [k for k, (start, _) in self._seen.items() if start + self.window <= now]:
            del self._seen[key]
        while len(self._seen) > self.max_keys:
            del self._seen[next(iter(self._seen))]
