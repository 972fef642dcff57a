"""The Shopify connector against the Shopify sandbox on real loopback sockets: the shop domain
checked before any URL is made from it, the signed OAuth callback, the actions, and the whole
path through a server: connect a shop by OAuth, install a workflow started by new orders,
an order made in the shop runs it once (Shopify's signature checked, a repeated delivery
recognised by X-Shopify-Webhook-Id), and deactivating removes the webhook."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from solder.apps import shopify as connector
from solder.apps.base import AppContext
from solder.apps.fields import fill_url
from solder.apps.registry import APPS
from solder.apps.sdk import OAuth2
from solder.config import OAuthClientSettings
from solder.engine import reconcile
from solder.errors import BadInput, FatalError, ReconnectNeeded
from solder.sandbox import shopify
from solder.store import installs
from solder.store.tables import credentials, outbox, workflow_installs
from tests.blockflow import Flow
from tests.conftest import Server
from tests.flows import ok, wait_until
from tests.servers import run_asgi

SHOP, TOKEN = "solder-test.myshopify.com", "shpat_connector_tests"
CLIENT_ID, CLIENT_SECRET = "shopify-solder", "shpss_connector_secret_51c2"
APP = APPS["shopify"]


@dataclass
class Box:
    url: str
    shop: shopify.ShopState

    def admin(self) -> httpx2.Client:
        return httpx2.Client(base_url=f"{self.url}/admin/api/{connector.API_VERSION}",
                             headers={"X-Shopify-Access-Token": TOKEN})  # fmt: skip


def store(redirect: str | None = None) -> Any:
    return shopify.create_app(SHOP, TOKEN, CLIENT_ID, CLIENT_SECRET, retry_backoff=0.05,
                              redirect_uris=(redirect,) if redirect else None)  # fmt: skip


@pytest.fixture
def box() -> Iterator[Box]:
    app = store()
    with run_asgi(app) as url:
        yield Box(url, app.state.shop)


@pytest.fixture
def ctx(box: Box) -> Iterator[AppContext]:
    with httpx2.Client(timeout=5) as client:
        yield AppContext({"shop": SHOP, "accessToken": TOKEN}, client, box.url, "http://x")


def run(ctx: AppContext, action: str, inp: dict[str, Any]) -> dict[str, Any]:
    found = APP.actions[action]
    return found.run(ctx, found.input_model.model_validate(inp))


def new_order(box: Box, email: str) -> dict[str, Any]:
    body = {"order": {"email": email, "line_items": [{"title": "Anvil", "price": "25.00"}]}}
    with box.admin() as admin:
        made: dict[str, Any] = ok(admin.post("/orders.json", json=body))["order"]
    return made


# -- the shop domain and the callback's signature, without a network -----------------------------


@pytest.mark.parametrize(
    "shop",
    ["evil.example", "acme.myshopify.com.evil.example", "acme.myshopify.com/x",
     "evil.example/acme.myshopify.com", "x@acme.myshopify.com", "acme.myshopify.com:8443",
     "-acme.myshopify.com", "", "   "],
)  # fmt: skip
def test_only_a_myshopify_domain_is_filled_into_a_url(shop: str) -> None:
    assert isinstance(APP.auth, OAuth2)
    with pytest.raises(BadInput) as refused:
        fill_url(APP.auth.token_url, APP.auth.fields, {"shop": shop})
    assert refused.value.field == "shop"
    url = fill_url(APP.auth.token_url, APP.auth.fields, {"shop": " acme.myshopify.com "})
    assert url == "https://acme.myshopify.com/admin/oauth/access_token"


def test_the_callback_signature_is_shopifys_and_names_what_is_wrong() -> None:
    query = {"code": "c0de", "shop": SHOP, "state": "s.t", "timestamp": "1700000000",
             "host": "YWRtaW4"}  # fmt: skip
    query["hmac"] = shopify.callback_hmac(CLIENT_SECRET, query)
    assert connector.callback_signature(query, CLIENT_SECRET) == query["hmac"]
    connector.verify_callback(query, CLIENT_SECRET, {"shop": SHOP})
    for forged, field in (
        ({**query, "code": "other"}, "hmac"),
        ({**query, "hmac": "0" * 64}, "hmac"),
        ({k: v for k, v in query.items() if k != "hmac"}, "hmac"),
    ):
        with pytest.raises(BadInput) as refused:
            connector.verify_callback(forged, CLIENT_SECRET, {"shop": SHOP})
        assert refused.value.field == field
    other = {**query, "shop": "other.myshopify.com"}
    other["hmac"] = shopify.callback_hmac(CLIENT_SECRET, other)  # Shopify signed it, for another
    with pytest.raises(BadInput) as refused:
        connector.verify_callback(other, CLIENT_SECRET, {"shop": SHOP})
    assert refused.value.field == "shop"


# -- actions against the sandbox -------------------------------------------------------------------


def test_list_orders_pages_with_shopifys_cursor(ctx: AppContext, box: Box) -> None:
    made = [new_order(box, f"o{i}@example.com") for i in range(3)]
    first = run(ctx, "list_orders", {"limit": 2})
    assert [o["id"] for o in first["orders"]] == [o["id"] for o in made[:2]]
    assert first["nextPageInfo"]
    rest = run(ctx, "list_orders", {"limit": 2, "pageInfo": first["nextPageInfo"]})
    assert ([o["id"] for o in rest["orders"]], rest["nextPageInfo"]) == ([made[2]["id"]], None)
    since = run(ctx, "list_orders", {"sinceId": made[1]["id"]})
    assert [o["name"] for o in since["orders"]] == [made[2]["name"]]
    got = run(ctx, "get_order", {"orderId": made[0]["id"]})
    assert (got["email"], got["total_price"]) == ("o0@example.com", "25.00")


def test_create_customer_twice_is_one_customer_updated(ctx: AppContext, box: Box) -> None:
    first = run(ctx, "create_customer", {"email": "ada@example.com", "firstName": "Ada"})
    again = run(ctx, "create_customer",
                {"email": "ada@example.com", "firstName": "Ada", "lastName": "L"})  # fmt: skip
    assert again["id"] == first["id"]
    assert (again["first_name"], again["last_name"]) == ("Ada", "L")
    assert len(box.shop.tables["customers"]) == 1
    changed = run(ctx, "update_customer", {"customerId": first["id"], "note": "vip"})
    assert changed["note"] == "vip"
    other = run(ctx, "create_customer", {"email": "bo@example.com"})
    with pytest.raises(FatalError) as refused:  # Shopify's 422, naming the field
        run(ctx, "update_customer", {"customerId": other["id"], "email": "ada@example.com"})
    assert (refused.value.field, refused.value.message) == (
        "email",
        "email: has already been taken (shopify update customer)",
    )
    with pytest.raises(FatalError, match=r"^email: is invalid") as refused:
        run(ctx, "create_customer", {"email": "not-an-email"})
    assert refused.value.field == "email"
    with pytest.raises(FatalError, match="HTTP 404"):
        run(ctx, "update_customer", {"customerId": 1, "note": "x"})


def test_a_credential_for_another_host_is_never_called(box: Box) -> None:
    with httpx2.Client(timeout=5) as client:
        evil = AppContext({"shop": "evil.example", "accessToken": TOKEN}, client,
                          APP.base_url, "http://x")  # fmt: skip
        with pytest.raises(ReconnectNeeded, match="shop"):
            run(evil, "list_products", {})


# -- through a server: connect, install, webhooks ----------------------------------------------


@pytest.fixture
def provider(server: Server) -> Iterator[Box]:
    app = store(f"{server.url}/oauth/callback")
    with run_asgi(app) as url:
        server.services.settings.oauth_clients["shopify"] = OAuthClientSettings(
            client_id=CLIENT_ID,
            client_secret=SecretStr(CLIENT_SECRET),
            authorize_url=f"{url}/admin/oauth/authorize",
            token_url=f"{url}/admin/oauth/access_token",
        )
        server.services.settings.app_base_urls["shopify"] = url
        yield Box(url, app.state.shop)


def consent_url(api: httpx2.Client, user_id: str, shop: str = SHOP) -> str:
    params = {"app": "shopify", "userId": user_id, "shop": shop}
    url: str = ok(api.get("/headless/oauthUrl", params=params))["data"]["oauthUrl"]
    return url


def connect(api: httpx2.Client, user_id: str) -> str:
    """Follow the consent page back to Solder as a browser would; the credential's id."""
    consent = httpx2.get(consent_url(api, user_id))
    assert consent.status_code in (302, 303), consent.text
    page = httpx2.get(consent.headers["location"])
    assert page.status_code == 200, page.text
    (listed,) = ok(api.get(f"/users/{user_id}/credentials"))["data"]
    return str(listed["credentialId"])


def order_flow(api: httpx2.Client, tmp_path: Path, receiver_url: str, user_id: str,
               cid: str) -> Flow:  # fmt: skip
    """New orders run: list the shop's orders (an action with the stored token), then send
    the order's name and the count to the receiver."""
    flow = Flow(
        api,
        tmp_path,
        [{"key": "recent", "type": "appAction", "app": "shopify", "action": "list_orders",
          "inputs": {"limit": 10}},
         {"key": "send", "type": "streamData",
          "inputs": {"url": f"{receiver_url}/orders",
                     "body": {"name": "{{ trigger.name }}", "email": "{{ trigger.email }}",
                              "orders": "{{ $count(blocks.recent.orders) }}"}}}],
        trigger={"key": "created", "type": "appEvent", "app": "shopify",
                 "event": "order_created"},
    )  # fmt: skip
    flow.release()
    found = ok(api.get("/integrations", params={"userId": user_id}))["data"][0]
    body = {"userId": user_id, "integrationId": found["integrationId"], "credentialIds": [cid]}
    started = ok(api.post("/headless/startInstallation", json=body))
    answers = [{"workflowId": b["workflowId"], "blockId": b["blockId"], "fields": []}
               for b in started["data"]]  # fmt: skip
    done = {"installationId": started["installationId"], "data": answers}
    ok(api.post("/headless/completeInstallation", json=done))
    flow.user_id, flow.workflow_id = user_id, found["workflows"][0]["workflowId"]
    return flow


def test_the_consent_url_is_the_shops_and_asks_no_pkce(
    server: Server, api: httpx2.Client, provider: Box
) -> None:
    user_id = ok(api.post("/users", json={"username": "gregg"}))["userId"]
    url = consent_url(api, user_id)
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(f"{provider.url}/admin/oauth/authorize?")
    assert query["client_id"] == [CLIENT_ID]
    assert query["redirect_uri"] == [f"{server.url}/oauth/callback"]
    assert query["scope"] == ["read_orders,read_products,read_customers,write_customers"]
    assert "code_challenge" not in query
    assert CLIENT_SECRET not in url
    meta = ok(api.get("/metadata/credentials/shopify"))["data"][0]
    assert meta["isOauth"] is True  # a form asks the shop before opening the consent page
    assert [p["name"] for p in meta["properties"]] == ["shop"]
    # without the ISV's override the shop's own host is used
    server.services.settings.oauth_clients["shopify"].authorize_url = None
    assert consent_url(api, user_id, "acme.myshopify.com").startswith(
        "https://acme.myshopify.com/admin/oauth/authorize?"
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [({"shop": "evil.example"}, "shop: 'evil.example' is not a valid Shop domain"),
     ({"shop": "acme.myshopify.com.evil.example"}, "is not a valid Shop domain"),
     ({}, "shop: required")],
)  # fmt: skip
def test_a_shop_that_is_not_a_myshopify_domain_is_refused_naming_the_field(
    api: httpx2.Client, provider: Box, params: dict[str, str], message: str
) -> None:
    user_id = ok(api.post("/users", json={"username": "gregg"}))["userId"]
    refused = api.get("/headless/oauthUrl", params={"app": "shopify", "userId": user_id, **params})
    assert refused.status_code == 422, refused.text
    assert message in refused.json()["message"]
    assert "evil.example" not in str(provider.shop.book.snapshot())


def test_a_forged_callback_is_refused_and_stores_nothing(api: httpx2.Client, provider: Box) -> None:
    user_id = ok(api.post("/users", json={"username": "gregg"}))["userId"]
    consent = httpx2.get(consent_url(api, user_id))
    back = urlsplit(consent.headers["location"])
    query = dict(parse_qs(back.query, keep_blank_values=True))
    signed = {k: v[0] for k, v in query.items()}
    forged = {**signed, "timestamp": str(int(signed["timestamp"]) + 1)}  # hmac left as it was
    page = httpx2.get(f"{back.scheme}://{back.netloc}{back.path}?{urlencode(forged)}")
    assert page.status_code == 400, page.text
    assert "hmac: the callback is not signed by Shopify" in page.text
    other = {**signed, "shop": "other.myshopify.com"}
    other["hmac"] = shopify.callback_hmac(CLIENT_SECRET, other)
    page = httpx2.get(f"{back.scheme}://{back.netloc}{back.path}?{urlencode(other)}")
    assert page.status_code == 400, page.text
    assert "shop: the callback is for another shop" in page.text
    assert ok(api.get(f"/users/{user_id}/credentials"))["data"] == []
    assert provider.shop.book.snapshot()["codes_redeemed"] == 0  # no code was traded
    assert httpx2.get(consent.headers["location"]).status_code == 200  # Shopify's own: taken


def test_an_order_made_in_the_shop_runs_the_workflow_once(
    server: Server, api: httpx2.Client, tmp_path: Path, receiver_url: str, provider: Box
) -> None:
    user_id = ok(api.post("/users", json={"username": "gregg"}))["userId"]
    cid = connect(api, user_id)
    flow = order_flow(api, tmp_path, receiver_url, user_id, cid)
    (hook,) = provider.shop.tables["webhooks"].values()
    assert hook["topic"] == "orders/create"
    assert hook["address"].startswith(f"{server.url}/hooks/shopify/")
    assert hook["format"] == "json"

    order = new_order(provider, "dee@example.com")
    (first,) = flow.finished(1)
    assert first["status"] == "succeeded", first
    got = ok(httpx2.get(f"{receiver_url}/_received"))["data"]
    assert [r["json"] for r in got] == [{"name": order["name"], "email": "dee@example.com",
                                         "orders": 1}]  # fmt: skip
    (sent,) = provider.shop.deliveries.wait_for(lambda d: len(d) == 1)
    assert sent.ok

    # Shopify delivers the same webhook again (its retry): the same X-Shopify-Webhook-Id
    body = json.dumps(order).encode()
    headers = {"X-Shopify-Topic": "orders/create", "X-Shopify-Shop-Domain": SHOP,
               "X-Shopify-Hmac-Sha256": shopify.sign(CLIENT_SECRET, body),
               "X-Shopify-Webhook-Id": sent.webhook_id,
               "Content-Type": "application/json"}  # fmt: skip
    again = httpx2.post(hook["address"], content=body, headers=headers)
    assert again.status_code == 200, again.text
    assert again.json() == {"received": True, "duplicate": True}
    assert len(flow.runs()) == 1

    # tampered, unsigned or signed with another secret: 401, nothing stored
    for bad in (
        {**headers, "X-Shopify-Webhook-Id": "w-2", "X-Shopify-Hmac-Sha256": "AAAA"},
        {k: v for k, v in headers.items() if k != "X-Shopify-Hmac-Sha256"},
        {**headers, "X-Shopify-Webhook-Id": "w-3",
         "X-Shopify-Hmac-Sha256": shopify.sign("shpss_guess", body)},
    ):  # fmt: skip
        refused = httpx2.post(hook["address"], content=body, headers=bad)
        assert refused.status_code == 401, refused.text
        assert "X-Shopify-Hmac-Sha256" in refused.json()["message"]
    changed = body.replace(b"dee@example.com", b"eve@example.com")
    refused = httpx2.post(hook["address"], content=changed,
                          headers={**headers, "X-Shopify-Webhook-Id": "w-4"})  # fmt: skip
    assert refused.status_code == 401, refused.text
    # another topic signed right is not this trigger's event
    other = {**headers, "X-Shopify-Topic": "orders/updated", "X-Shopify-Webhook-Id": "w-5"}
    assert httpx2.post(hook["address"], content=body, headers=other).json()["ignored"] is True
    assert len(flow.runs()) == 1
    assert TOKEN not in str(ok(api.get(f"/users/{user_id}/credentials")))


def test_deactivating_removes_the_webhook_and_activating_makes_it_again(
    api: httpx2.Client, tmp_path: Path, receiver_url: str, provider: Box
) -> None:
    user_id = ok(api.post("/users", json={"username": "gregg"}))["userId"]
    flow = order_flow(api, tmp_path, receiver_url, user_id, connect(api, user_id))
    (first,) = provider.shop.tables["webhooks"]
    body = {"userId": user_id, "workflowId": flow.workflow_id}
    ok(api.put("/workflows/deactivate", json=body))
    assert provider.shop.tables["webhooks"] == {}
    new_order(provider, "nobody@example.com")  # no webhook: nothing runs
    ok(api.put("/workflows/activate", json=body))
    (second,) = provider.shop.tables["webhooks"]
    assert second != first
    new_order(provider, "fay@example.com")
    wait_until("a run", lambda: flow.runs() or None)
    (done,) = flow.finished(1)
    assert done["status"] == "succeeded", done


def test_the_credential_keeps_the_shop_and_calls_it_with_the_token(
    server: Server, api: httpx2.Client, provider: Box
) -> None:
    user_id = ok(api.post("/users", json={"username": "gregg"}))["userId"]
    cid = connect(api, user_id)
    with server.services.engine.connect() as conn:
        row = installs.find_credential(conn, "development", cid)
        data = installs.credential_data(server.services.ring, row)
    assert data["shop"] == SHOP
    assert re.fullmatch(r"shpat_\S+", data["accessToken"])
    assert data.get("expiresAt") is None  # an offline token: it never expires
    assert "refreshToken" not in data


def test_a_token_the_shop_revokes_asks_the_user_to_reconnect(
    server: Server, api: httpx2.Client, tmp_path: Path, receiver_url: str, provider: Box
) -> None:
    """An offline token has no refresh: refused (the merchant removed the app), the
    credential needs reconnecting and the ISV is told, once."""
    user_id = ok(api.post("/users", json={"username": "gregg"}))["userId"]
    cid = connect(api, user_id)
    flow = order_flow(api, tmp_path, receiver_url, user_id, cid)
    provider.shop.book.revoke()
    new_order(provider, "late@example.com")
    (failed,) = flow.finished(1)
    assert failed["status"] == "failed", failed
    with server.services.engine.connect() as conn:
        status = conn.execute(select(credentials.c.status).where(credentials.c.id == cid))
        assert status.scalar_one() == "needs_reconnect"
        notices = conn.execute(select(outbox.c.payload)).scalars().all()
    lapsed = [n for n in notices if n.get("type") == "credential.needs_reconnect"]
    assert [(n["app"], n["credentialId"]) for n in lapsed] == [("shopify", cid)]
    assert ok(httpx2.get(f"{receiver_url}/_received"))["data"] == []


def test_reconciliation_remakes_a_lost_webhook_and_drops_orphans(
    server: Server, api: httpx2.Client, tmp_path: Path, receiver_url: str, provider: Box
) -> None:
    user_id = ok(api.post("/users", json={"username": "gregg"}))["userId"]
    flow = order_flow(api, tmp_path, receiver_url, user_id, connect(api, user_id))
    (live,) = provider.shop.tables["webhooks"]
    with provider.admin() as admin:
        for address in (f"{server.url}/hooks/shopify/gone", "https://elsewhere.example/hook"):
            hook = {"webhook": {"topic": "orders/create", "address": address, "format": "json"}}
            ok(admin.post("/webhooks.json", json=hook))
    del provider.shop.tables["webhooks"][live]  # deleted behind Solder's back
    assert reconcile.reconcile(server.services) == {
        "checked": 1, "remade": 1, "reactivated": 0, "orphans": 1, "errors": 0,
    }  # fmt: skip
    addresses = sorted(w["address"] for w in provider.shop.tables["webhooks"].values())
    assert addresses == sorted(
        ["https://elsewhere.example/hook", f"{server.url}/hooks/shopify/{installed(server)}"]
    )
    new_order(provider, "gil@example.com")
    (done,) = flow.finished(1)
    assert done["status"] == "succeeded", done


def installed(server: Server) -> str:
    with server.services.engine.connect() as conn:
        (install_id,) = conn.execute(select(workflow_installs.c.id)).scalars().all()
    return str(install_id)
