"""The keep-alive pool under ``GuardedClient.send_once``: reuse, stale connections, failures.

A raw HTTP/1.1 server on loopback decides per connection and per request on it whether to
answer, close, answer late or ask to close, and counts what it saw.
"""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx2
import pytest

from solder.config import EgressSettings
from solder.security.egress import EgressPolicy, guarded_client

LOOPBACK_ONLY = EgressPolicy.from_settings(EgressSettings(allow_networks=["127.0.0.1/32"]))
OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n"
BODY = b'{"ok":true}'

Behaviour = Callable[[int, int], str]
"""``(connection number, request number on it) -> what the server does``: "answer", "close"
(hang up without answering), "hangup" (answer, then hang up), "late" (answer after a second),
"last" (answer with ``Connection: close``), or one of ``ANSWERS``' keys (send those bytes;
"until-close" then hangs up, as its answer has no length)."""

ANSWERS = {
    "chunked": b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
    b'4\r\n{"ok\r\n7\r\n":true}\r\n0\r\n\r\n',
    "interim": b"HTTP/1.1 100 Continue\r\n\r\n" + OK + BODY,
    "until-close": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + BODY,
    "garbage": b"SMTP ready\r\n\r\n",
    "split": OK + BODY,  # sent a byte at a time
}


@dataclass
class Server:
    port: int
    connections: int = 0
    requests: list[tuple[int, int, bytes]] = field(default_factory=list)


def _read_request(conn: socket.socket) -> bytes | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        body += conn.recv(65536)
    return body


@pytest.fixture
def serve() -> Iterator[Callable[[Behaviour], Server]]:
    servers: list[socketserver.ThreadingTCPServer] = []

    def start(behaviour: Behaviour) -> Server:
        record = Server(port=0)
        lock = threading.Lock()

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                with lock:
                    record.connections += 1
                    number = record.connections
                conn: socket.socket = self.request
                for nth in range(1, 100):
                    body = _read_request(conn)
                    if body is None:
                        return
                    with lock:
                        record.requests.append((number, nth, body))
                    what = behaviour(number, nth)
                    if what == "split":
                        for byte in ANSWERS[what]:
                            conn.sendall(bytes([byte]))
                        continue
                    if what in ANSWERS:
                        conn.sendall(ANSWERS[what])
                        if what in ("until-close", "garbage"):
                            return
                        continue
                    if what == "close":
                        return
                    if what == "late":
                        time.sleep(1.0)
                    if what == "hangup":  # answers, then closes without saying so
                        conn.sendall(OK + BODY)
                        return
                    if what == "last":
                        conn.sendall(OK.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
                        conn.sendall(BODY)
                        return
                    conn.sendall(OK + BODY)

        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        record.port = server.server_address[1]
        return record

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def post(client: httpx2.Client, port: int, n: int) -> httpx2.Response:
    assert hasattr(client, "send_once")
    return client.send_once(
        "POST", f"http://127.0.0.1:{port}/in", headers={}, content=f'{{"n":{n}}}'.encode()
    )


def test_requests_share_one_connection(serve: Callable[[Behaviour], Server]) -> None:
    server = serve(lambda conn, nth: "answer")
    with guarded_client(LOOPBACK_ONLY, timeout=5) as client:
        answers = [post(client, server.port, n) for n in range(5)]
    assert [a.json() for a in answers] == [{"ok": True}] * 5
    assert server.connections == 1
    assert [body for _, _, body in server.requests] == [f'{{"n":{n}}}'.encode() for n in range(5)]


def test_a_connection_the_server_asks_to_close_is_not_reused(
    serve: Callable[[Behaviour], Server],
) -> None:
    server = serve(lambda conn, nth: "last")
    with guarded_client(LOOPBACK_ONLY, timeout=5) as client:
        assert [post(client, server.port, n).status_code for n in range(3)] == [200] * 3
    assert server.connections == 3


def test_a_connection_closed_while_idle_is_not_used_again(
    serve: Callable[[Behaviour], Server],
) -> None:
    # the server hangs up right after each answer, without saying so in the response
    server = serve(lambda conn, nth: "hangup")
    with guarded_client(LOOPBACK_ONLY, timeout=5) as client:
        for n in range(3):
            assert post(client, server.port, n).status_code == 200
            time.sleep(0.05)  # the server's FIN arrives while the connection is idle
    # each request reached the server once, none lost to a dead keep-alive connection
    assert [(c, nth) for c, nth, _ in server.requests] == [(1, 1), (2, 1), (3, 1)]


def test_a_reused_connection_that_breaks_before_the_answer_is_retried_once_on_a_new_one(
    serve: Callable[[Behaviour], Server],
) -> None:
    server = serve(lambda conn, nth: "close" if (conn, nth) == (1, 2) else "answer")
    with guarded_client(LOOPBACK_ONLY, timeout=5) as client:
        first = post(client, server.port, 1)
        second = post(client, server.port, 2)
    assert (first.status_code, second.status_code) == (200, 200)
    # the second request went out twice: on the kept connection (dropped), then on a new one
    assert [(c, nth) for c, nth, _ in server.requests] == [(1, 1), (1, 2), (2, 1)]


def test_a_new_connection_closed_without_an_answer_is_an_error_not_a_retry(
    serve: Callable[[Behaviour], Server],
) -> None:
    server = serve(lambda conn, nth: "close")
    with (
        guarded_client(LOOPBACK_ONLY, timeout=5) as client,
        pytest.raises(httpx2.RemoteProtocolError, match="closed the connection"),
    ):
        post(client, server.port, 1)
    assert server.connections == 1


def test_a_late_answer_is_a_read_timeout(serve: Callable[[Behaviour], Server]) -> None:
    server = serve(lambda conn, nth: "late")
    with (
        guarded_client(LOOPBACK_ONLY, timeout=0.2) as client,
        pytest.raises(httpx2.ReadTimeout, match=r"127\.0\.0\.1: no answer within 0\.2 s"),
    ):
        post(client, server.port, 1)


def test_a_refused_connection_is_a_connect_error() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with (
        guarded_client(LOOPBACK_ONLY, timeout=2) as client,
        pytest.raises(httpx2.ConnectError, match=r"127\.0\.0\.1"),
    ):
        post(client, port, 1)


@pytest.mark.parametrize(
    ("what", "status", "connections"),
    [("chunked", 201, 1), ("interim", 200, 1), ("split", 200, 1), ("until-close", 200, 3)],
)
def test_every_framing_of_an_answer_is_read_whole(
    serve: Callable[[Behaviour], Server], what: str, status: int, connections: int
) -> None:
    server = serve(lambda conn, nth: what)
    with guarded_client(LOOPBACK_ONLY, timeout=5) as client:
        answers = [post(client, server.port, n) for n in range(3)]
    assert [(a.status_code, a.json()) for a in answers] == [(status, {"ok": True})] * 3
    # kept alive when the answer had a length; a body that ran until the close cannot be
    assert server.connections == connections


def test_an_answer_that_is_not_http_is_a_protocol_error(
    serve: Callable[[Behaviour], Server],
) -> None:
    server = serve(lambda conn, nth: "garbage")
    with (
        guarded_client(LOOPBACK_ONLY, timeout=5) as client,
        pytest.raises(httpx2.RemoteProtocolError, match="not a valid HTTP answer"),
    ):
        post(client, server.port, 1)


@pytest.mark.parametrize(
    ("headers", "says"),
    [
        ({"X-Note": "a\r\nX-Forged: 1"}, "control characters"),
        ({"X-Note": "a\nb"}, "control characters"),
        ({"Bad Name": "x"}, "not a valid HTTP token"),
        ({"X-Note": "snowman \u2603"}, "outside latin-1"),
    ],
)
def test_a_header_that_could_forge_another_is_refused_before_sending(
    serve: Callable[[Behaviour], Server], headers: dict[str, str], says: str
) -> None:
    server = serve(lambda conn, nth: "answer")
    with (
        guarded_client(LOOPBACK_ONLY, timeout=5) as client,
        pytest.raises(httpx2.LocalProtocolError, match=says),
    ):
        client.send_once("POST", f"http://127.0.0.1:{server.port}/in", headers=headers,
                         content=b"{}")  # fmt: skip
    assert server.requests == []
