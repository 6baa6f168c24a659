"""Request and response shapes of the catalog (CONTRACT §1 Product, §4 products)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

from kayisu.clock import Timestamp
from kayisu.money import MAX_AMOUNT, MINOR_UNITS

SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
Sku = Annotated[str, Field(pattern=SKU_PATTERN, description="stock keeping unit")]
Price = Annotated[StrictInt, Field(ge=0, le=MAX_AMOUNT, description="minor units (fen for CNY)")]
# Operators only (CONTRACT §14): never in what shoppers see, nor in an order.
Cost = Annotated[
    StrictInt, Field(ge=0, le=MAX_AMOUNT, description="what one unit costs the shop, minor units (operators only)")
]
# One order's cards, its shards and its bookkeeping fit one DynamoDB transaction (100 items):
# 64 cards + up to 32 shards + the order, its event and two limit counters.
MaxPerOrder = Annotated[StrictInt, Field(ge=1, le=64)]
AlertThreshold = Annotated[StrictInt, Field(ge=0, le=1_000_000)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Description = Annotated[str, Field(max_length=5000)]
ProductStatus = Literal["active", "inactive"]


class StockStatus(StrEnum):
    IN_STOCK = "in_stock"
    LOW = "low"
    OUT_OF_STOCK = "out_of_stock"


def _currency(value: str) -> str:
    if value not in MINOR_UNITS:
        raise ValueError(f"unknown currency; use one of {', '.join(sorted(MINOR_UNITS))}")
    return value


class ProductCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    sku: Sku
    name: Name
    description: Description = ""
    price: Price
    currency: str = "CNY"
    cost: Cost | None = None
    max_per_order: MaxPerOrder = 10
    alert_threshold: AlertThreshold = 10
    status: ProductStatus = "active"

    _check_currency = field_validator("currency")(_currency)


class ProductUpdate(BaseModel):
    """PUT body: any of the fields to change; the SKU itself cannot change."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Name | None = None
    description: Description | None = None
    price: Price | None = None
    currency: str | None = None
    cost: Cost | None = None
    max_per_order: MaxPerOrder | None = None
    alert_threshold: AlertThreshold | None = None
    status: ProductStatus | None = None

    @field_validator("currency")
    @classmethod
    def _check_currency(cls, value: str | None) -> str | None:
        return None if value is None else _currency(value)


class Product(BaseModel):
    """What shoppers see."""

    sku: str
    name: str
    description: str
    price: int
    currency: str
    available: int
    stock_status: StockStatus
    max_per_order: int
    # A display field: the storefront offers these at checkout (contract: "any further display fields").
    payment_methods: list[str]


class AdminProduct(Product):
    """What operators see: the product with its settings and timestamps."""

    cost: int | None = Field(default=None, description="what one unit costs the shop (the dashboard's profit)")
    alert_threshold: int
    status: ProductStatus
    created_at: Timestamp
    updated_at: Timestamp


class StockLevel(BaseModel):
    sku: str
    imported: int
    available: int
    reserved: int
    sold: int
    redeemed: int
    void: int
    alert_threshold: int


class StockList(BaseModel):
    items: list[StockLevel]
    next_cursor: str | None = None


class ProductList(BaseModel):
    items: list[Product]
    next_cursor: str | None = None


class AdminProductList(BaseModel):
    items: list[AdminProduct]
    next_cursor: str | None = None
