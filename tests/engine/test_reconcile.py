"""App webhooks kept true: a deleted hook is made again, a switched-off one switched back on,
and a hook pointing at this server that no installation owns is deleted.

The quick start is installed against the BigCommerce sandbox, whose hooks the test edits
directly (as BigCommerce itself would, or a store owner in its control panel).
"""

from __future__ import annotations

import time

import httpx2

from solder.engine import reconcile
from solder.sandbox.bigcommerce import StoreState
from tests.conftest import Server
from tests.flows import install_quickstart, push_quickstart


def test_reconciliation_remakes_reactivates_and_removes_orphans(
    server: Server,
    api: httpx2.Client,
    receiver_url: str,
    sandbox_store: tuple[str, StoreState],
) -> None:
    store = sandbox_store[1]
    push_quickstart(api)
    install_quickstart(api, "gregg", receiver_url)
    install_quickstart(api, "maria", receiver_url)
    assert len(store.hooks) == 2
    assert reconcile.reconcile(server.services) == {
        "checked": 2, "remade": 0, "reactivated": 0, "orphans": 0, "errors": 0,
    }  # fmt: skip

    first, second = sorted(store.hooks)
    store.hooks[first]["is_active"] = False  # the app switched it off
    del store.hooks[second]  # the store owner deleted it
    orphan = {**store.hooks[first], "id": 999, "is_active": True}
    store.hooks[999] = orphan  # left behind by a crash: points at us, owned by nobody
    foreign = {**orphan, "id": 1000, "destination": "https://elsewhere.example/hook"}
    store.hooks[1000] = foreign  # someone else's hook: not ours to touch

    done = reconcile.reconcile(server.services)
    assert done == {"checked": 2, "remade": 1, "reactivated": 1, "orphans": 1, "errors": 0}
    assert store.hooks[first]["is_active"] is True
    assert 999 not in store.hooks
    assert 1000 in store.hooks
    ours = [h for h in store.hooks.values() if h["destination"].startswith(server.url)]
    assert len(ours) == 2
    assert all(h["is_active"] for h in ours)

    # the re-made hook works: a new order runs both users' workflows
    before = len(httpx2.get(f"{receiver_url}/_received").json()["data"])
    httpx2.post(
        f"{sandbox_store[0]}/stores/teststore/v2/orders",
        headers={"X-Auth-Token": "test-store-token"},
        json={"products": [{"name": "Mug", "quantity": 1, "price_inc_tax": 5}],
              "billing_address": {"first_name": "A", "email": "a@example.com"}},
    )  # fmt: skip
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        got = httpx2.get(f"{receiver_url}/_received").json()["data"]
        if len(got) >= before + 2:
            break
        time.sleep(0.1)
    assert len(got) == before + 2
    assert reconcile.reconcile(server.services)["remade"] == 0  # stable once repaired
