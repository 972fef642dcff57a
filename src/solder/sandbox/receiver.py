"""A stand-in for the ISV's own server: records what Solder's Stream Data and HTTP blocks send.

Any POST, PUT, PATCH or DELETE to any path is recorded (method, path, full URL, headers, body,
``verified``: the ``X-Alloy-Signature`` check, ``None`` when no public key is known) and
answered ``200 {"received": true}``. Control endpoints::

    GET    /_received   {"data": [record, ...]}
    DELETE /_received   forget the records
    POST   /_fail       {"status": 503, "count": 2, "retry_after": 1}: the next ``count``
                        requests answer ``status`` (with ``Retry-After``); they are recorded too
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

import httpx2
import uvicorn
from cryptography.hazmat.primitives import serialization
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from solder.security.signing import SIGNATURE_HEADER, verify

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Received:
    """One request the receiver got, and the status it answered."""

    method: str
    path: str
    url: str
    headers: dict[str, str]
    body: str
    json: Any
    verified: bool | None
    status: int
    at: float


class ReceiverState:
    """Records and failure mode, in memory; tests reach it as ``app.state.receiver``."""

    def __init__(
        self,
        public_key_pem: bytes | None,
        public_key_url: str | None,
        transport: httpx2.AsyncBaseTransport | None,
    ) -> None:
        if public_key_pem is not None:
            serialization.load_pem_public_key(public_key_pem)  # fail now on a bad key
        self.public_key_pem = public_key_pem
        self.public_key_url = public_key_url
        self.records: list[Received] = []
        self.fail_status = 503
        self.fail_remaining = 0
        self.fail_retry_after: int | None = None
        self._transport = transport
        self._key_lock = asyncio.Lock()
        self._changed = threading.Condition()

    def record(self, received: Received) -> None:
        with self._changed:
            self.records.append(received)
            self._changed.notify_all()

    def clear(self) -> None:
        with self._changed:
            self.records.clear()
            self.fail_remaining = 0

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        """Block until ``count`` requests are recorded; call it from another thread."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.records) >= count, timeout):
                raise TimeoutError(f"{len(self.records)} of {count} requests received")
            return list(self.records)

    async def public_key(self) -> bytes | None:
        """The configured key, or the one fetched (once) from ``public_key_url``."""
        if self.public_key_pem is not None or self.public_key_url is None:
            return self.public_key_pem
        async with self._key_lock:
            if self.public_key_pem is None:
                try:
                    async with httpx2.AsyncClient(transport=self._transport) as client:
                        response = await client.get(self.public_key_url)
                        response.raise_for_status()
                    serialization.load_pem_public_key(response.content)
                    self.public_key_pem = response.content
                except (httpx2.HTTPError, ValueError) as exc:
                    log.warning("cannot load the public key from %s: %s", self.public_key_url, exc)
        return self.public_key_pem


def full_url(request: Request) -> str:
    """The URL as the client sent it (raw path, not the decoded one)."""
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string", b"")
    host = request.headers.get("host", request.url.netloc)
    url = f"{request.url.scheme}://{host}{raw_path.decode('latin-1')}"
    return f"{url}?{query.decode('latin-1')}" if query else url


async def receive(request: Request) -> Response:
    state: ReceiverState = request.app.state.receiver
    body = await request.body()
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
    url = full_url(request)
    key = await state.public_key()
    verified: bool | None = None
    if key is not None:
        signature = request.headers.get(SIGNATURE_HEADER)
        verified = signature is not None and verify(key, request.method, url, body, signature)
    status, headers = 200, {}
    if state.fail_remaining > 0:
        state.fail_remaining -= 1
        status = state.fail_status
        if state.fail_retry_after is not None:
            headers["Retry-After"] = str(state.fail_retry_after)
    received = Received(
        method=request.method,
        path=request.url.path,
        url=url,
        headers=dict(request.headers),
        body=body.decode("utf-8", "replace"),
        json=parsed,
        verified=verified,
        status=status,
        at=time.time(),
    )
    state.record(received)
    if status != 200:
        return JSONResponse({"error": "sandbox failure mode"}, status, headers)
    return JSONResponse({"received": True})


async def list_received(request: Request) -> Response:
    state: ReceiverState = request.app.state.receiver
    return JSONResponse({"data": [asdict(r) for r in list(state.records)]})


async def clear_received(request: Request) -> Response:
    state: ReceiverState = request.app.state.receiver
    state.clear()
    return Response(status_code=204)


async def set_failure(request: Request) -> Response:
    state: ReceiverState = request.app.state.receiver
    try:
        body = json.loads(await request.body())
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return JSONResponse({"error": "body must be a JSON object"}, 400)
    status, count, retry_after = (
        body.get("status", 503),
        body.get("count", 1),
        body.get("retry_after"),
    )
    problems = [
        name
        for name, ok in (
            ("status", isinstance(status, int) and 300 <= status <= 599),
            ("count", isinstance(count, int) and count >= 0),
            ("retry_after", retry_after is None or isinstance(retry_after, int | float)),
        )
        if not ok or isinstance(body.get(name), bool)
    ]
    if problems:
        return JSONResponse({"error": f"invalid: {', '.join(problems)}"}, 400)
    state.fail_status = status
    state.fail_remaining = count
    state.fail_retry_after = None if retry_after is None else max(0, math.ceil(retry_after))
    return JSONResponse({"status": status, "count": count, "retry_after": state.fail_retry_after})


def create_app(
    public_key_pem: bytes | None = None,
    *,
    public_key_url: str | None = None,
    transport: httpx2.AsyncBaseTransport | None = None,
) -> Starlette:
    """A receiver; its state is ``app.state.receiver`` (a :class:`ReceiverState`).

    With ``public_key_url`` and no PEM, the key is fetched on the first request that needs it.
    """
    app = Starlette(
        routes=[
            Route("/_received", list_received, methods=["GET"]),
            Route("/_received", clear_received, methods=["DELETE"]),
            Route("/_fail", set_failure, methods=["POST"]),
            Route("/{path:path}", receive, methods=["POST", "PUT", "PATCH", "DELETE"]),
        ]
    )
    app.state.receiver = ReceiverState(public_key_pem, public_key_url, transport)
    return app


def serve(host: str, port: int, public_key_url: str | None = None) -> None:
    """Run a receiver under uvicorn until interrupted."""
    uvicorn.run(create_app(public_key_url=public_key_url), host=host, port=port, log_level="info")
