"""Keep-alive connections for one-shot requests: the request written by hand, the answer
parsed by httptools (llhttp, the parser under uvicorn).

Stream Data sends one POST per run, so the cost of one request is a large share of what a
run costs. Writing the request head as bytes and parsing the answer with httptools costs about
a fifth of the CPU time ``http.client`` needs for the same exchange, which itself needs 40 %
of httpcore's (``docs/adr/0006-hot-path.md``); the guarded client's lean path
(``GuardedClient.send_once``) goes through this pool. Only what that path sends is written:
a method other than HEAD, a target already encoded by ``httpx2.URL``, header names and values
without control characters (refused otherwise, as ``http.client`` refuses them), a body with
its ``Content-Length``. The answer may use any HTTP/1.x framing (length, chunked, or until
the server closes); interim 1xx answers are skipped.

The guard is unchanged: a connection's TCP socket comes from the ``opener`` (the egress
backend's ``open_socket``), which resolves the host once, checks every address and dials a
checked literal; TLS then runs against the original host name (SNI and the certificate check).

A connection goes back to the pool only when its response was read whole and both sides keep
it alive; an idle one is dropped after ``KEEPALIVE_S`` or when its socket shows data or
end-of-file before reuse. A request that fails on a reused connection before any byte of an
answer arrived (the server closed it meanwhile) is sent once more on a new connection: the
receiver sees at most one extra delivery, which Stream Data's idempotency key covers.

Errors are those of ``httpx2`` so callers map them in one place (``apps/http.fetch``):
``ConnectError``/``ConnectTimeout`` from the opener, ``ReadTimeout`` when the answer is late,
``ReadError`` or ``RemoteProtocolError`` when the exchange breaks, ``LocalProtocolError`` for
a header Solder will not send.
"""

from __future__ import annotations

import re
import select
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import NamedTuple

import httptools
import httpx2

Opener = Callable[[str, int, float], socket.socket]
"""``(host, port, timeout) -> connected socket``; raises ``httpx2.ConnectError`` and friends."""

KEEPALIVE_S = 5.0
MAX_IDLE_PER_HOST = 32
READ_CHUNK = 65536
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_FORBIDDEN_IN_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class Answer(NamedTuple):
    status: int
    headers: list[tuple[str, str]]
    content: bytes


class _Stale(Exception):
    """A reused connection ended before any byte of the answer: send once more, on a new one."""


class _Conn:
    __slots__ = ("host", "idle_since", "sock")

    def __init__(self, sock: socket.socket, host: str) -> None:
        self.sock = sock
        self.host = host
        self.idle_since = 0.0

    def close(self) -> None:
        self.sock.close()


class _Reading:
    """httptools' callbacks for one answer."""

    __slots__ = ("body", "complete", "headers", "headers_done", "keep_alive", "parser")

    def __init__(self) -> None:
        self.headers: list[tuple[str, str]] = []
        self.body: list[bytes] = []
        self.headers_done = False
        self.complete = False
        self.keep_alive = False
        self.parser = httptools.HttpResponseParser(self)

    def on_header(self, name: bytes, value: bytes | None) -> None:
        self.headers.append((name.decode("latin-1"), (value or b"").decode("latin-1")))

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        # asked here: once the parser is past the message it no longer knows
        self.keep_alive = self.parser.should_keep_alive()
        self.complete = True


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


def request_head(method: str, target: str, headers: dict[str, str], length: int) -> bytes:
    """The request line and headers, refusing what would let a value forge another header."""
    if method == "HEAD" or not _TOKEN.match(method):
        raise httpx2.LocalProtocolError(f"method {method!r} cannot be sent here")
    if not target.startswith("/") or any(c in target for c in " \r\n\t"):
        raise httpx2.LocalProtocolError("the request target must be an encoded path")
    lines = [f"{method} {target} HTTP/1.1\r\n"]
    for name, value in headers.items():
        if not _TOKEN.match(name):
            raise httpx2.LocalProtocolError(f"header name {name!r} is not a valid HTTP token")
        if _FORBIDDEN_IN_VALUE.search(value):
            raise httpx2.LocalProtocolError(f"header {name}: control characters in its value")
        if name.lower() != "content-length":
            lines.append(f"{name}: {value}\r\n")
    lines.append(f"Content-Length: {length}\r\n\r\n")
    try:
        return "".join(lines).encode("latin-1")
    except UnicodeEncodeError as exc:
        raise httpx2.LocalProtocolError(
            f"a header holds characters outside latin-1: {exc}"
        ) from exc


class KeepAlivePool:
    """Idle connections per ``(scheme, host, port)``; safe to share between threads."""

    def __init__(self, opener: Opener, context: ssl.SSLContext, timeout: float) -> None:
        self._opener = opener
        self._context = context
        self._timeout = timeout
        self._idle: dict[tuple[str, str, int], deque[_Conn]] = {}
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
        wire = request_head(method, target, headers, len(content)) + content
        conn = self._take(key)
        if conn is not None:
            try:
                return self._exchange(key, conn, wire, reused=True)
            except _Stale:
                pass  # closed by the server while idle: once more, on a new one
        return self._exchange(key, self._new(key), wire, reused=False)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()

    def _new(self, key: tuple[str, str, int]) -> _Conn:
        scheme, host, port = key
        sock = self._opener(host, port, self._timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == "https":
                sock = self._context.wrap_socket(sock, server_hostname=host)
        except (ssl.SSLError, OSError) as exc:
            sock.close()
            raise httpx2.ConnectError(f"{host}: TLS: {exc}") from exc
        return _Conn(sock, host)

    def _take(self, key: tuple[str, str, int]) -> _Conn | None:
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

    def _give_back(self, key: tuple[str, str, int], conn: _Conn) -> None:
        conn.idle_since = time.monotonic()
        with self._lock:
            conns = self._idle.setdefault(key, deque())
            if len(conns) < MAX_IDLE_PER_HOST:
                conns.append(conn)
                return
        conn.close()

    def _exchange(
        self, key: tuple[str, str, int], conn: _Conn, wire: bytes, *, reused: bool
    ) -> Answer:
        host = key[1]
        try:
            conn.sock.settimeout(self._timeout)
            try:
                conn.sock.sendall(wire)
            except (ConnectionResetError, BrokenPipeError) as exc:
                if reused:
                    raise _Stale from exc
                raise
            answer, keep = self._read(conn, reused=reused)
        except _Stale:
            conn.close()
            raise
        except TimeoutError as exc:
            conn.close()
            raise httpx2.ReadTimeout(f"{host}: no answer within {self._timeout} s") from exc
        except httptools.HttpParserError as exc:
            conn.close()
            raise httpx2.RemoteProtocolError(f"{host}: not a valid HTTP answer: {exc}") from exc
        except (ConnectionResetError, BrokenPipeError) as exc:
            conn.close()
            raise httpx2.RemoteProtocolError(f"{host}: the server closed the connection") from exc
        except OSError as exc:
            conn.close()
            raise httpx2.ReadError(f"{host}: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        if keep:
            self._give_back(key, conn)
        else:
            conn.close()
        return answer

    def _read(self, conn: _Conn, *, reused: bool) -> tuple[Answer, bool]:
        """The answer, and whether the connection may be used again."""
        seen = False
        while True:  # once more after each interim (1xx) answer
            reading = _Reading()
            parser = reading.parser
            while not reading.complete:
                try:
                    data = conn.sock.recv(READ_CHUNK)
                except ConnectionResetError:
                    if reused and not seen:
                        raise _Stale from None
                    raise
                if not data:
                    if reading.headers_done and not _framed(reading.headers):
                        reading.complete = True  # the body ran until the server closed
                        break
                    if reused and not seen:
                        raise _Stale
                    raise httpx2.RemoteProtocolError(
                        f"{conn.host}: the server closed the connection before a whole answer"
                    )
                seen = True
                try:
                    parser.feed_data(data)
                except httptools.HttpParserUpgrade:
                    raise httpx2.RemoteProtocolError(
                        f"{conn.host}: asked to switch protocols"
                    ) from None
            status = parser.get_status_code()
            if 100 <= status < 200:
                continue
            keep = reading.keep_alive and _framed(reading.headers)
            return Answer(status, reading.headers, b"".join(reading.body)), keep


def _framed(headers: list[tuple[str, str]]) -> bool:
    """Whether the answer says where its body ends (else it ends when the server closes)."""
    return any(name.lower() in ("content-length", "transfer-encoding") for name, _ in headers)
