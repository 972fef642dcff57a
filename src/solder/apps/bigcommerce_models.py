"""The BigCommerce app's inputs, outputs and samples: v2 orders, v3 customers and products.

Outputs keep every field BigCommerce adds (``extra="allow"``); inputs refuse unknown ones so a
typo is a clear error naming it rather than a field silently dropped.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _In(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")


class _Record(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: int


class Order(_Record):
    """A v2 order as BigCommerce answers it."""

    status_id: int
    status: str


class Customer(_Record):
    email: str
    first_name: str
    last_name: str


class Product(_Record):
    name: str
    price: float
    sku: str = ""


class Orders(BaseModel):
    orders: list[Order]


class Products(BaseModel):
    products: list[Product]
    total: int = Field(description="products matching, over every page")
    total_pages: int = Field(alias="totalPages")


ORDER_SAMPLE = {"id": 100, "status_id": 11, "status": "Awaiting Fulfillment", "customer_id": 7,
                "total_inc_tax": "25.0000",
                "date_created": "Tue, 01 Dec 2026 10:00:00 +0000"}  # fmt: skip
CUSTOMER_SAMPLE = {"id": 7, "email": "ada@example.com", "first_name": "Ada",
                   "last_name": "Lovelace", "company": "Engines Ltd", "phone": ""}  # fmt: skip
PRODUCT_SAMPLE = {"id": 111, "name": "Anvil", "type": "physical", "sku": "ANV-1",
                  "price": 25.0, "inventory_level": 3, "is_visible": True}  # fmt: skip


class OrderRef(_In):
    order_id: int = Field(alias="orderId", ge=1)


class OrderQuery(_In):
    status: int | str | None = Field(
        default=None,
        description="only orders in this status: its id, or its name or custom label",
        json_schema_extra={"options": "order_statuses"},
    )
    min_date_created: str | None = Field(
        default=None,
        alias="minDateCreated",
        description="only orders made at or after this date (RFC 2822 or ISO 8601)",
    )
    limit: int = Field(default=50, ge=1, le=250)
    page: int = Field(default=1, ge=1)


class CustomerFields(_In):
    first_name: str | None = Field(default=None, alias="firstName")
    last_name: str | None = Field(default=None, alias="lastName")
    company: str | None = None
    phone: str | None = None
    notes: str | None = None

    def body(self) -> dict[str, Any]:
        """The fields given, by BigCommerce's names (an update changes only those)."""
        return self.model_dump(exclude_none=True, exclude={"customer_id"})


class NewCustomer(CustomerFields):
    email: str
    first_name: str = Field(alias="firstName")
    last_name: str = Field(alias="lastName")


class CustomerChange(CustomerFields):
    customer_id: int = Field(alias="customerId", ge=1)
    email: str | None = None


class EmailQuery(_In):
    # one address: ``email:in`` would read a comma as a list of them
    email: str = Field(pattern=r"^[^,\s@]+@[^,\s@]+$", description="one email address")


class FoundCustomer(BaseModel):
    found: bool
    customer: Customer | None = None


class ProductQuery(_In):
    keyword: str | None = Field(default=None, description="words in the name, SKU or description")
    limit: int = Field(default=50, ge=1, le=250)
    page: int = Field(default=1, ge=1)


INPUT_NAMES = {"first_name": "firstName", "last_name": "lastName", "id": "customerId"}
"""BigCommerce's field names that an action's input spells otherwise."""
