"""POST /passthrough against the sandbox BigCommerce store over real sockets.

The store's access token is a canary: no answer, header or log line may ever show it.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from solder.apps import passthrough
from solder.apps.registry import APPS
from solder.sandbox import bigcommerce
from solder.store import installs
from tests.api.test_oauth import Provider, connect, provider  # noqa: F401 - a fixture
from tests.conftest import STORE_HASH, Server
from tests.flows import ok
from tests.servers import run_asgi

CANARY = "canary-5f1c9e-store-token-never-shown"
ORDER = {
    "products": [{"name": "Widget", "quantity": 2, "price_inc_tax": 5}],
    "billing_address": {"first_name": "Ada", "email": "ada@example.com"},
}
Store = tuple[str, bigcommerce.StoreState]


@pytest.fixture
def sandbox_store() -> Iterator[Store]:
    app = bigcommerce.create_app(STORE_HASH, CANARY, retry_backoff=0.05)
    with run_asgi(app) as url:
        yield url, app.state.store


def new_credential(api: httpx2.Client, username: str) -> tuple[str, str]:
    user_id = ok(api.post("/users", json={"username": username}))["userId"]
    credential = {"type": "bigcommerce", "data": {"storeHash": STORE_HASH, "accessToken": CANARY}}
    added = ok(
        api.post("/headless/credentials", json={"userId": user_id, "credential": credential})
    )
    return user_id, added["credentialId"]


def browser(server: Server, api: httpx2.Client, user_id: str) -> httpx2.Client:
    token = ok(api.get(f"/users/{user_id}/token"))["token"]
    return httpx2.Client(
        base_url=server.url + "/2023-12", headers={"x-alloy-user-token": token}, timeout=10
    )


@pytest.fixture
def alice(api: httpx2.Client) -> tuple[str, str]:
    return new_credential(api, "alice")


@pytest.fixture(params=["api-key", "user-token"])
def caller(
    request: pytest.FixtureRequest, server: Server, api: httpx2.Client, alice: tuple[str, str]
) -> Iterator[httpx2.Client]:
    """The ISV's API key, or alice's own user token: both may use alice's credential."""
    if request.param == "api-key":
        yield api
        return
    with browser(server, api, alice[0]) as client:
        yield client


def call(client: httpx2.Client, credential_id: str, **body: Any) -> httpx2.Response:
    payload = {"body": None, "query": None, "extraHeaders": None, **body}
    return client.post("/passthrough", params={"credentialId": credential_id}, json=payload)


def refused(resp: httpx2.Response, status: int, *words: str) -> str:
    assert resp.status_code == status, resp.text
    assert set(resp.json()) - {"field"} == {"message"}, resp.text
    message: str = resp.json()["message"]
    for word in words:
        assert word in message, message
    return message


# ---- answers -------------------------------------------------------------------------------


def test_post_creates_an_order_and_get_lists_orders(
    caller: httpx2.Client, alice: tuple[str, str], sandbox_store: Store
) -> None:
    _, store = sandbox_store
    created = call(caller, alice[1], method="POST", path="/v2/orders", body=ORDER)
    assert created.status_code == 201, created.text
    answer = created.json()
    assert set(answer) == {"statusCode", "headers", "data"}
    assert answer["statusCode"] == 201
    assert answer["headers"]["content-type"] == "application/json"
    first = answer["data"]["id"]
    assert store.orders[first]["billing_address"]["first_name"] == "Ada"

    # Alloy's form: body and extraHeaders as strings holding JSON, method in any case
    again = call(caller, alice[1], method="post", path="v2/orders",
                 body=json.dumps(ORDER), extraHeaders='{"X-Trace": "t1"}')  # fmt: skip
    assert again.status_code == 201, again.text
    second = again.json()["data"]["id"]
    assert sorted(store.orders) == [first, second]

    listed = call(caller, alice[1], method="GET", path="/v2/orders")
    assert listed.status_code == 200, listed.text
    assert [o["id"] for o in listed.json()["data"]] == [first, second]

    newest = call(caller, alice[1], method="GET", path="/v2/orders",
                  query={"sort": "id:desc", "limit": 1})  # fmt: skip
    assert [o["id"] for o in ok(newest)["data"]] == [second]

    shipped = call(caller, alice[1], method="PUT", path=f"/v2/orders/{second}",
                   body={"status_id": 2})  # fmt: skip
    assert ok(shipped)["data"]["status"] == "Shipped"
    assert store.orders[second]["status_id"] == 2


def test_provider_errors_and_empty_answers_pass_through(
    caller: httpx2.Client, alice: tuple[str, str]
) -> None:
    missing = call(caller, alice[1], method="GET", path="/v2/orders/424242")
    assert missing.status_code == 404, missing.text
    assert missing.json()["statusCode"] == 404
    assert missing.json()["data"] == [
        {"status": 404, "message": "The requested resource was not found."}
    ]

    bad = call(caller, alice[1], method="GET", path="/v2/orders", query={"sort": "price"})
    assert bad.status_code == 400, bad.text
    assert bad.json()["data"][0]["message"] == "The sort field is not supported"

    unknown = call(caller, alice[1], method="DELETE", path="/v3/nothing-here")
    assert unknown.status_code == 404, unknown.text
    assert unknown.json()["data"]["title"] == "The requested resource was not found."

    empty = call(caller, alice[1], method="GET", path="/v2/orders")  # BigCommerce: 204, no body
    assert (empty.status_code, empty.content) == (204, b"")


def test_a_user_token_reaches_only_its_own_credentials(
    server: Server, api: httpx2.Client, alice: tuple[str, str]
) -> None:
    _, bobs_credential = new_credential(api, "bob")
    with browser(server, api, alice[0]) as client:
        ok(call(client, alice[1], method="POST", path="/v2/orders", body=ORDER))
        refused(call(client, bobs_credential, method="GET", path="/v2/orders"), 404,
                "credentialId", bobs_credential)  # fmt: skip
    # the API key reaches every credential of its environment, and none of the other one
    assert ok(call(api, bobs_credential, method="GET", path="/v2/orders"))["statusCode"] == 200
    with server.client(server.prod_key) as prod:
        refused(call(prod, alice[1], method="GET", path="/v2/orders"), 404, "credentialId")
    refused(call(api, "nope", method="GET", path="/v2/orders"), 404, "credentialId", "nope")


# ---- refusals ------------------------------------------------------------------------------

REFUSALS: list[tuple[dict[str, Any], str]] = [
    ({"method": "TRACE", "path": "/v2/orders"}, "method"),
    ({"method": "CONNECT", "path": "/v2/orders"}, "method"),
    ({"method": "GET", "path": "http://evil.example/v2/orders"}, "path"),
    ({"method": "GET", "path": "https:/v2/orders"}, "path"),
    ({"method": "GET", "path": "//evil.example/v2/orders"}, "path"),
    ({"method": "GET", "path": "/v2/../../teststore2/v2/orders"}, "path"),
    ({"method": "GET", "path": "/v2/%2e%2e/%2E%2E/other/v2/orders"}, "path"),
    ({"method": "GET", "path": "/v2/..%2f..%2fother"}, "path"),
    ({"method": "GET", "path": "\\\\evil.example\\v2"}, "path"),
    ({"method": "GET", "path": "/v2/orders?limit=1"}, "path"),
    ({"method": "GET", "path": "/v2/orders#x"}, "path"),
    ({"method": "GET", "path": "/v2/or ders"}, "path"),
    ({"method": "GET", "path": "/v2/or\tders"}, "path"),
    ({"method": "POST", "path": "/v2/orders", "body": '{"a": NaN}'}, "body"),
    ({"method": "GET", "path": "/v2/orders\r\nX-Injected: 1"}, "path"),
    ({"method": "GET", "path": "/v2/orders", "query": {"filter": {"id": 1}}}, "query.filter"),
    ({"method": "GET", "path": "/v2/orders", "query": {"ids": [1, [2]]}}, "query.ids"),
    ({"method": "GET", "path": "/v2/orders", "query": {"min_id": None}}, "query.min_id"),
    ({"method": "GET", "path": "/v2/orders", "query": [["limit", 1]]}, "query"),
    ({"method": "GET", "path": "/v2/orders", "query": "limit=1"}, "query"),
    ({"method": "GET", "path": "/v2/orders", "body": {"a": 1}}, "body"),
    ({"method": "POST", "path": "/v2/orders", "body": "{not json"}, "body"),
    ({"method": "GET", "path": "/v2/orders", "extraHeaders": ["X-A: 1"]}, "extraHeaders"),
    ({"method": "GET", "path": "/v2/orders", "extraHeaders": "nope"}, "extraHeaders"),
]
REFUSED_HEADERS = ["X-Auth-Token", "x-auth-token", "Authorization", "Host", "Content-Length",
                   "Transfer-Encoding", "Connection", "Upgrade", "Proxy-Authorization", "TE",
                   "Accept"]  # fmt: skip
BAD_HEADER_VALUES: list[tuple[str, Any]] = [
    ("X-Split", "a\r\nX-Auth-Token: stolen"),
    ("X-Nul", "a\u0001b"),
    ("X-Obj", {"a": 1}),
    ("X-Null", None),
    ("Bad Name", "x"),
    ("X-Colon:", "x"),
]


def test_each_bad_field_is_a_400_naming_it_and_nothing_is_sent(
    caller: httpx2.Client, alice: tuple[str, str], sandbox_store: Store
) -> None:
    _, store = sandbox_store
    probes = list(REFUSALS)
    for name in REFUSED_HEADERS:
        probes.append(
            ({"method": "POST", "path": "/v2/orders", "body": ORDER, "extraHeaders": {name: "x"}},
             f"extraHeaders.{name}")
        )  # fmt: skip
    for name, value in BAD_HEADER_VALUES:
        body = {"method": "POST", "path": "/v2/orders", "body": ORDER}
        probes.append(({**body, "extraHeaders": {name: value}}, f"extraHeaders.{name}"))
    failures = []
    for body, field in probes:
        resp = call(caller, alice[1], **body)
        message = resp.json().get("message", "") if resp.status_code < 500 else resp.text
        if resp.status_code != 400 or not message.startswith(f"{field}:"):
            failures.append(f"{body!r}: {resp.status_code} {resp.text[:200]}")
    assert not failures, "\n".join(failures)
    assert store.orders == {}


def test_missing_or_mistyped_fields_are_422_naming_them(
    api: httpx2.Client, alice: tuple[str, str]
) -> None:
    refused(api.post("/passthrough", json={"method": "GET", "path": "/v2/orders"}), 422,
            "credentialId")  # fmt: skip
    refused(call(api, alice[1], path="/v2/orders"), 422, "method")
    refused(call(api, alice[1], method="GET"), 422, "path")
    refused(call(api, alice[1], method=5, path="/v2/orders"), 422, "method")
    refused(call(api, alice[1], method="GET", path=""), 422, "path")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_network_failure_is_502_naming_the_app_and_egress_refusal_is_400(
    server: Server, api: httpx2.Client, alice: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    urls = server.services.settings.app_base_urls
    monkeypatch.setitem(urls, "bigcommerce", f"http://127.0.0.1:{closed_port()}")
    refused(call(api, alice[1], method="GET", path="/v2/orders"), 502, "BigCommerce")
    # only 127.0.0.1/32 is allowed in the tests' egress settings
    monkeypatch.setitem(urls, "bigcommerce", "http://127.0.0.2:9")
    refused(call(api, alice[1], method="GET", path="/v2/orders"), 400, "path", "loopback")


# ---- the credential never shows ------------------------------------------------------------


def test_the_credential_shows_in_no_answer_header_or_log(
    server: Server,
    api: httpx2.Client,
    alice: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    answers: list[httpx2.Response] = []
    cid = alice[1]
    with browser(server, api, alice[0]) as client:
        for who in (api, client):
            answers += [
                call(who, cid, method="POST", path="/v2/orders", body=ORDER),
                call(who, cid, method="GET", path="/v2/orders"),
                call(who, cid, method="GET", path="/v2/orders/424242"),
                call(who, cid, method="GET", path="http://evil.example/"),
                call(who, cid, method="GET", path="/v2", extraHeaders={"X-Auth-Token": CANARY}),
                call(who, "nope", method="GET", path="/v2/orders"),
            ]
        # a provider that echoes the token back: a hook whose custom header holds it
        hook = {"scope": "store/order/created", "destination": "https://receiver.example/h",
                "is_active": False, "headers": {"X-Echo": CANARY}}  # fmt: skip
        echoed = call(api, cid, method="POST", path="/v3/hooks", body=hook)
        assert echoed.status_code == 200, echoed.text
        assert echoed.json()["data"]["data"]["headers"] == {"X-Echo": "[redacted]"}
        answers += [echoed, call(client, cid, method="GET", path="/v3/hooks")]
        urls = server.services.settings.app_base_urls
        monkeypatch.setitem(urls, "bigcommerce", f"http://127.0.0.1:{closed_port()}")
        answers.append(call(client, cid, method="GET", path="/v2/orders"))
        monkeypatch.setitem(urls, "bigcommerce", "http://127.0.0.2:9")
        answers.append(call(client, cid, method="GET", path="/v2/orders"))
    statuses = sorted({a.status_code for a in answers})
    assert statuses == [200, 201, 400, 404, 502], statuses
    for answer in answers:
        assert CANARY not in answer.text, answer.text
        assert all(CANARY not in v for v in answer.headers.values()), answer.headers
    logged = [r.getMessage() for r in caplog.records]
    assert any("passthrough GET to bigcommerce" in line for line in logged), logged
    assert not [line for line in logged if CANARY in line]


# ---- OAuth2 apps ---------------------------------------------------------------------------


def test_an_oauth2_token_the_provider_refuses_is_refreshed_once_and_never_shown(
    server: Server,
    api: httpx2.Client,
    provider: Provider,  # noqa: F811 - the fixture imported above
) -> None:
    user_id = ok(api.post("/users", json={"username": "gregg"}))["userId"]
    connect(api, user_id)
    (listed,) = ok(api.get(f"/users/{user_id}/credentials"))["data"]
    cid = listed["credentialId"]

    items = call(api, cid, method="GET", path="/items")  # under the app's root, /api
    assert items.status_code == 200, items.text
    assert items.json()["data"]
    assert provider.book.snapshot()["refreshes"] == 0

    provider.book.expire_all()  # refused though Solder thinks it fresh: one refresh, sent again
    again = call(api, cid, method="GET", path="/me")
    assert again.status_code == 200, again.text
    assert provider.book.snapshot()["refreshes"] == 1
    with server.services.reader.connect() as conn:
        row = installs.find_credential(conn, "development", cid)
    stored = installs.credential_data(server.services.ring, row)
    for answer in (items, again):
        for secret in (stored["accessToken"], stored["refreshToken"]):
            assert secret not in answer.text
            assert all(secret not in v for v in answer.headers.values())

    provider.book.revoke()  # refused again after the refresh: the user must connect again
    refused(call(api, cid, method="GET", path="/me"), 409, "credentialId")


def test_secrets_are_found_by_declared_flag_and_by_name() -> None:
    sandbox = APPS["oauth2_sandbox"]  # declares no credential fields: its tokens go by name
    found = passthrough.secrets_of(
        sandbox, {"accessToken": "a-token-1", "refreshToken": 'r"tok', "scope": "items:read"}
    )
    assert found == ["a-token-1", 'r\\"tok', 'r"tok']
    store = passthrough.secrets_of(
        APPS["bigcommerce"], {"storeHash": STORE_HASH, "accessToken": CANARY}
    )
    assert store == [CANARY]
    assert passthrough.masked(f"x{CANARY}y", store) == "x[redacted]y"
