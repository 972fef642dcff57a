"""What the builder API tests share: a management client and the quick start pushed to it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx2
import yaml

from tests.conftest import STORE_HASH, STORE_TOKEN, Server
from tests.flows import EXAMPLES, ok

QUICKSTART_FILES = (EXAMPLES / "events.yaml", EXAMPLES / "bigcommerce.yaml")
ORDER = {
    "id": 7,
    "status": "Awaiting Payment",
    "total_inc_tax": "12.50",
    "currency_code": "EUR",
    "billing_address": {"email": "ada@example.com"},
}
"""What the BigCommerce "order created" trigger outputs, as a test run's sample."""


@contextmanager
def manager(server: Server) -> Iterator[httpx2.Client]:
    """A client on the server's root (``/manage/...``) with the development key."""
    with server.client(prefix="") as client:
        yield client


def quickstart(mgmt: httpx2.Client) -> dict[str, str]:
    """Push the quick start's event and integration as drafts; its workflows' ids by key."""
    events, integration = (yaml.safe_load(p.read_text()) for p in QUICKSTART_FILES)
    ok(mgmt.put("/manage/events", json=events))
    pushed = ok(mgmt.put("/manage/integrations", json=integration))
    return {w["key"]: w["workflowId"] for w in pushed["workflows"]}


def refused(resp: httpx2.Response, field: str) -> dict[str, Any]:
    """The 422 answer, checked to name ``field``."""
    assert resp.status_code == 422, resp.text
    body: dict[str, Any] = resp.json()
    assert body["field"] == field, body
    assert field in body["message"], body
    return body


def place_order(server: Server) -> int:
    """An order placed in the sandbox BigCommerce store (its webhooks fire); its id."""
    store = server.services.settings.app_base_urls["bigcommerce"]
    order = {
        "customer_id": 0,
        "billing_address": {"first_name": "Ada", "email": "ada@example.com"},
        "products": [{"name": "Wire", "quantity": 1, "price_inc_tax": 5, "price_ex_tax": 5}],
    }
    url = f"{store}/stores/{STORE_HASH}/v2/orders"
    return int(ok(httpx2.post(url, json=order, headers={"X-Auth-Token": STORE_TOKEN}))["id"])


def order_status(server: Server, order_id: int) -> str:
    store = server.services.settings.app_base_urls["bigcommerce"]
    url = f"{store}/stores/{STORE_HASH}/v2/orders/{order_id}"
    status: str = ok(httpx2.get(url, headers={"X-Auth-Token": STORE_TOKEN}))["status"]
    return status
