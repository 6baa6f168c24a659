"""What operators send and everyone gets for promotions (CONTRACT §8)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, model_validator

from kayisu.catalog.schemas import Sku
from kayisu.clock import Timestamp
from kayisu.money import MAX_AMOUNT

Money = Annotated[StrictInt, Field(ge=1, le=MAX_AMOUNT)]
PromotionStatus = Literal["active", "disabled"]


class ReductionTier(BaseModel):
    """满减: `off` minor units off an order whose price (after its unit price) reaches `min_spend`."""

    model_config = ConfigDict(extra="forbid")

    min_spend: Annotated[StrictInt, Field(ge=0, le=MAX_AMOUNT)]
    off: Money


def _tiers_ok(tiers: list[ReductionTier]) -> list[ReductionTier]:
    if len({t.min_spend for t in tiers}) != len(tiers):
        raise ValueError("tiers: each min_spend may appear once")
    return sorted(tiers, key=lambda t: t.min_spend)


Tiers = Annotated[list[ReductionTier], Field(min_length=1, max_length=10)]


class PromotionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: Literal["full_reduction", "flash_sale", "group_buy"]
    name: Annotated[str, Field(max_length=200)] = ""
    skus: Annotated[list[Sku], Field(min_length=1, max_length=200)] | None = None
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    tiers: Tiers | None = None
    price: Annotated[StrictInt, Field(ge=0, le=MAX_AMOUNT, description="flash sale: the unit price")] | None = None
    quantity: Annotated[StrictInt, Field(ge=1, le=10_000_000, description="flash sale: units in all")] | None = None
    max_per_email: Annotated[StrictInt, Field(ge=1, le=10_000)] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> PromotionCreate:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if self.kind == "flash_sale":
            if self.skus is None or len(self.skus) != 1:
                raise ValueError("skus: a flash sale is of one SKU")
            if self.price is None or self.quantity is None:
                raise ValueError("price and quantity: a flash sale needs both")
        if self.kind == "full_reduction":
            if self.tiers is None:
                raise ValueError("tiers: a full reduction needs at least one tier")
            self.tiers = _tiers_ok(self.tiers)
        return self


class PromotionUpdate(BaseModel):
    """PUT: a new name, window, tiers or SKU scope (`null`: shop-wide), or `status: disabled`."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Annotated[str, Field(max_length=200)] | None = None
    skus: Annotated[list[Sku], Field(min_length=1, max_length=200)] | None = None
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    tiers: Tiers | None = None
    status: PromotionStatus | None = None


class Promotion(BaseModel):
    promotion_id: str
    kind: str
    name: str
    skus: list[str] | None
    starts_at: Timestamp
    ends_at: Timestamp
    tiers: list[ReductionTier] | None = None
    price: int | None = None
    quantity: int | None = None
    max_per_email: int | None = None
    sold: int | None = Field(
        default=None, description="flash sale (operators): units taken by orders, unpaid ones included"
    )
    status: PromotionStatus


class PromotionList(BaseModel):
    items: list[Promotion]
    next_cursor: str | None = None


class RunningPromotions(BaseModel):
    items: list[Promotion]
