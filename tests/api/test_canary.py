"""A canary secret in a user's credential never shows: not in any API answer, log line, error
message, stored run history or request Solder sends to the ISV.

The quick start runs end to end with the sandbox store's token set to the canary: an order
webhook runs workflow 1 (the app trigger fetches the order with the token, Stream Data posts
to the receiver), a custom event runs workflow 2 (an app action with the token), then the store
revokes the token and workflow 2 fails with the store's refusal. Everything a user or an
operator could read afterwards is searched for the canary.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx2
import pytest
from sqlalchemy import inspect

from solder.push import install_headless
from solder.sandbox.bigcommerce import StoreState
from tests.apps.kits import ORDER
from tests.conftest import STORE_HASH, Server
from tests.flows import FULFILLMENT, NEW_ORDER, ok, push_quickstart, settled, workflow_ids

CANARY = "cAnArY-7d1f0b2e9a-token"


def test_a_credentials_secret_never_shows_anywhere(
    server: Server,
    api: httpx2.Client,
    receiver_url: str,
    sandbox_store: tuple[str, StoreState],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    store_url, store = sandbox_store
    store.access_token = CANARY
    push_quickstart(api)
    user_id = ok(api.post("/users", json={"username": "gregg"}))["userId"]
    integration = ok(api.get("/integrations", params={"userId": user_id}))["data"][0]
    credential = {"type": "bigcommerce", "data": {"storeHash": STORE_HASH, "accessToken": CANARY}}
    installed = install_headless(
        api, user_id, integration["integrationId"], [credential],
        lambda _block, _field: f"{receiver_url}/acmeco/orders",
    )  # fmt: skip
    flows = workflow_ids(api)

    made = httpx2.post(
        f"{store_url}/stores/{STORE_HASH}/v2/orders", json=ORDER, headers={"X-Auth-Token": CANARY}
    )
    assert made.status_code == 201, made.text
    order_id = made.json()["id"]
    (delivered,) = settled(api, flows[NEW_ORDER], user_id, 1)
    assert delivered["status"] == "succeeded", delivered

    event = {"event": "Fulfillment Updated", "userId": user_id,
             "data": {"orderId": str(order_id), "status": "FULFILLED"}}  # fmt: skip
    ok(api.post("/run/event", json=event))
    settled(api, flows[FULFILLMENT], user_id, 1)
    store.access_token = "rotated-by-the-merchant"
    ok(api.post("/run/event", json=event))
    runs = settled(api, flows[FULFILLMENT], user_id, 2)
    assert sorted(r["status"] for r in runs) == ["failed", "succeeded"], runs

    answers: list[Any] = []
    for path, params in [
        (f"/users/{user_id}/credentials", {}),
        ("/installations", {"userId": user_id}),
        (f"/installations/{installed.installation_id}", {}),
        ("/logs", {"userId": user_id}),
        (f"/workflows/{flows[NEW_ORDER]}/logs", {"userId": user_id}),
        (f"/workflows/{flows[FULFILLMENT]}/logs", {"userId": user_id}),
        (f"/workflows/{flows[FULFILLMENT]}/errors", {"userId": user_id}),
        ("/metadata/credentials", {}),
        (f"/users/{user_id}", {}),
    ]:
        answer = api.get(path, params=params)
        assert answer.status_code == 200, (path, answer.text)
        answers.append(answer.text)
    for run in runs:
        answers.append(api.get(f"/logs/{run['executionId']}").text)
    failed = next(r for r in runs if r["status"] == "failed")
    assert "401" in str(failed), failed  # the store's refusal is there, its cause is not
    # what Solder sent out: the receiver's recorded requests
    answers.append(httpx2.get(f"{receiver_url}/_received").text)

    for text in answers:
        assert CANARY not in text
    for record in caplog.records:
        assert CANARY not in record.getMessage()
        assert CANARY not in str(record.__dict__)

    # stored run history, events and notices: every text column of every table but the
    # (encrypted) credentials
    with server.services.engine.connect() as conn:
        tables = inspect(conn).get_table_names()
        for name in tables:
            if name == "credentials":
                continue
            rows = conn.exec_driver_sql(f'SELECT * FROM "{name}"').fetchall()
            for row in rows:
                assert CANARY not in repr(tuple(row)), name
        stored = conn.exec_driver_sql("SELECT ciphertext FROM credentials").fetchall()
    assert stored
    assert all(CANARY.encode() not in bytes(row[0]) for row in stored)
