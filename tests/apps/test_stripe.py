"""The Stripe connector against the Stripe sandbox on real loopback sockets: form encoding, the
actions and their idempotency keys, errors that never quote the key, and the signed webhook
trigger through a running server (subscribe, verify each callback, unsubscribe)."""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import select

from solder.apps import stripe as connector
from solder.apps.base import AppContext
from solder.apps.registry import APPS
from solder.config import Settings
from solder.engine import reconcile
from solder.errors import FatalError, ReconnectNeeded, RetryableError
from solder.sandbox import stripe
from solder.security.crypto import KeyRing
from solder.store import rotation
from solder.store.tables import workflow_installs
from tests.blockflow import Flow
from tests.conftest import Server
from tests.flows import ok, wait_until
from tests.servers import run_asgi

KEY = "sk_test_51ConnectorKeyForTests0000"
APP = APPS["stripe"]


@pytest.fixture
def box() -> Iterator[tuple[str, stripe.Account]]:
    app = stripe.create_app(KEY, webhook_retries=2, retry_backoff=0.05)
    with run_asgi(app) as url:
        yield url, app.state.stripe


@pytest.fixture
def ctx(box: tuple[str, stripe.Account]) -> Iterator[AppContext]:
    with httpx2.Client(timeout=5) as client:
        yield AppContext({"secretKey": KEY}, client, box[0], "http://127.0.0.1:9")


def stripe_api(url: str) -> httpx2.Client:
    return httpx2.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"})


def new_customer(url: str, email: str) -> dict[str, Any]:
    with stripe_api(url) as http:
        made: dict[str, Any] = ok(http.post("/v1/customers", data={"email": email}))
    return made


def run(ctx: AppContext, action: str, inp: dict[str, Any]) -> dict[str, Any]:
    found = APP.actions[action]
    return found.run(ctx, found.input_model.model_validate(inp))


# -- the wire and the signature, without a network ---------------------------------------------


def test_form_encoding_nests_as_stripe_does() -> None:
    pairs = connector.form_pairs(
        {"email": "a@b.c", "metadata": {"plan": "pro", "seats": 3}, "enabled_events": ["x", "y"],
         "auto_advance": False, "phone": None}
    )  # fmt: skip
    assert pairs == [
        ("email", "a@b.c"),
        ("metadata[plan]", "pro"),
        ("metadata[seats]", "3"),
        ("enabled_events[0]", "x"),
        ("enabled_events[1]", "y"),
        ("auto_advance", "false"),
    ]


def test_a_signature_is_checked_over_the_raw_body_within_five_minutes() -> None:
    secret, body, now = "whsec_abc", b'{"id": "evt_1"}', 1_700_000_000
    good = stripe.signature_header(secret, now, body)
    assert connector.signature_valid(good, body, secret, now)
    assert connector.signature_valid(good, body, secret, now + 299)
    assert not connector.signature_valid(good, body, secret, now + 301)  # a replay
    assert not connector.signature_valid(good, body, secret, now - 301)
    assert not connector.signature_valid(good, body + b" ", secret, now)  # body changed
    assert not connector.signature_valid(good, body, "whsec_other", now)
    assert not connector.signature_valid("", body, secret, now)
    assert not connector.signature_valid(f"t={now}", body, secret, now)
    assert not connector.signature_valid(good.replace("t=", "t=x"), body, secret, now)
    assert not connector.signature_valid(good, body, "", now)
    # a second v1 (Stripe signs with old and new secrets while one is rolled) is accepted
    rolled = stripe.signature_header("whsec_old", now, body) + "," + good.split(",")[1]
    assert connector.signature_valid(rolled, body, secret, now)


def test_idempotency_keys_are_stable_and_distinct_per_action() -> None:
    assert connector.idempotency_key("create_customer", None) is None
    one = connector.idempotency_key("create_customer", "order-7")
    assert one == connector.idempotency_key("create_customer", "order-7")
    assert one != connector.idempotency_key("create_invoice", "order-7")
    assert one is not None
    assert "order-7" not in one


# -- actions against the sandbox ---------------------------------------------------------------


def test_create_update_and_find_a_customer(
    ctx: AppContext, box: tuple[str, stripe.Account]
) -> None:
    acct = box[1]
    new = {"email": "ada@example.com", "name": "Ada", "metadata": {"plan": "pro"}}
    made = run(ctx, "create_customer", new)
    assert made["id"].startswith("cus_")
    assert acct.customers[made["id"]]["metadata"] == {"plan": "pro"}
    change = {"customerId": made["id"], "name": "Ada L.", "metadata": {"seats": "3"}}
    changed = run(ctx, "update_customer", change)
    assert (changed["name"], changed["metadata"]) == ("Ada L.", {"plan": "pro", "seats": "3"})
    again = run(ctx, "update_customer", {"customerId": made["id"], "name": "Ada L."})
    assert again["name"] == "Ada L."  # a repeat is harmless
    found = run(ctx, "find_customer", {"email": "ada@example.com"})
    assert (found["found"], found["customer"]["id"]) == (True, made["id"])
    assert run(ctx, "find_customer", {"email": "nobody@example.com"}) == {
        "found": False,
        "customer": None,
    }


def test_an_idempotency_key_makes_a_repeated_create_one_customer(
    ctx: AppContext, box: tuple[str, stripe.Account]
) -> None:
    first = run(ctx, "create_customer", {"email": "b@example.com", "idempotencyKey": "order-1"})
    second = run(ctx, "create_customer", {"email": "b@example.com", "idempotencyKey": "order-1"})
    assert first["id"] == second["id"]
    assert len(box[1].customers) == 1
    third = run(ctx, "create_customer", {"email": "b@example.com"})  # no key: a new customer
    assert third["id"] != first["id"]
    assert len(box[1].customers) == 2


def test_invoice_create_add_an_item_and_finalize_twice(ctx: AppContext) -> None:
    customer = run(ctx, "create_customer", {"email": "c@example.com"})
    new = {"customer": customer["id"], "description": "May", "metadata": {"order": "7"},
           "idempotencyKey": "7"}  # fmt: skip
    invoice = run(ctx, "create_invoice", new)
    assert (invoice["status"], invoice["total"]) == ("draft", 0)
    item = run(ctx, "add_invoice_item",
               {"customer": customer["id"], "invoice": invoice["id"], "amount": 1099})  # fmt: skip
    assert item["invoice"] == invoice["id"]
    done = run(ctx, "finalize_invoice", {"invoice": invoice["id"]})
    assert (done["status"], done["total"]) == ("open", 1099)
    assert done["number"]
    assert run(ctx, "finalize_invoice", {"invoice": invoice["id"]}) == done  # a repeat is harmless
    with pytest.raises(FatalError, match="daysUntilDue"):
        run(ctx, "create_invoice", {"customer": customer["id"], "collectionMethod": "send_invoice"})
    with pytest.raises(FatalError, match="No such invoice"):
        run(ctx, "finalize_invoice", {"invoice": "in_missing"})


def test_a_wrong_key_asks_to_reconnect_and_is_never_quoted(box: tuple[str, stripe.Account]) -> None:
    wrong = "sk_test_51WrongKeyThatMustNotLeak9999"
    with httpx2.Client(timeout=5) as client:
        bad = AppContext({"secretKey": wrong}, client, box[0], "http://127.0.0.1:9")
        assert APP.test_credential is not None
        with pytest.raises(ReconnectNeeded) as caught:
            APP.test_credential(bad)
    assert "Invalid API Key" in str(caught.value)
    assert "9999" not in str(caught.value)
    assert "sk_test" not in str(caught.value)


def test_the_credential_test_passes_with_the_right_key(ctx: AppContext) -> None:
    assert APP.test_credential is not None
    APP.test_credential(ctx)


def test_rate_limiting_is_retryable(ctx: AppContext, box: tuple[str, stripe.Account]) -> None:
    box[1].rate_limited = True
    with pytest.raises(RetryableError, match="rate limit"):
        run(ctx, "find_customer", {"email": "x@example.com"})


# -- the webhook trigger through a server --------------------------------------------------------


@pytest.fixture
def settings(settings: Settings, box: tuple[str, stripe.Account]) -> Settings:
    settings.app_base_urls["stripe"] = box[0]
    return settings


def customer_flow(api: httpx2.Client, tmp_path: Path, receiver_url: str) -> Flow:
    flow = Flow(
        api,
        tmp_path,
        [{"key": "send", "type": "streamData",
          "inputs": {"url": f"{receiver_url}/customers",
                     "body": {"id": "{{ trigger.id }}", "email": "{{ trigger.email }}",
                              "event": "{{ trigger.event.type }}"}}}],
        trigger={"key": "created", "type": "appEvent", "app": "stripe",
                 "event": "customer_created"},
    )  # fmt: skip
    flow.credentials = [{"type": "stripe", "data": {"secretKey": KEY}}]
    return flow.install()


@pytest.fixture
def flow(api: httpx2.Client, tmp_path: Path, receiver_url: str) -> Flow:
    """A workflow started by customer_created, installed for a user with the sandbox key."""
    return customer_flow(api, tmp_path, receiver_url)


def test_a_customer_created_at_stripe_runs_the_workflow_once(
    server: Server, flow: Flow, receiver_url: str, box: tuple[str, stripe.Account]
) -> None:
    url, acct = box
    (endpoint,) = acct.endpoints.values()
    assert endpoint["url"].startswith(f"{server.url}/hooks/stripe/")
    assert endpoint["enabled_events"] == ["customer.created"]

    made = new_customer(url, "dee@example.com")
    (run_,) = flow.finished(1)
    assert run_["status"] == "succeeded", run_
    got = ok(httpx2.get(f"{receiver_url}/_received"))["data"]
    assert [r["json"] for r in got] == [
        {"id": made["id"], "email": "dee@example.com", "event": "customer.created"}
    ]
    # the same event delivered again (Stripe retries) runs nothing more
    event = next(e for e in acct.events if e["type"] == "customer.created")
    body = json.dumps(event).encode()
    signed = stripe.signature_header(endpoint["secret"], int(time.time()), body)
    again = httpx2.post(endpoint["url"], content=body, headers={"Stripe-Signature": signed})
    assert again.status_code == 200, again.text
    assert again.json()["duplicate"] is True
    assert len(flow.runs()) == 1


def test_callbacks_without_a_good_signature_are_refused(
    server: Server, flow: Flow, box: tuple[str, stripe.Account]
) -> None:
    (endpoint,) = box[1].endpoints.values()
    event = {"id": "evt_forged", "type": "customer.created",
             "data": {"object": {"id": "cus_forged", "email": "x@example.com"}}}  # fmt: skip
    body = json.dumps(event).encode()
    now = int(time.time())
    for headers in (
        {},
        {"Stripe-Signature": stripe.signature_header("whsec_guess", now, body)},
        {"Stripe-Signature": stripe.signature_header(endpoint["secret"], now - 600, body)},
        {"Stripe-Signature": stripe.signature_header(endpoint["secret"], now, body + b" ")},
    ):
        refused = httpx2.post(endpoint["url"], content=body, headers=headers)
        assert refused.status_code == 401, (headers, refused.text)
        assert endpoint["secret"] not in refused.text
    assert flow.runs() == []
    good = {"Stripe-Signature": stripe.signature_header(endpoint["secret"], now, body)}
    assert httpx2.post(endpoint["url"], content=body, headers=good).status_code == 200
    flow.finished(1)


def test_deactivating_deletes_the_endpoint_and_activating_makes_a_new_one(
    api: httpx2.Client, flow: Flow, box: tuple[str, stripe.Account]
) -> None:
    acct = box[1]
    (first,) = acct.endpoints
    body = {"userId": flow.user_id, "workflowId": flow.workflow_id}
    ok(api.put("/workflows/deactivate", json=body))
    assert acct.endpoints == {}
    ok(api.put("/workflows/activate", json=body))
    (second,) = acct.endpoints
    assert second != first
    new_customer(box[0], "eve@example.com")
    wait_until("a run", lambda: flow.runs() or None)


def test_reconciliation_keeps_live_endpoints_remakes_lost_ones_and_drops_orphans(
    server: Server, flow: Flow, box: tuple[str, stripe.Account]
) -> None:
    url, acct = box
    assert reconcile.reconcile(server.services) == {
        "checked": 1, "remade": 0, "reactivated": 0, "orphans": 0, "errors": 0,
    }  # fmt: skip
    (live,) = acct.endpoints
    with stripe_api(url) as http:
        orphan = ok(
            http.post(
                "/v1/webhook_endpoints",
                data={
                    "url": f"{server.url}/hooks/stripe/gone",
                    "enabled_events[]": "customer.created",
                },
            )
        )
        foreign = ok(
            http.post(
                "/v1/webhook_endpoints",
                data={
                    "url": "https://elsewhere.example/hook",
                    "enabled_events[]": "customer.created",
                },
            )
        )
    del acct.endpoints[live]  # deleted in Stripe's dashboard
    assert reconcile.reconcile(server.services) == {
        "checked": 1, "remade": 1, "reactivated": 0, "orphans": 1, "errors": 0,
    }  # fmt: skip
    assert orphan["id"] not in acct.endpoints
    assert foreign["id"] in acct.endpoints
    (remade,) = [e for e in acct.endpoints.values() if e["url"].startswith(server.url)]
    assert remade["id"] != live
    new_customer(url, "fay@example.com")
    (run_,) = flow.finished(1)  # signed with the new endpoint's secret, and accepted
    assert run_["status"] == "succeeded", run_


def test_the_signing_secret_is_stored_encrypted(
    server: Server, flow: Flow, box: tuple[str, stripe.Account]
) -> None:
    (endpoint,) = box[1].endpoints.values()
    with server.services.engine.connect() as conn:
        (state,) = conn.execute(select(workflow_installs.c.state)).scalars().all()
    assert state["hookId"] == endpoint["id"]
    assert endpoint["secret"] not in json.dumps(state)
    assert "whsec_" not in json.dumps(state)


def test_a_wrong_key_is_refused_when_the_user_connects(
    api: httpx2.Client, box: tuple[str, stripe.Account]
) -> None:
    user_id = ok(api.post("/users", json={"username": "gregg"}))["userId"]
    wrong = "sk_test_51WrongKeyAtConnect7777"
    body = {"userId": user_id, "credential": {"type": "stripe", "data": {"secretKey": wrong}}}
    refused = api.post("/headless/credentials", json=body)
    assert refused.status_code == 422, refused.text
    assert "credential" in refused.json()["message"]
    assert "7777" not in refused.text
    body["credential"]["data"]["secretKey"] = KEY  # type: ignore[index]
    assert ok(api.post("/headless/credentials", json=body))["credentialId"]
    assert KEY not in str(ok(api.get(f"/users/{user_id}/credentials")))


def test_a_sealed_secret_the_ring_cannot_open_refuses_the_callback(
    server: Server, flow: Flow, box: tuple[str, stripe.Account]
) -> None:
    (endpoint,) = box[1].endpoints.values()
    server.services.ring = KeyRing.parse(base64.b64encode(os.urandom(32)).decode())
    body = json.dumps({"id": "evt_1", "type": "customer.created", "data": {"object": {}}})
    signed = stripe.signature_header(endpoint["secret"], int(time.time()), body.encode())
    refused = httpx2.post(endpoint["url"], content=body, headers={"Stripe-Signature": signed})
    assert refused.status_code == 401, refused.text  # not a 500
    assert flow.runs() == []


def test_rotating_the_key_reseals_the_signing_secret_and_callbacks_still_verify(
    server: Server, flow: Flow, box: tuple[str, stripe.Account], receiver_url: str
) -> None:
    (endpoint,) = box[1].endpoints.values()
    new = KeyRing((os.urandom(32),))
    both = KeyRing(new.keys + server.services.ring.keys)
    reports = {r.table: r for r in rotation.rotate(server.services.engine, both)}
    hooks = reports[rotation.HOOK_STATES]
    assert (hooks.reencrypted, hooks.current, hooks.undecryptable) == (1, 0, [])
    assert reports["credentials"].reencrypted == 1
    again = {r.table: r for r in rotation.rotate(server.services.engine, both)}
    assert (again[rotation.HOOK_STATES].reencrypted, again[rotation.HOOK_STATES].current) == (0, 1)

    server.services.ring = new  # the old key is gone: only the rotated secrets can be read
    with server.services.engine.connect() as conn:
        (state,) = conn.execute(select(workflow_installs.c.state)).scalars().all()
    assert state["sealed"]["kid"] == new.current_id
    assert state["hookId"] == endpoint["id"]
    customer = {"id": "cus_rot", "email": "r@example.com"}
    body = json.dumps({"id": "evt_rot", "type": "customer.created", "data": {"object": customer}})
    signed = stripe.signature_header(endpoint["secret"], int(time.time()), body.encode())
    taken = httpx2.post(endpoint["url"], content=body, headers={"Stripe-Signature": signed})
    assert taken.status_code < 300, taken.text
