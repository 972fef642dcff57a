"""Shopify's records as the Admin REST API shows them: orders, customers and products.

The builders check a create or update body the way Shopify does and answer
:class:`ShopifyError` (``{"errors": ...}``, 422 with field errors) when it will not do.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

Json = dict[str, Any]

CUSTOMER_FIELDS = ("email", "first_name", "last_name", "phone", "tags", "note")
PRODUCT_FIELDS = ("title", "body_html", "vendor", "product_type", "tags", "status")


class Store(Protocol):
    """What the builders need of the store."""

    domain: str
    ids: itertools.count[int]
    order_numbers: itertools.count[int]
    tables: dict[str, dict[int, Json]]


class ShopifyError(Exception):
    """An error answered as ``{"errors": ...}``."""

    def __init__(self, status: int, errors: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(str(errors))
        self.status, self.errors, self.headers = status, errors, headers or {}


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def money(value: Any, field: str) -> str:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        amount = Decimal(-1)
    if isinstance(value, bool) or not amount.is_finite() or amount < 0:
        raise ShopifyError(422, {field: ["is not a number"]})
    return str(amount.quantize(Decimal("0.01")))


def line_items(raw: Any, ids: itertools.count[int]) -> list[Json]:
    if not isinstance(raw, list) or not raw:
        raise ShopifyError(422, {"line_items": ["must have at least one line item"]})
    items = []
    for item in raw:
        quantity = item.get("quantity", 1) if isinstance(item, dict) else None
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise ShopifyError(422, {"line_items": ["quantity must be greater than 0"]})
        assert isinstance(item, dict)
        title = item.get("title") or (f"Product {item['product_id']}" if "product_id" in item
                                      else None)  # fmt: skip
        if not isinstance(title, str):
            raise ShopifyError(422, {"line_items": ["title can't be blank"]})
        line_id = next(ids)
        items.append({
            "id": line_id, "admin_graphql_api_id": f"gid://shopify/LineItem/{line_id}",
            "title": title, "name": title, "quantity": quantity,
            "price": money(item.get("price", 0), "price"), "sku": str(item.get("sku", "")),
            "product_id": item.get("product_id"), "variant_id": item.get("variant_id"),
        })  # fmt: skip
    return items


def new_order(shop: Store, body: Json) -> Json:
    order_id, number = next(shop.ids), next(shop.order_numbers)
    items = line_items(body.get("line_items"), shop.ids)
    total = sum((Decimal(i["price"]) * i["quantity"] for i in items), Decimal(0))
    customer = body.get("customer")
    if isinstance(customer, dict) and "id" in customer:
        customer = shop.tables["customers"].get(customer["id"])
    now = now_iso()
    return {
        "id": order_id, "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "name": f"#{number}", "order_number": number, "number": number - 1000,
        "email": str(body.get("email", "")), "phone": body.get("phone"),
        "created_at": now, "updated_at": now, "processed_at": now,
        "closed_at": None, "cancelled_at": None, "cancel_reason": None,
        "financial_status": str(body.get("financial_status", "paid")),
        "fulfillment_status": None, "currency": "USD", "presentment_currency": "USD",
        "subtotal_price": str(total), "total_price": str(total), "total_tax": "0.00",
        "total_discounts": "0.00", "note": body.get("note"), "tags": str(body.get("tags", "")),
        "test": bool(body.get("test", False)), "confirmed": True,
        "line_items": items, "customer": customer if isinstance(customer, dict) else None,
    }  # fmt: skip


def customer_fields(shop: Store, body: Json, own: int | None = None) -> Json:
    fields: Json = {k: body[k] for k in CUSTOMER_FIELDS if k in body}
    email = fields.get("email")
    if email is not None and (not isinstance(email, str) or "@" not in email):
        raise ShopifyError(422, {"email": ["is invalid"]})
    for other in shop.tables["customers"].values():
        if email and other["id"] != own and (other["email"] or "").lower() == email.lower():
            raise ShopifyError(422, {"email": ["has already been taken"]})
    return fields


def new_customer(shop: Store, body: Json) -> Json:
    fields = customer_fields(shop, body)
    if not any(fields.get(k) for k in ("email", "phone", "first_name", "last_name")):
        raise ShopifyError(422, {"customer": ["must have a name, phone number or email address"]})
    customer_id, now = next(shop.ids), now_iso()
    return {
        "id": customer_id, "admin_graphql_api_id": f"gid://shopify/Customer/{customer_id}",
        "email": None, "first_name": None, "last_name": None, "phone": None, "tags": "",
        "note": None, "state": "disabled", "verified_email": True, "orders_count": 0,
        "total_spent": "0.00", "currency": "USD", "created_at": now, "updated_at": now,
        **fields,
    }  # fmt: skip


def new_product(shop: Store, body: Json) -> Json:
    title = body.get("title")
    if not isinstance(title, str) or not title.strip():
        raise ShopifyError(422, {"title": ["can't be blank"]})
    product_id, now = next(shop.ids), now_iso()
    raw_variants = body.get("variants") or [{"title": "Default Title"}]
    variants = [
        {"id": next(shop.ids), "product_id": product_id, "position": n,
         "title": str(v.get("title", "Default Title")), "sku": str(v.get("sku", "")),
         "price": money(v.get("price", 0), "variants.price"),
         "inventory_quantity": int(v.get("inventory_quantity", 0))}
        for n, v in enumerate(raw_variants, 1) if isinstance(v, dict)
    ]  # fmt: skip
    return {
        "id": product_id, "admin_graphql_api_id": f"gid://shopify/Product/{product_id}",
        "body_html": None, "vendor": shop.domain.split(".")[0], "product_type": "",
        "handle": "-".join(title.lower().split()), "status": "active", "tags": "",
        "created_at": now, "updated_at": now, "published_at": now, "variants": variants,
        "images": [], "options": [{"name": "Title", "position": 1}],
        **{k: body[k] for k in PRODUCT_FIELDS if k in body},
    }  # fmt: skip


def order_status(order: Json, status: str) -> bool:
    state = "cancelled" if order["cancelled_at"] else "closed" if order["closed_at"] else "open"
    return status == "any" or status == state
