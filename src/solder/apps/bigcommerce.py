"""BigCommerce: store API with ``X-Auth-Token``; orders (v2), customers, products and webhooks
(v3, bodies ``{"data", "meta"}``).

Webhook callbacks carry no signature of their own; BigCommerce sends back the custom
``headers`` given when the hook was made, so each hook gets a random secret header that
Solder checks (hashed) on every callback.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx2
from pydantic import BaseModel, ConfigDict, Field

from solder.apps.base import (
    AppContext,
    CredentialField,
    PollingTrigger,
    Subscription,
    WebhookTrigger,
)
from solder.apps.bigcommerce_models import (
    CUSTOMER_SAMPLE,
    INPUT_NAMES,
    ORDER_SAMPLE,
    PRODUCT_SAMPLE,
    Customer,
    CustomerChange,
    EmailQuery,
    FoundCustomer,
    NewCustomer,
    Order,
    OrderQuery,
    OrderRef,
    Orders,
    ProductQuery,
    Products,
)
from solder.apps.http import check, json_body, reach, send
from solder.apps.sdk import ApiKeyAuth, Connector, Option
from solder.errors import FatalError, ReconnectNeeded

SECRET_HEADER = "X-Solder-Hook-Secret"  # noqa: S105 - a header name, not a secret


def _store_url(ctx: AppContext, path: str) -> str:
    store_hash = ctx.credential.get("storeHash")
    if not store_hash:
        raise ReconnectNeeded("bigcommerce credential has no storeHash")
    return f"{ctx.base_url.rstrip('/')}/stores/{store_hash}{path}"


def _headers(ctx: AppContext) -> dict[str, str]:
    token = ctx.credential.get("accessToken")
    if not token:
        raise ReconnectNeeded("bigcommerce credential has no accessToken")
    return {"X-Auth-Token": str(token), "Accept": "application/json"}


def _call(ctx: AppContext, method: str, path: str, what: str, **kwargs: Any) -> Any:
    """One API request; errors mapped by ``solder.apps.http``, and a v3 422's field errors by
    ``invalid``. A v2 list with nothing in it is a 204: ``[]``."""
    url = _store_url(ctx, path)
    request = lambda: ctx.client.request(method, url, headers=_headers(ctx), **kwargs)  # noqa: E731
    resp = reach(request, url, what)
    if resp.status_code == 422:
        raise invalid(resp, what)
    if check(resp, what).status_code == 204:
        return []
    return json_body(resp, what)


def _get(ctx: AppContext, path: str, what: str, **params: Any) -> Any:
    return _call(ctx, "GET", path, what, params=params or None)


def invalid(resp: httpx2.Response, what: str) -> FatalError:
    """A v3 422 (``{"errors": {"0.email": "..."}}``, a batch row's index first) as a
    ``FatalError`` naming the first field refused, as the action's input names it."""
    try:
        body = resp.json()
    except ValueError:
        body = None
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, dict) or not errors:
        title = body.get("title") if isinstance(body, dict) else resp.text[:300]
        return FatalError(f"{what}: HTTP 422: {title}")
    name, reason = next(iter(errors.items()))
    field = str(name).split(".")[-1] or "input"
    field = INPUT_NAMES.get(field, field)
    return FatalError(f"{field}: {reason} ({what})", field=field)


def _subscribe(scope: str) -> Any:
    def subscribe(ctx: AppContext, sub: Subscription) -> dict[str, Any]:
        body = {
            "scope": scope,
            "destination": sub.destination,
            "is_active": True,
            "headers": {SECRET_HEADER: sub.secret},
        }
        hook = _call(ctx, "POST", "/v3/hooks", "bigcommerce create webhook", json=body)["data"]
        return {"hookId": hook.get("id"), "scope": scope}

    return subscribe


def _unsubscribe(ctx: AppContext, state: Mapping[str, Any]) -> None:
    hook_id = state.get("hookId")
    if hook_id is None:
        return
    url = _store_url(ctx, f"/v3/hooks/{hook_id}")
    resp = ctx.client.delete(url, headers=_headers(ctx))
    if resp.status_code not in (200, 204, 404):
        send(ctx.client, "DELETE", url, "bigcommerce delete webhook", headers=_headers(ctx))


def _hook_status(ctx: AppContext, state: Mapping[str, Any]) -> str:
    hook_id = state.get("hookId")
    if hook_id is None:
        return "missing"
    url = _store_url(ctx, f"/v3/hooks/{hook_id}")
    resp = ctx.client.get(url, headers=_headers(ctx))
    if resp.status_code == 404:
        return "missing"
    hook = json_body(check(resp, "bigcommerce get webhook"), "bigcommerce get webhook")
    return "active" if hook.get("data", {}).get("is_active") else "inactive"


def _reactivate(ctx: AppContext, state: Mapping[str, Any]) -> None:
    _call(ctx, "PUT", f"/v3/hooks/{state['hookId']}", "bigcommerce reactivate webhook",
          json={"is_active": True})  # fmt: skip


def _list_hooks(ctx: AppContext) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    page = 1
    while True:
        body = _get(ctx, "/v3/hooks", "bigcommerce list webhooks", page=page, limit=250)
        found += [(str(h["id"]), str(h.get("destination", ""))) for h in body.get("data", [])]
        pages = body.get("meta", {}).get("pagination", {}).get("total_pages", 1)
        if page >= pages:
            return found
        page += 1


def _drop_hook(ctx: AppContext, hook_id: str) -> None:
    _unsubscribe(ctx, {"hookId": hook_id})


def _order_enrich(ctx: AppContext, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The callback names the order (``data.id``); the run gets the order as it is now."""
    data = payload.get("data")
    order_id = data.get("id") if isinstance(data, Mapping) else None
    if order_id is None:
        raise FatalError("bigcommerce webhook has no data.id")
    return _order(ctx, "GET", order_id, "bigcommerce get order")


def _order(ctx: AppContext, method: str, order_id: Any, what: str, **kw: Any) -> dict[str, Any]:
    order = _call(ctx, method, f"/v2/orders/{order_id}", what, **kw)
    if not isinstance(order, dict):
        raise FatalError(f"{what}: unexpected response")
    return order


def order_hook(key: str, name: str, scope: str) -> WebhookTrigger:
    """A trigger on an order webhook ``scope``; each installation gets its own hook. Every
    order scope's callback has the same shape (``data.id``), and a unique ``hash``."""
    return WebhookTrigger(
        key=key,
        name=name,
        subscribe=_subscribe(scope),
        unsubscribe=_unsubscribe,
        secret_header=SECRET_HEADER,
        event_id=lambda p: str(p["hash"]) if p.get("hash") else None,
        matches=lambda p: p.get("scope") == scope,
        enrich=_order_enrich,
        status=_hook_status,
        reactivate=_reactivate,
        hooks=_list_hooks,
        drop=_drop_hook,
    )


connector = Connector(
    key="bigcommerce",
    categories=("ecommerce",),
    title="BigCommerce",
    icon="/static/icons/bigcommerce.svg",
    version="1.2.0",
    description="Orders, customers and products of a BigCommerce store; new and changed "
    "orders as triggers.",
    auth=ApiKeyAuth(
        fields=(
            CredentialField("storeHash", "Store hash", "the part after /stores/ in your API path"),
            CredentialField("accessToken", "Access token", "an API account's token", secret=True),
        )
    ),
    provider={
        "base_url": "https://api.bigcommerce.com",
        "docs_url": "https://developer.bigcommerce.com/docs/rest-management",
        "pagination": {
            "kind": "page",
            "page_param": "page",
            "limit_param": "limit",
            "max_limit": 250,
        },
        "rate_limit": {
            "remaining_header": "X-Rate-Limit-Requests-Left",
            "reset_header": "X-Rate-Limit-Time-Reset-Ms",
            "reset_unit": "ms",
        },
    },
    api_root=lambda ctx: _store_url(ctx, ""),
    auth_headers=_headers,
)
connector.trigger(order_hook("order_created", "Order Created", "store/order/created"))
connector.trigger(order_hook("order_updated", "Order Updated", "store/order/updated"))


@connector.credential_test
def _check_credential(ctx: AppContext) -> None:
    """The order statuses: the cheapest call that needs the store hash and the token."""
    _get(ctx, "/v2/order_statuses", "bigcommerce check credential")


@connector.options("order_statuses")
def _order_statuses(ctx: AppContext) -> list[Option]:
    rows = _get(ctx, "/v2/order_statuses", "bigcommerce list order statuses")
    return [
        Option(value=str(r["id"]), label=str(r.get("custom_label") or r.get("name") or r["id"]))
        for r in rows
    ]


class UpdateOrderStatusInput(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    order_id: int | str = Field(alias="orderId")
    status: int | str = Field(
        description="a status id, or its name or custom label",
        json_schema_extra={"options": "order_statuses"},
    )


def _resolve_status(ctx: AppContext, status: int | str) -> int:
    if isinstance(status, int) or (isinstance(status, str) and status.isdigit()):
        return int(status)
    wanted = status.strip().lower()
    for item in _get(ctx, "/v2/order_statuses", "bigcommerce list order statuses"):
        names = {str(item.get(k, "")).lower() for k in ("name", "custom_label", "system_label")}
        if wanted in names:
            return int(item["id"])
    raise FatalError(f"status: {status!r} is not an order status of this store", field="status")


@connector.action(
    "update_order_status",
    title="Update an order status",
    idempotent=True,
    sample={"id": 100, "status_id": 2, "status": "Shipped", "total_inc_tax": "25.0000"},
)
def _update_order_status(ctx: AppContext, inp: UpdateOrderStatusInput) -> Order:
    status_id = _resolve_status(ctx, inp.status)
    body = _order(ctx, "PUT", inp.order_id, "bigcommerce update order",
                  json={"status_id": status_id})  # fmt: skip
    return Order.model_validate(body)


@connector.action("get_order", title="Get an order", idempotent=True, sample=ORDER_SAMPLE)
def _get_order(ctx: AppContext, inp: OrderRef) -> Order:
    return Order.model_validate(_order(ctx, "GET", inp.order_id, "bigcommerce get order"))


@connector.action("list_orders", title="List orders", idempotent=True,
                  sample={"orders": [ORDER_SAMPLE]})  # fmt: skip
def _list_orders(ctx: AppContext, inp: OrderQuery) -> Orders:
    """One page of orders, newest first."""
    params: dict[str, Any] = {"sort": "id:desc", "limit": inp.limit, "page": inp.page}
    if inp.status is not None:
        params["status_id"] = _resolve_status(ctx, inp.status)
    if inp.min_date_created:
        params["min_date_created"] = inp.min_date_created
    return Orders(orders=_get(ctx, "/v2/orders", "bigcommerce list orders", **params))


def _customers_by_email(ctx: AppContext, email: str) -> list[Customer]:
    found = _get(ctx, "/v3/customers", "bigcommerce find customer", **{"email:in": email})
    return [Customer.model_validate(row) for row in found.get("data", [])]


def _write_customer(ctx: AppContext, method: str, row: dict[str, Any], what: str) -> Customer:
    """One customer through the batch endpoint (an array body, one row)."""
    rows = _call(ctx, method, "/v3/customers", what, json=[row]).get("data") or []
    if not rows:
        raise FatalError(f"{what}: the answer has no customer")
    return Customer.model_validate(rows[0])


@connector.action("create_customer", title="Create or update a customer by email",
                  idempotent=True, sample=CUSTOMER_SAMPLE)  # fmt: skip
def _create_customer(ctx: AppContext, inp: NewCustomer) -> Customer:
    """A store's customer emails are unique: when one already has the email, it is updated
    with the input instead, so a repeat is harmless."""
    try:
        return _write_customer(ctx, "POST", inp.body(), "bigcommerce create customer")
    except FatalError as exc:
        if exc.field != "email" or "in use" not in exc.message:
            raise
    found = _customers_by_email(ctx, inp.email)
    if not found:
        raise FatalError(f"email: {inp.email} is in use, but no customer has it", field="email")
    row = {"id": found[0].id, **inp.body()}
    return _write_customer(ctx, "PUT", row, "bigcommerce update customer")


@connector.action("update_customer", title="Update a customer", idempotent=True,
                  sample=CUSTOMER_SAMPLE)  # fmt: skip
def _update_customer(ctx: AppContext, inp: CustomerChange) -> Customer:
    fields = inp.body()
    if not fields:
        raise FatalError("customer: give at least one field to change", field="customer")
    row = {"id": inp.customer_id, **fields}
    return _write_customer(ctx, "PUT", row, "bigcommerce update customer")


@connector.action("find_customer_by_email", title="Find a customer by email", idempotent=True,
                  sample={"found": True, "customer": CUSTOMER_SAMPLE})  # fmt: skip
def _find_customer(ctx: AppContext, inp: EmailQuery) -> FoundCustomer:
    found = _customers_by_email(ctx, inp.email)
    return FoundCustomer(found=bool(found), customer=found[0] if found else None)


@connector.action("list_products", title="List products", idempotent=True,
                  sample={"products": [PRODUCT_SAMPLE], "total": 1, "totalPages": 1})  # fmt: skip
def _list_products(ctx: AppContext, inp: ProductQuery) -> Products:
    params: dict[str, Any] = {"page": inp.page, "limit": inp.limit}
    if inp.keyword:
        params["keyword"] = inp.keyword
    body = _get(ctx, "/v3/catalog/products", "bigcommerce list products", **params)
    pagination = body.get("meta", {}).get("pagination", {})
    return Products(products=body.get("data", []), total=int(pagination.get("total", 0)),
                    totalPages=int(pagination.get("total_pages", 1)))  # fmt: skip


def _poll_new_orders(ctx: AppContext, cursor: Any) -> tuple[list[dict[str, Any]], Any]:
    """Orders with an id above the last one seen (ids only grow), oldest first."""
    what = "bigcommerce list orders"
    if cursor is None:
        newest = _get(ctx, "/v2/orders", what, sort="id:desc", limit=1)
        return [], {"lastId": int(newest[0]["id"]) if newest else 0}
    last = int(cursor.get("lastId", 0))
    found = _get(ctx, "/v2/orders", what, min_id=last + 1, sort="id:asc", limit=250)
    if not found:
        return [], cursor
    return list(found), {"lastId": max(int(o["id"]) for o in found)}


new_order_polled = PollingTrigger(
    key="order_placed_polling",
    name="Order placed (polling)",
    interval=60.0,
    poll=_poll_new_orders,
    record_id=lambda order: str(order["id"]),
)

connector.trigger(new_order_polled)
