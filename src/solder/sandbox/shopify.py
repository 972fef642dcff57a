"""A local Shopify store: the Admin REST API slice Solder uses, webhooks and Shopify's OAuth.

Everything lives under ``/admin/api/{version}`` (2024-01 to 2025-07) and needs
``X-Shopify-Access-Token`` (the configured token, or one issued by OAuth, with its scopes)::

    GET  POST  orders.json | customers.json | products.json   list, create (``{"order": ...}``)
    GET  PUT   {resource}/{id}.json                           read, update
    GET        {resource}/count.json
    GET        customers/search.json?query=email:bob@example.com
    POST       orders/{id}/close.json | orders/{id}/cancel.json
    GET  POST  webhooks.json                                  list, subscribe
    GET DELETE webhooks/{id}.json

Lists take ``limit`` (50, at most 250), ``since_id``, ``ids``, ``fields``; orders ``status``
(``open`` unless told ``closed``, ``cancelled`` or ``any``). Pages follow Shopify's cursors: a
``Link`` header with ``page_info`` URLs, ``rel="previous"`` and ``rel="next"``; a ``page_info``
request keeps its first page's filters. Errors are ``{"errors": ...}``: 401, 403 (scope), 404,
400 (no root key), 422 with field errors, 429 with ``Retry-After`` when the leaky bucket
(40 calls, 2 a second) is full. Every answer carries ``X-Shopify-Shop-Api-Call-Limit``.

Webhooks (topics orders/create, orders/updated, orders/cancelled, customers/create,
customers/update, products/create, products/update) POST the resource as JSON from background
tasks with ``X-Shopify-Topic``, ``X-Shopify-Shop-Domain``, ``X-Shopify-API-Version``,
``X-Shopify-Webhook-Id`` (the same on each retry) and ``X-Shopify-Hmac-Sha256`` (base64
HMAC-SHA256 of the raw body with the client secret); non-2xx answers and connection errors are
retried. The records themselves are built in :mod:`solder.sandbox.shopify_records`.

OAuth: ``GET /admin/oauth/authorize`` (client_id, scope, redirect_uri, state) consents at once and
redirects back with ``code``, ``hmac`` (hex HMAC-SHA256 of the other parameters, sorted, with the
client secret), ``host``, ``shop``, ``state`` and ``timestamp``; ``POST /admin/oauth/access_token``
(client_id, client_secret, code) answers ``{access_token, scope}``. Told to deny, authorize
redirects back with ``error=access_denied`` and the ``state`` (RFC 6749 4.1.2.1; a sandbox
convention, as Shopify documents no redirect for it). A token's scopes are enforced (403).
Controls, no auth::

    GET  /_sandbox/deliveries    every webhook attempt
    POST /_sandbox/bucket        {"used": 40} fills the leaky bucket
    ...                          and the token controls of :mod:`solder.sandbox.oauth`
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import itertools
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import httpx2
import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from solder.sandbox.oauth import TokenBook, control_routes, form_or_json, redirect
from solder.sandbox.shopify_records import (
    PRODUCT_FIELDS,
    ShopifyError,
    customer_fields,
    new_customer,
    new_order,
    new_product,
    now_iso,
    order_status,
)
from solder.sandbox.webhooks import DeliveryLog, Tasks, post_with_retries

log = logging.getLogger(__name__)

Json = dict[str, Any]
Endpoint = Callable[[Request], Awaitable[Response]]

VERSIONS = ("2024-01", "2024-04", "2024-07", "2024-10", "2025-01", "2025-04", "2025-07")
RESOURCES = {"orders": "order", "customers": "customer", "products": "product"}
SCOPES = tuple(f"{verb}_{name}" for name in RESOURCES for verb in ("read", "write"))
TOPICS = {
    *("orders/create", "orders/updated", "orders/cancelled"),
    *("customers/create", "customers/update", "products/create", "products/update"),
}
UNAUTHORIZED = "[API] Invalid API key or access token (unrecognized login or wrong password)"
THROTTLED = (
    "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted "
    "service."
)
PAGING_PARAMS = {"limit", "fields", "page_info"}


def sign(secret: str, message: bytes) -> str:
    """Shopify's webhook signature: base64 HMAC-SHA256."""
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def callback_hmac(secret: str, params: dict[str, str]) -> str:
    """Shopify's OAuth callback signature: hex HMAC-SHA256 of ``k=v&...`` sorted, less hmac."""
    message = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "hmac")
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Delivery:
    """One attempt to POST a webhook."""

    subscription_id: int
    topic: str
    address: str
    webhook_id: str
    attempt: int
    status_code: int | None
    error: str | None
    at: float

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class ShopState:
    """The store's data, in memory; tests reach it as ``app.state.shop``."""

    def __init__(self, domain: str, access_token: str, client_id: str, client_secret: str) -> None:
        self.domain, self.access_token = domain, access_token
        self.client_id, self.client_secret = client_id, client_secret
        self.book = TokenBook(lifetime=None, prefix="shpat_")
        self.redirect_uris: tuple[str, ...] | None = None
        self.tables: dict[str, dict[int, Json]] = {name: {} for name in (*RESOURCES, "webhooks")}
        self.deliveries: DeliveryLog[Delivery] = DeliveryLog()
        self.ids = itertools.count(450789469)
        self.order_numbers = itertools.count(1001)
        self.bucket_size, self.leak_rate = 40, 2.0
        self.bucket_used, self.bucket_at = 0.0, time.monotonic()

    def reset(self) -> None:
        """Forget every record, webhook, delivery, code and token; empty the bucket."""
        for table in self.tables.values():
            table.clear()
        self.deliveries.clear()
        self.book.reset()
        self.bucket_used = 0.0

    def take_call(self) -> bool:
        """Leak the bucket, then add one call to it; ``False`` when it is full."""
        now = time.monotonic()
        self.bucket_used = max(0.0, self.bucket_used - (now - self.bucket_at) * self.leak_rate)
        self.bucket_at = now
        if self.bucket_used + 1 > self.bucket_size:
            return False
        self.bucket_used += 1
        return True

    def call_limit(self) -> str:
        return f"{math.ceil(self.bucket_used)}/{self.bucket_size}"


class Dispatcher:
    """Sends webhooks from background tasks, retrying with exponential backoff."""

    def __init__(
        self,
        shop: ShopState,
        retries: int,
        backoff: float,
        transport: httpx2.AsyncBaseTransport | None,
    ) -> None:
        self._shop, self._retries, self._backoff = shop, retries, backoff
        self._transport = transport
        self.tasks = Tasks()

    def emit(self, topic: str, payload: Json) -> None:
        body = json.dumps(payload).encode()
        for webhook in list(self._shop.tables["webhooks"].values()):
            if webhook["topic"] == topic:
                self.tasks.spawn(self._deliver(dict(webhook), body))

    async def _deliver(self, webhook: Json, body: bytes) -> None:
        webhook_id = str(uuid4())
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": webhook["topic"],
            "X-Shopify-Hmac-Sha256": sign(self._shop.client_secret, body),
            "X-Shopify-Shop-Domain": self._shop.domain,
            "X-Shopify-API-Version": webhook["api_version"],
            "X-Shopify-Webhook-Id": webhook_id,
            "X-Shopify-Event-Id": str(uuid4()),
            "X-Shopify-Triggered-At": datetime.now(UTC).isoformat(),
        }

        def report(attempt: int, status: int | None, error: str | None) -> None:
            self._shop.deliveries.record(Delivery(
                webhook["id"], webhook["topic"], webhook["address"], webhook_id, attempt,
                status, error, time.time(),
            ))  # fmt: skip

        sent = await post_with_retries(
            webhook["address"], body, headers, retries=self._retries, backoff=self._backoff,
            transport=self._transport, report=report,
        )  # fmt: skip
        if not sent:
            log.warning("gave up sending %s to %s", webhook["topic"], webhook["address"])


def decode_cursor(page_info: str) -> Json:
    try:
        cursor = json.loads(base64.urlsafe_b64decode(page_info + "=="))
    except ValueError:
        cursor = None
    if not isinstance(cursor, dict) or not (
        isinstance(cursor.get("filters"), dict) and isinstance(cursor.get("id"), int)
    ):
        raise ShopifyError(400, {"page_info": "Invalid value."})
    return cursor


# --- endpoints -------------------------------------------------------------------------------


class ShopApi:
    """The route handlers of one store."""

    def __init__(self, shop: ShopState, dispatcher: Dispatcher) -> None:
        self.shop = shop
        self.dispatcher = dispatcher

    def guarded(self, resource: str | None, handler: Endpoint) -> Endpoint:
        """Version, token, bucket and scope; answer ``ShopifyError`` as ``{"errors": ...}``."""

        async def endpoint(request: Request) -> Response:
            shop, version = self.shop, request.path_params["version"]
            try:
                if version not in VERSIONS:
                    raise ShopifyError(404, "Not Found")
                scopes = self.scopes(request.headers.get("x-shopify-access-token", ""))
                if scopes is None:
                    raise ShopifyError(401, UNAUTHORIZED)
                if not shop.take_call():
                    raise ShopifyError(429, THROTTLED, {"Retry-After": "2.0"})
                verb = "read" if request.method == "GET" else "write"
                needed = f"{verb}_{resource}"
                if resource and needed not in scopes and f"write_{resource}" not in scopes:
                    raise ShopifyError(
                        403, f"[API] This action requires merchant approval for {needed} scope."
                    )
                response = await handler(request)
            except ShopifyError as exc:
                response = JSONResponse({"errors": exc.errors}, exc.status, exc.headers)
            response.headers["X-Shopify-Shop-Api-Call-Limit"] = shop.call_limit()
            response.headers["X-Shopify-API-Version"] = version
            return response

        return endpoint

    def scopes(self, token: str) -> set[str] | None:
        if token and hmac.compare_digest(token.encode(), self.shop.access_token.encode()):
            return set(SCOPES)
        issued = self.shop.book.lookup(token)
        return None if issued is None else set(issued.scope.split(","))

    async def root(self, request: Request, key: str) -> Json:
        """The object under ``key`` in the body; 400 as Shopify answers a missing root."""
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get(key), dict):
            raise ShopifyError(400, {key: "Required parameter missing or invalid"})
        value: Json = body[key]
        return value

    def one(self, request: Request, table: str) -> Json:
        record = self.shop.tables[table].get(request.path_params["id"])
        if record is None:
            raise ShopifyError(404, "Not Found")
        return record

    def matching(self, table: str, filters: dict[str, str]) -> list[Json]:
        try:
            since = int(filters.get("since_id", "0"))
            ids = {int(i) for i in filters["ids"].split(",")} if "ids" in filters else None
        except ValueError:
            raise ShopifyError(400, {"since_id": "expected an integer"}) from None
        status = filters.get("status", "open")
        if table == "orders" and status not in ("open", "closed", "cancelled", "any"):
            raise ShopifyError(400, {"status": "invalid"})
        topic, address = filters.get("topic"), filters.get("address")
        return [
            r for i, r in sorted(self.shop.tables[table].items())
            if i > since and (ids is None or i in ids)
            and (table != "orders" or order_status(r, status))
            and topic in (None, r.get("topic")) and address in (None, r.get("address"))
        ]  # fmt: skip

    def page(self, request: Request, table: str) -> Response:
        """One page of ``table`` and its ``Link`` header, as Shopify's cursor pagination does."""
        query = request.query_params
        raw_limit = query.get("limit", "50")
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 250:
            raise ShopifyError(400, {"limit": "must be between 1 and 250"})
        limit = int(raw_limit)
        cursor: Json = {"filters": {k: v for k, v in query.items() if k not in PAGING_PARAMS}}
        if "page_info" in query:
            if cursor["filters"]:
                raise ShopifyError(400, {"page_info": "cannot be combined with other filters"})
            cursor = decode_cursor(query["page_info"])
        rows = self.matching(table, cursor["filters"])
        if cursor.get("dir") == "prev":
            rows_before = [r for r in rows if r["id"] < cursor["id"]]
            chunk = rows_before[-limit:]
        else:
            chunk = [r for r in rows if r["id"] > cursor.get("id", 0)][:limit]
        links = []
        base = request.url.remove_query_params(list(query.keys()))
        for rel, direction, edge in (("previous", "prev", 0), ("next", "next", -1)):
            if not chunk or (rel == "previous" and "page_info" not in query):
                continue
            pivot = chunk[edge]["id"]
            if not any(r["id"] < pivot if rel == "previous" else r["id"] > pivot for r in rows):
                continue
            token = json.dumps({"filters": cursor["filters"], "dir": direction, "id": pivot})
            info = base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")
            links.append(f'<{base.include_query_params(limit=limit, page_info=info)}>; rel="{rel}"')
        fields = [f for f in query.get("fields", "").split(",") if f]
        shown = [{k: r[k] for k in fields if k in r} if fields else r for r in chunk]
        headers = {"Link": ", ".join(links)} if links else {}
        return JSONResponse({table: shown}, headers=headers)

    def lister(self, table: str) -> Endpoint:
        async def handler(request: Request) -> Response:
            return self.page(request, table)

        return handler

    def counter(self, table: str) -> Endpoint:
        async def handler(request: Request) -> Response:
            return JSONResponse({"count": len(self.matching(table, dict(request.query_params)))})

        return handler

    def reader(self, table: str) -> Endpoint:
        async def handler(request: Request) -> Response:
            return JSONResponse({RESOURCES.get(table, "webhook"): self.one(request, table)})

        return handler

    def creator(self, table: str, build: Callable[[ShopState, Json], Json]) -> Endpoint:
        async def handler(request: Request) -> Response:
            key = RESOURCES[table]
            record = build(self.shop, await self.root(request, key))
            self.shop.tables[table][record["id"]] = record
            self.dispatcher.emit(f"{table}/create", record)
            return JSONResponse({key: record}, 201)

        return handler

    def updater(self, table: str, topic: str) -> Endpoint:
        async def handler(request: Request) -> Response:
            key, record = RESOURCES[table], self.one(request, table)
            body = await self.root(request, key)
            if table == "customers":
                changes = customer_fields(self.shop, body, own=record["id"])
            elif table == "orders":
                changes = {k: body[k] for k in ("email", "phone", "note", "tags") if k in body}
            else:
                changes = {k: body[k] for k in PRODUCT_FIELDS if k in body}
                if "title" in changes and not str(changes["title"]).strip():
                    raise ShopifyError(422, {"title": ["can't be blank"]})
            record.update(changes, updated_at=now_iso())
            self.dispatcher.emit(topic, record)
            return JSONResponse({key: record})

        return handler

    async def search_customers(self, request: Request) -> Response:
        """``query`` as Shopify's customer search takes it: ``email:bob@example.com`` terms
        (``field:value``, all must hold) or bare words found in any of the customer's fields."""
        terms = request.query_params.get("query", "").split()
        limit = request.query_params.get("limit", "50")
        if not limit.isdigit() or not 1 <= int(limit) <= 250:
            raise ShopifyError(400, {"limit": "must be between 1 and 250"})

        def holds(customer: Json, term: str) -> bool:
            name, sep, value = term.partition(":")
            if sep:
                return str(customer.get(name) or "").lower() == value.lower()
            return any(term.lower() in str(v).lower() for v in customer.values())

        found = [c for _, c in sorted(self.shop.tables["customers"].items())
                 if all(holds(c, t) for t in terms)]  # fmt: skip
        return JSONResponse({"customers": found[: int(limit)]})

    async def close_order(self, request: Request) -> Response:
        order = self.one(request, "orders")
        order.update(closed_at=now_iso(), updated_at=now_iso())
        self.dispatcher.emit("orders/updated", order)
        return JSONResponse({"order": order})

    async def cancel_order(self, request: Request) -> Response:
        order = self.one(request, "orders")
        if order["cancelled_at"]:
            raise ShopifyError(422, {"base": ["Cannot cancel an order that is already cancelled"]})
        try:
            reason = json.loads(await request.body() or b"{}").get("reason", "other")
        except (ValueError, AttributeError):
            reason = "other"
        order.update(cancelled_at=now_iso(), cancel_reason=reason, updated_at=now_iso())
        self.dispatcher.emit("orders/cancelled", order)
        self.dispatcher.emit("orders/updated", order)
        return JSONResponse({"order": order})

    async def create_webhook(self, request: Request) -> Response:
        body = await self.root(request, "webhook")
        topic, address = body.get("topic"), body.get("address")
        errors: dict[str, list[str]] = {}
        if topic not in TOPICS:
            errors["topic"] = [f"Invalid topic specified: {topic}."]
        if not isinstance(address, str) or not address.startswith(("http://", "https://")):
            errors["address"] = ["is invalid"]
        elif any(
            w["topic"] == topic and w["address"] == address
            for w in self.shop.tables["webhooks"].values()
        ):
            errors["address"] = ["for this topic has already been taken"]
        if body.get("format", "json") != "json":
            errors["format"] = ["is not supported by this sandbox"]
        if errors:
            raise ShopifyError(422, errors)
        hook_id, now = next(self.shop.ids), now_iso()
        webhook = {
            "id": hook_id, "address": address, "topic": topic, "created_at": now,
            "updated_at": now, "format": "json", "fields": body.get("fields", []),
            "metafield_namespaces": [], "api_version": request.path_params["version"],
        }  # fmt: skip
        self.shop.tables["webhooks"][hook_id] = webhook
        return JSONResponse({"webhook": webhook}, 201)

    async def delete_webhook(self, request: Request) -> Response:
        del self.shop.tables["webhooks"][self.one(request, "webhooks")["id"]]
        return JSONResponse({})

    # OAuth

    async def authorize(self, request: Request) -> Response:
        query, shop = request.query_params, self.shop
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != shop.client_id:
            return PlainTextResponse("Oauth error invalid_request: The client_id is invalid", 400)
        if not redirect_uri.startswith(("http://", "https://")) or (
            shop.redirect_uris is not None and redirect_uri not in shop.redirect_uris
        ):
            return PlainTextResponse(
                "Oauth error invalid_request: The redirect_uri is not whitelisted", 400
            )
        scopes = [s for s in query.get("scope", "").split(",") if s]
        if any(s not in SCOPES for s in scopes):
            return PlainTextResponse("Oauth error invalid_scope: Scope undefined", 400)
        back = {"state": query["state"]} if "state" in query else {}
        if shop.book.deny:
            shop.book.counters.denied += 1
            return redirect(redirect_uri, {"error": "access_denied", **back})
        code = shop.book.new_code(shop.book.grant(shop.client_id, ",".join(scopes), redirect_uri))
        host = f"admin.shopify.com/store/{shop.domain.split('.')[0]}"
        params = {
            "code": code, "host": base64.b64encode(host.encode()).decode().rstrip("="),
            "shop": shop.domain, "timestamp": str(int(time.time())), **back,
        }  # fmt: skip
        params["hmac"] = callback_hmac(shop.client_secret, params)
        return redirect(redirect_uri, params)

    async def access_token(self, request: Request) -> Response:
        form, shop = await form_or_json(request), self.shop

        def fail(description: str) -> Response:
            body = {"error": "invalid_request", "error_description": description}
            return JSONResponse(body, 400)

        if form.get("client_id") != shop.client_id or not hmac.compare_digest(
            form.get("client_secret", "").encode(), shop.client_secret.encode()
        ):
            return fail("The client credentials are invalid")
        grant = shop.book.take_code(form.get("code", ""))
        if grant is None:
            return fail("The authorization code was not found or was already used")
        token, _ = shop.book.issue(shop.client_id, grant.scope, refresh=False)
        return JSONResponse({"access_token": token.value, "scope": grant.scope})

    async def deliveries(self, request: Request) -> Response:
        records = [{**asdict(d), "ok": d.ok} for d in list(self.shop.deliveries.items)]
        return JSONResponse({"data": records})

    async def set_bucket(self, request: Request) -> Response:
        try:
            used = json.loads(await request.body()).get("used")
        except (ValueError, AttributeError):
            used = None
        if isinstance(used, bool) or not isinstance(used, int | float) or used < 0:
            return JSONResponse({"error": 'body must be {"used": n}, n >= 0'}, 400)
        self.shop.bucket_used, self.shop.bucket_at = float(used), time.monotonic()
        return JSONResponse({"used": used, "size": self.shop.bucket_size})


async def http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods, as ``{"errors": ...}``."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return JSONResponse({"errors": "Not Found" if status == 404 else str(exc)}, status)


def create_app(
    domain: str,
    access_token: str,
    client_id: str,
    client_secret: str,
    *,
    redirect_uris: tuple[str, ...] | None = None,
    webhook_retries: int = 3,
    retry_backoff: float = 0.2,
    transport: httpx2.AsyncBaseTransport | None = None,
) -> Starlette:
    """One store (``domain`` like ``sandbox.myshopify.com``); its state is ``app.state.shop``.

    ``redirect_uris=None`` lets OAuth redirect to any http(s) URI. ``transport`` replaces the
    network for webhooks.
    """
    shop = ShopState(domain, access_token, client_id, client_secret)
    dispatcher = Dispatcher(shop, webhook_retries, retry_backoff, transport)
    shop.redirect_uris = redirect_uris
    api = ShopApi(shop, dispatcher)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await dispatcher.tasks.aclose()

    base = "/admin/api/{version}"
    table: list[tuple[str | None, str, str, Endpoint]] = [
        (None, f"{base}/webhooks.json", "GET", api.lister("webhooks")),
        (None, f"{base}/webhooks.json", "POST", api.create_webhook),
        (None, f"{base}/webhooks/count.json", "GET", api.counter("webhooks")),
        (None, f"{base}/webhooks/{{id:int}}.json", "GET", api.reader("webhooks")),
        (None, f"{base}/webhooks/{{id:int}}.json", "DELETE", api.delete_webhook),
        ("orders", f"{base}/orders/{{id:int}}/close.json", "POST", api.close_order),
        ("customers", f"{base}/customers/search.json", "GET", api.search_customers),
        ("orders", f"{base}/orders/{{id:int}}/cancel.json", "POST", api.cancel_order),
    ]
    builders = {"orders": new_order, "customers": new_customer, "products": new_product}
    updated = {"orders": "orders/updated", "customers": "customers/update"}
    for name, build in builders.items():
        table += [
            (name, f"{base}/{name}.json", "GET", api.lister(name)),
            (name, f"{base}/{name}.json", "POST", api.creator(name, build)),
            (name, f"{base}/{name}/count.json", "GET", api.counter(name)),
            (name, f"{base}/{name}/{{id:int}}.json", "GET", api.reader(name)),
            (name, f"{base}/{name}/{{id:int}}.json", "PUT",
             api.updater(name, updated.get(name, "products/update"))),
        ]  # fmt: skip
    routes = [
        Route("/admin/oauth/authorize", api.authorize, methods=["GET"]),
        Route("/admin/oauth/access_token", api.access_token, methods=["POST"]),
        Route("/_sandbox/deliveries", api.deliveries, methods=["GET"]),
        Route("/_sandbox/bucket", api.set_bucket, methods=["POST"]),
        *control_routes(shop.book),
        *(Route(path, api.guarded(res, fn), methods=[verb]) for res, path, verb, fn in table),
    ]
    handlers = {HTTPException: http_error}
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers)
    app.state.shop = shop
    return app


def serve(
    host: str, port: int, domain: str, access_token: str, client_id: str, client_secret: str
) -> None:
    """Run a sandbox store under uvicorn until interrupted."""
    app = create_app(domain, access_token, client_id, client_secret)
    uvicorn.run(app, host=host, port=port, log_level="info")
