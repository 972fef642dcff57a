"""Webhook sending for the sandboxes: background tasks, retries with backoff, a log to wait on.

:func:`post_with_retries` POSTs one body until a 2xx answer or until the retries run out,
reporting every attempt; :class:`DeliveryLog` keeps the attempts so a test thread can block
until the ones it expects are in; :class:`Tasks` holds the background tasks so the app's
lifespan can cancel them at shutdown.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass
from typing import Any, Generic, Protocol, TypeVar

import httpx2


class Attempt(Protocol):
    @property
    def ok(self) -> bool: ...


A = TypeVar("A", bound=Attempt)


class DeliveryLog(Generic[A]):
    """Delivery attempts, appended from the server's loop and read from any thread."""

    def __init__(self) -> None:
        self.items: list[A] = []
        self._changed = threading.Condition()

    def record(self, attempt: A) -> None:
        with self._changed:
            self.items.append(attempt)
            self._changed.notify_all()

    def clear(self) -> None:
        with self._changed:
            self.items.clear()

    def wait_for(self, done: Callable[[list[A]], bool], timeout: float = 5.0) -> list[A]:
        """Block until ``done(attempts)`` holds; call it from a thread other than the server's."""
        with self._changed:
            if not self._changed.wait_for(lambda: done(list(self.items)), timeout):
                raise TimeoutError(f"deliveries so far: {self.items!r}")
            return list(self.items)


async def post_with_retries(
    url: str,
    body: bytes,
    headers: dict[str, str] | Callable[[int], dict[str, str]],
    *,
    retries: int,
    backoff: float,
    transport: httpx2.AsyncBaseTransport | None,
    report: Callable[[int, int | None, str | None], None],
) -> bool:
    """POST until a 2xx answer, ``retries`` more times at most, sleeping ``backoff * 2**n``.

    ``report(attempt, status, error)`` is called after each attempt; answers whether one got
    through. ``headers`` may be a function of the attempt number, for apps that sign each attempt
    anew (Stripe, Slack).
    """
    async with httpx2.AsyncClient(transport=transport, timeout=5.0) as client:
        for attempt in range(1, retries + 2):
            status: int | None = None
            error: str | None = None
            try:
                sent = headers(attempt) if callable(headers) else headers
                status = (await client.post(url, content=body, headers=sent)).status_code
            except httpx2.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            report(attempt, status, error)
            if status is not None and 200 <= status < 300:
                return True
            if attempt <= retries:
                await asyncio.sleep(backoff * 2 ** (attempt - 1))
    return False


@dataclass(frozen=True)
class Sent:
    """One attempt to POST one event (``key``: its id) to ``url``, for sandboxes that log
    attempts by event rather than by subscription."""

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


class Tasks:
    """Background tasks that outlive the request that started them, cancelled at shutdown."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
