"""The BigCommerce sandbox, on real loopback sockets, delivering to the receiver sandbox."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from solder.sandbox import bigcommerce, receiver
from tests.servers import run_asgi

STORE_HASH = "abc123xyz"
TOKEN = "sandbox-access-token"
ERROR_TYPE = "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes"
ORDER_BODY = {
    "customer_id": 0,
    "status_id": 1,
    "billing_address": {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "street_1": "12 St James's Square",
        "city": "London",
        "state": "London",
        "zip": "SW1Y 4JH",
        "country": "United Kingdom",
        "country_iso2": "GB",
        "email": "ada@example.com",
    },
    "products": [
        {"name": "Mug", "quantity": 2, "price_inc_tax": 12.5, "price_ex_tax": 10},
        {"name": "Poster", "quantity": 1, "price_inc_tax": "30.00", "price_ex_tax": "25"},
    ],
}


@dataclass
class Sandboxes:
    store_url: str
    store: bigcommerce.StoreState
    receiver_url: str
    received: receiver.ReceiverState


@pytest.fixture(scope="module")
def shared() -> Iterator[Sandboxes]:
    sink = receiver.create_app()
    store = bigcommerce.create_app(STORE_HASH, TOKEN, webhook_retries=2, retry_backoff=0.02)
    with run_asgi(sink) as sink_url, run_asgi(store) as store_url:
        yield Sandboxes(store_url, store.state.store, sink_url, sink.state.receiver)


@pytest.fixture
def boxes(shared: Sandboxes) -> Sandboxes:
    shared.store.reset()
    shared.received.clear()
    return shared


@pytest.fixture
def shop(boxes: Sandboxes) -> Iterator[httpx2.Client]:
    """A client for the store's API, authenticated."""
    base = f"{boxes.store_url}/stores/{STORE_HASH}"
    headers = {"X-Auth-Token": TOKEN, "Accept": "application/json"}
    with httpx2.Client(base_url=base, headers=headers) as client:
        yield client


def add_hook(shop: httpx2.Client, scope: str, destination: str, **extra: object) -> int:
    answer = shop.post("/v3/hooks", json={"scope": scope, "destination": destination, **extra})
    assert answer.status_code == 200, answer.text
    hook_id: int = answer.json()["data"]["id"]
    return hook_id


def of_hooks(store: bigcommerce.StoreState, *hook_ids: int) -> list[bigcommerce.Delivery]:
    """This test's deliveries (the servers are shared, so a late one from before may land)."""
    return [d for d in list(store.deliveries) if d.hook_id in hook_ids]


def test_every_api_call_needs_the_access_token(boxes: Sandboxes) -> None:
    base = f"{boxes.store_url}/stores/{STORE_HASH}"
    with httpx2.Client(base_url=base) as client:
        missing = client.get("/v2/orders")
        wrong = client.get("/v2/order_statuses", headers={"X-Auth-Token": "nope"})
        v3 = client.get("/v3/hooks", headers={"X-Auth-Token": "nope"})
        create = client.post("/v2/orders", json=ORDER_BODY)

    assert missing.status_code == wrong.status_code == v3.status_code == create.status_code == 401
    assert missing.json() == [{"status": 401, "message": missing.json()[0]["message"]}]
    assert missing.json()[0]["message"]
    body = v3.json()
    assert body["status"] == 401
    assert body["type"] == ERROR_TYPE
    assert body["title"]
    assert body["errors"] == {}
    assert boxes.store.orders == {}


def test_unknown_store_and_paths_are_404(shop: httpx2.Client, boxes: Sandboxes) -> None:
    with httpx2.Client(base_url=boxes.store_url, headers={"X-Auth-Token": TOKEN}) as client:
        other_store = client.get("/stores/other/v2/orders")
        unknown_v3 = client.get(f"/stores/{STORE_HASH}/v3/nothing")
    assert other_store.status_code == 404
    assert other_store.json()[0]["status"] == 404
    assert unknown_v3.status_code == 404
    assert unknown_v3.json()["type"] == ERROR_TYPE
    missing = shop.get("/v2/orders/999")
    assert missing.status_code == 404
    assert missing.json() == [{"status": 404, "message": "The requested resource was not found."}]


def test_lists_the_fifteen_standard_statuses(shop: httpx2.Client) -> None:
    statuses = shop.get("/v2/order_statuses").json()
    assert [s["id"] for s in statuses] == list(range(15))
    assert {tuple(sorted(s)) for s in statuses} == {
        ("custom_label", "id", "name", "order", "system_description", "system_label")
    }
    assert sorted(s["order"] for s in statuses) == list(range(15))
    by_id = {s["id"]: s for s in statuses}
    assert by_id[1]["name"] == "Pending"
    assert by_id[11]["system_label"] == "Awaiting Fulfillment"
    assert by_id[14]["name"] == "Partially Refunded"
    assert shop.get("/v2/order_statuses/5").json()["name"] == "Cancelled"
    assert shop.get("/v2/order_statuses/15").status_code == 404


def test_order_list_is_204_when_empty(shop: httpx2.Client) -> None:
    empty = shop.get("/v2/orders")
    assert empty.status_code == 204
    assert empty.content == b""


def test_create_read_list_and_update_an_order(shop: httpx2.Client) -> None:
    created = shop.post("/v2/orders", json=ORDER_BODY)
    assert created.status_code == 201, created.text
    order = created.json()
    assert order["status_id"] == 1
    assert order["status"] == "Pending"
    assert (order["subtotal_ex_tax"], order["subtotal_inc_tax"]) == ("45.0000", "55.0000")
    assert (order["total_inc_tax"], order["total_tax"], order["items_total"]) == (
        "55.0000",
        "10.0000",
        3,
    )
    assert order["currency_code"] == "USD"
    assert order["billing_address"]["first_name"] == "Ada"
    assert order["billing_address"]["phone"] == ""
    assert parsedate_to_datetime(order["date_created"]).utcoffset() is not None
    assert order["products"]["resource"] == f"/orders/{order['id']}/products"

    lines = shop.get(order["products"]["url"]).json()
    assert [(line["name"], line["quantity"], line["total_inc_tax"]) for line in lines] == [
        ("Mug", 2, "25.0000"),
        ("Poster", 1, "30.0000"),
    ]
    assert shop.get(f"/v2/orders/{order['id']}").json() == order
    assert [o["id"] for o in shop.get("/v2/orders").json()] == [order["id"]]
    assert [o["id"] for o in shop.get("/v2/orders", params={"status_id": 1}).json()] == [
        order["id"]
    ]
    assert shop.get("/v2/orders", params={"status_id": 11}).status_code == 204

    updated = shop.put(f"/v2/orders/{order['id']}", json={"status_id": 11})
    assert updated.status_code == 200
    assert (updated.json()["status_id"], updated.json()["status"]) == (11, "Awaiting Fulfillment")
    assert shop.get(f"/v2/orders/{order['id']}").json()["status"] == "Awaiting Fulfillment"
    assert updated.json()["date_created"] == order["date_created"]
    bogus = shop.put(f"/v2/orders/{order['id']}", json={"bogus": 1})
    assert bogus.json() == [
        {"status": 400, "message": "The field 'bogus' is not supported by this resource."}
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"billing_address": None}, "The required field 'billing_address' was not supplied."),
        ({"products": []}, "The required field 'products' was not supplied."),
        ({"status_id": 42}, "The field 'status_id' is invalid."),
        ({"coupon": "X"}, "The field 'coupon' is not supported by this resource."),
        (
            {"products": [{"name": "Mug", "quantity": 0}]},
            "The field 'products[0].quantity' is invalid.",
        ),
    ],
)
def test_order_create_errors_are_v2_shaped(
    shop: httpx2.Client, boxes: Sandboxes, change: dict[str, object], message: str
) -> None:
    answer = shop.post("/v2/orders", json={**ORDER_BODY, **change})
    assert answer.status_code == 400
    assert answer.json() == [{"status": 400, "message": message}]
    assert boxes.store.orders == {}


def test_hook_crud(shop: httpx2.Client, boxes: Sandboxes) -> None:
    created = shop.post(
        "/v3/hooks",
        json={
            "scope": "store/order/*",
            "destination": "https://isv.example/hooks",
            "headers": None,
        },
    )
    hook = created.json()["data"]
    assert created.json()["meta"] == {}
    assert set(hook) == {
        "id", "client_id", "store_hash", "scope", "destination", "headers", "is_active",
        "created_at", "updated_at",
    }  # fmt: skip
    assert (hook["store_hash"], hook["is_active"], hook["headers"]) == (STORE_HASH, True, None)

    listed = shop.get("/v3/hooks").json()
    assert listed["data"] == [hook]
    assert listed["meta"]["pagination"]["total"] == 1

    changed = shop.put(
        f"/v3/hooks/{hook['id']}", json={"is_active": False, "headers": {"X-Key": "k1"}}
    ).json()["data"]
    assert (changed["is_active"], changed["headers"], changed["scope"]) == (
        False,
        {"X-Key": "k1"},
        "store/order/*",
    )
    assert shop.get(f"/v3/hooks/{hook['id']}").json()["data"] == changed
    assert shop.get("/v3/hooks", params={"is_active": "true"}).json()["data"] == []

    deleted = shop.delete(f"/v3/hooks/{hook['id']}")
    assert deleted.json()["data"]["id"] == hook["id"]
    gone = shop.get(f"/v3/hooks/{hook['id']}")
    assert gone.status_code == 404
    assert gone.json()["type"] == ERROR_TYPE
    assert boxes.store.hooks == {}


def test_hook_create_names_every_bad_field(shop: httpx2.Client) -> None:
    answer = shop.post("/v3/hooks", json={"is_active": "yes"})
    assert answer.status_code == 422
    body = answer.json()
    assert (body["status"], body["type"]) == (422, ERROR_TYPE)
    assert set(body["errors"]) == {"scope", "destination", "is_active"}


def test_order_created_webhook_reaches_the_receiver(shop: httpx2.Client, boxes: Sandboxes) -> None:
    destination = f"{boxes.receiver_url}/bigcommerce/webhooks"
    hook_id = add_hook(
        shop, "store/order/created", destination, headers={"X-Solder-Hook-Token": "s3cret"}
    )
    inactive = add_hook(shop, "store/order/created", destination, is_active=False)
    other = add_hook(shop, "store/product/created", destination)

    order_id = shop.post("/v2/orders", json=ORDER_BODY).json()["id"]

    [record] = boxes.received.wait_for(1)
    assert (record.method, record.path) == ("POST", "/bigcommerce/webhooks")
    assert record.headers["x-solder-hook-token"] == "s3cret"
    assert record.headers["content-type"] == "application/json"
    payload = record.json
    assert set(payload) == {"scope", "store_id", "data", "hash", "created_at", "producer"}
    assert payload["scope"] == "store/order/created"
    assert payload["data"] == {"type": "order", "id": order_id}
    assert payload["producer"] == f"stores/{STORE_HASH}"
    assert isinstance(payload["store_id"], str)
    assert isinstance(payload["created_at"], int)
    assert re.fullmatch(r"[0-9a-f]{40}", payload["hash"])

    boxes.store.wait_for_deliveries(lambda ds: any(d.hook_id == hook_id for d in ds))
    deliveries = of_hooks(boxes.store, hook_id, inactive, other)
    assert [(d.hook_id, d.status_code, d.attempt) for d in deliveries] == [(hook_id, 200, 1)]
    with httpx2.Client() as client:
        listed = client.get(f"{boxes.store_url}/_sandbox/deliveries").json()["data"]
    assert [(d["ok"], d["hash"]) for d in listed if d["hook_id"] == hook_id] == [
        (True, payload["hash"])
    ]


def test_status_change_fires_status_updated_and_updated(
    shop: httpx2.Client, boxes: Sandboxes
) -> None:
    add_hook(shop, "store/order/*", f"{boxes.receiver_url}/hooks")
    order_id = shop.post("/v2/orders", json=ORDER_BODY).json()["id"]
    boxes.received.wait_for(1)
    shop.put(f"/v2/orders/{order_id}", json={"status_id": 11})

    records = boxes.received.wait_for(3)
    by_scope = {r.json["scope"]: r.json for r in records}
    assert set(by_scope) == {
        "store/order/created",
        "store/order/statusUpdated",
        "store/order/updated",
    }
    assert by_scope["store/order/statusUpdated"]["data"] == {
        "type": "order",
        "id": order_id,
        "status": {"previous_status_id": 1, "new_status_id": 11},
    }
    assert by_scope["store/order/updated"]["data"] == {"type": "order", "id": order_id}
    assert len({p["hash"] for p in by_scope.values()}) == 3

    shop.put(f"/v2/orders/{order_id}", json={"staff_notes": "gift wrap"})
    fourth = boxes.received.wait_for(4)[3].json
    assert (fourth["scope"], fourth["data"]) == (
        "store/order/updated",
        {"type": "order", "id": order_id},
    )


def test_retries_a_failed_callback_with_the_same_payload(
    shop: httpx2.Client, boxes: Sandboxes
) -> None:
    with httpx2.Client() as client:
        client.post(f"{boxes.receiver_url}/_fail", json={"status": 503, "count": 1})
    hook_id = add_hook(shop, "store/order/created", f"{boxes.receiver_url}/hooks")
    shop.post("/v2/orders", json=ORDER_BODY)

    first, second = boxes.received.wait_for(2)
    assert (first.status, second.status) == (503, 200)
    assert first.json == second.json
    boxes.store.wait_for_deliveries(lambda ds: any(d.hook_id == hook_id and d.ok for d in ds))
    assert [(d.attempt, d.status_code) for d in of_hooks(boxes.store, hook_id)] == [
        (1, 503),
        (2, 200),
    ]


def test_gives_up_after_the_configured_retries(shop: httpx2.Client, boxes: Sandboxes) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    hook_id = add_hook(shop, "store/order/created", f"http://127.0.0.1:{closed_port}/hooks")
    shop.post("/v2/orders", json=ORDER_BODY)

    boxes.store.wait_for_deliveries(lambda ds: sum(d.hook_id == hook_id for d in ds) >= 3)
    deliveries = of_hooks(boxes.store, hook_id)
    assert [d.attempt for d in deliveries] == [1, 2, 3]
    assert all(d.status_code is None and d.error for d in deliveries)


def test_delivery_does_not_hold_up_the_api_response(shop: httpx2.Client, boxes: Sandboxes) -> None:
    gate = threading.Event()

    async def slow(request: Request) -> Response:
        await asyncio.to_thread(gate.wait, 5.0)
        return Response(status_code=204)

    destination_app = Starlette(routes=[Route("/slow", slow, methods=["POST"])])
    with run_asgi(destination_app) as destination:
        hook_id = add_hook(shop, "store/order/created", f"{destination}/slow")
        created = shop.post("/v2/orders", json=ORDER_BODY)
        assert created.status_code == 201
        assert of_hooks(boxes.store, hook_id) == []
        gate.set()
        boxes.store.wait_for_deliveries(lambda ds: any(d.hook_id == hook_id for d in ds))
    assert [d.status_code for d in of_hooks(boxes.store, hook_id)] == [204]
