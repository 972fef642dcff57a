"""Shopify: orders, customers and products of one shop over the Admin REST API; orders and
customers as webhook triggers.

A Shopify account is a shop, and every URL is the shop's own
(``https://{shop}/admin/...`` with ``shop`` like ``acme.myshopify.com``), so the user names
the shop before the consent page opens (``GET /headless/oauthUrl?app=shopify&shop=...``);
the SDK fills it into the OAuth URLs only once it matches ``*.myshopify.com``. Shopify
signs its callback: ``hmac`` is the hex HMAC-SHA256, keyed with the app's client secret, of
the other query parameters sorted and joined as ``k=v&...``; it is checked, and ``shop``
must be the shop the user named, before the code is traded. An offline access token never
expires (there is no refresh); the API takes it as ``X-Shopify-Access-Token``.

Webhooks are made per installation (``POST webhooks.json``, one topic each) and deleted on
deactivation. Shopify signs every delivery with the app's client secret (not a secret per
subscription): ``X-Shopify-Hmac-Sha256`` is the base64 HMAC-SHA256 of the raw body. The
topic is only in ``X-Shopify-Topic``; ``X-Shopify-Webhook-Id`` stays the same on Shopify's
retries and is what a repeat is recognised by.

Rate limit: a leaky bucket of 40 calls draining at 2 a second per shop (``X-Shopify-Shop-Api-
Call-Limit: 32/40`` on every answer), 429 with ``Retry-After`` when it is full.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any, Literal

import httpx2
from pydantic import BaseModel, ConfigDict, Field

from solder.apps.base import AppContext, CredentialField, Subscription, WebhookTrigger
from solder.apps.fields import fill_url
from solder.apps.http import check, json_body, reach, send
from solder.apps.sdk import Connector, OAuth2
from solder.errors import BadInput, FatalError, ReconnectNeeded

API_VERSION = "2025-07"
SIGNATURE_HEADER = "X-Shopify-Hmac-Sha256"
TOPIC_HEADER = "X-Shopify-Topic"
DELIVERY_HEADER = "X-Shopify-Webhook-Id"
SHOP = CredentialField(
    "shop",
    "Shop domain",
    "the shop's myshopify.com domain, like acme.myshopify.com",
    pattern=r"[A-Za-z0-9][A-Za-z0-9-]{0,62}\.myshopify\.com",
)
_NEXT = re.compile(r'<[^>]*[?&]page_info=([^&>]+)[^>]*>;\s*rel="next"')


# ---- the wire --------------------------------------------------------------------------------


def _headers(ctx: AppContext) -> dict[str, str]:
    token = ctx.credential.get("accessToken")
    if not token:
        raise ReconnectNeeded("shopify credential has no access token")
    return {"X-Shopify-Access-Token": str(token), "Accept": "application/json"}


def shop_url(ctx: AppContext) -> str:
    """The shop's own URL: ``{shop}`` of the base URL filled from the credential (a sandbox's
    base URL, set in ``SOLDER_APP_BASE_URLS``, has none)."""
    try:
        return fill_url(ctx.base_url, (SHOP,), ctx.credential).rstrip("/")
    except BadInput as exc:
        raise ReconnectNeeded(f"shopify credential: {exc.message}") from exc


def admin_url(ctx: AppContext, path: str) -> str:
    return f"{shop_url(ctx)}/admin/api/{API_VERSION}/{path}"


def call(ctx: AppContext, method: str, path: str, what: str, **kwargs: Any) -> Any:
    """One Admin API request; errors mapped by ``solder.apps.http``, and Shopify's 422 field
    errors (``{"errors": {"email": ["has already been taken"]}}``) by ``invalid``."""
    url = admin_url(ctx, path)
    request = lambda: ctx.client.request(method, url, headers=_headers(ctx), **kwargs)  # noqa: E731
    resp = reach(request, url, what)
    if resp.status_code == 422:
        raise invalid(resp, what)
    return json_body(check(resp, what), what)


INPUT_NAMES = {"first_name": "firstName", "last_name": "lastName"}
"""Shopify's field names that an action's input spells otherwise."""


def invalid(resp: httpx2.Response, what: str) -> FatalError:
    """A 422 as a ``FatalError`` naming the first field Shopify refused, as the input names it."""
    try:
        errors = resp.json().get("errors")
    except (ValueError, AttributeError):
        errors = None
    if not isinstance(errors, dict) or not errors:
        return FatalError(f"{what}: HTTP 422: {resp.text[:300]}")
    name, reasons = next(iter(errors.items()))
    reasons = reasons if isinstance(reasons, list) else [reasons]
    field = INPUT_NAMES.get(str(name), str(name))
    return FatalError(f"{field}: {'; '.join(str(r) for r in reasons)} ({what})", field=field)


def _page(ctx: AppContext, path: str, what: str, params: dict[str, Any]) -> tuple[Any, str | None]:
    """One page of a list and the ``page_info`` of the next (Shopify's ``Link`` header)."""
    resp = send(ctx.client, "GET", admin_url(ctx, path), what, headers=_headers(ctx),
                params=params)  # fmt: skip
    found = _NEXT.search(resp.headers.get("link", ""))
    return json_body(resp, what), found.group(1) if found else None


def _signed(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


# ---- OAuth: the callback's signature -----------------------------------------------------------


def callback_signature(query: Mapping[str, str], secret: str) -> str:
    """Shopify's signature of a callback: hex HMAC-SHA256 of ``k=v`` pairs but ``hmac``,
    sorted by name and joined with ``&``."""
    message = "&".join(f"{k}={v}" for k, v in sorted(query.items()) if k != "hmac")
    return _signed(secret, message.encode()).hex()


def verify_callback(query: Mapping[str, str], secret: str, values: Mapping[str, str]) -> None:
    """The callback was signed by Shopify for the shop the user named; ``BadInput`` naming
    the parameter otherwise (nothing is traded or stored)."""
    given = query.get("hmac", "")
    if not given or not hmac.compare_digest(callback_signature(query, secret), given.lower()):
        raise BadInput("hmac: the callback is not signed by Shopify", field="hmac")
    if query.get("shop", "").lower() != values.get("shop", "").lower():
        raise BadInput("shop: the callback is for another shop than the one named", "shop")


# ---- webhooks ----------------------------------------------------------------------------------


def body_signature(secret: str, body: bytes) -> str:
    """``X-Shopify-Hmac-Sha256``: base64 HMAC-SHA256 of the raw body, keyed with the app's
    client secret."""
    return base64.b64encode(_signed(secret, body)).decode()


def _verify(headers: Mapping[str, str], body: bytes, secret: str) -> bool:
    given = headers.get(SIGNATURE_HEADER.lower(), "")
    return bool(given and secret) and hmac.compare_digest(body_signature(secret, body), given)


def _subscribe(topic: str) -> Any:
    def subscribe(ctx: AppContext, sub: Subscription) -> dict[str, Any]:
        body = {"webhook": {"topic": topic, "address": sub.destination, "format": "json"}}
        made = call(ctx, "POST", "webhooks.json", "shopify create webhook", json=body)
        hook = made.get("webhook") if isinstance(made, dict) else None
        if not isinstance(hook, dict) or not hook.get("id"):
            raise FatalError("shopify create webhook: the answer has no webhook id")
        # "hookId" is the key engine/reconcile.py reads to tell owned webhooks from orphans
        return {"hookId": str(hook["id"]), "topic": topic}

    return subscribe


def _unsubscribe(ctx: AppContext, state: Mapping[str, Any]) -> None:
    hook = state.get("hookId")
    if not hook:
        return
    url, what = admin_url(ctx, f"webhooks/{hook}.json"), "shopify delete webhook"
    resp = reach(lambda: ctx.client.delete(url, headers=_headers(ctx)), url, what)
    if resp.status_code != 404:  # already gone is what we wanted
        check(resp, what)


def _status(ctx: AppContext, state: Mapping[str, Any]) -> str:
    hook = state.get("hookId")
    if not hook:
        return "missing"
    url, what = admin_url(ctx, f"webhooks/{hook}.json"), "shopify get webhook"
    resp = reach(lambda: ctx.client.get(url, headers=_headers(ctx)), url, what)
    if resp.status_code == 404:
        return "missing"
    check(resp, what)
    return "active"  # a Shopify webhook has no paused state


def _webhooks(ctx: AppContext) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    params: dict[str, Any] = {"limit": 250}
    while True:
        body, following = _page(ctx, "webhooks.json", "shopify list webhooks", params)
        found += [(str(w["id"]), str(w.get("address", ""))) for w in body.get("webhooks", [])]
        if following is None:
            return found
        params = {"limit": 250, "page_info": following}


def webhook(key: str, name: str, topic: str) -> WebhookTrigger:
    """A trigger on ``topic``; its output is the resource as Shopify posts it."""
    return WebhookTrigger(
        key=key,
        name=name,
        subscribe=_subscribe(topic),
        unsubscribe=_unsubscribe,
        secret_header=SIGNATURE_HEADER,
        event_id=lambda p: None,  # the delivery's id is a header: event_id_header
        matches=lambda p: "id" in p,
        enrich=lambda ctx, payload: dict(payload),
        status=_status,
        hooks=_webhooks,
        drop=lambda ctx, hook: _unsubscribe(ctx, {"hookId": hook}),
        verify_app=_verify,
        event_id_header=DELIVERY_HEADER,
        header_matches=lambda headers: headers.get(TOPIC_HEADER.lower()) == topic,
    )


connector = Connector(
    key="shopify",
    categories=("ecommerce",),
    title="Shopify",
    icon="/static/icons/block.svg",
    version="1.0.0",
    description="Orders, customers and products of a Shopify shop; new and changed orders "
    "and new customers as triggers.",
    auth=OAuth2(
        authorize_url="https://{shop}/admin/oauth/authorize",
        token_url="https://{shop}/admin/oauth/access_token",  # noqa: S106 - a URL
        scopes=("read_orders", "read_products", "read_customers", "write_customers"),
        scope_separator=",",
        pkce=False,
        client_auth="form",
        refreshes=False,
        fields=(SHOP,),
        verify_callback=verify_callback,
    ),
    provider={
        "base_url": "https://{shop}",
        "docs_url": "https://shopify.dev/docs/api/admin-rest",
        "pagination": {
            "kind": "link_header",
            "cursor_param": "page_info",
            "limit_param": "limit",
            "max_limit": 250,
        },
        "rate_limit": {
            "per_second": 2,
            "burst": 40,
            "retry_after_header": "Retry-After",
            # "32/40": calls in the bucket / its size; full, the next leaks out in 0.5 s
            "remaining_header": "X-Shopify-Shop-Api-Call-Limit",
            "remaining_format": "used/size",
        },
        "webhook_signature": {"header": SIGNATURE_HEADER, "algorithm": "hmac-sha256-base64"},
    },
    auth_headers=_headers,
    api_root=lambda ctx: f"{shop_url(ctx)}/admin/api/{API_VERSION}",
)
connector.trigger(webhook("order_created", "Order created", "orders/create"))
connector.trigger(webhook("order_updated", "Order updated", "orders/updated"))
connector.trigger(webhook("customer_created", "Customer created", "customers/create"))


@connector.credential_test
def _check_credential(ctx: AppContext) -> None:
    """The number of products: the cheapest read the scopes allow."""
    call(ctx, "GET", "products/count.json", "shopify check credential")


# ---- actions -----------------------------------------------------------------------------------


class _In(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")


class _Record(BaseModel):
    model_config = ConfigDict(extra="allow")  # keep what Shopify adds

    id: int


class Order(_Record):
    name: str
    email: str | None = None
    total_price: str
    currency: str
    financial_status: str | None = None
    created_at: str
    line_items: list[dict[str, Any]] = Field(default_factory=list)


class Customer(_Record):
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None


class Product(_Record):
    title: str
    status: str | None = None
    variants: list[dict[str, Any]] = Field(default_factory=list)


ORDER_SAMPLE = {"id": 450789469, "name": "#1001", "email": "bob@example.com",
                "total_price": "199.00", "currency": "USD", "financial_status": "paid",
                "created_at": "2026-05-01T09:30:00-04:00",
                "line_items": [{"id": 466157049, "title": "IPod Nano - 8gb", "quantity": 1,
                                "price": "199.00"}]}  # fmt: skip
CUSTOMER_SAMPLE = {"id": 207119551, "email": "bob.norman@example.com", "first_name": "Bob",
                   "last_name": "Norman"}  # fmt: skip
PRODUCT_SAMPLE = {"id": 632910392, "title": "IPod Nano - 8GB", "status": "active",
                  "variants": [{"id": 808950810, "price": "199.00",
                                "sku": "IPOD2008PINK"}]}  # fmt: skip


class Page(_In):
    limit: int = Field(default=50, ge=1, le=250)
    since_id: int | None = Field(default=None, alias="sinceId", description="records after it")
    page_info: str | None = Field(
        default=None, alias="pageInfo", description="the nextPageInfo of the previous page"
    )


class OrderQuery(Page):
    status: Literal["open", "closed", "cancelled", "any"] = "any"


class Orders(BaseModel):
    orders: list[Order]
    next_page_info: str | None = Field(default=None, alias="nextPageInfo")


class Products(BaseModel):
    products: list[Product]
    next_page_info: str | None = Field(default=None, alias="nextPageInfo")


def _list_params(inp: Page, **filters: Any) -> dict[str, Any]:
    """A ``page_info`` request takes no filters but ``limit`` (Shopify refuses others)."""
    if inp.page_info:
        return {"limit": inp.limit, "page_info": inp.page_info}
    params = {"limit": inp.limit, **filters}
    if inp.since_id is not None:
        params["since_id"] = inp.since_id
    return params


@connector.action("list_orders", title="List orders", idempotent=True,
                  sample={"orders": [ORDER_SAMPLE], "nextPageInfo": None})  # fmt: skip
def _list_orders(ctx: AppContext, inp: OrderQuery) -> Orders:
    body, following = _page(ctx, "orders.json", "shopify list orders",
                            _list_params(inp, status=inp.status))  # fmt: skip
    return Orders(orders=body.get("orders", []), nextPageInfo=following)


class OrderRef(_In):
    order_id: int = Field(alias="orderId")


@connector.action("get_order", title="Get an order", idempotent=True, sample=ORDER_SAMPLE)
def _get_order(ctx: AppContext, inp: OrderRef) -> Order:
    found = call(ctx, "GET", f"orders/{inp.order_id}.json", "shopify get order")
    return Order.model_validate(found.get("order"))


class CustomerFields(_In):
    first_name: str | None = Field(default=None, alias="firstName")
    last_name: str | None = Field(default=None, alias="lastName")
    phone: str | None = None
    tags: str | None = Field(default=None, description="comma-separated")
    note: str | None = None

    def body(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True, exclude={"customer_id"})


class NewCustomer(CustomerFields):
    email: str


class CustomerChange(CustomerFields):
    customer_id: int = Field(alias="customerId")
    email: str | None = None


def _taken(exc: FatalError) -> bool:
    return exc.field == "email" and "taken" in exc.message


@connector.action("create_customer", title="Create or update a customer by email",
                  idempotent=True, sample=CUSTOMER_SAMPLE)  # fmt: skip
def _create_customer(ctx: AppContext, inp: NewCustomer) -> Customer:
    """A shop's customer emails are unique: when one already has the email, it is updated
    with the input instead, so a repeat is harmless."""
    what = "shopify create customer"
    try:
        made = call(ctx, "POST", "customers.json", what, json={"customer": inp.body()})
        return Customer.model_validate(made.get("customer"))
    except FatalError as exc:
        if not _taken(exc):
            raise
    found = call(ctx, "GET", "customers/search.json", "shopify find customer",
                 params={"query": f"email:{inp.email}", "limit": 1})  # fmt: skip
    rows = found.get("customers") or []
    if not rows:
        raise FatalError(f"email: {inp.email} is taken, but no customer has it", field="email")
    return _update(ctx, int(rows[0]["id"]), inp.body())


def _update(ctx: AppContext, customer_id: int, fields: dict[str, Any]) -> Customer:
    if not fields:
        raise FatalError("customer: nothing to change", field="customer")
    body = {"customer": {"id": customer_id, **fields}}
    changed = call(ctx, "PUT", f"customers/{customer_id}.json", "shopify update customer",
                   json=body)  # fmt: skip
    return Customer.model_validate(changed.get("customer"))


@connector.action("update_customer", title="Update a customer", idempotent=True,
                  sample=CUSTOMER_SAMPLE)  # fmt: skip
def _update_customer(ctx: AppContext, inp: CustomerChange) -> Customer:
    return _update(ctx, inp.customer_id, inp.body())


@connector.action("list_products", title="List products", idempotent=True,
                  sample={"products": [PRODUCT_SAMPLE], "nextPageInfo": None})  # fmt: skip
def _list_products(ctx: AppContext, inp: Page) -> Products:
    body, following = _page(ctx, "products.json", "shopify list products", _list_params(inp))
    return Products(products=body.get("products", []), nextPageInfo=following)
