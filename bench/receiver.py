"""The ISV's endpoint for the benchmarks: a bare asyncio HTTP/1.1 server in its own process.

It answers ``POST /in`` with 200 and records, per delivery, the ``Idempotency-Key`` (one per
run and step), the event number ``n`` from the JSON body and the arrival time on
``time.monotonic()`` (``CLOCK_MONOTONIC``: the same clock in every process of the machine, so
the load generator can subtract its own send times). ``GET /stats`` answers the counts,
``GET /stats?full=1`` adds every arrival, ``POST /reset`` forgets everything.

It is not Starlette or uvicorn on purpose: the receiver shares the two cores with the server
under test, so it should cost as little CPU per request as it can.

Run: ``python bench/receiver.py --port 9100``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'


class Record:
    def __init__(self) -> None:
        self.keys: set[str] = set()
        self.arrivals: dict[int, float] = {}
        self.duplicate_keys = 0
        self.duplicate_events = 0
        self.first = 0.0
        self.last = 0.0

    def add(self, key: str, body: bytes) -> None:
        now = time.monotonic()
        if key in self.keys:
            self.duplicate_keys += 1
            return
        self.keys.add(key)
        try:
            n = int(json.loads(body)["n"])
        except (ValueError, KeyError, TypeError):
            n = -1
        if n in self.arrivals:
            self.duplicate_events += 1  # a second run for one event: a different key, same n
        else:
            self.arrivals[n] = now
        self.first = self.first or now
        self.last = now

    def stats(self, full: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "unique": len(self.arrivals),
            "deliveries": len(self.keys) + self.duplicate_keys,
            "duplicate_keys": self.duplicate_keys,
            "duplicate_events": self.duplicate_events,
            "first": self.first,
            "last": self.last,
        }
        if full:
            out["arrivals"] = self.arrivals
        return out


def _response(payload: Any) -> bytes:
    body = json.dumps(payload).encode()
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
    return head.encode() + b"\r\n\r\n" + body


async def serve(port: int) -> None:
    record = Record()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal record
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                if method == "POST" and target == "/in":
                    record.add(headers.get("idempotency-key", ""), body)
                    writer.write(OK)
                elif method == "POST" and target == "/reset":
                    record = Record()
                    writer.write(_response({"reset": True}))
                else:
                    writer.write(_response(record.stats(full=target.endswith("full=1"))))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    asyncio.run(serve(ap.parse_args().port))


if __name__ == "__main__":
    main()
