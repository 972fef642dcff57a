"""The sandbox store's v3 customers and catalog products, on BigCommerce's wire format.

Under ``/stores/{store_hash}/v3`` (the store's auth and quota apply, see ``bigcommerce.py``)::

    GET  POST PUT   /customers          list (``email:in``, ``id:in``, ``page``, ``limit``);
                                        create and update take an array (up to 10 a call)
    GET  POST       /catalog/products   list (``name``, ``name:like``, ``keyword``, ``id:in``,
                                        ``page``, ``limit``), create one

Bodies are ``{"data": ..., "meta": ...}``. A bad body is a 422 whose ``errors`` name each field;
a customer's field is named with its index in the batch, like ``"0.email"``, as BigCommerce
does for batches. A customer's email is unique in the store (case aside).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from solder.sandbox.bigcommerce import ApiError, Json, money, paginate

BATCH = 10
CUSTOMER_FIELDS = {
    "email": str, "first_name": str, "last_name": str, "company": str, "phone": str,
    "notes": str, "customer_group_id": int, "tax_exempt_category": str,
}  # fmt: skip
PRODUCT_TYPES = ("physical", "digital")


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def listed(request: Request, name: str) -> list[str] | None:
    """A ``name:in`` filter's values (comma-separated), or None when it is not given."""
    raw = request.query_params.get(name)
    return None if raw is None else [v.strip() for v in raw.split(",") if v.strip()]


async def json_body(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except ValueError:
        raise ApiError(400, "The request body is not valid JSON.") from None


def invalid(errors: dict[str, str]) -> ApiError:
    return ApiError(422, "JSON data is missing or invalid", errors)


class Catalog:
    """Customers and products of the store, in memory; tests reach it as ``app.state.catalog``."""

    def __init__(self) -> None:
        self.customers: dict[int, Json] = {}
        self.products: dict[int, Json] = {}
        self.customer_ids = itertools.count(1)
        self.product_ids = itertools.count(111)

    def batch(self, body: Any) -> list[Json]:
        if not isinstance(body, list) or not all(isinstance(row, dict) for row in body):
            raise invalid({"": "the body must be an array of objects"})
        if not 1 <= len(body) <= BATCH:
            raise ApiError(422, f"Batch size must be between 1 and {BATCH}.")
        return body

    def customer_fields(self, rows: list[Json], *, create: bool) -> list[Json]:
        """Each row's known fields, typed; every bad field of the batch named at once."""
        errors: dict[str, str] = {}
        taken = {c["email"].lower(): c["id"] for c in self.customers.values()}
        out: list[Json] = []
        for n, row in enumerate(rows):
            fields: Json = {}
            for name, kind in CUSTOMER_FIELDS.items():
                value = row.get(name)
                if value is None:
                    if create and name in ("email", "first_name", "last_name"):
                        errors[f"{n}.{name}"] = f"{name} is a required field"
                elif isinstance(value, bool) or not isinstance(value, kind):
                    errors[f"{n}.{name}"] = f"{name} must be a {kind.__name__}"
                else:
                    fields[name] = value
            email = fields.get("email")
            if isinstance(email, str):
                owner = taken.get(email.lower())
                if "@" not in email.strip("@"):
                    errors[f"{n}.email"] = f"email '{email}' is not a valid email address"
                elif owner is not None and owner != row.get("id"):
                    errors[f"{n}.email"] = f"The email address {email} is already in use"
                taken[email.lower()] = row.get("id", -1 - n)
            out.append(fields)
        if errors:
            raise invalid(errors)
        return out

    async def list_customers(self, request: Request) -> Response:
        emails, ids = listed(request, "email:in"), listed(request, "id:in")
        wanted = {e.lower() for e in emails or ()}
        rows = [
            c
            for _, c in sorted(self.customers.items())
            if (emails is None or c["email"].lower() in wanted)
            and (ids is None or str(c["id"]) in ids)
        ]
        return JSONResponse(paginate(request, rows))

    async def create_customers(self, request: Request) -> Response:
        rows = self.batch(await json_body(request))
        made = []
        for fields in self.customer_fields(rows, create=True):
            now, customer_id = now_iso(), next(self.customer_ids)
            customer = {
                "id": customer_id, "email": "", "first_name": "", "last_name": "",
                "company": "", "phone": "", "notes": "", "customer_group_id": 0,
                "tax_exempt_category": "", "registration_ip_address": "",
                "date_created": now, "date_modified": now,
                "accepts_product_review_abandoned_cart_emails": False,
                "authentication": {"force_password_reset": False},
                "channel_ids": None, "origin_channel_id": 1, **fields,
            }  # fmt: skip
            self.customers[customer_id] = customer
            made.append(customer)
        return JSONResponse({"data": made, "meta": {}})

    async def update_customers(self, request: Request) -> Response:
        rows = self.batch(await json_body(request))
        errors = {
            f"{n}.id": "id must be the id of a customer of this store"
            for n, row in enumerate(rows)
            if isinstance(row.get("id"), bool) or row.get("id") not in self.customers
        }
        if errors:
            raise invalid(errors)
        changed = []
        for row, fields in zip(rows, self.customer_fields(rows, create=False), strict=True):
            customer = self.customers[row["id"]]
            customer.update(fields, date_modified=now_iso())
            changed.append(customer)
        return JSONResponse({"data": changed, "meta": {}})

    async def list_products(self, request: Request) -> Response:
        query = request.query_params
        like = query.get("name:like", "").lower()
        keyword = query.get("keyword", "").lower()
        ids = listed(request, "id:in")
        match: list[Callable[[Json], bool]] = [
            lambda p: query.get("name", p["name"]) == p["name"],
            lambda p: like in p["name"].lower(),
            lambda p: keyword in f"{p['name']} {p['sku']} {p['description']}".lower(),
            lambda p: ids is None or str(p["id"]) in ids,
        ]
        rows = [p for _, p in sorted(self.products.items()) if all(m(p) for m in match)]
        return JSONResponse(paginate(request, rows))

    async def create_product(self, request: Request) -> Response:
        body = await json_body(request)
        if not isinstance(body, dict):
            raise invalid({"": "the body must be an object"})
        errors: dict[str, str] = {}
        for name in ("name", "type", "weight", "price"):
            if name not in body:
                errors[name] = f"{name} is a required field"
        if "name" in body and (not isinstance(body["name"], str) or not body["name"].strip()):
            errors["name"] = "name must be a non-empty string"
        if "type" in body and body["type"] not in PRODUCT_TYPES:
            errors["type"] = f"type must be one of {', '.join(PRODUCT_TYPES)}"
        for name in ("weight", "price"):
            try:
                if name in body:
                    money(body[name], name)
            except ApiError:
                errors[name] = f"{name} must be a number of at least 0"
        if any(p["name"] == body.get("name") for p in self.products.values()):
            errors["name"] = "The product name is a duplicate"
        if errors:
            raise invalid(errors)
        product_id, now = next(self.product_ids), now_iso()
        product = {
            "id": product_id, "name": body["name"], "type": body["type"],
            "sku": str(body.get("sku", "")), "description": str(body.get("description", "")),
            "weight": float(body["weight"]), "price": float(body["price"]),
            "cost_price": 0.0, "retail_price": 0.0, "sale_price": 0.0, "categories": [],
            "brand_id": 0, "inventory_level": int(body.get("inventory_level", 0)),
            "inventory_tracking": "none", "is_visible": bool(body.get("is_visible", True)),
            "availability": "available", "date_created": now, "date_modified": now,
            "custom_url": {"url": f"/{'-'.join(body['name'].lower().split())}/",
                           "is_customized": False},
        }  # fmt: skip
        self.products[product_id] = product
        return JSONResponse({"data": product, "meta": {}})

    def routes(self, v3: str) -> list[tuple[str, str, str, Callable[[Request], Any]]]:
        """``(version, path, method, handler)`` rows for the store's route table."""
        return [
            ("v3", f"{v3}/customers", "GET", self.list_customers),
            ("v3", f"{v3}/customers", "POST", self.create_customers),
            ("v3", f"{v3}/customers", "PUT", self.update_customers),
            ("v3", f"{v3}/catalog/products", "GET", self.list_products),
            ("v3", f"{v3}/catalog/products", "POST", self.create_product),
        ]
