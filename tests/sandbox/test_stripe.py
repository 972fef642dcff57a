"""The Stripe sandbox, on real loopback sockets, sending events to the receiver sandbox."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest

from solder.sandbox import receiver, stripe
from tests.sandbox.conftest import Sink
from tests.servers import run_asgi

KEY = "sk_test_51SandboxKeyForTests0000"


@dataclass
class Boxes:
    url: str
    acct: stripe.Account
    receiver_url: str
    received: receiver.ReceiverState


@pytest.fixture
def boxes(sink: Sink) -> Iterator[Boxes]:
    sink.state.clear()
    app = stripe.create_app(KEY, webhook_retries=2, retry_backoff=0.02)
    with run_asgi(app) as url:
        yield Boxes(url, app.state.stripe, sink.url, sink.state)


@pytest.fixture
def api(boxes: Boxes) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=boxes.url, headers={"Authorization": f"Bearer {KEY}"}) as client:
        yield client


def ok(answer: httpx2.Response) -> Any:
    assert answer.status_code == 200, answer.text
    return answer.json()


def error(answer: httpx2.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()["error"]
    return body


def parse_signature(header: str) -> tuple[str, str]:
    parts = dict(item.split("=", 1) for item in header.split(","))
    return parts["t"], parts["v1"]


def expected_v1(secret: str, timestamp: str, body: bytes) -> str:
    """Stripe's documented recipe, done here independently of the sandbox."""
    signed = timestamp.encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def test_every_call_needs_the_secret_key(boxes: Boxes) -> None:
    with httpx2.Client(base_url=boxes.url) as client:
        missing = client.get("/v1/customers")
        wrong = client.post(
            "/v1/customers",
            data={"name": "x"},
            headers={"Authorization": "Bearer sk_test_nope1234"},
        )
        basic = base64.b64encode(f"{KEY}:".encode()).decode()
        by_basic = client.get("/v1/customers", headers={"Authorization": f"Basic {basic}"})
    assert error(missing, 401)["type"] == "invalid_request_error"
    assert "did not provide an API key" in error(missing, 401)["message"]
    wrong_error = error(wrong, 401)
    assert wrong_error["message"].startswith("Invalid API Key provided: sk_test_")
    assert "sk_test_nope1234" not in wrong_error["message"]
    assert wrong_error["message"].endswith("1234")
    assert boxes.acct.customers == {}
    assert ok(by_basic)["object"] == "list"


def test_customer_create_read_update_delete(api: httpx2.Client, boxes: Boxes) -> None:
    created = ok(
        api.post(
            "/v1/customers",
            data={"name": "Ada", "email": "ada@example.com", "metadata[plan]": "pro",
                  "metadata[seats]": "3"},
        )
    )  # fmt: skip
    assert created["id"].startswith("cus_")
    assert created["object"] == "customer"
    assert created["livemode"] is False
    assert created["metadata"] == {"plan": "pro", "seats": "3"}
    assert ok(api.get(f"/v1/customers/{created['id']}")) == created

    updated = ok(
        api.post(
            f"/v1/customers/{created['id']}",
            data={"email": "ada@lovelace.example", "metadata[plan]": "", "metadata[tier]": "gold"},
        )
    )
    assert updated["email"] == "ada@lovelace.example"
    assert updated["name"] == "Ada"
    assert updated["metadata"] == {"seats": "3", "tier": "gold"}

    deleted = ok(api.delete(f"/v1/customers/{created['id']}"))
    assert deleted == {"id": created["id"], "object": "customer", "deleted": True}
    assert ok(api.get(f"/v1/customers/{created['id']}")) == deleted
    assert ok(api.get("/v1/customers"))["data"] == []
    gone = error(api.post(f"/v1/customers/{created['id']}", data={"name": "x"}), 404)
    assert gone["code"] == "resource_missing"


def test_customer_errors(api: httpx2.Client) -> None:
    missing = error(api.get("/v1/customers/cus_nope"), 404)
    assert missing == {
        "type": "invalid_request_error",
        "code": "resource_missing",
        "doc_url": "https://stripe.com/docs/error-codes#resource-missing",
        "message": "No such customer: 'cus_nope'",
        "param": "id",
    }
    unknown = error(api.post("/v1/customers", data={"nickname": "x"}), 400)
    assert (unknown["code"], unknown["param"]) == ("parameter_unknown", "nickname")
    unrecognized = error(api.get("/v1/charges"), 404)
    assert unrecognized["message"].startswith("Unrecognized request URL (GET: /v1/charges)")


def test_list_pagination_forwards_and_backwards(api: httpx2.Client) -> None:
    ids = [ok(api.post("/v1/customers", data={"name": f"c{n}"}))["id"] for n in range(7)]
    newest_first = list(reversed(ids))

    walked: list[str] = []
    flags: list[bool] = []
    params: dict[str, str] = {"limit": "3"}
    while True:
        page = ok(api.get("/v1/customers", params=params))
        assert page["object"] == "list"
        assert page["url"] == "/v1/customers"
        walked += [c["id"] for c in page["data"]]
        flags.append(page["has_more"])
        if not page["has_more"]:
            break
        params = {"limit": "3", "starting_after": page["data"][-1]["id"]}
    assert walked == newest_first
    assert flags == [True, True, False]

    back = ok(api.get("/v1/customers", params={"limit": "2", "ending_before": ids[0]}))
    assert [c["id"] for c in back["data"]] == newest_first[4:6]
    assert back["has_more"] is True
    assert len(ok(api.get("/v1/customers"))["data"]) == 7  # default limit 10

    too_many = error(api.get("/v1/customers", params={"limit": "101"}), 400)
    assert too_many["param"] == "limit"
    both = api.get("/v1/customers", params={"starting_after": ids[0], "ending_before": ids[1]})
    assert error(both, 400)["type"] == "invalid_request_error"
    stale = error(api.get("/v1/customers", params={"starting_after": "cus_gone"}), 400)
    assert (stale["code"], stale["param"]) == ("resource_missing", "starting_after")


def test_idempotency_key_replays_and_guards_the_parameters(
    api: httpx2.Client, boxes: Boxes
) -> None:
    key = {"Idempotency-Key": "create-ada-1"}
    first = api.post("/v1/customers", data={"name": "Ada", "metadata[a]": "1"}, headers=key)
    again = api.post("/v1/customers", data={"metadata[a]": "1", "name": "Ada"}, headers=key)
    other = api.post("/v1/customers", data={"name": "Grace"}, headers=key)

    assert ok(first) == ok(again)
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["request-id"] == first.headers["request-id"]
    assert len(boxes.acct.customers) == 1
    mismatch = error(other, 400)
    assert mismatch["type"] == "idempotency_error"
    assert "create-ada-1" in mismatch["message"]

    without_key = [ok(api.post("/v1/customers", data={"name": "Ada"}))["id"] for _ in range(2)]
    assert without_key[0] != without_key[1]
    assert len(boxes.acct.customers) == 3


def test_a_request_that_fails_validation_keeps_no_idempotent_result(api: httpx2.Client) -> None:
    key = {"Idempotency-Key": "invoice-1"}
    customer = ok(api.post("/v1/customers", data={"name": "Ada"}))
    missing = error(api.post("/v1/invoices", data={}, headers=key), 400)
    assert (missing["code"], missing["param"]) == ("parameter_missing", "customer")
    assert missing["message"] == "Missing required param: customer."
    created = ok(api.post("/v1/invoices", data={"customer": customer["id"]}, headers=key))
    assert created["status"] == "draft"
    # an error raised while the endpoint ran is kept, like a success
    pay_key = {"Idempotency-Key": "pay-missing"}
    first = error(api.post("/v1/invoices/in_nope/pay", headers=pay_key), 404)
    assert error(api.post("/v1/invoices/in_nope/pay", headers=pay_key), 404) == first


def test_invoice_lifecycle(api: httpx2.Client, boxes: Boxes) -> None:
    customer = ok(api.post("/v1/customers", data={"name": "Ada", "email": "ada@example.com"}))
    invoice = ok(
        api.post(
            "/v1/invoices",
            data={"customer": customer["id"], "description": "Consulting", "metadata[po]": "77"},
        )
    )
    assert invoice["id"].startswith("in_")
    assert (invoice["status"], invoice["amount_due"], invoice["number"]) == ("draft", 0, None)
    assert invoice["customer_email"] == "ada@example.com"
    assert invoice["metadata"] == {"po": "77"}
    for amount in ("15000", "2500"):
        item = {"customer": customer["id"], "invoice": invoice["id"], "amount": amount}
        ok(api.post("/v1/invoiceitems", data=item))
    assert ok(api.get(f"/v1/invoices/{invoice['id']}"))["amount_due"] == 17500

    final = ok(api.post(f"/v1/invoices/{invoice['id']}/finalize"))
    assert final["status"] == "open"
    assert final["number"].startswith(customer["invoice_prefix"])
    assert final["status_transitions"]["finalized_at"] is not None
    assert error(api.post(f"/v1/invoices/{invoice['id']}/finalize"), 400)["message"]
    late = {"customer": customer["id"], "invoice": invoice["id"], "amount": "1"}
    assert error(api.post("/v1/invoiceitems", data=late), 400)["param"] == "invoice"

    paid = ok(api.post(f"/v1/invoices/{invoice['id']}/pay"))
    assert (paid["status"], paid["paid"], paid["amount_paid"]) == ("paid", True, 17500)
    assert paid["amount_remaining"] == 0
    assert paid["status_transitions"]["paid_at"] is not None
    assert error(api.post(f"/v1/invoices/{invoice['id']}/pay"), 400)["message"]

    other = ok(api.post("/v1/customers", data={"name": "Grace"}))
    ok(api.post("/v1/invoices", data={"customer": other["id"]}))
    mine = ok(api.get("/v1/invoices", params={"customer": customer["id"]}))
    assert [i["id"] for i in mine["data"]] == [invoice["id"]]
    assert mine["url"] == "/v1/invoices"
    drafts = ok(api.get("/v1/invoices", params={"status": "draft"}))
    assert [i["customer"] for i in drafts["data"]] == [other["id"]]
    assert error(api.get("/v1/invoices/in_nope"), 404)["code"] == "resource_missing"


def test_invoice_errors_and_a_declined_payment(api: httpx2.Client, boxes: Boxes) -> None:
    stranger = error(api.post("/v1/invoices", data={"customer": "cus_nope"}), 400)
    assert (stranger["code"], stranger["param"]) == ("resource_missing", "customer")
    customer = ok(api.post("/v1/customers", data={"name": "Ada"}))
    invoice = ok(api.post("/v1/invoices", data={"customer": customer["id"]}))
    item = {"customer": customer["id"], "invoice": invoice["id"], "amount": "900"}
    ok(api.post("/v1/invoiceitems", data=item))

    with httpx2.Client() as client:
        client.post(f"{boxes.url}/_sandbox/settings", json={"decline_payments": True})
    declined = error(api.post(f"/v1/invoices/{invoice['id']}/pay"), 402)
    assert (declined["type"], declined["code"]) == ("card_error", "card_declined")
    after = ok(api.get(f"/v1/invoices/{invoice['id']}"))
    assert (after["status"], after["attempt_count"], after["amount_paid"]) == ("open", 1, 0)
    kinds = [e["type"] for e in boxes.acct.events]
    assert kinds[-2:] == ["invoice.finalized", "invoice.payment_failed"]


def test_rate_limit_switch(api: httpx2.Client, boxes: Boxes) -> None:
    with httpx2.Client() as client:
        client.post(f"{boxes.url}/_sandbox/settings", json={"rate_limited": True})
    limited = error(api.post("/v1/customers", data={"name": "x"}), 429)
    assert limited["code"] == "rate_limit"
    assert boxes.acct.customers == {}


def test_webhook_endpoint_crud_shows_the_secret_once(api: httpx2.Client) -> None:
    created = ok(
        api.post(
            "/v1/webhook_endpoints",
            data={"url": "https://isv.example/stripe", "enabled_events[]": ["customer.created",
                  "invoice.paid"], "description": "orders"},
        )
    )  # fmt: skip
    assert created["id"].startswith("we_")
    assert created["object"] == "webhook_endpoint"
    assert created["secret"].startswith("whsec_")
    assert created["enabled_events"] == ["customer.created", "invoice.paid"]
    assert created["status"] == "enabled"
    listed = ok(api.get("/v1/webhook_endpoints"))
    assert listed["data"] == [{k: v for k, v in created.items() if k != "secret"}]
    assert "secret" not in ok(api.get(f"/v1/webhook_endpoints/{created['id']}"))
    deleted = ok(api.delete(f"/v1/webhook_endpoints/{created['id']}"))
    assert deleted == {"id": created["id"], "object": "webhook_endpoint", "deleted": True}
    assert ok(api.get("/v1/webhook_endpoints"))["data"] == []

    no_url = error(api.post("/v1/webhook_endpoints", data={"enabled_events[0]": "*"}), 400)
    assert (no_url["code"], no_url["param"]) == ("parameter_missing", "url")
    bad = {"url": "https://isv.example/x", "enabled_events[0]": "customer.teleported"}
    assert error(api.post("/v1/webhook_endpoints", data=bad), 400)["param"] == "enabled_events"


def add_endpoint(api: httpx2.Client, url: str, *events: str) -> dict[str, Any]:
    form = {"url": url, **{f"enabled_events[{i}]": e for i, e in enumerate(events)}}
    endpoint: dict[str, Any] = ok(api.post("/v1/webhook_endpoints", data=form))
    return endpoint


def test_events_are_delivered_signed_to_subscribed_endpoints(
    api: httpx2.Client, boxes: Boxes
) -> None:
    endpoint = add_endpoint(api, f"{boxes.receiver_url}/stripe", "customer.created")
    add_endpoint(api, f"{boxes.receiver_url}/invoices-only", "invoice.paid")
    customer = ok(
        api.post("/v1/customers", data={"name": "Ada"}, headers={"Idempotency-Key": "k-9"})
    )

    (got,) = boxes.received.wait_for(1)
    time.sleep(0.1)  # the endpoint not subscribed must stay quiet
    assert len(boxes.received.records) == 1
    assert got.path == "/stripe"
    body = got.body.encode()
    timestamp, v1 = parse_signature(got.headers["stripe-signature"])
    assert hmac.compare_digest(v1, expected_v1(endpoint["secret"], timestamp, body))
    assert not hmac.compare_digest(v1, expected_v1(endpoint["secret"], timestamp, body[:-1]))
    assert not hmac.compare_digest(v1, expected_v1("whsec_other", timestamp, body))
    assert abs(time.time() - int(timestamp)) < 300

    event = json.loads(body)
    assert event["object"] == "event"
    assert event["id"].startswith("evt_")
    assert event["type"] == "customer.created"
    assert event["livemode"] is False
    assert event["data"]["object"] == customer
    assert event["request"]["idempotency_key"] == "k-9"
    assert event["pending_webhooks"] == 1


def test_update_events_carry_previous_attributes(api: httpx2.Client, boxes: Boxes) -> None:
    add_endpoint(api, f"{boxes.receiver_url}/all", "*")
    customer = ok(api.post("/v1/customers", data={"name": "Ada"}))
    ok(api.post(f"/v1/customers/{customer['id']}", data={"name": "Ada L."}))
    invoice = ok(api.post("/v1/invoices", data={"customer": customer["id"]}))
    ok(api.post(f"/v1/invoices/{invoice['id']}/pay", data={"paid_out_of_band": "true"}))

    records = boxes.received.wait_for(5)
    events = sorted((json.loads(r.body) for r in records), key=lambda e: e["created"])
    kinds = [e["type"] for e in events]
    assert sorted(kinds) == sorted(
        ["customer.created", "customer.updated", "invoice.created", "invoice.finalized",
         "invoice.paid"]
    )  # fmt: skip
    updated = next(e for e in events if e["type"] == "customer.updated")
    assert updated["data"]["previous_attributes"] == {"name": "Ada"}
    assert updated["data"]["object"]["name"] == "Ada L."


def test_a_failed_delivery_is_retried_and_signed_again(api: httpx2.Client, boxes: Boxes) -> None:
    with httpx2.Client() as client:
        client.post(f"{boxes.receiver_url}/_fail", json={"status": 503, "count": 1})
    endpoint = add_endpoint(api, f"{boxes.receiver_url}/stripe", "customer.created")
    ok(api.post("/v1/customers", data={"name": "Ada"}))

    first, second = boxes.received.wait_for(2)
    assert (first.status, second.status) == (503, 200)
    assert first.body == second.body
    for got in (first, second):
        timestamp, v1 = parse_signature(got.headers["stripe-signature"])
        assert v1 == expected_v1(endpoint["secret"], timestamp, got.body.encode())
    boxes.acct.deliveries.wait_for(lambda ds: any(d.ok for d in ds))
    with httpx2.Client() as client:
        log = client.get(f"{boxes.url}/_sandbox/deliveries").json()["data"]
    event_id = json.loads(first.body)["id"]
    assert [(d["key"], d["attempt"], d["status_code"]) for d in log] == [
        (event_id, 1, 503),
        (event_id, 2, 200),
    ]
