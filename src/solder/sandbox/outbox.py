"""Webhook sending shared by the Slack and Stripe sandboxes: background POSTs, retried, logged.

Each attempt gets fresh headers from a callable (both apps sign every attempt with a new
timestamp, and Slack numbers its retries). A 2xx answer ends the delivery; a connection error,
a timeout or any other status is retried after ``backoff * 2 ** (attempt - 1)`` seconds, up to
``retries`` times. Every attempt is appended to the log (:class:`Delivery`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import httpx2

log = logging.getLogger(__name__)

# (attempt, the previous attempt or None) -> the headers of this attempt
Headers = Callable[[int, "Delivery | None"], dict[str, str]]


@dataclass(frozen=True)
class Delivery:
    """One attempt to POST one payload (``key``: the event id) to ``url``."""

    key: str
    url: str
    attempt: int
    status_code: int | None
    error: str | None
    at: float

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


class Outbox:
    """Sends from background tasks; call :meth:`aclose` in the app's lifespan shutdown."""

    def __init__(
        self,
        retries: int,
        backoff: float,
        transport: httpx2.AsyncBaseTransport | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.retries = retries
        self.backoff = backoff
        self.deliveries: list[Delivery] = []
        self._transport = transport
        self._timeout = timeout
        self._tasks: set[asyncio.Task[None]] = set()
        self._changed = threading.Condition()

    def clear(self) -> None:
        with self._changed:
            self.deliveries.clear()

    def record(self, delivery: Delivery) -> None:
        with self._changed:
            self.deliveries.append(delivery)
            self._changed.notify_all()

    def wait_for(
        self, done: Callable[[list[Delivery]], bool], timeout: float = 5.0
    ) -> list[Delivery]:
        """Block until ``done(deliveries)`` holds; call it from a thread other than the server's."""
        with self._changed:
            if not self._changed.wait_for(lambda: done(list(self.deliveries)), timeout):
                raise TimeoutError(f"deliveries so far: {self.deliveries!r}")
            return list(self.deliveries)

    def send(self, key: str, url: str, body: bytes, headers: Headers) -> None:
        """Start delivering ``body`` to ``url`` in the background (needs a running loop)."""
        task = asyncio.create_task(self._deliver(key, url, body, headers))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def post_once(self, url: str, body: bytes, headers: dict[str, str]) -> httpx2.Response:
        """One POST, awaited (for handshakes whose answer matters, like Slack's challenge)."""
        async with httpx2.AsyncClient(transport=self._transport, timeout=self._timeout) as client:
            return await client.post(url, content=body, headers=headers)

    async def _deliver(self, key: str, url: str, body: bytes, headers: Headers) -> None:
        async with httpx2.AsyncClient(transport=self._transport, timeout=self._timeout) as client:
            previous: Delivery | None = None
            for attempt in range(1, self.retries + 2):
                status: int | None = None
                error: str | None = None
                try:
                    response = await client.post(
                        url, content=body, headers=headers(attempt, previous)
                    )
                    status = response.status_code
                except httpx2.HTTPError as exc:
                    error = f"{type(exc).__name__}: {exc}"
                delivery = Delivery(key, url, attempt, status, error, time.time())
                self.record(delivery)
                previous = delivery
                if delivery.ok:
                    return
                if attempt <= self.retries:
                    await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
        log.warning("gave up sending %s to %s", key, url)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
