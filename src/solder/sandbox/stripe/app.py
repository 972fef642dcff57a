"""The Stripe sandbox's state, resources, events and routes (the package docstring lists them)."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import time
from base64 import b64decode
from binascii import Error as Base64Error
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx2
import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from solder.sandbox.stripe.wire import (
    Json,
    StripeError,
    boolean,
    decode_form,
    integer,
    invalid,
    merge_metadata,
    missing,
    new_id,
    no_such,
    page,
    reject_unknown,
    signature_header,
    text,
)
from solder.sandbox.webhooks import DeliveryLog, Sent, Tasks, post_with_retries

API_VERSION = "2024-06-20"
Handler = Callable[["Call"], Awaitable[tuple[int, Json]]]

EVENT_TYPES = {
    *("customer.created", "customer.updated", "customer.deleted"),
    *("invoice.created", "invoice.finalized", "invoice.paid", "invoice.payment_succeeded"),
    *("invoice.payment_failed", "invoiceitem.created"),
}
CUSTOMER_FIELDS = {"name", "email", "description", "phone", "metadata", "balance"}
INVOICE_FIELDS = {
    *("customer", "auto_advance", "collection_method", "days_until_due", "description"),
    *("metadata", "currency"),
}


class Call:
    """One authenticated request: its decoded parameters and the idempotency key it carried."""

    def __init__(self, request: Request, params: Json, idempotency_key: str | None) -> None:
        self.request = request
        self.params = params
        self.idempotency_key = idempotency_key
        self.request_id = new_id("req")

    def path(self, name: str) -> str:
        return str(self.request.path_params[name])


class Account:
    """One Stripe account in test mode; tests reach it as ``app.state.stripe``."""

    def __init__(
        self,
        api_key: str,
        retries: int,
        backoff: float,
        transport: httpx2.AsyncBaseTransport | None,
    ) -> None:
        self.api_key = api_key
        self.retries, self.backoff, self.transport = retries, backoff, transport
        self.deliveries: DeliveryLog[Sent] = DeliveryLog()
        self.tasks = Tasks()
        self.rate_limited = False
        self.decline_payments = False
        self.customers: dict[str, Json] = {}  # in creation order; deleted ones are removed
        self.deleted_customers: set[str] = set()
        self.invoices: dict[str, Json] = {}
        self.endpoints: dict[str, Json] = {}  # each with its "secret"
        self.events: list[Json] = []
        self.idempotent: dict[str, tuple[str, int, Json, str]] = {}
        self.invoice_numbers = 0

    def emit(self, call: Call, kind: str, obj: Json, previous: Json | None = None) -> Json:
        """Record an event and send it to every enabled endpoint that wants it."""
        data: Json = {"object": json.loads(json.dumps(obj))}
        if previous:
            data["previous_attributes"] = previous
        targets = [
            e
            for e in self.endpoints.values()
            if e["status"] == "enabled"
            and ("*" in e["enabled_events"] or kind in e["enabled_events"])
        ]
        event: Json = {
            "id": new_id("evt", 24), "object": "event", "api_version": API_VERSION,
            "created": int(time.time()), "data": data, "livemode": False,
            "pending_webhooks": len(targets), "type": kind,
            "request": {"id": call.request_id, "idempotency_key": call.idempotency_key},
        }  # fmt: skip
        self.events.append(event)
        body = json.dumps(event, indent=2).encode()
        for endpoint in targets:
            self.tasks.spawn(self.deliver(event["id"], endpoint["url"], endpoint["secret"], body))
        return event

    async def deliver(self, event_id: str, url: str, secret: str, body: bytes) -> None:
        def report(attempt: int, status: int | None, error: str | None) -> None:
            self.deliveries.record(Sent(event_id, url, attempt, status, error, time.time()))

        await post_with_retries(
            url,
            body,
            signed(secret, body),
            retries=self.retries,
            backoff=self.backoff,
            transport=self.transport,
            report=report,
        )


def signed(secret: str, body: bytes) -> Callable[[int], dict[str, str]]:
    """Headers for each attempt: a fresh timestamp and signature, as Stripe makes them."""

    def headers(attempt: int) -> dict[str, str]:
        return {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": signature_header(secret, int(time.time()), body),
        }

    return headers


def newest_first(objects: dict[str, Json]) -> list[Json]:
    return list(reversed(objects.values()))


def render_invoice(invoice: Json) -> Json:
    lines = invoice["lines"]["data"]
    total = sum(line["amount"] for line in lines)
    paid = invoice["amount_paid"]
    remaining = 0 if invoice["status"] == "paid" else total - paid
    return {**invoice, "subtotal": total, "total": total, "amount_due": total,
            "amount_remaining": remaining}  # fmt: skip


class StripeApi:
    """The route handlers of one account."""

    def __init__(self, account: Account) -> None:
        self.acct = account

    def guarded(
        self, handler: Handler, *, idempotent: bool = False
    ) -> Callable[[Request], Awaitable[Response]]:
        """Authenticate, decode the form, apply the rate-limit switch and ``Idempotency-Key``."""

        async def endpoint(request: Request) -> Response:
            call = Call(request, {}, None)
            headers = {"Request-Id": call.request_id, "Stripe-Version": API_VERSION}
            try:
                self.authenticate(request)
                if self.acct.rate_limited:
                    raise StripeError(
                        429,
                        "Request rate limit exceeded. Learn more about rate limits here "
                        "https://stripe.com/docs/rate-limits.",
                        code="rate_limit",
                        saved=False,
                    )
                body = (await request.body()).decode("utf-8", "replace")
                source = request.url.query if request.method in ("GET", "DELETE") else body
                call.params = decode_form(source)
                key = request.headers.get("idempotency-key") if idempotent else None
                call.idempotency_key = key
                if key is not None:
                    return await self.replay_or_run(call, key, handler, headers)
                status, answer = await handler(call)
            except StripeError as exc:
                status, answer = exc.status, exc.as_json()
            return JSONResponse(answer, status, headers)

        return endpoint

    def authenticate(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        key = ""
        if scheme.lower() == "bearer":
            key = credentials.strip()
        elif scheme.lower() == "basic":
            with contextlib.suppress(Base64Error, UnicodeDecodeError):
                key = b64decode(credentials.strip(), validate=True).decode().partition(":")[0]
        if not key:
            raise StripeError(
                401,
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY').",
                saved=False,
            )
        if not hmac.compare_digest(key.encode(), self.acct.api_key.encode()):
            shown = f"{key[:8]}{'*' * max(0, len(key) - 12)}{key[-4:]}"
            raise StripeError(401, f"Invalid API Key provided: {shown}", saved=False)

    async def replay_or_run(
        self, call: Call, key: str, handler: Handler, headers: dict[str, str]
    ) -> Response:
        """Stripe's rule: the first result under a key is kept and replayed for the same
        method, path and parameters; other parameters under that key are an error."""
        if len(key) > 255:
            raise invalid("Idempotency-Key", "Idempotency keys can be at most 255 characters.")
        request = call.request
        fingerprint = hashlib.sha256(
            json.dumps([request.method, request.url.path, call.params], sort_keys=True).encode()
        ).hexdigest()
        stored = self.acct.idempotent.get(key)
        if stored is not None:
            if stored[0] != fingerprint:
                raise StripeError(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters "
                    f"they were first used with. Try using a key other than '{key}' if you "
                    "meant to execute a different request.",
                    type="idempotency_error",
                    saved=False,
                )
            replay = {**headers, "Request-Id": stored[3], "Idempotent-Replayed": "true"}
            return JSONResponse(stored[2], stored[1], replay)
        try:
            status, answer = await handler(call)
        except StripeError as exc:
            if exc.saved:
                kept = (fingerprint, exc.status, exc.as_json(), call.request_id)
                self.acct.idempotent[key] = kept
            raise
        self.acct.idempotent[key] = (fingerprint, status, answer, call.request_id)
        return JSONResponse(answer, status, headers)

    # customers

    def customer(self, customer_id: str, param: str = "id", status: int = 404) -> Json:
        found = self.acct.customers.get(customer_id)
        if found is None:
            raise no_such("customer", customer_id, param, status)
        return found

    async def create_customer(self, call: Call) -> tuple[int, Json]:
        reject_unknown(call.params, CUSTOMER_FIELDS)
        customer: Json = {
            "id": new_id("cus"), "object": "customer", "address": None,
            "balance": integer(call.params, "balance", 0, low=-(10**12)),
            "created": int(time.time()), "currency": None, "default_source": None,
            "delinquent": False, "description": text(call.params, "description"),
            "discount": None, "email": text(call.params, "email"),
            "invoice_prefix": new_id("x", 8)[2:].upper(),
            "invoice_settings": {"custom_fields": None, "default_payment_method": None,
                                 "footer": None, "rendering_options": None},
            "livemode": False, "metadata": merge_metadata({}, call.params),
            "name": text(call.params, "name"), "next_invoice_sequence": 1,
            "phone": text(call.params, "phone"), "preferred_locales": [], "shipping": None,
            "tax_exempt": "none", "test_clock": None,
        }  # fmt: skip
        self.acct.customers[customer["id"]] = customer
        self.acct.emit(call, "customer.created", customer)
        return 200, customer

    async def list_customers(self, call: Call) -> tuple[int, Json]:
        items = newest_first(self.acct.customers)
        if email := call.params.get("email"):
            items = [c for c in items if c["email"] == email]
        return 200, page(items, call.params, "/v1/customers")

    async def get_customer(self, call: Call) -> tuple[int, Json]:
        customer_id = call.path("id")
        if customer_id in self.acct.deleted_customers:
            return 200, {"id": customer_id, "object": "customer", "deleted": True}
        return 200, self.customer(customer_id)

    async def update_customer(self, call: Call) -> tuple[int, Json]:
        customer = self.customer(call.path("id"))
        reject_unknown(call.params, CUSTOMER_FIELDS)
        named = ("name", "email", "description", "phone")
        changes: Json = {n: text(call.params, n) for n in named if n in call.params}
        if "balance" in call.params:
            changes["balance"] = integer(call.params, "balance", low=-(10**12))
        changes["metadata"] = merge_metadata(customer["metadata"], call.params)
        previous = {k: customer[k] for k, v in changes.items() if customer[k] != v}
        customer.update(changes)
        if previous:
            self.acct.emit(call, "customer.updated", customer, previous)
        return 200, customer

    async def delete_customer(self, call: Call) -> tuple[int, Json]:
        customer = self.customer(call.path("id"))
        del self.acct.customers[customer["id"]]
        self.acct.deleted_customers.add(customer["id"])
        self.acct.emit(call, "customer.deleted", customer)
        return 200, {"id": customer["id"], "object": "customer", "deleted": True}

    # invoices

    def invoice(self, invoice_id: str) -> Json:
        found = self.acct.invoices.get(invoice_id)
        if found is None:
            raise no_such("invoice", invoice_id)
        return found

    async def create_invoice(self, call: Call) -> tuple[int, Json]:
        params = call.params
        reject_unknown(params, INVOICE_FIELDS)
        if not params.get("customer"):
            raise missing("customer")
        method = params.get("collection_method", "charge_automatically")
        if method not in ("charge_automatically", "send_invoice"):
            raise invalid("collection_method", f"Invalid collection_method: {method}")
        days = integer(params, "days_until_due")
        if method == "send_invoice" and days is None:
            raise missing("days_until_due")
        customer = self.customer(str(params["customer"]), "customer", 400)
        now = int(time.time())
        invoice_id = new_id("in", 24)
        invoice: Json = {
            "id": invoice_id, "object": "invoice", "account_country": "US",
            "account_name": "Solder Sandbox", "amount_paid": 0, "attempt_count": 0,
            "attempted": False, "auto_advance": boolean(params, "auto_advance", False),
            "billing_reason": "manual", "collection_method": method, "created": now,
            "currency": str(params.get("currency", "usd")), "customer": customer["id"],
            "customer_email": customer["email"], "customer_name": customer["name"],
            "description": text(params, "description"),
            "due_date": None if days is None else now + days * 86400,
            "hosted_invoice_url": None, "invoice_pdf": None, "livemode": False,
            "lines": {"object": "list", "data": [], "has_more": False, "total_count": 0,
                      "url": f"/v1/invoices/{invoice_id}/lines"},
            "metadata": merge_metadata({}, params), "number": None, "paid": False,
            "period_end": now, "period_start": now, "status": "draft",
            "status_transitions": {"finalized_at": None, "marked_uncollectible_at": None,
                                   "paid_at": None, "voided_at": None},
            "webhooks_delivered_at": None,
        }  # fmt: skip
        self.acct.invoices[invoice_id] = invoice
        rendered = render_invoice(invoice)
        self.acct.emit(call, "invoice.created", rendered)
        return 200, rendered

    async def add_invoice_item(self, call: Call) -> tuple[int, Json]:
        params = call.params
        reject_unknown(
            params, {"customer", "invoice", "amount", "currency", "description", "metadata"}
        )
        for required in ("customer", "amount"):
            if not params.get(required):
                raise missing(required)
        customer = self.customer(str(params["customer"]), "customer", 400)
        amount = integer(params, "amount", low=-(10**12))
        invoice = self.invoice(str(params["invoice"])) if params.get("invoice") else None
        if invoice is not None and invoice["status"] != "draft":
            raise StripeError(400, "You can only add invoice items to draft invoices.",
                              code="invoice_not_editable", param="invoice")  # fmt: skip
        item: Json = {
            "id": new_id("ii", 24), "object": "invoiceitem", "amount": amount,
            "currency": str(params.get("currency", "usd")), "customer": customer["id"],
            "date": int(time.time()), "description": text(params, "description"),
            "invoice": None if invoice is None else invoice["id"], "livemode": False,
            "metadata": merge_metadata({}, params), "quantity": 1,
        }  # fmt: skip
        if invoice is not None:
            line = {"id": new_id("il", 24), "object": "line_item", "amount": amount,
                    "currency": item["currency"], "description": item["description"],
                    "invoice": invoice["id"], "invoice_item": item["id"],
                    "metadata": item["metadata"], "quantity": 1, "type": "invoiceitem"}  # fmt: skip
            invoice["lines"]["data"].append(line)
            invoice["lines"]["total_count"] += 1
        self.acct.emit(call, "invoiceitem.created", item)
        return 200, item

    async def list_invoices(self, call: Call) -> tuple[int, Json]:
        items = [render_invoice(i) for i in newest_first(self.acct.invoices)]
        for name in ("customer", "status", "collection_method"):
            if wanted := call.params.get(name):
                items = [i for i in items if i[name] == wanted]
        return 200, page(items, call.params, "/v1/invoices")

    async def get_invoice(self, call: Call) -> tuple[int, Json]:
        return 200, render_invoice(self.invoice(call.path("id")))

    def finalize(self, call: Call, invoice: Json) -> None:
        self.acct.invoice_numbers += 1
        customer = self.acct.customers.get(invoice["customer"])
        prefix = customer["invoice_prefix"] if customer else "SANDBOX"
        invoice.update(
            status="open",
            number=f"{prefix}-{self.acct.invoice_numbers:04d}",
            hosted_invoice_url=f"https://invoice.stripe.com/i/sandbox/{invoice['id']}",
        )
        invoice["status_transitions"]["finalized_at"] = int(time.time())
        self.acct.emit(call, "invoice.finalized", render_invoice(invoice))

    async def finalize_invoice(self, call: Call) -> tuple[int, Json]:
        invoice = self.invoice(call.path("id"))
        reject_unknown(call.params, {"auto_advance"})
        if invoice["status"] != "draft":
            raise StripeError(
                400,
                "This invoice is already finalized, you can't re-finalize a non-draft invoice.",
                code="invoice_not_editable",
            )
        invoice["auto_advance"] = boolean(call.params, "auto_advance", invoice["auto_advance"])
        self.finalize(call, invoice)
        return 200, render_invoice(invoice)

    async def pay_invoice(self, call: Call) -> tuple[int, Json]:
        invoice = self.invoice(call.path("id"))
        reject_unknown(
            call.params, {"paid_out_of_band", "payment_method", "forgive", "off_session"}
        )
        out_of_band = boolean(call.params, "paid_out_of_band", False)
        if invoice["status"] == "paid":
            raise StripeError(400, "Invoice is already paid", code="invoice_already_paid")
        if invoice["status"] != "open" and invoice["status"] != "draft":
            raise StripeError(400, f"This invoice is {invoice['status']} and cannot be paid.")
        if invoice["status"] == "draft":  # Stripe finalizes drafts before collecting them
            self.finalize(call, invoice)
        amount = render_invoice(invoice)["amount_due"]
        if amount > 0 and not out_of_band:
            invoice.update(attempted=True, attempt_count=invoice["attempt_count"] + 1)
            if self.acct.decline_payments:
                self.acct.emit(call, "invoice.payment_failed", render_invoice(invoice))
                raise StripeError(402, "Your card was declined.", type="card_error",
                                  code="card_declined", decline_code="generic_decline")  # fmt: skip
        invoice.update(status="paid", paid=True, amount_paid=amount)
        invoice["status_transitions"]["paid_at"] = int(time.time())
        rendered = render_invoice(invoice)
        self.acct.emit(call, "invoice.paid", rendered)
        if not out_of_band:
            self.acct.emit(call, "invoice.payment_succeeded", rendered)
        return 200, rendered

    # webhook endpoints

    async def create_endpoint(self, call: Call) -> tuple[int, Json]:
        params = call.params
        reject_unknown(params, {"url", "enabled_events", "description", "metadata", "api_version"})
        url = text(params, "url")
        if url is None:
            raise missing("url")
        if not url.startswith(("http://", "https://")):
            raise invalid(
                "url", "Invalid URL: URL must be publicly accessible and start with http(s)://"
            )
        events = params.get("enabled_events")
        if not events:
            raise missing("enabled_events")
        if not isinstance(events, list) or any(e != "*" and e not in EVENT_TYPES for e in events):
            raise invalid("enabled_events", f"Invalid enabled_events: {events}")
        endpoint: Json = {
            "id": new_id("we", 24), "object": "webhook_endpoint",
            "api_version": params.get("api_version"), "application": None,
            "created": int(time.time()), "description": text(params, "description"),
            "enabled_events": events, "livemode": False,
            "metadata": merge_metadata({}, params), "status": "enabled", "url": url,
            "secret": "whsec_" + new_id("x", 32)[2:],
        }  # fmt: skip
        self.acct.endpoints[endpoint["id"]] = endpoint
        return 200, endpoint

    def endpoint(self, call: Call) -> Json:
        found = self.acct.endpoints.get(call.path("id"))
        if found is None:
            raise no_such("webhook endpoint", call.path("id"))
        return found

    async def list_endpoints(self, call: Call) -> tuple[int, Json]:
        items = [without_secret(e) for e in newest_first(self.acct.endpoints)]
        return 200, page(items, call.params, "/v1/webhook_endpoints")

    async def get_endpoint(self, call: Call) -> tuple[int, Json]:
        return 200, without_secret(self.endpoint(call))

    async def delete_endpoint(self, call: Call) -> tuple[int, Json]:
        endpoint = self.endpoint(call)
        del self.acct.endpoints[endpoint["id"]]
        return 200, {"id": endpoint["id"], "object": "webhook_endpoint", "deleted": True}

    # control endpoints

    async def deliveries(self, request: Request) -> Response:
        return JSONResponse({"data": [d.as_json() for d in list(self.acct.deliveries.items)]})

    async def events(self, request: Request) -> Response:
        return JSONResponse({"data": list(reversed(self.acct.events))})

    async def settings(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            body = None
        names = ("rate_limited", "decline_payments")
        if not isinstance(body, dict) or any(
            k not in names or not isinstance(v, bool) for k, v in body.items()
        ):
            return JSONResponse({"error": f"a JSON object of booleans: {', '.join(names)}"}, 400)
        for name, value in body.items():
            setattr(self.acct, name, value)
        return JSONResponse({name: getattr(self.acct, name) for name in names})


def without_secret(endpoint: Json) -> Json:
    """Stripe shows an endpoint's secret only in the answer that created it."""
    return {k: v for k, v in endpoint.items() if k != "secret"}


async def unrecognized(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    message = (
        f"Unrecognized request URL ({request.method}: {request.url.path}). Please see "
        "https://stripe.com/docs or we can help at https://support.stripe.com/."
    )
    error = StripeError(404 if status in (404, 405) else status, message)
    return JSONResponse(error.as_json(), error.status)


def create_app(
    api_key: str,
    *,
    webhook_retries: int = 3,
    retry_backoff: float = 0.2,
    transport: httpx2.AsyncBaseTransport | None = None,
) -> Starlette:
    """One account; its state is ``app.state.stripe`` (an :class:`Account`).

    ``transport`` replaces the network for webhook deliveries (an ``httpx2.MockTransport``).
    """
    account = Account(api_key, webhook_retries, retry_backoff, transport)
    api = StripeApi(account)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await account.tasks.aclose()

    table: list[tuple[str, str, Handler]] = [
        ("/v1/customers", "POST", api.create_customer),
        ("/v1/customers", "GET", api.list_customers),
        ("/v1/customers/{id}", "GET", api.get_customer),
        ("/v1/customers/{id}", "POST", api.update_customer),
        ("/v1/customers/{id}", "DELETE", api.delete_customer),
        ("/v1/invoices", "POST", api.create_invoice),
        ("/v1/invoices", "GET", api.list_invoices),
        ("/v1/invoices/{id}", "GET", api.get_invoice),
        ("/v1/invoices/{id}/finalize", "POST", api.finalize_invoice),
        ("/v1/invoices/{id}/pay", "POST", api.pay_invoice),
        ("/v1/invoiceitems", "POST", api.add_invoice_item),
        ("/v1/webhook_endpoints", "POST", api.create_endpoint),
        ("/v1/webhook_endpoints", "GET", api.list_endpoints),
        ("/v1/webhook_endpoints/{id}", "GET", api.get_endpoint),
        ("/v1/webhook_endpoints/{id}", "DELETE", api.delete_endpoint),
    ]
    routes = [
        Route("/_sandbox/deliveries", api.deliveries, methods=["GET"]),
        Route("/_sandbox/events", api.events, methods=["GET"]),
        Route("/_sandbox/settings", api.settings, methods=["POST"]),
    ]
    routes += [
        Route(path, api.guarded(fn, idempotent=verb == "POST"), methods=[verb])
        for path, verb, fn in table
    ]
    app = Starlette(
        routes=routes, exception_handlers={HTTPException: unrecognized}, lifespan=lifespan
    )
    app.state.stripe = account
    return app


def serve(host: str, port: int, api_key: str) -> None:
    """Run a sandbox account under uvicorn until interrupted."""
    uvicorn.run(create_app(api_key), host=host, port=port, log_level="info")
