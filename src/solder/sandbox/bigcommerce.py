"""A local BigCommerce store: the slice of the REST API that Solder uses, on the real wire format.

Everything lives under ``/stores/{store_hash}`` and needs ``X-Auth-Token``::

    GET  POST       /v2/orders                 list (204 when empty, as BigCommerce does; filters
                                               status_id, customer_id, min_id, max_id and
                                               min_date_created), create
    GET  PUT        /v2/orders/{id}            read, update (a new ``status_id`` fires webhooks)
    GET             /v2/orders/{id}/products   the order's line items
    GET             /v2/order_statuses[/{id}]  the 15 standard statuses
    GET  POST       /v3/hooks                  list, create  (v3 bodies are ``{"data", "meta"}``)
    GET  PUT DELETE /v3/hooks/{id}
    GET  POST PUT   /v3/customers, GET POST /v3/catalog/products (``bigcommerce_catalog.py``)

v2 errors are ``[{"status", "message"}]``, v3 errors ``{"status", "title", "type", "errors"}``.
Webhook callbacks are POSTed in background tasks with the hook's custom ``headers`` (the way
BigCommerce lets a receiver authenticate them) and retried on connection errors and non-2xx.
``GET /_sandbox/deliveries`` (no auth) lists every delivery attempt.

Every API answer carries BigCommerce's quota headers (``X-Rate-Limit-Requests-Left`` and the
rest, 150 calls per 30 s by default); over the quota a call is a 429 with the time to its
reset. ``POST /_sandbox/quota {"requests", "window_ms"}`` changes it (``sandbox/quota.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from uuid import uuid4

import httpx2
import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from solder.sandbox.quota import BIGCOMMERCE, Quota

log = logging.getLogger(__name__)

Json = dict[str, Any]
Endpoint = Callable[[Request], Awaitable[Response]]

ERROR_TYPE = "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes"

# id: (name, display order, system_description), as GET /v2/order_statuses returns them.
ORDER_STATUSES: dict[int, tuple[str, int, str]] = {
    0: ("Incomplete", 0, "An incomplete order happens when a shopper reached the payment page, "
        "but did not complete the transaction."),
    1: ("Pending", 1, "Customer started the checkout process, but did not complete it."),
    2: ("Shipped", 8, "Order has been shipped, but receipt has not been confirmed; "
        "seller has used the Ship Items action."),
    3: ("Partially Shipped", 6, "Only some items in the order have been shipped, "
        "due to some products being pre-order only or other reasons."),
    4: ("Refunded", 11, "Seller has used the Refund action."),
    5: ("Cancelled", 9, "Seller has cancelled an order, "
        "due to a stock inconsistency or other reasons."),
    6: ("Declined", 10, "Seller has marked the order as declined "
        "for lack of manual payment, or other reasons."),
    7: ("Awaiting Payment", 2, "Customer has completed checkout process, "
        "but payment has yet to be confirmed."),
    8: ("Awaiting Pickup", 5, "Order has been pulled, "
        "and is awaiting customer pickup from a seller-specified location."),
    9: ("Awaiting Shipment", 4, "Order has been pulled and packaged, "
        "and is awaiting collection from a shipping provider."),
    10: ("Completed", 7, "Client has paid for their digital product "
         "and their file(s) are available for download."),
    11: ("Awaiting Fulfillment", 3, "Customer has completed the checkout process "
         "and payment has been confirmed."),
    12: ("Manual Verification Required", 13, "Order is on hold "
         "while some aspect needs to be manually confirmed."),
    13: ("Disputed", 12, "Customer has initiated a dispute resolution process "
         "for the PayPal transaction that paid for the order."),
    14: ("Partially Refunded", 14, "Seller has partially refunded the order."),
}  # fmt: skip

ADDRESS_FIELDS = (
    *("first_name", "last_name", "company", "street_1", "street_2", "city", "state", "zip"),
    *("country", "country_iso2", "phone", "email"),
)
ORDER_UPDATE_FIELDS = {
    *("customer_id", "status_id", "billing_address", "staff_notes", "customer_message"),
    *("payment_method", "external_source", "external_id"),
}
ORDER_CREATE_FIELDS = ORDER_UPDATE_FIELDS | {"products", "channel_id"}


class ApiError(Exception):
    """An error answered in BigCommerce's shape for the API version of the route."""

    def __init__(self, status: int, message: str, errors: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors or {}


def error_response(version: str, exc: ApiError) -> JSONResponse:
    if version == "v2":
        return JSONResponse([{"status": exc.status, "message": exc.message}], exc.status)
    body = {"status": exc.status, "title": exc.message, "type": ERROR_TYPE, "errors": exc.errors}
    return JSONResponse(body, exc.status)


@dataclass(frozen=True)
class Delivery:
    """One attempt to POST a webhook callback."""

    hook_id: int
    scope: str
    destination: str
    hash: str
    attempt: int
    status_code: int | None
    error: str | None
    at: float

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class StoreState:
    """The store's data, in memory; tests reach it as ``app.state.store``."""

    def __init__(self, store_hash: str, access_token: str, store_id: str, client_id: str) -> None:
        self.store_hash = store_hash
        self.access_token = access_token
        self.store_id = store_id
        self.client_id = client_id
        self.orders: dict[int, Json] = {}
        self.order_products: dict[int, list[Json]] = {}
        self.hooks: dict[int, Json] = {}
        self.deliveries: list[Delivery] = []
        self.quota = Quota(BIGCOMMERCE)
        self.order_ids = itertools.count(100)
        self.line_ids = itertools.count(1)
        self.hook_ids = itertools.count(1)
        self._changed = threading.Condition()

    def reset(self) -> None:
        """Forget every order, hook and delivery (ids keep counting)."""
        with self._changed:
            self.orders.clear()
            self.order_products.clear()
            self.hooks.clear()
            self.deliveries.clear()

    def record(self, delivery: Delivery) -> None:
        with self._changed:
            self.deliveries.append(delivery)
            self._changed.notify_all()

    def wait_for_deliveries(
        self, done: Callable[[list[Delivery]], bool], timeout: float = 5.0
    ) -> list[Delivery]:
        """Block until ``done(deliveries)`` holds; call it from a thread other than the server's."""
        with self._changed:
            if not self._changed.wait_for(lambda: done(list(self.deliveries)), timeout):
                raise TimeoutError(f"deliveries so far: {self.deliveries!r}")
            return list(self.deliveries)


def scope_matches(hook_scope: str, event_scope: str) -> bool:
    if hook_scope.endswith("/*"):
        return event_scope.startswith(hook_scope[:-1])
    return hook_scope == event_scope


class Dispatcher:
    """Sends webhook callbacks from background tasks, retrying with exponential backoff."""

    def __init__(
        self,
        store: StoreState,
        retries: int,
        backoff: float,
        transport: httpx2.AsyncBaseTransport | None,
    ) -> None:
        self._store = store
        self._retries = retries
        self._backoff = backoff
        self._transport = transport
        self._events = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()

    def emit(self, scope: str, data: Json) -> None:
        """Build one callback payload (one ``hash``) and send it to every matching active hook."""
        created_at = int(time.time())
        producer = f"stores/{self._store.store_hash}"
        unique = json.dumps([producer, scope, data, created_at, next(self._events), uuid4().hex])
        payload = {
            "scope": scope,
            "store_id": self._store.store_id,
            "data": data,
            "hash": hashlib.sha1(unique.encode(), usedforsecurity=False).hexdigest(),
            "created_at": created_at,
            "producer": producer,
        }
        for hook in list(self._store.hooks.values()):
            if hook["is_active"] and scope_matches(hook["scope"], scope):
                task = asyncio.create_task(self._deliver(dict(hook), payload))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _deliver(self, hook: Json, payload: Json) -> None:
        body = json.dumps(payload).encode()
        headers = {**(hook["headers"] or {}), "Content-Type": "application/json"}
        async with httpx2.AsyncClient(transport=self._transport, timeout=5.0) as client:
            for attempt in range(1, self._retries + 2):
                status: int | None = None
                error: str | None = None
                try:
                    response = await client.post(hook["destination"], content=body, headers=headers)
                    status = response.status_code
                except httpx2.HTTPError as exc:
                    error = f"{type(exc).__name__}: {exc}"
                delivery = Delivery(
                    hook_id=hook["id"],
                    scope=payload["scope"],
                    destination=hook["destination"],
                    hash=payload["hash"],
                    attempt=attempt,
                    status_code=status,
                    error=error,
                    at=time.time(),
                )
                self._store.record(delivery)
                if delivery.ok:
                    return
                if attempt <= self._retries:
                    await asyncio.sleep(self._backoff * 2 ** (attempt - 1))
        log.warning("gave up sending %s to %s", payload["scope"], hook["destination"])

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


# --- request bodies --------------------------------------------------------------------------


async def json_object(request: Request) -> Json:
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise ApiError(400, "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return body


def reject_unknown(body: Json, allowed: set[str]) -> None:
    for key in body:
        if key not in allowed:
            raise ApiError(400, f"The field '{key}' is not supported by this resource.")


def query_int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    try:
        value = default if raw is None else int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ApiError(400, f"The filter '{name}' is invalid.")
    return value


def paginate(request: Request, rows: list[Json], default: int = 50) -> Json:
    """One page of ``rows`` (``page``, ``limit`` up to 250) and v3's ``meta.pagination``."""
    page = query_int(request, "page", 1, 1, 10**9)
    limit = query_int(request, "limit", default, 1, 250)
    chunk = rows[(page - 1) * limit : page * limit]
    pages = max(1, -(-len(rows) // limit))
    links = {"current": f"?page={page}&limit={limit}"}
    if page > 1:
        links["previous"] = f"?page={page - 1}&limit={limit}"
    if page < pages:
        links["next"] = f"?page={page + 1}&limit={limit}"
    pagination = {
        "total": len(rows), "count": len(chunk), "per_page": limit,
        "current_page": page, "total_pages": pages, "links": links,
    }  # fmt: skip
    return {"data": chunk, "meta": {"pagination": pagination}}


def date_filter(request: Request, name: str) -> datetime | None:
    """A date filter of v2 lists: RFC 2822 or ISO 8601 (a date alone is its midnight, UTC)."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            raise ApiError(400, f"The filter '{name}' is invalid.") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def whole(value: Any, field: str, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ApiError(400, f"The field '{field}' is invalid.")
    return value


def status_of(value: Any) -> int:
    status_id = whole(value, "status_id")
    if status_id not in ORDER_STATUSES:
        raise ApiError(400, "The field 'status_id' is invalid.")
    return status_id


def money(value: Any, field: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        amount = Decimal(-1)
    if isinstance(value, bool) or not amount.is_finite() or not 0 <= amount < 10**12:
        raise ApiError(400, f"The field '{field}' is invalid.")
    return amount


def fmt(amount: Decimal) -> str:
    return str(amount.quantize(Decimal("0.0001")))


def now_rfc2822() -> str:
    return format_datetime(datetime.now(UTC).replace(microsecond=0))


def address(value: Any, base: Json | None = None) -> Json:
    if not isinstance(value, dict):
        raise ApiError(400, "The field 'billing_address' is invalid.")
    merged = dict(base or dict.fromkeys(ADDRESS_FIELDS, ""))
    merged.update({k: str(v) for k, v in value.items() if k in ADDRESS_FIELDS and v is not None})
    return merged


def line_item(raw: Any, where: str) -> Json:
    """One ``products`` entry of a create body, as GET /v2/orders/{id}/products shows it
    (less ``id`` and ``order_id``)."""
    if not isinstance(raw, dict):
        raise ApiError(400, f"The field '{where}' is invalid.")
    product_id = whole(raw.get("product_id", 0), f"{where}.product_id")
    quantity = whole(raw.get("quantity"), f"{where}.quantity", low=1)
    name = raw.get("name") or (f"Product {product_id}" if product_id else None)
    if not isinstance(name, str):
        raise ApiError(400, f"The required field '{where}.name' was not supplied.")
    inc = money(raw.get("price_inc_tax", raw.get("price_ex_tax", 0)), f"{where}.price_inc_tax")
    ex = money(raw.get("price_ex_tax", inc), f"{where}.price_ex_tax")
    return {
        "product_id": product_id, "name": name,
        "sku": str(raw.get("sku", "")), "type": "physical", "quantity": quantity,
        "base_price": fmt(ex), "price_ex_tax": fmt(ex), "price_inc_tax": fmt(inc),
        "price_tax": fmt(inc - ex), "total_ex_tax": fmt(ex * quantity),
        "total_inc_tax": fmt(inc * quantity), "total_tax": fmt((inc - ex) * quantity),
    }  # fmt: skip


def hook_fields(body: Json, *, partial: bool) -> Json:
    """The writable fields of a v3 hook body; 422 naming every bad field at once."""
    errors: dict[str, str] = {}
    checks: dict[str, Callable[[Any], bool]] = {
        "scope": lambda v: isinstance(v, str) and v.startswith("store/") and len(v) > 6,
        "destination": lambda v: isinstance(v, str) and v.startswith(("http://", "https://")),
        "is_active": lambda v: isinstance(v, bool),
        "headers": lambda v: (
            v is None or (isinstance(v, dict) and all(isinstance(x, str) for x in v.values()))
        ),
    }
    for name, valid in checks.items():
        if name not in body:
            if not partial and name in ("scope", "destination"):
                errors[name] = f"{name} is a required field"
        elif not valid(body[name]):
            errors[name] = f"{name} is invalid"
    if errors:
        raise ApiError(422, "JSON data is missing or invalid", errors)
    return {name: body[name] for name in checks if name in body}


# --- endpoints -------------------------------------------------------------------------------


class StoreApi:
    """The route handlers of one store."""

    def __init__(self, store: StoreState, dispatcher: Dispatcher) -> None:
        self.store = store
        self.dispatcher = dispatcher

    def guarded(self, version: str, handler: Endpoint) -> Endpoint:
        """Check the store hash and ``X-Auth-Token``; answer ``ApiError`` in ``version``'s shape."""

        async def endpoint(request: Request) -> Response:
            try:
                if request.path_params["store_hash"] != self.store.store_hash:
                    raise ApiError(404, "The requested store was not found.")
                token = request.headers.get("x-auth-token", "").encode()
                if not hmac.compare_digest(token, self.store.access_token.encode()):
                    raise ApiError(401, "No valid credentials were found in this request.")
                allowed, quota = self.store.quota.take()
                answer: Response
                if not allowed:
                    refused = ApiError(429, "You have exceeded your rate limit. Try again later.")
                    answer = error_response(version, refused)
                else:
                    answer = await handler(request)
                answer.headers.update(quota)
                return answer
            except ApiError as exc:
                return error_response(version, exc)

        return endpoint

    # v2 orders

    def order_or_404(self, request: Request) -> Json:
        order = self.store.orders.get(request.path_params["order_id"])
        if order is None:
            raise ApiError(404, "The requested resource was not found.")
        return order

    def render_order(self, request: Request, order: Json) -> Json:
        base = f"{str(request.base_url).rstrip('/')}/stores/{self.store.store_hash}/v2"
        links = {
            name: {"url": f"{base}/orders/{order['id']}/{name}",
                   "resource": f"/orders/{order['id']}/{name}"}
            for name in ("products", "shipping_addresses", "coupons")
        }  # fmt: skip
        return {**order, **links}

    async def list_orders(self, request: Request) -> Response:
        page = query_int(request, "page", 1, 1, 10**9)
        limit = query_int(request, "limit", 50, 1, 250)
        wanted = {
            name: query_int(request, name, -1, 0, 10**12)
            for name in ("status_id", "customer_id", "min_id", "max_id")
            if name in request.query_params
        }
        since = date_filter(request, "min_date_created")
        orders = [
            order
            for order_id, order in sorted(self.store.orders.items())
            if order["status_id"] == wanted.get("status_id", order["status_id"])
            and (since is None or parsedate_to_datetime(order["date_created"]) >= since)
            and order["customer_id"] == wanted.get("customer_id", order["customer_id"])
            and wanted.get("min_id", 0) <= order_id <= wanted.get("max_id", order_id)
        ]
        sort = request.query_params.get("sort", "id:asc")
        if sort not in ("id:asc", "id:desc"):
            raise ApiError(400, "The sort field is not supported", {"sort": sort})
        if sort == "id:desc":
            orders.reverse()
        chunk = orders[(page - 1) * limit : page * limit]
        if not chunk:
            return Response(status_code=204)
        return JSONResponse([self.render_order(request, order) for order in chunk])

    async def get_order(self, request: Request) -> Response:
        return JSONResponse(self.render_order(request, self.order_or_404(request)))

    async def get_order_products(self, request: Request) -> Response:
        order = self.order_or_404(request)
        return JSONResponse(self.store.order_products[order["id"]])

    async def create_order(self, request: Request) -> Response:
        body = await json_object(request)
        reject_unknown(body, ORDER_CREATE_FIELDS)
        for required in ("products", "billing_address"):
            if not body.get(required):
                raise ApiError(400, f"The required field '{required}' was not supplied.")
        if not isinstance(body["products"], list):
            raise ApiError(400, "The field 'products' is invalid.")
        items = [line_item(raw, f"products[{i}]") for i, raw in enumerate(body["products"])]
        fields = {
            "status_id": status_of(body.get("status_id", 1)),
            "customer_id": whole(body.get("customer_id", 0), "customer_id"),
            "channel_id": whole(body.get("channel_id", 1), "channel_id", low=1),
            "billing_address": address(body["billing_address"]),
            "payment_method": str(body.get("payment_method", "Manual")),
            "staff_notes": str(body.get("staff_notes", "")),
            "customer_message": str(body.get("customer_message", "")),
            "external_source": body.get("external_source"),
            "external_id": body.get("external_id"),
        }
        order_id = next(self.store.order_ids)
        lines = [{"id": next(self.store.line_ids), "order_id": order_id, **i} for i in items]
        order = new_order(order_id, lines, fields)
        self.store.orders[order_id] = order
        self.store.order_products[order_id] = lines
        self.dispatcher.emit("store/order/created", {"type": "order", "id": order_id})
        return JSONResponse(self.render_order(request, order), 201)

    async def update_order(self, request: Request) -> Response:
        order = self.order_or_404(request)
        body = await json_object(request)
        reject_unknown(body, ORDER_UPDATE_FIELDS)
        previous = order["status_id"]
        changes: Json = {k: v if v is None else str(v) for k, v in body.items()}
        if "status_id" in body:
            changes["status_id"] = new = status_of(body["status_id"])
            changes["status"] = changes["custom_status"] = ORDER_STATUSES[new][0]
        if "customer_id" in body:
            changes["customer_id"] = whole(body["customer_id"], "customer_id")
        if "billing_address" in body:
            changes["billing_address"] = address(body["billing_address"], order["billing_address"])
        order.update(changes, date_modified=now_rfc2822())
        data = {"type": "order", "id": order["id"]}
        if order["status_id"] != previous:
            status = {"previous_status_id": previous, "new_status_id": order["status_id"]}
            self.dispatcher.emit("store/order/statusUpdated", {**data, "status": status})
        self.dispatcher.emit("store/order/updated", data)
        return JSONResponse(self.render_order(request, order))

    async def list_statuses(self, request: Request) -> Response:
        return JSONResponse([render_status(status_id) for status_id in ORDER_STATUSES])

    async def get_status(self, request: Request) -> Response:
        status_id = request.path_params["status_id"]
        if status_id not in ORDER_STATUSES:
            raise ApiError(404, "The requested resource was not found.")
        return JSONResponse(render_status(status_id))

    # v3 hooks

    def hook_or_404(self, request: Request) -> Json:
        hook = self.store.hooks.get(request.path_params["hook_id"])
        if hook is None:
            raise ApiError(404, "Webhook not found")
        return hook

    async def list_hooks(self, request: Request) -> Response:
        query = request.query_params
        hooks = [
            hook
            for _, hook in sorted(self.store.hooks.items())
            if query.get("is_active", str(hook["is_active"]).lower())
            == str(hook["is_active"]).lower()
            and query.get("scope", hook["scope"]) == hook["scope"]
            and query.get("destination", hook["destination"]) == hook["destination"]
        ]
        return JSONResponse(paginate(request, hooks))

    async def get_hook(self, request: Request) -> Response:
        return JSONResponse({"data": self.hook_or_404(request), "meta": {}})

    async def create_hook(self, request: Request) -> Response:
        fields = hook_fields(await json_object(request), partial=False)
        now = int(time.time())
        hook: Json = {
            "id": next(self.store.hook_ids), "client_id": self.store.client_id,
            "store_hash": self.store.store_hash, "scope": fields["scope"],
            "destination": fields["destination"], "headers": fields.get("headers"),
            "is_active": fields.get("is_active", True), "created_at": now, "updated_at": now,
        }  # fmt: skip
        self.store.hooks[hook["id"]] = hook
        return JSONResponse({"data": hook, "meta": {}})

    async def update_hook(self, request: Request) -> Response:
        hook = self.hook_or_404(request)
        hook.update(hook_fields(await json_object(request), partial=True))
        hook["updated_at"] = int(time.time())
        return JSONResponse({"data": hook, "meta": {}})

    async def delete_hook(self, request: Request) -> Response:
        hook = self.hook_or_404(request)
        del self.store.hooks[hook["id"]]
        return JSONResponse({"data": hook, "meta": {}})

    async def set_quota(self, request: Request) -> Response:
        try:
            asked = await request.json()
            self.store.quota.set(int(asked["requests"]), int(asked["window_ms"]))
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"error": f"quota: {exc}"}, 400)
        return JSONResponse({"requests": self.store.quota.requests,
                             "window_ms": self.store.quota.window_ms})  # fmt: skip

    async def deliveries(self, request: Request) -> Response:
        records = [{**asdict(d), "ok": d.ok} for d in list(self.store.deliveries)]
        return JSONResponse({"data": records})


def new_order(order_id: int, lines: list[Json], fields: Json) -> Json:
    """A v2 order as GET /v2/orders/{id} shows it (less the sub-resource links)."""
    ex = sum((Decimal(line["total_ex_tax"]) for line in lines), Decimal(0))
    inc = sum((Decimal(line["total_inc_tax"]) for line in lines), Decimal(0))
    now, zero, name = now_rfc2822(), fmt(Decimal(0)), ORDER_STATUSES[fields["status_id"]][0]
    return {
        "id": order_id, "customer_id": fields["customer_id"],
        "date_created": now, "date_modified": now, "date_shipped": "",
        "status_id": fields["status_id"], "status": name, "custom_status": name,
        "subtotal_ex_tax": fmt(ex), "subtotal_inc_tax": fmt(inc), "subtotal_tax": fmt(inc - ex),
        "base_shipping_cost": zero, "shipping_cost_ex_tax": zero,
        "shipping_cost_inc_tax": zero, "shipping_cost_tax": zero,
        "total_ex_tax": fmt(ex), "total_inc_tax": fmt(inc), "total_tax": fmt(inc - ex),
        "items_total": sum(line["quantity"] for line in lines), "items_shipped": 0,
        "payment_method": fields["payment_method"], "payment_status": "",
        "refunded_amount": zero, "order_is_digital": False, "store_credit_amount": zero,
        "gift_certificate_amount": zero, "ip_address": "", "currency_code": "USD",
        "currency_exchange_rate": "1.0000000000", "default_currency_code": "USD",
        "staff_notes": fields["staff_notes"], "customer_message": fields["customer_message"],
        "discount_amount": zero, "coupon_discount": zero, "is_deleted": False,
        "billing_address": fields["billing_address"], "channel_id": fields["channel_id"],
        "order_source": "external", "external_source": fields["external_source"],
        "external_id": fields["external_id"],
    }  # fmt: skip


def render_status(status_id: int) -> Json:
    name, order, description = ORDER_STATUSES[status_id]
    return {
        "id": status_id, "name": name, "system_label": name, "custom_label": name,
        "system_description": description, "order": order,
    }  # fmt: skip


async def http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods, in the shape of the API version the path names."""
    status, message = (exc.status_code, exc.detail) if isinstance(exc, HTTPException) else (500, "")
    if status == 404:
        message = "The requested resource was not found."
    return error_response("v3" if "/v3/" in request.url.path else "v2", ApiError(status, message))


def create_app(
    store_hash: str,
    access_token: str,
    *,
    webhook_retries: int = 3,
    retry_backoff: float = 0.2,
    store_id: str = "1001001",
    client_id: str = "solder-sandbox-client",
    transport: httpx2.AsyncBaseTransport | None = None,
) -> Starlette:
    """One store's API; its state is ``app.state.store`` (a :class:`StoreState`).

    ``transport`` replaces the network for webhook callbacks (an ``httpx2.ASGITransport`` or
    ``MockTransport`` in tests).
    """
    store = StoreState(store_hash, access_token, store_id, client_id)
    dispatcher = Dispatcher(store, webhook_retries, retry_backoff, transport)
    api = StoreApi(store, dispatcher)
    # the catalog module builds on this one's helpers, so it is imported once both exist
    from solder.sandbox.bigcommerce_catalog import Catalog

    catalog = Catalog()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await dispatcher.aclose()

    v2, v3 = "/stores/{store_hash}/v2", "/stores/{store_hash}/v3"
    table: list[tuple[str, str, str, Endpoint]] = [
        ("v2", f"{v2}/orders", "GET", api.list_orders),
        ("v2", f"{v2}/orders", "POST", api.create_order),
        ("v2", f"{v2}/orders/{{order_id:int}}", "GET", api.get_order),
        ("v2", f"{v2}/orders/{{order_id:int}}", "PUT", api.update_order),
        ("v2", f"{v2}/orders/{{order_id:int}}/products", "GET", api.get_order_products),
        ("v2", f"{v2}/order_statuses", "GET", api.list_statuses),
        ("v2", f"{v2}/order_statuses/{{status_id:int}}", "GET", api.get_status),
        ("v3", f"{v3}/hooks", "GET", api.list_hooks),
        ("v3", f"{v3}/hooks", "POST", api.create_hook),
        ("v3", f"{v3}/hooks/{{hook_id:int}}", "GET", api.get_hook),
        ("v3", f"{v3}/hooks/{{hook_id:int}}", "PUT", api.update_hook),
        ("v3", f"{v3}/hooks/{{hook_id:int}}", "DELETE", api.delete_hook),
        *catalog.routes(v3),
    ]
    routes = [
        Route("/_sandbox/deliveries", api.deliveries, methods=["GET"]),
        Route("/_sandbox/quota", api.set_quota, methods=["POST"]),
    ]
    routes += [Route(path, api.guarded(ver, fn), methods=[verb]) for ver, path, verb, fn in table]
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )
    app.state.store, app.state.catalog = store, catalog
    return app


def serve(host: str, port: int, store_hash: str, access_token: str) -> None:
    """Run a sandbox store under uvicorn until interrupted."""
    uvicorn.run(create_app(store_hash, access_token), host=host, port=port, log_level="info")
