"""BigCommerce: store API with ``X-Auth-Token``; orders (v2) and webhooks (v3).

Webhook callbacks carry no signature of their own; BigCommerce sends back the custom
``headers`` given when the hook was made, so each hook gets a random secret header that
Solder checks (hashed) on every callback.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from solder.apps.base import (
    Action,
    App,
    AppContext,
    CredentialField,
    PollingTrigger,
    Subscription,
    WebhookTrigger,
)
from solder.apps.http import check, json_body, send
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


def _get(ctx: AppContext, path: str, what: str) -> Any:
    resp = send(ctx.client, "GET", _store_url(ctx, path), what, headers=_headers(ctx))
    return json_body(resp, what)


def _subscribe(scope: str) -> Any:
    def subscribe(ctx: AppContext, sub: Subscription) -> dict[str, Any]:
        body = {
            "scope": scope,
            "destination": sub.destination,
            "is_active": True,
            "headers": {SECRET_HEADER: sub.secret},
        }
        what = "bigcommerce create webhook"
        resp = send(
            ctx.client, "POST", _store_url(ctx, "/v3/hooks"), what, headers=_headers(ctx), json=body
        )
        hook = json_body(resp, what).get("data", {})
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
    url = _store_url(ctx, f"/v3/hooks/{state['hookId']}")
    send(ctx.client, "PUT", url, "bigcommerce reactivate webhook", headers=_headers(ctx),
         json={"is_active": True})  # fmt: skip


def _list_hooks(ctx: AppContext) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    page = 1
    while True:
        what = "bigcommerce list webhooks"
        resp = send(ctx.client, "GET", _store_url(ctx, "/v3/hooks"), what,
                    params={"page": page, "limit": 250}, headers=_headers(ctx))  # fmt: skip
        body = json_body(resp, what)
        found += [(str(h["id"]), str(h.get("destination", ""))) for h in body.get("data", [])]
        pages = body.get("meta", {}).get("pagination", {}).get("total_pages", 1)
        if page >= pages:
            return found
        page += 1


def _drop_hook(ctx: AppContext, hook_id: str) -> None:
    _unsubscribe(ctx, {"hookId": hook_id})


def _order_created_enrich(ctx: AppContext, payload: Mapping[str, Any]) -> dict[str, Any]:
    data = payload.get("data")
    order_id = data.get("id") if isinstance(data, Mapping) else None
    if order_id is None:
        raise FatalError("bigcommerce webhook has no data.id")
    order = _get(ctx, f"/v2/orders/{order_id}", "bigcommerce get order")
    if not isinstance(order, dict):
        raise FatalError("bigcommerce get order: unexpected response")
    return order


order_created = WebhookTrigger(
    key="order_created",
    name="Order Created",
    subscribe=_subscribe("store/order/created"),
    unsubscribe=_unsubscribe,
    secret_header=SECRET_HEADER,
    event_id=lambda p: str(p["hash"]) if p.get("hash") else None,
    matches=lambda p: p.get("scope") == "store/order/created",
    enrich=_order_created_enrich,
    status=_hook_status,
    reactivate=_reactivate,
    hooks=_list_hooks,
    drop=_drop_hook,
)


class UpdateOrderStatusInput(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    order_id: int | str = Field(alias="orderId")
    status: int | str = Field(description="a status id, or its name or custom label")


def _resolve_status(ctx: AppContext, status: int | str) -> int:
    if isinstance(status, int) or (isinstance(status, str) and status.isdigit()):
        return int(status)
    wanted = status.strip().lower()
    for item in _get(ctx, "/v2/order_statuses", "bigcommerce list order statuses"):
        names = {str(item.get(k, "")).lower() for k in ("name", "custom_label", "system_label")}
        if wanted in names:
            return int(item["id"])
    raise FatalError(f"status: {status!r} is not an order status of this store", field="status")


def _update_order_status(ctx: AppContext, inp: UpdateOrderStatusInput) -> dict[str, Any]:
    status_id = _resolve_status(ctx, inp.status)
    what = "bigcommerce update order"
    resp = send(
        ctx.client,
        "PUT",
        _store_url(ctx, f"/v2/orders/{inp.order_id}"),
        what,
        headers=_headers(ctx),
        json={"status_id": status_id},
    )
    body = json_body(resp, what)
    return body if isinstance(body, dict) else {"result": body}


update_order_status = Action(
    key="update_order_status",
    name="Update an order status",
    input_model=UpdateOrderStatusInput,
    run=_update_order_status,
    idempotent=True,
)


def _poll_new_orders(ctx: AppContext, cursor: Any) -> tuple[list[dict[str, Any]], Any]:
    """Orders with an id above the last one seen (ids only grow), oldest first."""
    what = "bigcommerce list orders"
    if cursor is None:
        resp = send(ctx.client, "GET", _store_url(ctx, "/v2/orders"), what,
                    params={"sort": "id:desc", "limit": 1}, headers=_headers(ctx))  # fmt: skip
        newest = json_body(resp, what) if resp.status_code != 204 else []
        return [], {"lastId": int(newest[0]["id"]) if newest else 0}
    last = int(cursor.get("lastId", 0))
    resp = send(ctx.client, "GET", _store_url(ctx, "/v2/orders"), what,
                params={"min_id": last + 1, "sort": "id:asc", "limit": 250},
                headers=_headers(ctx))  # fmt: skip
    found = json_body(resp, what) if resp.status_code != 204 else []
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

app = App(
    key="bigcommerce",
    name="BigCommerce",
    icon="/static/icons/bigcommerce.svg",
    base_url="https://api.bigcommerce.com",
    credential_fields=(
        CredentialField("storeHash", "Store hash", "the part after /stores/ in your API path"),
        CredentialField("accessToken", "Access token", "an API account's token", secret=True),
    ),
    actions={update_order_status.key: update_order_status},
    triggers={order_created.key: order_created, new_order_polled.key: new_order_polled},
    api_root=lambda ctx: _store_url(ctx, ""),
    auth_headers=_headers,
)
