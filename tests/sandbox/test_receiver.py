"""The receiver sandbox, on a real loopback socket."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from solder.sandbox import receiver
from solder.security.signing import (
    SIGNATURE_HEADER,
    generate_private_key,
    public_key_pem,
    sign,
)
from tests.servers import run_asgi


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return generate_private_key()


@pytest.fixture(scope="module")
def shared() -> Iterator[tuple[str, receiver.ReceiverState]]:
    app = receiver.create_app()
    with run_asgi(app) as url:
        yield url, app.state.receiver


@pytest.fixture
def plain(
    shared: tuple[str, receiver.ReceiverState],
) -> Iterator[tuple[str, receiver.ReceiverState]]:
    """A receiver without a key, emptied for each test."""
    shared[1].clear()
    yield shared
    shared[1].clear()


def test_records_any_write_and_answers_received(
    plain: tuple[str, receiver.ReceiverState],
) -> None:
    url, state = plain
    with httpx2.Client(base_url=url) as client:
        first = client.post("/isv/orders?src=solder", json={"id": 7}, headers={"X-Trace": "t1"})
        second = client.put("/isv/orders/7", content=b"not json")
        listed = client.get("/_received")

    assert first.status_code == 200
    assert first.json() == {"received": True}
    assert second.status_code == 200
    records = listed.json()["data"]
    assert [(r["method"], r["path"], r["status"]) for r in records] == [
        ("POST", "/isv/orders", 200),
        ("PUT", "/isv/orders/7", 200),
    ]
    assert records[0]["url"] == f"{url}/isv/orders?src=solder"
    assert records[0]["json"] == {"id": 7}
    assert records[0]["headers"]["x-trace"] == "t1"
    assert records[0]["verified"] is None
    assert records[1]["json"] is None
    assert records[1]["body"] == "not json"
    assert state.records[0].json == {"id": 7}


def test_delete_received_forgets_records(plain: tuple[str, receiver.ReceiverState]) -> None:
    url, state = plain
    with httpx2.Client(base_url=url) as client:
        client.post("/a", json={})
        cleared = client.delete("/_received")
        listed = client.get("/_received")
    assert cleared.status_code == 204
    assert listed.json() == {"data": []}
    assert state.records == []


def test_failure_mode_answers_status_then_recovers(
    plain: tuple[str, receiver.ReceiverState],
) -> None:
    url, state = plain
    with httpx2.Client(base_url=url) as client:
        armed = client.post("/_fail", json={"status": 503, "count": 2, "retry_after": 1})
        answers = [client.post("/stream", json={"n": n}) for n in range(3)]

    assert armed.json() == {"status": 503, "count": 2, "retry_after": 1}
    assert [r.status_code for r in answers] == [503, 503, 200]
    assert answers[0].headers["retry-after"] == "1"
    assert "retry-after" not in answers[2].headers
    assert [(r.status, r.json) for r in state.records] == [
        (503, {"n": 0}),
        (503, {"n": 1}),
        (200, {"n": 2}),
    ]


@pytest.mark.parametrize(
    "body",
    [{"status": 200}, {"status": "503"}, {"count": -1}, {"retry_after": "soon"}, [1]],
)
def test_failure_mode_rejects_bad_settings(
    plain: tuple[str, receiver.ReceiverState], body: object
) -> None:
    url, state = plain
    with httpx2.Client(base_url=url) as client:
        answer = client.post("/_fail", json=body)
    assert answer.status_code == 400
    assert state.fail_remaining == 0


def test_verifies_alloy_signature(key: rsa.RSAPrivateKey) -> None:
    app = receiver.create_app(public_key_pem(key))
    body = b'{"event":"order.created","id":101}'
    with run_asgi(app) as url, httpx2.Client() as client:
        target = f"{url}/hooks/solder?workflow=wf_1"
        good = {SIGNATURE_HEADER: sign(key, "POST", target, body)}
        client.post(target, content=body, headers=good)
        client.post(target, content=body.replace(b"101", b"102"), headers=good)
        client.post(target, content=body)
        other = {SIGNATURE_HEADER: sign(generate_private_key(), "POST", target, body)}
        client.post(target, content=body, headers=other)

    assert [r.verified for r in app.state.receiver.records] == [True, False, False, False]


def test_fetches_public_key_from_url_once(key: rsa.RSAPrivateKey) -> None:
    fetched: list[str] = []

    def key_server(request: httpx2.Request) -> httpx2.Response:
        fetched.append(str(request.url))
        return httpx2.Response(200, content=public_key_pem(key))

    app = receiver.create_app(
        public_key_url="http://solder.test/signing-key", transport=httpx2.MockTransport(key_server)
    )
    with run_asgi(app) as url, httpx2.Client() as client:
        for n in range(2):
            body = f'{{"n": {n}}}'.encode()
            signature = sign(key, "POST", f"{url}/in", body)
            client.post(f"{url}/in", content=body, headers={SIGNATURE_HEADER: signature})

    assert fetched == ["http://solder.test/signing-key"]
    assert [r.verified for r in app.state.receiver.records] == [True, True]


def test_unreachable_key_url_leaves_requests_unverified() -> None:
    def down(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("refused", request=request)

    app = receiver.create_app(
        public_key_url="http://solder.test/signing-key", transport=httpx2.MockTransport(down)
    )
    with run_asgi(app) as url, httpx2.Client() as client:
        answer = client.post(f"{url}/in", json={}, headers={SIGNATURE_HEADER: "AAAA"})
    assert answer.status_code == 200
    assert app.state.receiver.records[0].verified is None


def test_rejects_a_bad_configured_key() -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - cryptography's own message varies
        receiver.create_app(b"-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")
