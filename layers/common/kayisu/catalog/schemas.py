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
# 64 cards + up to 27 shards + the order, its event, three limit counters and a late payment's coupon
# and flash-sale counters (kayisu.orders.reservation.most_shards).
MaxPerOrder = Annotated[StrictInt, Field(ge=1, le=64)]
AlertThreshold = Annotated[StrictInt, Field(ge=0, le=1_000_000)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Description = Annotated[str, Field(max_length=5000)]
ProductStatus = Literal["active", "inactive"]
MAX_PRICE_TIERS = 10


class PriceTier(BaseModel):
    """Wholesale (CONTRACT §8): `price` per unit for an order of `min_quantity` units or more."""

    model_config = ConfigDict(extra="forbid")

    min_quantity: Annotated[StrictInt, Field(ge=2, le=64, description="the order's quantity from which it applies")]
    price: Price


def _tiers(value: list[PriceTier] | None) -> list[PriceTier] | None:
    if value is not None and len({t.min_quantity for t in value}) != len(value):
        raise ValueError("each min_quantity may appear once")
    return None if value is None else sorted(value, key=lambda t: t.min_quantity)


PriceTiers = Annotated[list[PriceTier], Field(max_length=MAX_PRICE_TIERS)]
MAX_COMPONENTS = 10
CARDS_PER_ORDER = 64  # the most cards one order's delivery transaction holds (MaxPerOrder above)


class Component(BaseModel):
    """One part of a bundle (折扣套餐, CONTRACT §8): `quantity` cards of another product per bundle."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    sku: Sku
    quantity: Annotated[StrictInt, Field(ge=1, le=CARDS_PER_ORDER)] = 1


def _components(value: list[Component] | None) -> list[Component] | None:
    if value is None:
        return None
    if len({c.sku for c in value}) != len(value):
        raise ValueError("each component SKU may appear once")
    if sum(c.quantity for c in value) > CARDS_PER_ORDER:
        raise ValueError(f"a bundle holds at most {CARDS_PER_ORDER} cards")
    return value


Components = Annotated[list[Component], Field(min_length=1, max_length=MAX_COMPONENTS)]


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
    price_tiers: PriceTiers = []
    currency: str = "CNY"
    cost: Cost | None = None
    max_per_order: MaxPerOrder = 10
    alert_threshold: AlertThreshold = 10
    status: ProductStatus = "active"
    components: Components | None = Field(
        default=None, description="makes it a bundle of these products' cards; set at creation only"
    )

    _check_currency = field_validator("currency")(_currency)
    _check_tiers = field_validator("price_tiers")(_tiers)
    _check_components = field_validator("components")(_components)


class ProductUpdate(BaseModel):
    """PUT body: any of the fields to change; the SKU itself cannot change."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Name | None = None
    description: Description | None = None
    price: Price | None = None
    price_tiers: PriceTiers | None = Field(default=None, description="replaces the tiers; [] removes them")
    currency: str | None = None
    cost: Cost | None = None
    max_per_order: MaxPerOrder | None = None
    alert_threshold: AlertThreshold | None = None
    status: ProductStatus | None = None

    @field_validator("currency")
    @classmethod
    def _check_currency(cls, value: str | None) -> str | None:
        return None if value is None else _currency(value)

    _check_tiers = field_validator("price_tiers")(_tiers)


class Product(BaseModel):
    """What shoppers see."""

    sku: str
    name: str
    description: str
    price: int
    price_tiers: list[PriceTier] = Field(default_factory=list, description="wholesale prices by quantity")
    currency: str
    available: int
    stock_status: StockStatus
    max_per_order: int
    components: list[Component] | None = Field(
        default=None, description="a bundle's parts; `available` counts whole bundles"
    )
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
