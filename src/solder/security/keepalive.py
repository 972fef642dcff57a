"""Keep-alive connections for one-shot requests, on the standard library's ``http.client``.

Stream Data sends one POST per run, so the cost of one request is a large share of what a
run costs. ``http.client`` sends and reads a request in about 40 % of the CPU time that
httpcore's pool needs for the same exchange (``docs/adr/0006-hot-path.md``), so the guarded
client's lean path (``GuardedClient.send_once``) goes through this pool instead.

The guard is unchanged: a connection's TCP socket comes from the ``opener`` (the egress
backend's ``open_socket``), which resolves the host once, checks every address and dials a
checked literal; TLS then runs against the original host name (SNI and the certificate check).

A connection goes back to the pool only when its response was read whole and the server did
not ask to close it; an idle one is dropped after ``KEEPALIVE_S`` or when its socket shows
data or end-of-file before reuse. A request that fails on a reused connection before any
answer arrived (the server closed it meanwhile) is sent once more on a new connection: the
receiver sees at most one extra delivery, which Stream Data's idempotency key covers.

Errors are those of ``httpx2`` so callers map them in one place (``apps/http.fetch``):
``ConnectError``/``ConnectTimeout`` from the opener, ``ReadTimeout`` when the answer is late,
``ReadError`` or ``RemoteProtocolError`` when the exchange breaks.
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import NamedTuple

import httpx2

Opener = Callable[[str, int, float], socket.socket]
"""``(host, port, timeout) -> connected socket``; raises ``httpx2.ConnectError`` and friends."""

KEEPALIVE_S = 5.0
MAX_IDLE_PER_HOST = 32
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class Answer(NamedTuple):
    status: int
    headers: list[tuple[str, str]]
    content: bytes


class _Plain(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, timeout: float, opener: Opener) -> None:
        super().__init__(host, port, timeout=timeout)
        self._opener = opener
        self._limit = timeout
        self.idle_since = 0.0

    def connect(self) -> None:
        self.sock = self._opener(self.host, self.port, self._limit)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _TLS(_Plain):
    def __init__(
        self, host: str, port: int, timeout: float, opener: Opener, context: ssl.SSLContext
    ) -> None:
        super().__init__(host, port, timeout, opener)
        self._context = context

    def connect(self) -> None:
        super().connect()
        try:
            self.sock = self._context.wrap_socket(self.sock, server_hostname=self.host)
        except (ssl.SSLError, OSError) as exc:
            self.close()
            raise httpx2.ConnectError(f"{self.host}: TLS: {exc}") from exc


def _unusable(sock: socket.socket | None) -> bool:
    """An idle keep-alive socket that is readable was closed by the server (or sent junk)."""
    if sock is None:
        return True
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


class KeepAlivePool:
    """Idle connections per ``(scheme, host, port)``; safe to share between threads."""

    def __init__(self, opener: Opener, context: ssl.SSLContext, timeout: float) -> None:
        self._opener = opener
        self._context = context
        self._timeout = timeout
        self._idle: dict[tuple[str, str, int], deque[_Plain]] = {}
        self._lock = threading.Lock()

    def request(
        self,
        scheme: str,
        host: str,
        port: int,
        method: str,
        target: str,
        headers: dict[str, str],
        content: bytes,
    ) -> Answer:
        key = (scheme, host, port)
        conn = self._take(key)
        if conn is not None:
            try:
                return self._exchange(key, conn, method, target, headers, content)
            except _STALE:
                conn.close()  # closed by the server while idle: once more, on a new one
        return self._exchange(key, self._new(key), method, target, headers, content)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()

    def _new(self, key: tuple[str, str, int]) -> _Plain:
        scheme, host, port = key
        if scheme == "https":
            return _TLS(host, port, self._timeout, self._opener, self._context)
        return _Plain(host, port, self._timeout, self._opener)

    def _take(self, key: tuple[str, str, int]) -> _Plain | None:
        now = time.monotonic()
        while True:
            with self._lock:
                conns = self._idle.get(key)
                if not conns:
                    return None
                conn = conns.pop()
            if now - conn.idle_since < KEEPALIVE_S and not _unusable(conn.sock):
                return conn
            conn.close()

    def _give_back(self, key: tuple[str, str, int], conn: _Plain) -> None:
        conn.idle_since = time.monotonic()
        with self._lock:
            conns = self._idle.setdefault(key, deque())
            if len(conns) < MAX_IDLE_PER_HOST:
                conns.append(conn)
                return
        conn.close()

    def _exchange(
        self,
        key: tuple[str, str, int],
        conn: _Plain,
        method: str,
        target: str,
        headers: dict[str, str],
        content: bytes,
    ) -> Answer:
        reused = conn.sock is not None
        try:
            conn.request(method, target, body=content, headers=headers)
            response = conn.getresponse()
            body = response.read()
        except _STALE as exc:
            conn.close()
            if reused:
                raise  # the caller retries once on a new connection
            closed = httpx2.RemoteProtocolError(f"{key[1]}: the server closed the connection")
            raise closed from exc
        except TimeoutError as exc:
            conn.close()
            raise httpx2.ReadTimeout(f"{key[1]}: no answer within {self._timeout} s") from exc
        except http.client.HTTPException as exc:
            conn.close()
            raise httpx2.RemoteProtocolError(f"{key[1]}: {type(exc).__name__}: {exc}") from exc
        except OSError as exc:
            conn.close()
            raise httpx2.ReadError(f"{key[1]}: {exc}") from exc
        answer = Answer(response.status, response.getheaders(), body)
        if response.will_close or conn.sock is None:
            conn.close()
        else:
            self._give_back(key, conn)
        return answer
