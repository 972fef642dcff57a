"""What the conformance suite needs to exercise one app against its sandbox.

A kit starts the app's sandbox (wrapped by ``sandbox.faults`` so any status can be forced),
gives a credential the sandbox accepts and one it refuses, and the input of every action
(made ready in the sandbox first, e.g. an order to update). Every built-in app must have one:
``test_conformance.py`` fails for an app without.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx2

from solder.sandbox import bigcommerce, hubspot, oauth2, shopify, slack, stripe
from solder.sandbox.faults import Render, with_faults
from tests.servers import run_asgi

STORE_HASH, STORE_TOKEN = "kitstore", "kit-store-token"


@dataclass
class Sandbox:
    url: str
    good: dict[str, Any]
    """A credential the sandbox accepts."""
    bad: dict[str, Any]
    """The same credential with its secret wrong: the app answers 401."""
    inputs: dict[str, dict[str, Any]]
    """Each action's input, by action key."""
    events: dict[str, Callable[[], None]] = field(default_factory=dict)
    """For each webhook trigger, by key: make the sandbox send that event to its hooks."""
    oauth_client: tuple[str, str] | None = None
    """The OAuth client (id, secret) the sandbox knows, for an app that signs its callbacks
    with the client secret (Shopify): the server checks them with it."""

    def fault(self, status: int, headers: dict[str, str] | None = None) -> None:
        """The next call to the app answers ``status`` (with ``headers``)."""
        body = {"status": status, "count": 1, "headers": headers or {}}
        answer = httpx2.post(f"{self.url}/_sandbox/faults", json=body)
        assert answer.status_code == 200, answer.text


@dataclass(frozen=True)
class Kit:
    app: str
    start: Callable[[], contextlib.AbstractContextManager[Sandbox]]
    http: bool = True
    """Whether the app's calls are HTTP requests the sandbox can answer with any status.
    Snowflake's are its connector's, with its own retries and error codes: those are mapped
    and tested in ``tests/destinations``."""


def _served(app: Any, render: Render) -> contextlib.AbstractContextManager[str]:
    return run_asgi(with_faults(app, render))


ORDER = {
    "customer_id": 0,
    "status_id": 1,
    "billing_address": {"first_name": "Ada", "last_name": "Lovelace", "street_1": "1 Sq",
                        "city": "London", "zip": "SW1Y", "country": "United Kingdom",
                        "country_iso2": "GB", "email": "ada@example.com"},
    "products": [{"name": "Anvil", "quantity": 1, "price_inc_tax": 10, "price_ex_tax": 9}],
}  # fmt: skip


@contextlib.contextmanager
def _bigcommerce() -> Iterator[Sandbox]:
    app = bigcommerce.create_app(STORE_HASH, STORE_TOKEN, retry_backoff=0.05)
    with _served(app, lambda status: [{"status": status, "message": "forced"}]) as url:
        store = httpx2.Client(base_url=f"{url}/stores/{STORE_HASH}",
                              headers={"X-Auth-Token": STORE_TOKEN})  # fmt: skip
        with store:
            order = _ok(store.post("/v2/orders", json=ORDER)).json()
            (customer,) = _ok(store.post("/v3/customers", json=[
                {"email": "kit@example.com", "first_name": "Kit", "last_name": "Conformance"}
            ])).json()["data"]  # fmt: skip
            anvil = {"name": "Anvil", "type": "physical", "weight": 9, "price": 25}
            _ok(store.post("/v3/catalog/products", json=anvil))
        orders, auth = f"{url}/stores/{STORE_HASH}/v2/orders", {"X-Auth-Token": STORE_TOKEN}
        yield Sandbox(
            url=url,
            good={"storeHash": STORE_HASH, "accessToken": STORE_TOKEN},
            bad={"storeHash": STORE_HASH, "accessToken": "not-the-token"},
            inputs={
                "update_order_status": {"orderId": order["id"], "status": "Shipped"},
                "get_order": {"orderId": order["id"]},
                "list_orders": {"status": "Pending", "limit": 5},
                "create_customer": {"email": "new@example.com", "firstName": "New",
                                    "lastName": "Customer"},
                "update_customer": {"customerId": customer["id"], "company": "Kit Ltd"},
                "find_customer_by_email": {"email": "kit@example.com"},
                "list_products": {"keyword": "anvil"},
            },
            events={
                "order_created": lambda: _ok(httpx2.post(orders, json=ORDER, headers=auth)),
                "order_updated": lambda: _ok(httpx2.put(f"{orders}/{order['id']}",
                                                        json={"staff_notes": "hook"},
                                                        headers=auth)),
            },
        )  # fmt: skip


@contextlib.contextmanager
def _oauth2_sandbox() -> Iterator[Sandbox]:
    client = oauth2.Client("kit", "kit-secret", ("http://127.0.0.1:9/cb",))
    app = oauth2.create_app([client], require_pkce=True)
    render = lambda status: {"error": "server_error", "error_description": "forced"}  # noqa: E731
    with _served(app, render) as url:
        token = httpx2.post(
            f"{url}/token",
            data={"grant_type": "client_credentials", "scope": "profile items:read"},
            auth=("kit", "kit-secret"),
        )
        assert token.status_code == 200, token.text
        yield Sandbox(
            url=url,
            good={"accessToken": token.json()["access_token"]},
            bad={"accessToken": "not-a-token"},
            inputs={"get_item": {"item": "2"}},
        )


STRIPE_KEY = "sk_test_51KitKeyForConformance0000"


@contextlib.contextmanager
def _stripe() -> Iterator[Sandbox]:
    app = stripe.create_app(STRIPE_KEY, webhook_retries=0)
    render = lambda status: {"error": {"type": "api_error", "message": "forced"}}  # noqa: E731
    with _served(app, render) as url:
        auth = {"Authorization": f"Bearer {STRIPE_KEY}"}
        customer = httpx2.post(f"{url}/v1/customers", data={"email": "kit@example.com"},
                               headers=auth).json()  # fmt: skip
        invoice = httpx2.post(f"{url}/v1/invoices", data={"customer": customer["id"]},
                              headers=auth).json()  # fmt: skip
        yield Sandbox(
            url=url,
            good={"secretKey": STRIPE_KEY},
            bad={"secretKey": "sk_test_51NotTheKey0000"},
            inputs={
                "create_customer": {"email": "new@example.com", "idempotencyKey": "kit-1"},
                "update_customer": {"customerId": customer["id"], "name": "Kit"},
                "find_customer": {"email": "kit@example.com"},
                "create_invoice": {"customer": customer["id"]},
                "add_invoice_item": {"customer": customer["id"], "invoice": invoice["id"],
                                     "amount": 500},
                "finalize_invoice": {"invoice": invoice["id"]},
            },
            events={
                "customer_created": lambda: _ok(httpx2.post(
                    f"{url}/v1/customers", data={"email": "hook@example.com"}, headers=auth)),
                "invoice_paid": lambda: _stripe_pay(url, auth, customer["id"], decline=False),
                "invoice_payment_failed": lambda: _stripe_pay(url, auth, customer["id"],
                                                              decline=True),
            },
        )  # fmt: skip


def _ok(answer: httpx2.Response) -> httpx2.Response:
    assert answer.is_success, answer.text
    return answer


def _stripe_pay(url: str, auth: dict[str, str], customer: str, *, decline: bool) -> None:
    """An invoice of ``customer`` paid, or its payment declined."""
    _ok(httpx2.post(f"{url}/_sandbox/settings", json={"decline_payments": decline}))
    invoice = _ok(httpx2.post(f"{url}/v1/invoices", data={"customer": customer},
                              headers=auth)).json()  # fmt: skip
    item = {"customer": customer, "invoice": invoice["id"], "amount": 500}
    _ok(httpx2.post(f"{url}/v1/invoiceitems", data=item, headers=auth))  # nothing owed: no charge
    paid = httpx2.post(f"{url}/v1/invoices/{invoice['id']}/pay", headers=auth)
    assert paid.status_code == (402 if decline else 200), paid.text


HUBSPOT_TOKEN = "pat-na1-kit"


@contextlib.contextmanager
def _hubspot() -> Iterator[Sandbox]:
    app = hubspot.create_app("kit", "kit-secret", private_app_token=HUBSPOT_TOKEN)
    render = lambda status: {"status": "error", "message": "forced", "category": "FORCED"}  # noqa: E731
    with _served(app, render) as url:
        made = httpx2.post(
            f"{url}/crm/v3/objects/contacts",
            json={"properties": {"email": "kit@example.com"}},
            headers={"Authorization": f"Bearer {HUBSPOT_TOKEN}"},
        )
        assert made.status_code == 201, made.text
        yield Sandbox(
            url=url,
            good={"accessToken": HUBSPOT_TOKEN},
            bad={"accessToken": "not-a-token"},
            inputs={
                "create_contact": {"email": "new@example.com", "firstname": "Kit"},
                "update_contact": {"contact": made.json()["id"], "company": "Acme"},
                "create_deal": {"dealname": "Kit deal", "amount": 10},
            },
        )


@contextlib.contextmanager
def _slack() -> Iterator[Sandbox]:
    app = slack.create_app("xoxb-kit-token", "kit-signing-secret")
    render = lambda status: {"ok": False, "error": "forced"}  # noqa: E731
    with _served(app, render) as url:
        yield Sandbox(
            url=url,
            good={"accessToken": "xoxb-kit-token", "teamId": "T0SANDBOX"},
            bad={"accessToken": "xoxb-not-the-token", "teamId": "T0SANDBOX"},
            inputs={
                "post_message": {"channel": "C0GENERAL", "text": "conformance"},
                "get_channel": {"channel": "C0GENERAL"},
            },
        )


SHOP, SHOP_TOKEN = "kit.myshopify.com", "shpat_kit_token"


@contextlib.contextmanager
def _shopify() -> Iterator[Sandbox]:
    app = shopify.create_app(SHOP, SHOP_TOKEN, "kit", "kit-secret", webhook_retries=0)
    with _served(app, lambda status: {"errors": "forced"}) as url:
        admin = httpx2.Client(base_url=f"{url}/admin/api/2025-07",
                              headers={"X-Shopify-Access-Token": SHOP_TOKEN})  # fmt: skip
        with admin:
            order = admin.post("/orders.json", json={"order": {"email": "kit@example.com",
                               "line_items": [{"title": "Anvil", "price": "10.00"}]}})  # fmt: skip
            customer = admin.post("/customers.json", json={"customer": {"email": "k@example.com"}})
            product = admin.post("/products.json", json={"product": {"title": "Anvil"}})
        assert (order.status_code, customer.status_code, product.status_code) == (201, 201, 201)
        admin_url, auth = f"{url}/admin/api/2025-07", {"X-Shopify-Access-Token": SHOP_TOKEN}
        order_id = order.json()["order"]["id"]
        yield Sandbox(
            url=url,
            good={"shop": SHOP, "accessToken": SHOP_TOKEN},
            bad={"shop": SHOP, "accessToken": "shpat_not_the_token"},
            inputs={
                "list_orders": {"limit": 5},
                "get_order": {"orderId": order.json()["order"]["id"]},
                "create_customer": {"email": "new@example.com", "firstName": "Kit"},
                "update_customer": {"customerId": customer.json()["customer"]["id"],
                                    "note": "conformance"},
                "list_products": {},
            },
            events={
                "order_created": lambda: _ok(httpx2.post(f"{admin_url}/orders.json", headers=auth,
                    json={"order": {"line_items": [{"title": "Hook", "price": "1.00"}]}})),
                "order_updated": lambda: _ok(httpx2.put(f"{admin_url}/orders/{order_id}.json",
                    headers=auth, json={"order": {"note": "hook"}})),
                "customer_created": lambda: _ok(httpx2.post(f"{admin_url}/customers.json",
                    headers=auth, json={"customer": {"email": "hook@example.com"}})),
            },
            oauth_client=("kit", "kit-secret"),
        )  # fmt: skip


@contextlib.contextmanager
def _snowflake() -> Iterator[Sandbox]:
    from tests.destinations.emulators import fakesnow_server

    with fakesnow_server() as snow:
        snow.refused.add("kit-wrong-password")
        good = {"account": "kitacct", "user": "kit", "password": "kit-password",
                "database": snow.database, "schema": "PUBLIC"}  # fmt: skip
        yield Sandbox(snow.endpoint, good, {**good, "password": "kit-wrong-password"}, {})


KITS: dict[str, Kit] = {k.app: k for k in (
    Kit("bigcommerce", _bigcommerce),
    Kit("oauth2_sandbox", _oauth2_sandbox),
    Kit("slack", _slack),
    Kit("stripe", _stripe),
    Kit("hubspot", _hubspot),
    Kit("shopify", _shopify),
    Kit("snowflake", _snowflake, http=False),
)}  # fmt: skip
