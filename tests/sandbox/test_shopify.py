"""The Shopify sandbox, on real loopback sockets, delivering webhooks to the receiver sandbox."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest

from solder.sandbox import receiver, shopify
from tests.servers import run_asgi

DOMAIN = "solder-sandbox.myshopify.com"
TOKEN = "shpat_sandbox_static"
CLIENT_ID, CLIENT_SECRET = "shopify-client", "shopify-secret"
CALLBACK = "http://127.0.0.1:9/shopify/callback"
ORDER = {"email": "ada@example.com", "line_items": [{"title": "Mug", "quantity": 2, "price": "10"}]}
LINK = re.compile(r'<([^>]+)>; rel="(next|previous)"')


@dataclass
class Boxes:
    url: str
    shop: shopify.ShopState
    receiver_url: str
    received: receiver.ReceiverState
    http: httpx2.Client  # no credentials

    def api(self, version: str = "2025-01", token: str = TOKEN) -> httpx2.Client:
        base = f"{self.url}/admin/api/{version}"
        return httpx2.Client(base_url=base, headers={"X-Shopify-Access-Token": token})


@pytest.fixture(scope="module")
def shared() -> Iterator[tuple[str, shopify.ShopState, str, receiver.ReceiverState]]:
    sink = receiver.create_app()
    app = shopify.create_app(
        DOMAIN,
        TOKEN,
        CLIENT_ID,
        CLIENT_SECRET,
        redirect_uris=(CALLBACK,),
        webhook_retries=2,
        retry_backoff=0.02,
    )
    with run_asgi(sink) as sink_url, run_asgi(app) as url:
        yield url, app.state.shop, sink_url, sink.state.receiver


@pytest.fixture
def boxes(shared: tuple[str, shopify.ShopState, str, receiver.ReceiverState]) -> Iterator[Boxes]:
    url, shop, sink_url, received = shared
    shop.reset()
    shop.book.deny = False
    received.clear()
    with httpx2.Client(base_url=url) as http:
        yield Boxes(url, shop, sink_url, received, http)


@pytest.fixture
def api(boxes: Boxes) -> Iterator[httpx2.Client]:
    with boxes.api() as client:
        yield client


def links(answer: httpx2.Response) -> dict[str, str]:
    return {rel: url for url, rel in LINK.findall(answer.headers.get("link", ""))}


def test_auth_version_and_call_limit_header(boxes: Boxes) -> None:
    with boxes.api(token="wrong") as bad, boxes.api("2023-01") as old:
        denied = bad.get("/orders.json")
        unknown_version = old.get("/orders.json")
    missing = boxes.http.get("/admin/api/2025-01/orders.json")
    for answer in (denied, missing):
        assert answer.status_code == 401
        assert answer.json() == {"errors": shopify.UNAUTHORIZED}
        assert re.fullmatch(r"\d+/40", answer.headers["x-shopify-shop-api-call-limit"])
    assert (unknown_version.status_code, unknown_version.json()) == (404, {"errors": "Not Found"})
    nowhere = boxes.http.get("/admin/api/2025-01/nothing.json")
    assert (nowhere.status_code, nowhere.json()) == (404, {"errors": "Not Found"})
    for version in ("2024-10", "2025-01"):
        with boxes.api(version) as client:
            answer = client.get("/orders.json")
        assert (answer.status_code, answer.json()) == (200, {"orders": []})
        assert answer.headers["x-shopify-api-version"] == version
        assert re.fullmatch(r"\d+/40", answer.headers["x-shopify-shop-api-call-limit"])


def test_order_create_read_update(api: httpx2.Client) -> None:
    created = api.post("/orders.json", json={"order": ORDER})
    assert created.status_code == 201, created.text
    order = created.json()["order"]
    assert (order["name"], order["order_number"], order["total_price"]) == ("#1001", 1001, "20.00")
    assert order["admin_graphql_api_id"] == f"gid://shopify/Order/{order['id']}"
    assert order["line_items"][0]["price"] == "10.00"
    assert api.get(f"/orders/{order['id']}.json").json() == {"order": order}
    updated = api.put(f"/orders/{order['id']}.json", json={"order": {"note": "gift"}})
    assert updated.json()["order"]["note"] == "gift"
    assert api.get(f"/orders/{order['id']}.json").json()["order"]["note"] == "gift"
    missing = api.get("/orders/1.json")
    assert (missing.status_code, missing.json()) == (404, {"errors": "Not Found"})
    no_root = api.post("/orders.json", json=ORDER)
    assert no_root.status_code == 400
    assert no_root.json() == {"errors": {"order": "Required parameter missing or invalid"}}
    empty = api.post("/orders.json", json={"order": {"line_items": []}})
    assert empty.status_code == 422
    assert empty.json() == {"errors": {"line_items": ["must have at least one line item"]}}


def test_order_status_filter_and_count(api: httpx2.Client) -> None:
    ids = [api.post("/orders.json", json={"order": ORDER}).json()["order"]["id"] for _ in range(3)]
    api.post(f"/orders/{ids[0]}/close.json")
    cancelled = api.post(f"/orders/{ids[1]}/cancel.json", json={"reason": "customer"})
    assert cancelled.json()["order"]["cancel_reason"] == "customer"
    assert api.post(f"/orders/{ids[1]}/cancel.json").status_code == 422

    def listed(**params: str) -> list[int]:
        return [o["id"] for o in api.get("/orders.json", params=params).json()["orders"]]

    assert listed() == [ids[2]]
    assert listed(status="any") == ids
    assert listed(status="closed") == [ids[0]]
    assert listed(status="cancelled") == [ids[1]]
    assert listed(status="any", since_id=str(ids[0])) == ids[1:]
    assert api.get("/orders/count.json", params={"status": "any"}).json() == {"count": 3}
    assert api.get("/orders/count.json").json() == {"count": 1}
    only = api.get("/orders.json", params={"status": "any", "fields": "id,name"}).json()
    assert set(only["orders"][0]) == {"id", "name"}


def test_link_header_pagination_walk(api: httpx2.Client) -> None:
    ids = [
        api.post("/customers.json", json={"customer": {"email": f"c{i}@example.com"}}).json()[
            "customer"
        ]["id"]
        for i in range(7)
    ]
    first = api.get("/customers.json", params={"limit": 3})
    assert "previous" not in links(first)
    seen, pages, answer = [], [first], first
    while "next" in links(answer):
        answer = api.get(links(answer)["next"])
        assert answer.status_code == 200, answer.text
        pages.append(answer)
    for page in pages:
        seen += [c["id"] for c in page.json()["customers"]]
    assert (seen, len(pages)) == (ids, 3)
    assert "next" not in links(pages[-1])
    back = api.get(links(pages[-1])["previous"]).json()["customers"]
    assert [c["id"] for c in back] == ids[3:6]
    url = links(first)["next"]
    assert parse_qs(urlsplit(url).query).keys() == {"limit", "page_info"}

    mixed = api.get(url + "&since_id=1")
    assert mixed.status_code == 400
    tampered = api.get("/customers.json", params={"page_info": "bm90LWEtY3Vyc29y"})
    assert (tampered.status_code, tampered.json()) == (
        400,
        {"errors": {"page_info": "Invalid value."}},
    )
    assert api.get("/customers.json", params={"limit": 251}).status_code == 400


def test_page_info_keeps_the_first_pages_filters(api: httpx2.Client) -> None:
    ids = [api.post("/orders.json", json={"order": ORDER}).json()["order"]["id"] for _ in range(4)]
    for order_id in ids[:2]:
        api.post(f"/orders/{order_id}/close.json")
    first = api.get("/orders.json", params={"status": "any", "limit": 2})
    second = api.get(links(first)["next"])
    assert [o["id"] for o in second.json()["orders"]] == ids[2:]


def test_customers_and_products(api: httpx2.Client) -> None:
    made = api.post("/customers.json", json={"customer": {"email": "g@example.com"}})
    assert made.status_code == 201
    customer = made.json()["customer"]
    assert (customer["orders_count"], customer["state"]) == (0, "disabled")
    dup = api.post("/customers.json", json={"customer": {"email": "G@example.com"}})
    assert (dup.status_code, dup.json()) == (422, {"errors": {"email": ["has already been taken"]}})
    nameless = api.post("/customers.json", json={"customer": {"note": "x"}})
    assert nameless.status_code == 422
    renamed = api.put(
        f"/customers/{customer['id']}.json", json={"customer": {"first_name": "Grace"}}
    )
    assert renamed.json()["customer"]["first_name"] == "Grace"

    product = api.post("/products.json", json={"product": {"title": "Blue Mug"}}).json()["product"]
    assert product["handle"] == "blue-mug"
    assert [v["title"] for v in product["variants"]] == ["Default Title"]
    blank = api.post("/products.json", json={"product": {"title": " "}})
    assert blank.json() == {"errors": {"title": ["can't be blank"]}}
    assert api.get("/products/count.json").json() == {"count": 1}
    path = f"/products/{product['id']}.json"
    assert api.get(path).json() == {"product": product}
    changed = api.put(path, json={"product": {"vendor": "Acme", "status": "draft"}}).json()
    assert (changed["product"]["vendor"], changed["product"]["status"]) == ("Acme", "draft")
    assert api.put(path, json={"product": {"title": ""}}).status_code == 422


def test_full_bucket_is_429_with_retry_after(boxes: Boxes, api: httpx2.Client) -> None:
    assert boxes.http.post("/_sandbox/bucket", json={"used": 40}).json()["size"] == 40
    throttled = api.get("/orders.json")
    assert throttled.status_code == 429
    assert throttled.headers["retry-after"] == "2.0"
    assert throttled.headers["x-shopify-shop-api-call-limit"] == "40/40"
    assert throttled.json() == {"errors": shopify.THROTTLED}
    boxes.shop.bucket_used = 0
    assert api.get("/orders.json").headers["x-shopify-shop-api-call-limit"] == "1/40"


def test_webhook_subscriptions(api: httpx2.Client) -> None:
    body = {"webhook": {"topic": "orders/create", "address": "https://isv.example/hooks"}}
    created = api.post("/webhooks.json", json=body)
    assert created.status_code == 201
    hook = created.json()["webhook"]
    assert (hook["format"], hook["api_version"], hook["topic"]) == (
        "json",
        "2025-01",
        "orders/create",
    )
    again = api.post("/webhooks.json", json=body)
    assert again.json() == {"errors": {"address": ["for this topic has already been taken"]}}
    bogus = api.post("/webhooks.json", json={"webhook": {"topic": "nope", "address": "ftp://x"}})
    assert bogus.status_code == 422
    assert set(bogus.json()["errors"]) == {"topic", "address"}
    assert api.get("/webhooks.json").json() == {"webhooks": [hook]}
    assert api.get("/webhooks.json", params={"topic": "orders/updated"}).json() == {"webhooks": []}
    assert api.get(f"/webhooks/{hook['id']}.json").json() == {"webhook": hook}
    assert api.delete(f"/webhooks/{hook['id']}.json").json() == {}
    assert api.get(f"/webhooks/{hook['id']}.json").status_code == 404


def subscribe(api: httpx2.Client, topic: str, address: str) -> int:
    answer = api.post("/webhooks.json", json={"webhook": {"topic": topic, "address": address}})
    assert answer.status_code == 201, answer.text
    hook_id: int = answer.json()["webhook"]["id"]
    return hook_id


def expected_hmac(body: bytes, secret: str = CLIENT_SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def test_webhook_is_signed_and_verifiable(boxes: Boxes, api: httpx2.Client) -> None:
    subscribe(api, "orders/create", f"{boxes.receiver_url}/shopify/orders")
    subscribe(api, "customers/create", f"{boxes.receiver_url}/shopify/customers")
    order = api.post("/orders.json", json={"order": ORDER}).json()["order"]

    [record] = boxes.received.wait_for(1)
    assert record.path == "/shopify/orders"
    headers = record.headers
    assert headers["x-shopify-topic"] == "orders/create"
    assert headers["x-shopify-shop-domain"] == DOMAIN
    assert headers["x-shopify-api-version"] == "2025-01"
    assert re.fullmatch(r"[0-9a-f-]{36}", headers["x-shopify-webhook-id"])
    raw = record.body.encode()
    assert hmac.compare_digest(headers["x-shopify-hmac-sha256"], expected_hmac(raw))
    assert record.json == order
    tampered = raw.replace(b'"quantity": 2', b'"quantity": 20')
    assert tampered != raw
    assert headers["x-shopify-hmac-sha256"] != expected_hmac(tampered)
    assert headers["x-shopify-hmac-sha256"] != expected_hmac(raw, "another-secret")

    api.post("/customers.json", json={"customer": {"email": "w@example.com"}})
    second = boxes.received.wait_for(2)[1]
    assert second.headers["x-shopify-topic"] == "customers/create"
    assert second.json["email"] == "w@example.com"


def test_update_topics(boxes: Boxes, api: httpx2.Client) -> None:
    subscribe(api, "orders/updated", f"{boxes.receiver_url}/u")
    order_id = api.post("/orders.json", json={"order": ORDER}).json()["order"]["id"]
    api.put(f"/orders/{order_id}.json", json={"order": {"tags": "vip"}})
    [record] = boxes.received.wait_for(1)
    assert (record.headers["x-shopify-topic"], record.json["tags"]) == ("orders/updated", "vip")


def test_failed_webhook_is_retried_with_the_same_id_and_body(
    boxes: Boxes, api: httpx2.Client
) -> None:
    boxes.http.post(f"{boxes.receiver_url}/_fail", json={"status": 500, "count": 1})
    hook_id = subscribe(api, "orders/create", f"{boxes.receiver_url}/retry")
    api.post("/orders.json", json={"order": ORDER})
    first, second = boxes.received.wait_for(2)
    assert (first.status, second.status) == (500, 200)
    assert first.body == second.body
    assert first.headers["x-shopify-webhook-id"] == second.headers["x-shopify-webhook-id"]
    boxes.shop.deliveries.wait_for(
        lambda ds: any(d.ok and d.subscription_id == hook_id for d in ds)
    )
    listed = boxes.http.get("/_sandbox/deliveries").json()["data"]
    # the server is shared: a late record from an earlier test may be listed too
    mine = [d for d in listed if d["subscription_id"] == hook_id]
    assert [(d["subscription_id"], d["attempt"], d["ok"]) for d in mine] == [
        (hook_id, 1, False),
        (hook_id, 2, True),
    ]


def authorize(boxes: Boxes, **params: str) -> httpx2.Response:
    query = {
        "client_id": CLIENT_ID,
        "scope": "read_orders,write_customers",
        "redirect_uri": CALLBACK,
        "state": "nonce-1",
        **params,
    }
    return boxes.http.get("/admin/oauth/authorize", params=query)


def test_oauth_code_grant_end_to_end(boxes: Boxes) -> None:
    answer = authorize(boxes)
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert location.startswith(CALLBACK + "?")
    back = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert set(back) == {"code", "hmac", "host", "shop", "state", "timestamp"}
    assert (back["shop"], back["state"]) == (DOMAIN, "nonce-1")
    assert (
        base64.b64decode(back["host"] + "==").decode() == "admin.shopify.com/store/solder-sandbox"
    )
    message = "&".join(f"{k}={v}" for k, v in sorted(back.items()) if k != "hmac").encode()
    digest = hmac.new(CLIENT_SECRET.encode(), message, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(back["hmac"], digest)
    forged = message.replace(b"nonce-1", b"nonce-2")
    assert hmac.new(CLIENT_SECRET.encode(), forged, hashlib.sha256).hexdigest() != back["hmac"]

    form = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "code": back["code"]}
    issued = boxes.http.post("/admin/oauth/access_token", json=form)
    assert issued.status_code == 200, issued.text
    token = issued.json()
    assert set(token) == {"access_token", "scope"}
    assert token["access_token"].startswith("shpat_")
    assert token["scope"] == "read_orders,write_customers"
    reused = boxes.http.post("/admin/oauth/access_token", data=form)
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_request"

    with boxes.api(token=token["access_token"]) as client:
        assert client.get("/orders.json").status_code == 200
        assert (
            client.post("/customers.json", json={"customer": {"email": "o@x.io"}}).status_code
            == 201
        )
        refused = client.post("/orders.json", json={"order": ORDER})
        assert refused.status_code == 403
        assert "write_orders" in refused.json()["errors"]
        assert client.get("/products.json").status_code == 403


def test_oauth_refusals(boxes: Boxes) -> None:
    stray = authorize(boxes, redirect_uri="http://evil.example/cb")
    assert stray.status_code == 400
    assert "location" not in stray.headers
    assert authorize(boxes, client_id="other").status_code == 400
    assert authorize(boxes, scope="read_everything").status_code == 400

    code = parse_qs(urlsplit(authorize(boxes).headers["location"]).query)["code"][0]
    wrong = boxes.http.post(
        "/admin/oauth/access_token",
        data={"client_id": CLIENT_ID, "client_secret": "nope", "code": code},
    )
    assert (wrong.status_code, wrong.json()["error"]) == (400, "invalid_request")

    boxes.http.post("/_sandbox/tokens", json={"deny": True})
    denied = authorize(boxes)
    query = parse_qs(urlsplit(denied.headers["location"]).query)
    assert query == {"error": ["access_denied"], "state": ["nonce-1"]}
    assert boxes.http.get("/_sandbox/tokens").json()["tokens_issued"] == 0


def test_deliveries_record_is_json(boxes: Boxes) -> None:
    listed = boxes.http.get("/_sandbox/deliveries")
    assert listed.json() == {"data": []}
    json.dumps(listed.json())
