"""The load generator: a small keep-alive HTTP/1.1 client on asyncio, closed and open loop.

httpx2 costs a few hundred microseconds of CPU per request; at the rates measured here on two
shared cores that would make the client the bottleneck. This client sends pre-encoded requests
on persistent connections and reads ``Content-Length`` bodies, which is all the Solder API
answers. Every figure it returns carries the client's own CPU time, so a reader can see whether
the client was the limit.

* :func:`closed_loop`: ``concurrency`` connections, each sending its next request as soon as
  the previous answer arrives (throughput at saturation).
* :func:`open_loop`: request ``i`` is due at ``start + i / rate`` whatever the server does
  (no coordinated omission); latency is counted from the due time.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


class HttpError(Exception):
    """A request failed at the transport level or answered a status the caller refused."""


def encode(method: str, path: str, headers: dict[str, str], body: Any = None) -> bytes:
    content = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body is not None:
        lines.append("Content-Type: application/json")
    lines.append(f"Content-Length: {len(content)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + content


class Connection:
    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        for attempt in (1, 2):  # a keep-alive connection the server closed: reconnect once
            try:
                if self.writer is None:
                    self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
                assert self.reader is not None
                self.writer.write(raw)
                head = await self.reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = 0
                close = False
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"connection" and value.strip().lower() == b"close":
                        close = True
                body = await self.reader.readexactly(length)
                if close:
                    self.close()
                return status, body
            except (ConnectionError, asyncio.IncompleteReadError, OSError) as exc:
                self.close()
                if attempt == 2:
                    raise HttpError(f"request failed: {exc!r}") from exc
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


@dataclass
class Sent:
    """One request's fate; times are ``time.monotonic()`` seconds."""

    due: float
    sent: float = 0.0
    done: float = 0.0
    status: int = 0
    body: bytes = b""


@dataclass
class Load:
    results: list[Sent]
    started: float
    finished: float
    client_cpu_s: float
    connections: int
    errors: list[str] = field(default_factory=list)

    @property
    def wall_s(self) -> float:
        return self.finished - self.started

    def ok(self) -> int:
        return sum(1 for r in self.results if r.status == 200)

    def summary(self) -> dict[str, Any]:
        lat = sorted(r.done - r.sent for r in self.results if r.status == 200)
        return {
            "requests": len(self.results),
            "ok": self.ok(),
            "errors": len(self.results) - self.ok(),
            "first_errors": self.errors[:3],
            "wall_s": round(self.wall_s, 3),
            "ok_per_s": round(self.ok() / self.wall_s, 1) if self.wall_s > 0 else None,
            "response_ms": percentiles(lat),
            "connections": self.connections,
            "client_cpu_s": round(self.client_cpu_s, 2),
            "client_cpu_share": round(self.client_cpu_s / self.wall_s, 2) if self.wall_s else None,
        }


def percentiles(values: Sequence[float], scale: float = 1000.0) -> dict[str, float | None]:
    """p50/p90/p99/max of sorted ``values`` (seconds), in milliseconds by default."""
    if not values:
        return {"p50": None, "p90": None, "p99": None, "max": None, "n": 0}

    def at(q: float) -> float:
        return round(values[min(len(values) - 1, int(q * len(values)))] * scale, 2)

    return {"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "max": at(1.0), "n": len(values)}


async def closed_loop(port: int, requests: Sequence[bytes], concurrency: int) -> Load:
    results = [Sent(0.0) for _ in requests]
    errors: list[str] = []
    cursor = iter(range(len(requests)))

    async def worker() -> None:
        conn = Connection(port)
        try:
            for i in cursor:
                r = results[i]
                r.due = r.sent = time.monotonic()
                try:
                    r.status, r.body = await conn.request(requests[i])
                except HttpError as exc:
                    errors.append(str(exc))
                r.done = time.monotonic()
                if r.status not in (0, 200) and len(errors) < 10:
                    errors.append(f"HTTP {r.status}: {r.body[:200]!r}")
        finally:
            conn.close()

    cpu0, t0 = time.process_time(), time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Load(results, t0, time.monotonic(), time.process_time() - cpu0, concurrency, errors)


async def open_loop(
    port: int, requests: Sequence[bytes], rate: float, max_connections: int = 256
) -> Load:
    """Send request ``i`` at ``start + i / rate``; a request waits for a free connection
    (counted in its latency) when ``max_connections`` are busy."""
    free: list[Connection] = []
    opened = 0
    available = asyncio.Condition()
    errors: list[str] = []
    start = time.monotonic() + 0.05
    results = [Sent(start + i / rate) for i in range(len(requests))]

    async def one(i: int) -> None:
        nonlocal opened
        async with available:
            while not free and opened >= max_connections:
                await available.wait()
            if free:
                conn = free.pop()
            else:
                opened += 1
                conn = Connection(port)
        r = results[i]
        r.sent = time.monotonic()
        try:
            r.status, r.body = await conn.request(requests[i])
        except HttpError as exc:
            errors.append(str(exc))
        r.done = time.monotonic()
        if r.status not in (0, 200) and len(errors) < 10:
            errors.append(f"HTTP {r.status}: {r.body[:200]!r}")
        async with available:
            free.append(conn)
            available.notify()

    cpu0 = time.process_time()
    tasks = []
    for i, r in enumerate(results):
        delay = r.due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    for conn in free:
        conn.close()
    return Load(results, start, time.monotonic(), time.process_time() - cpu0, opened, errors)


async def call(port: int, method: str, path: str, headers: dict[str, str], body: Any = None) -> Any:
    """One request on a fresh connection; the decoded JSON answer, or HttpError."""
    conn = Connection(port)
    try:
        status, raw = await conn.request(encode(method, path, headers, body))
    finally:
        conn.close()
    if status >= 400:
        raise HttpError(f"{method} {path}: HTTP {status}: {raw[:300]!r}")
    return json.loads(raw) if raw else None
