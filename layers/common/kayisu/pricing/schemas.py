"""Request and response shapes of prices (CONTRACT §8: Quote, an order's discounts)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from kayisu.catalog.schemas import Sku
from kayisu.pricing import quote as pricing

CouponCode = Annotated[str, Field(min_length=1, max_length=64, description="looked up case-insensitively")]


class QuoteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    sku: Sku
    quantity: Annotated[StrictInt, Field(ge=1, le=64)]
    coupon: CouponCode | None = None
    email: Annotated[str, Field(min_length=3, max_length=254)] | None = None
    group: Annotated[str, Field(min_length=1, max_length=64)] | None = None


class Discount(BaseModel):
    kind: pricing.DiscountKind
    id: str
    amount: int


class Quote(BaseModel):
    sku: str
    quantity: int
    unit_price: int
    subtotal: int
    discounts: list[Discount]
    amount: int
    currency: str

    @classmethod
    def of(cls, q: pricing.Quote) -> Quote:
        return cls(
            sku=q.sku,
            quantity=q.quantity,
            unit_price=q.unit_price,
            subtotal=q.subtotal,
            discounts=[Discount(kind=d.kind, id=d.id, amount=d.amount) for d in q.discounts],
            amount=q.amount,
            currency=q.currency,
        )


def stored(q: pricing.Quote) -> list[dict[str, object]]:
    """An order's `discounts` as its item keeps them (JSON)."""
    return [{"kind": str(d.kind), "id": d.id, "amount": d.amount} for d in q.discounts]
