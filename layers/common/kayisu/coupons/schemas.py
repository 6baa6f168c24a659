"""What operators send and get for coupons (CONTRACT §8)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, model_validator

from kayisu.catalog.schemas import Sku
from kayisu.clock import Timestamp
from kayisu.money import MAX_AMOUNT
from kayisu.pricing.quote import CouponKind

CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{2,31}$"
MAX_GENERATED = 500  # codes one request generates (each is one conditional write)
Count = Annotated[StrictInt, Field(ge=1, le=MAX_GENERATED, description="> 1: generate that many single-use codes")]
Money = Annotated[StrictInt, Field(ge=0, le=MAX_AMOUNT)]
Uses = Annotated[StrictInt, Field(ge=1, le=100_000_000)]
Skus = Annotated[list[Sku], Field(min_length=1, max_length=200)]
CouponStatus = Literal["active", "disabled"]


def _value_fits(kind: CouponKind | None, value: int | None) -> None:
    if value is None:
        return
    if kind == CouponKind.PERCENT and not 1 <= value <= 100:
        raise ValueError("value: a percent coupon takes 1 to 100")
    if value < 1:
        raise ValueError("value: at least 1")


class CouponCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: Annotated[str, Field(pattern=CODE_PATTERN, description="3-32 letters, digits, _ or -")] | None = None
    kind: CouponKind
    value: Annotated[StrictInt, Field(le=MAX_AMOUNT, description="minor units off (fixed) or 1-100 (percent)")]
    min_spend: Money = 0
    skus: Skus | None = None
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    max_uses: Uses | None = None
    max_uses_per_email: Uses | None = None
    count: Count = 1

    @model_validator(mode="after")
    def _consistent(self) -> CouponCreate:
        _value_fits(self.kind, self.value)
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if self.count > 1 and self.code is not None:
            raise ValueError("code: generated coupons get their own codes; send count or code, not both")
        if self.count > 1 and self.max_uses not in (None, 1):
            raise ValueError("max_uses: generated coupons are single-use")
        return self


class CouponUpdate(BaseModel):
    """PUT: the terms to change (the code and the kind never change); `status: disabled` stops
    new uses at once (orders holding one keep it)."""

    model_config = ConfigDict(extra="forbid")

    value: Annotated[StrictInt, Field(le=MAX_AMOUNT)] | None = None
    min_spend: Money | None = None
    skus: Skus | None = None
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    max_uses: Uses | None = None
    max_uses_per_email: Uses | None = None
    status: CouponStatus | None = None


class Coupon(BaseModel):
    coupon_id: str
    code: str
    kind: CouponKind
    value: int
    min_spend: int
    skus: list[str] | None
    starts_at: Timestamp | None
    ends_at: Timestamp | None
    max_uses: int | None
    max_uses_per_email: int | None
    status: CouponStatus
    used: int = Field(description="uses kept: orders delivered")
    held: int = Field(
        description="uses of orders not delivered: unpaid (given back if it expires), paid, refunded before delivery"
    )
    batch_id: str | None = None
    created_at: Timestamp
    updated_at: Timestamp


class CouponBatch(BaseModel):
    items: list[Coupon]


class CouponList(BaseModel):
    items: list[Coupon]
    next_cursor: str | None = None
