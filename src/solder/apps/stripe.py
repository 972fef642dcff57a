"""Stripe: customers and invoices with the secret key; events by signed webhooks.

Stripe takes form-encoded bodies (``metadata[plan]=pro``, ``enabled_events[0]=...``) and
answers JSON. Each installation of a workflow started by a Stripe event gets its own webhook
endpoint, made on activation and deleted on deactivation; Stripe shows the endpoint's
``whsec_`` signing secret once, in the answer that made it, and it is kept, encrypted, in
the subscription's state (its ``sealed`` part). Every callback is checked against it:
``Stripe-Signature`` is ``t=<unix>,v1=<hex HMAC-SHA256 of "{t}.{raw body}">``, and a
timestamp more than five minutes away is refused (a replayed delivery).

Creating is not idempotent at Stripe unless a request carries ``Idempotency-Key``; the
create actions take an optional ``idempotencyKey`` input (an order id, say) and send a key
derived from it and the action, so a repeated run replays Stripe's first answer.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlencode

import httpx2
from pydantic import BaseModel, ConfigDict, Field

from solder.apps.base import AppContext, CredentialField, Subscription, WebhookTrigger
from solder.apps.http import fetch, json_body
from solder.apps.sdk import ApiKeyAuth, Connector
from solder.errors import FatalError, ReconnectNeeded

SIGNATURE_HEADER = "Stripe-Signature"
TOLERANCE = 300.0
"""Seconds a signed timestamp may be away from now (Stripe's libraries use five minutes)."""
_KEY_SHAPE = re.compile(r"\b(?:sk|rk|pk|whsec)_[A-Za-z0-9_*]+")


# ---- the wire --------------------------------------------------------------------------------


def form_pairs(params: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Stripe's form encoding: nested mappings as ``a[b]``, lists as ``a[0]``, booleans as
    ``true``/``false``; ``None`` is left out."""
    pairs: list[tuple[str, str]] = []
    for name, value in params.items():
        key = f"{prefix}[{name}]" if prefix else str(name)
        if value is None:
            continue
        if isinstance(value, Mapping):
            pairs += form_pairs(value, key)
        elif isinstance(value, list | tuple):
            pairs += form_pairs({str(i): v for i, v in enumerate(value)}, key)
        elif isinstance(value, bool):
            pairs.append((key, "true" if value else "false"))
        else:
            pairs.append((key, str(value)))
    return pairs


def _headers(ctx: AppContext) -> dict[str, str]:
    key = ctx.credential.get("secretKey")
    if not key:
        raise ReconnectNeeded("stripe credential has no secret key")
    return {"Authorization": f"Bearer {key}", "Accept": "application/json"}


def _scrubbed(response: httpx2.Response) -> httpx2.Response:
    """An error answer reduced to Stripe's message, with anything shaped like a key masked
    (Stripe's 401 quotes part of the key it was given)."""
    if response.status_code < 400:
        return response
    try:
        error = response.json().get("error", {})
        message = str(error.get("message") or error.get("type") or "")
    except (ValueError, AttributeError):
        message = ""
    kept = {k: v for k, v in response.headers.items() if k.lower() == "retry-after"}
    masked = _KEY_SHAPE.sub("[key]", message or response.reason_phrase)
    return httpx2.Response(response.status_code, headers=kept, json={"message": masked})


def call(
    ctx: AppContext,
    method: str,
    path: str,
    what: str,
    params: Mapping[str, Any] | None = None,
    idempotency_key: str | None = None,
) -> Any:
    """One Stripe request; errors mapped by ``solder.apps.http`` (secrets never quoted)."""
    url = f"{ctx.base_url.rstrip('/')}{path}"
    headers = _headers(ctx)
    encoded = urlencode(form_pairs(params or {}))
    kwargs: dict[str, Any] = {}
    if method in ("GET", "DELETE"):
        url = f"{url}?{encoded}" if encoded else url
    else:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        kwargs["content"] = encoded.encode()
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    response = fetch(
        lambda: _scrubbed(ctx.client.request(method, url, headers=headers, **kwargs)), url, what
    )
    return json_body(response, what)


def idempotency_key(action: str, given: str | None) -> str | None:
    """The key sent for ``given``: stable, and distinct per action (Stripe keys are per
    account, and one key with other parameters is an error)."""
    if not given:
        return None
    return f"solder-{action}-" + hashlib.sha256(given.encode()).hexdigest()[:40]


# ---- webhook signatures ----------------------------------------------------------------------


def signature_valid(header: str, body: bytes, secret: str, now: float) -> bool:
    """Whether ``Stripe-Signature`` signs ``body`` with ``secret`` at a time near ``now``."""
    stamps, signatures = [], []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            stamps.append(value)
        elif name == "v1":
            signatures.append(value)
    if len(stamps) != 1 or not stamps[0].isdigit() or not signatures or not secret:
        return False
    if abs(now - int(stamps[0])) > TOLERANCE:
        return False
    signed = stamps[0].encode() + b"." + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, s) for s in signatures)


def _verify(headers: Mapping[str, str], body: bytes, state: Mapping[str, Any]) -> bool:
    header = headers.get(SIGNATURE_HEADER.lower(), "")
    sealed = state.get("sealed")
    secret = sealed.get("signingSecret", "") if isinstance(sealed, Mapping) else ""
    return signature_valid(header, body, str(secret), time.time())


# ---- the webhook trigger ---------------------------------------------------------------------


def _subscribe(events: tuple[str, ...]) -> Any:
    def subscribe(ctx: AppContext, sub: Subscription) -> dict[str, Any]:
        params = {
            "url": sub.destination,
            "enabled_events": list(events),
            "description": f"Solder installation {sub.install_id}",
            "metadata": {"solder_install": sub.install_id},
        }
        # no idempotency key: activating again after a deactivation needs a new endpoint
        made = call(ctx, "POST", "/v1/webhook_endpoints", "stripe create webhook endpoint", params)
        secret = made.get("secret")
        if not made.get("id") or not isinstance(secret, str):
            raise FatalError("stripe create webhook endpoint: the answer has no id or secret")
        # "hookId" is the key engine/reconcile.py reads to tell owned endpoints from orphans
        # "sealed": stored encrypted, opened only for verify
        return {"hookId": made["id"], "events": list(events), "sealed": {"signingSecret": secret}}

    return subscribe


def _unsubscribe(ctx: AppContext, state: Mapping[str, Any]) -> None:
    endpoint = state.get("hookId")
    if not endpoint:
        return
    try:
        call(ctx, "DELETE", f"/v1/webhook_endpoints/{endpoint}", "stripe delete webhook endpoint")
    except FatalError as exc:
        if "HTTP 404" not in str(exc):  # already gone is what we wanted
            raise


def _status(ctx: AppContext, state: Mapping[str, Any]) -> str:
    endpoint = state.get("hookId")
    if not endpoint:
        return "missing"
    try:
        found = call(ctx, "GET", f"/v1/webhook_endpoints/{endpoint}", "stripe get webhook endpoint")
    except FatalError as exc:
        if "HTTP 404" in str(exc):
            return "missing"
        raise
    return "active" if found.get("status") == "enabled" else "inactive"


def _endpoints(ctx: AppContext) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    params: dict[str, Any] = {"limit": 100}
    while True:
        page = call(ctx, "GET", "/v1/webhook_endpoints", "stripe list webhook endpoints", params)
        rows = page.get("data", [])
        found += [(str(e["id"]), str(e.get("url", ""))) for e in rows]
        if not page.get("has_more") or not rows:
            return found
        params["starting_after"] = rows[-1]["id"]


def _event_object(ctx: AppContext, payload: Mapping[str, Any]) -> dict[str, Any]:
    data = payload.get("data")
    obj = data.get("object") if isinstance(data, Mapping) else None
    if not isinstance(obj, Mapping):
        raise FatalError("stripe event has no data.object")
    return {**obj, "event": {k: payload.get(k) for k in ("id", "type", "created")}}


def webhook(key: str, name: str, events: tuple[str, ...]) -> WebhookTrigger:
    """A trigger on ``events``; its output is the event's object, plus ``event`` (id, type)."""
    return WebhookTrigger(
        key=key,
        name=name,
        subscribe=_subscribe(events),
        unsubscribe=_unsubscribe,
        secret_header=SIGNATURE_HEADER,
        event_id=lambda p: str(p["id"]) if p.get("id") else None,
        matches=lambda p: p.get("type") in events,
        enrich=_event_object,
        status=_status,
        hooks=_endpoints,
        drop=lambda ctx, endpoint: _unsubscribe(ctx, {"hookId": endpoint}),
        verify=_verify,
    )


connector = Connector(
    key="stripe",
    categories=("payments",),
    title="Stripe",
    icon="/static/icons/block.svg",
    version="1.0.0",
    description="Customers and invoices of a Stripe account; its events as triggers.",
    auth=ApiKeyAuth(
        fields=(
            CredentialField(
                "secretKey",
                "Secret key",
                "Developers > API keys: sk_test_... or sk_live_... (or a restricted rk_ key)",
                secret=True,
            ),
        )
    ),
    provider={
        "base_url": "https://api.stripe.com",
        "docs_url": "https://docs.stripe.com/api",
        "pagination": {
            "kind": "cursor",
            "cursor_param": "starting_after",
            "limit_param": "limit",
            "max_limit": 100,
        },
        "rate_limit": {"per_second": 25, "retry_after_header": "Retry-After"},
        "webhook_signature": {"header": SIGNATURE_HEADER, "algorithm": "custom"},
    },
    auth_headers=_headers,
    api_root=lambda ctx: f"{ctx.base_url.rstrip('/')}/v1",
)
connector.trigger(webhook("customer_created", "Customer created", ("customer.created",)))
connector.trigger(webhook("invoice_paid", "Invoice paid", ("invoice.paid",)))
connector.trigger(
    webhook("invoice_payment_failed", "Invoice payment failed", ("invoice.payment_failed",))
)


@connector.credential_test
def _check_credential(ctx: AppContext) -> None:
    """One customer: the cheapest read a secret (or a restricted) key is usually allowed."""
    call(ctx, "GET", "/v1/customers", "stripe check credential", {"limit": 1})


# ---- actions ---------------------------------------------------------------------------------


class _In(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")


class CustomerFields(_In):
    email: str | None = None
    name: str | None = None
    description: str | None = None
    phone: str | None = None
    metadata: dict[str, str] | None = Field(
        default=None, description="merged into the customer's; a key set to '' is removed"
    )


class NewCustomer(CustomerFields):
    idempotency_key: str | None = Field(
        default=None,
        alias="idempotencyKey",
        description="the same key (an order id, say) creates one customer however often it runs",
    )


class CustomerChange(CustomerFields):
    customer_id: str = Field(alias="customerId")


class Customer(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    email: str | None = None
    name: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)


CUSTOMER_SAMPLE = {"id": "cus_NffrFeUfNV2Hib", "email": "jenny@example.com",
                   "name": "Jenny Rosen", "metadata": {}}  # fmt: skip


@connector.action("create_customer", title="Create a customer", idempotent=False,
                  sample=CUSTOMER_SAMPLE)  # fmt: skip
def _create_customer(ctx: AppContext, inp: NewCustomer) -> Customer:
    fields = inp.model_dump(exclude={"idempotency_key"}, exclude_none=True)
    key = idempotency_key("create_customer", inp.idempotency_key)
    return Customer.model_validate(
        call(ctx, "POST", "/v1/customers", "stripe create customer", fields, key)
    )


@connector.action("update_customer", title="Update a customer", idempotent=True,
                  sample=CUSTOMER_SAMPLE)  # fmt: skip
def _update_customer(ctx: AppContext, inp: CustomerChange) -> Customer:
    fields = inp.model_dump(exclude={"customer_id"}, exclude_none=True)
    path = f"/v1/customers/{inp.customer_id}"
    return Customer.model_validate(call(ctx, "POST", path, "stripe update customer", fields))


class ByEmail(_In):
    email: str


class FoundCustomer(BaseModel):
    found: bool
    customer: Customer | None = None


@connector.action("find_customer", title="Find a customer by email", idempotent=True,
                  sample={"found": True, "customer": CUSTOMER_SAMPLE})  # fmt: skip
def _find_customer(ctx: AppContext, inp: ByEmail) -> FoundCustomer:
    """The newest customer with this email (Stripe does not make emails unique)."""
    page = call(ctx, "GET", "/v1/customers", "stripe find customer",
                {"email": inp.email, "limit": 1})  # fmt: skip
    rows = page.get("data", [])
    if not rows:
        return FoundCustomer(found=False)
    return FoundCustomer(found=True, customer=Customer.model_validate(rows[0]))


class NewInvoice(_In):
    customer: str = Field(description="the customer's id (cus_...)")
    collection_method: Literal["charge_automatically", "send_invoice"] = Field(
        default="charge_automatically", alias="collectionMethod"
    )
    days_until_due: int | None = Field(default=None, ge=0, alias="daysUntilDue")
    description: str | None = None
    currency: str | None = None
    auto_advance: bool | None = Field(default=None, alias="autoAdvance")
    metadata: dict[str, str] | None = None
    idempotency_key: str | None = Field(default=None, alias="idempotencyKey")


class Invoice(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    customer: str
    status: str
    total: int = 0
    number: str | None = None


INVOICE_SAMPLE = {"id": "in_1MtHbELkdIwHu7ixl4OzzPMv", "customer": "cus_NffrFeUfNV2Hib",
                  "status": "draft", "total": 0, "number": None}  # fmt: skip


@connector.action("create_invoice", title="Create a draft invoice", idempotent=False,
                  sample=INVOICE_SAMPLE)  # fmt: skip
def _create_invoice(ctx: AppContext, inp: NewInvoice) -> Invoice:
    if inp.collection_method == "send_invoice" and inp.days_until_due is None:
        raise FatalError("daysUntilDue: required to send an invoice", field="daysUntilDue")
    fields = inp.model_dump(exclude={"idempotency_key"}, exclude_none=True)
    key = idempotency_key("create_invoice", inp.idempotency_key)
    return Invoice.model_validate(
        call(ctx, "POST", "/v1/invoices", "stripe create invoice", fields, key)
    )


class NewInvoiceItem(_In):
    customer: str
    invoice: str = Field(description="a draft invoice (in_...)")
    amount: int = Field(description="in the currency's smallest unit (cents)")
    currency: str = "usd"
    description: str | None = None
    idempotency_key: str | None = Field(default=None, alias="idempotencyKey")


class InvoiceItem(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    amount: int
    invoice: str | None = None


@connector.action("add_invoice_item", title="Add an amount to a draft invoice",
                  idempotent=False,
                  sample={"id": "ii_1MtGUtLkdIwHu7ixBYwjAM00", "amount": 1099,
                          "invoice": "in_1MtHbELkdIwHu7ixl4OzzPMv"})  # fmt: skip
def _add_invoice_item(ctx: AppContext, inp: NewInvoiceItem) -> InvoiceItem:
    fields = inp.model_dump(exclude={"idempotency_key"}, exclude_none=True)
    key = idempotency_key("add_invoice_item", inp.idempotency_key)
    return InvoiceItem.model_validate(
        call(ctx, "POST", "/v1/invoiceitems", "stripe add invoice item", fields, key)
    )


class InvoiceRef(_In):
    invoice: str = Field(description="the invoice's id (in_...)")


@connector.action(
    "finalize_invoice",
    title="Finalize an invoice",
    idempotent=True,
    sample={**INVOICE_SAMPLE, "status": "open", "number": "A1B2C3D4-0001"},
)
def _finalize_invoice(ctx: AppContext, inp: InvoiceRef) -> Invoice:
    """Draft -> open. An invoice already finalized is answered as it is, so a repeat is
    harmless (Stripe refuses to finalize twice)."""
    path = f"/v1/invoices/{inp.invoice}"
    try:
        done = call(ctx, "POST", f"{path}/finalize", "stripe finalize invoice")
    except FatalError:
        current = call(ctx, "GET", path, "stripe get invoice")
        if current.get("status") == "draft":
            raise
        done = current
    return Invoice.model_validate(done)
