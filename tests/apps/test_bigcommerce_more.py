"""BigCommerce's orders, customers and products actions against the sandbox store on real
loopback sockets, the sandbox's v3 answers (batches, pagination, 422 naming each field), and an
``order_updated`` workflow run once through Solder's hook route when an order changes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from pydantic import ValidationError

from solder.apps.base import AppContext
from solder.apps.bigcommerce import SECRET_HEADER
from solder.apps.registry import APPS
from solder.errors import FatalError
from solder.sandbox import bigcommerce
from solder.sandbox.bigcommerce import StoreState
from tests.apps.kits import ORDER
from tests.blockflow import Flow
from tests.conftest import STORE_HASH, STORE_TOKEN
from tests.flows import ok, wait_until
from tests.servers import run_asgi

APP = APPS["bigcommerce"]
CREDENTIAL = {"storeHash": STORE_HASH, "accessToken": STORE_TOKEN}


@pytest.fixture
def store_url() -> Iterator[str]:
    with run_asgi(bigcommerce.create_app(STORE_HASH, STORE_TOKEN)) as url:
        yield url


@pytest.fixture
def rest(store_url: str) -> Iterator[httpx2.Client]:
    """The store's API as any client calls it."""
    with httpx2.Client(base_url=f"{store_url}/stores/{STORE_HASH}",
                       headers={"X-Auth-Token": STORE_TOKEN}) as client:  # fmt: skip
        yield client


@pytest.fixture
def ctx(store_url: str) -> Iterator[AppContext]:
    with httpx2.Client(timeout=5) as client:
        yield AppContext(dict(CREDENTIAL), client, store_url, "http://x")


def run(ctx: AppContext, action: str, inp: dict[str, Any]) -> dict[str, Any]:
    found = APP.actions[action]
    out = found.run(ctx, found.input_model.model_validate(inp))
    assert found.output_model is not None
    dumped: dict[str, Any] = found.output_model.model_validate(out).model_dump(by_alias=True)
    return dumped


def refused_field(ctx: AppContext, action: str, inp: dict[str, Any]) -> FatalError:
    with pytest.raises(FatalError) as refused:
        run(ctx, action, inp)
    return refused.value


# -- customers -----------------------------------------------------------------------------------


def test_a_customer_is_created_found_by_email_and_updated(ctx: AppContext) -> None:
    assert run(ctx, "find_customer_by_email", {"email": "ada@example.com"}) == {
        "found": False, "customer": None}  # fmt: skip
    made = run(ctx, "create_customer", {"email": "ada@example.com", "firstName": "Ada",
                                        "lastName": "Lovelace", "company": "Engines"})  # fmt: skip
    assert (made["email"], made["first_name"], made["company"]) == ("ada@example.com", "Ada",
                                                                    "Engines")  # fmt: skip
    found = run(ctx, "find_customer_by_email", {"email": "ADA@example.com"})
    assert found["found"] is True
    assert found["customer"]["id"] == made["id"]

    changed = run(ctx, "update_customer", {"customerId": made["id"], "phone": "555-0100"})
    assert (changed["id"], changed["phone"], changed["company"]) == (made["id"], "555-0100",
                                                                     "Engines")  # fmt: skip
    again = run(ctx, "find_customer_by_email", {"email": "ada@example.com"})["customer"]
    assert again["phone"] == "555-0100"


def test_creating_a_customer_twice_is_one_customer_updated(
    ctx: AppContext, rest: httpx2.Client
) -> None:
    first = run(ctx, "create_customer", {"email": "bo@example.com", "firstName": "Bo",
                                         "lastName": "One"})  # fmt: skip
    second = run(ctx, "create_customer", {"email": "bo@example.com", "firstName": "Bo",
                                          "lastName": "Two"})  # fmt: skip
    assert second["id"] == first["id"]
    assert second["last_name"] == "Two"
    listed = ok(rest.get("/v3/customers"))
    assert [c["email"] for c in listed["data"]] == ["bo@example.com"]


def test_a_field_the_store_refuses_is_named_as_the_input_names_it(ctx: AppContext) -> None:
    bad = refused_field(ctx, "create_customer", {"email": "not-an-email", "firstName": "X",
                                                 "lastName": "Y"})  # fmt: skip
    assert bad.field == "email"
    assert "not a valid email" in bad.message
    made = run(ctx, "create_customer", {"email": "cy@example.com", "firstName": "Cy",
                                        "lastName": "Z"})  # fmt: skip
    missing = refused_field(ctx, "update_customer", {"customerId": made["id"] + 99, "notes": "x"})
    assert missing.field == "customerId"
    run(ctx, "create_customer", {"email": "di@example.com", "firstName": "Di", "lastName": "Z"})
    taken = refused_field(ctx, "update_customer", {"customerId": made["id"],
                                                   "email": "di@example.com"})  # fmt: skip
    assert taken.field == "email"
    assert "in use" in taken.message
    with pytest.raises(ValidationError) as two:  # email:in would read it as two addresses
        APP.actions["find_customer_by_email"].input_model.model_validate(
            {"email": "cy@example.com,di@example.com"}
        )
    assert two.value.errors()[0]["loc"] == ("email",)
    nothing = refused_field(ctx, "update_customer", {"customerId": made["id"]})
    assert nothing.field == "customer"


def test_the_store_takes_customers_in_batches_and_names_every_bad_field(
    rest: httpx2.Client,
) -> None:
    rows = [{"email": f"c{n}@example.com", "first_name": "C", "last_name": str(n)}
            for n in range(3)]  # fmt: skip
    made = rest.post("/v3/customers", json=rows)
    assert made.status_code == 200, made.text
    assert [c["last_name"] for c in made.json()["data"]] == ["0", "1", "2"]

    bad = rest.post("/v3/customers", json=[{"email": "c0@example.com", "first_name": "C"},
                                           {"email": "x@example.com", "first_name": 5,
                                            "last_name": "X"}])  # fmt: skip
    assert bad.status_code == 422
    assert bad.json()["errors"] == {
        "0.last_name": "last_name is a required field",
        "0.email": "The email address c0@example.com is already in use",
        "1.first_name": "first_name must be a str",
    }
    assert ok(rest.get("/v3/customers"))["meta"]["pagination"]["total"] == 3  # nothing made
    assert rest.post("/v3/customers", json={"email": "a@b.c"}).status_code == 422  # not an array
    assert rest.post("/v3/customers", json=rows * 4).status_code == 422  # over 10 at once

    page = ok(rest.get("/v3/customers", params={"limit": 2, "page": 2}))
    assert [c["last_name"] for c in page["data"]] == ["2"]
    assert page["meta"]["pagination"] | {"links": None} == {
        "total": 3, "count": 1, "per_page": 2, "current_page": 2, "total_pages": 2,
        "links": None}  # fmt: skip
    two = ok(rest.get("/v3/customers", params={"email:in": "c0@example.com,C2@example.com"}))
    assert [c["last_name"] for c in two["data"]] == ["0", "2"]
    assert rest.get("/v3/customers", params={"limit": 251}).status_code == 400


# -- products ------------------------------------------------------------------------------------


def test_products_are_listed_by_keyword_a_page_at_a_time(
    ctx: AppContext, rest: httpx2.Client
) -> None:
    for name, sku in (("Anvil", "ANV-1"), ("Rocket skates", "RS-2"), ("Giant anvil", "ANV-2")):
        body = {"name": name, "type": "physical", "weight": 5, "price": 10, "sku": sku}
        assert rest.post("/v3/catalog/products", json=body).status_code == 200
    every = run(ctx, "list_products", {})
    assert [p["name"] for p in every["products"]] == ["Anvil", "Rocket skates", "Giant anvil"]
    anvils = run(ctx, "list_products", {"keyword": "anvil", "limit": 1, "page": 2})
    assert [p["sku"] for p in anvils["products"]] == ["ANV-2"]
    assert (anvils["total"], anvils["totalPages"]) == (2, 2)
    like = ok(rest.get("/v3/catalog/products", params={"name:like": "skate"}))
    assert [p["name"] for p in like["data"]] == ["Rocket skates"]

    bad = rest.post("/v3/catalog/products", json={"name": "Anvil", "type": "boat", "price": -1})
    assert bad.status_code == 422
    assert set(bad.json()["errors"]) == {"name", "type", "weight", "price"}


# -- orders --------------------------------------------------------------------------------------


def test_orders_are_read_and_listed_by_status_and_date(
    ctx: AppContext, rest: httpx2.Client
) -> None:
    assert run(ctx, "list_orders", {}) == {"orders": []}  # BigCommerce's 204
    first, second = (ok(rest.post("/v2/orders", json=ORDER)) for _ in range(2))
    ok(rest.put(f"/v2/orders/{second['id']}", json={"status_id": 11}))
    got = run(ctx, "get_order", {"orderId": first["id"]})
    assert (got["id"], got["status"], got["total_inc_tax"]) == (first["id"], "Pending",
                                                                "10.0000")  # fmt: skip
    newest = run(ctx, "list_orders", {"limit": 1})
    assert [o["id"] for o in newest["orders"]] == [second["id"]]
    fulfil = run(ctx, "list_orders", {"status": "Awaiting Fulfillment"})
    assert [o["id"] for o in fulfil["orders"]] == [second["id"]]
    assert run(ctx, "list_orders", {"minDateCreated": "2999-01-01"}) == {"orders": []}
    since = run(ctx, "list_orders", {"minDateCreated": "2020-01-01T00:00:00+00:00"})
    assert len(since["orders"]) == 2
    unknown = refused_field(ctx, "list_orders", {"status": "Teleported"})
    assert unknown.field == "status"
    with pytest.raises(FatalError):
        run(ctx, "get_order", {"orderId": 99999})


# -- order updated: a workflow through Solder's hook route ----------------------------------------


def test_an_updated_order_runs_the_workflow_once(
    api: httpx2.Client,
    tmp_path: Path,
    receiver_url: str,
    sandbox_store: tuple[str, StoreState],
) -> None:
    url, store = sandbox_store
    flow = Flow(
        api,
        tmp_path,
        [{"key": "send", "type": "streamData",
          "inputs": {"url": f"{receiver_url}/orders",
                     "body": {"id": "{{ trigger.id }}", "status": "{{ trigger.status }}"}}}],
        trigger={"key": "updated", "type": "appEvent", "app": "bigcommerce",
                 "event": "order_updated"},
        credentials=[{"type": "bigcommerce", "data": dict(CREDENTIAL)}],
    ).install()  # fmt: skip
    (hook,) = store.hooks.values()
    assert hook["scope"] == "store/order/updated"
    assert hook["is_active"]
    assert SECRET_HEADER in hook["headers"]

    with httpx2.Client(base_url=f"{url}/stores/{STORE_HASH}",
                       headers={"X-Auth-Token": STORE_TOKEN}) as rest:  # fmt: skip
        order = ok(rest.post("/v2/orders", json=ORDER))  # created: not this trigger's scope
        ok(rest.put(f"/v2/orders/{order['id']}", json={"status_id": 2}))
    (run_,) = flow.finished(1)
    assert run_["status"] == "succeeded", run_
    got = ok(httpx2.get(f"{receiver_url}/_received"))["data"]
    assert [r["json"] for r in got] == [{"id": order["id"], "status": "Shipped"}]

    (sent,) = store.wait_for_deliveries(lambda d: any(x.ok for x in d))
    assert sent.scope == "store/order/updated"
    # BigCommerce sends the same callback again: its hash is seen, nothing runs twice
    again = {"scope": "store/order/updated", "store_id": store.store_id, "hash": sent.hash,
             "data": {"type": "order", "id": order["id"]}}  # fmt: skip
    repeat = httpx2.post(hook["destination"], json=again,
                         headers={SECRET_HEADER: hook["headers"][SECRET_HEADER]})  # fmt: skip
    assert repeat.json() == {"received": True, "duplicate": True}
    assert len(flow.runs()) == 1

    ok(api.put("/workflows/deactivate", json={"userId": flow.user_id,
                                              "workflowId": flow.workflow_id}))  # fmt: skip
    wait_until("the hook removed", lambda: store.hooks == {})
