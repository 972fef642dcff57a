"""The quick start's two workflows over real HTTP: BigCommerce -> AcmeCo and back."""

from __future__ import annotations

import httpx2

from solder.sandbox.bigcommerce import StoreState
from tests.conftest import STORE_HASH, STORE_TOKEN, Server
from tests.flows import (
    FULFILLMENT,
    NEW_ORDER,
    install_quickstart,
    ok,
    push_quickstart,
    settled,
    wait_until,
    workflow_ids,
)


def store_client(url: str) -> httpx2.Client:
    return httpx2.Client(
        base_url=f"{url}/stores/{STORE_HASH}", headers={"X-Auth-Token": STORE_TOKEN}
    )


def place_order(url: str) -> int:
    with store_client(url) as store:
        order = ok(
            store.post(
                "/v2/orders",
                json={
                    "customer_id": 0,
                    "billing_address": {"first_name": "Ada", "email": "ada@example.com"},
                    "products": [
                        {"name": "Wire", "quantity": 2, "price_inc_tax": 10, "price_ex_tax": 10}
                    ],
                },
            )
        )
    return int(order["id"])


def test_order_created_streams_signed_data_to_the_isv(
    server: Server,
    api: httpx2.Client,
    receiver_url: str,
    sandbox_store: tuple[str, StoreState],
) -> None:
    store_url, store = sandbox_store
    push_quickstart(api)
    info = install_quickstart(api, "gregg", receiver_url)
    flows = workflow_ids(api)

    hooks = [h for h in store.hooks.values() if h["is_active"]]
    assert [h["scope"] for h in hooks] == ["store/order/created"]
    assert hooks[0]["destination"].startswith(server.url + "/hooks/bigcommerce/")

    order_id = place_order(store_url)
    runs = settled(api, flows[NEW_ORDER], info["userId"], 1)
    assert runs[0]["status"] == "succeeded"
    trigger, stream = runs[0]["results"]
    assert trigger["data"]["id"] == order_id  # the webhook was enriched with the order
    assert stream["status"] == "succeeded"

    got = ok(httpx2.get(f"{receiver_url}/_received"))["data"]
    assert len(got) == 1
    record = got[0]
    assert record["path"] == "/acmeco/orders"
    assert record["json"]["orderId"] == order_id
    assert record["json"]["total"] == 20
    assert record["verified"] is True
    headers = {k.lower(): v for k, v in record["headers"].items()}
    assert headers["x-alloy-workflowid"] == flows[NEW_ORDER]
    assert headers["x-alloy-userid"] == info["userId"]
    assert headers["x-alloy-blockname"] == "Stream Data"
    assert headers["x-alloy-executionuuid"] == runs[0]["executionId"]


def test_fulfillment_event_updates_the_order_status(
    api: httpx2.Client, receiver_url: str, sandbox_store: tuple[str, StoreState]
) -> None:
    store_url, _ = sandbox_store
    push_quickstart(api)
    info = install_quickstart(api, "gregg", receiver_url)
    order_id = place_order(store_url)
    body = {
        "event": "Fulfillment Updated",
        "userId": info["userId"],
        "data": {"orderId": str(order_id), "status": "FULFILLED"},
    }
    assert ok(api.post("/run/event", json=body)) == {"message": "Event successfully triggered"}
    flows = workflow_ids(api)
    runs = settled(api, flows[FULFILLMENT], info["userId"], 1)
    assert runs[0]["status"] == "succeeded", runs[0]
    with store_client(store_url) as store:
        order = ok(store.get(f"/v2/orders/{order_id}"))
    assert (order["status_id"], order["status"]) == (2, "Shipped")
    assert ok(api.get(f"/workflows/{flows[FULFILLMENT]}/errors"))["data"] == []


def test_event_payload_is_checked_against_its_schema(api: httpx2.Client, receiver_url: str) -> None:
    push_quickstart(api)
    info = install_quickstart(api, "gregg", receiver_url)
    body = {"event": "Fulfillment Updated", "userId": info["userId"], "data": {"orderId": "1"}}
    resp = api.post("/run/event", json=body)
    assert resp.status_code == 422
    assert "data.status" in resp.json()["message"]
    body["data"] = {"orderId": 7, "status": "FULFILLED"}
    resp = api.post("/run/event", json=body)
    assert resp.status_code == 422
    assert "data.orderId" in resp.json()["message"]


def test_deactivate_removes_the_store_webhook_and_activate_restores_it(
    api: httpx2.Client, receiver_url: str, sandbox_store: tuple[str, StoreState]
) -> None:
    _, store = sandbox_store
    push_quickstart(api)
    info = install_quickstart(api, "gregg", receiver_url)
    flows = workflow_ids(api)
    ref = {"userId": info["userId"], "workflowId": flows[NEW_ORDER]}
    assert len(store.hooks) == 1

    assert ok(api.put("/workflows/deactivate", json=ref)) == {"activated": False}
    assert store.hooks == {}
    assert ok(api.put("/workflows/activate", json=ref)) == {"activated": True}
    assert len(store.hooks) == 1

    resp = api.delete(f"/workflows/{flows[NEW_ORDER]}", params={"userId": "gregg"})
    assert ok(resp) == {"deleted": True}
    assert store.hooks == {}
    listed = ok(api.get("/integrations", params={"userId": "gregg"}))["data"][0]
    installed = {w["name"]: w["installed"] for w in listed["workflows"]}
    assert installed == {NEW_ORDER: False, FULFILLMENT: True}


def test_replayed_webhook_runs_once_and_forged_one_is_refused(
    server: Server,
    api: httpx2.Client,
    receiver_url: str,
    sandbox_store: tuple[str, StoreState],
) -> None:
    store_url, store = sandbox_store
    push_quickstart(api)
    info = install_quickstart(api, "gregg", receiver_url)
    order_id = place_order(store_url)
    flows = workflow_ids(api)
    settled(api, flows[NEW_ORDER], info["userId"], 1)
    delivery = wait_until("a delivery", lambda: store.deliveries)[0]
    hook = next(iter(store.hooks.values()))
    payload = {
        "scope": delivery.scope,
        "store_id": store.store_id,
        "data": {"type": "order", "id": order_id},
        "hash": delivery.hash,
        "created_at": 1700000000,
        "producer": f"stores/{STORE_HASH}",
    }

    replay = httpx2.post(hook["destination"], json=payload, headers=hook["headers"])
    assert replay.status_code == 200
    assert replay.json()["duplicate"] is True
    forged = httpx2.post(
        hook["destination"], json=payload, headers={"X-Solder-Hook-Secret": "guess"}
    )
    assert forged.status_code == 401
    assert len(settled(api, flows[NEW_ORDER], info["userId"], 1)) == 1
