"""What partners and the operators who manage them send and get."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from kayisu.clock import Timestamp

Sku = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
Code = Annotated[str, StringConstraints(min_length=1, max_length=256)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PartnerCreate(Strict):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    skus: list[Sku] | None = Field(default=None, max_length=200, description="SKUs it may redeem; all when absent")


class PartnerUpdate(Strict):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] | None = None
    skus: list[Sku] | None = Field(default=None, max_length=200, description="new scope; [] is refused, null keeps")
    all_skus: bool | None = Field(default=None, description="true: lift the SKU scope")
    status: Literal["active", "disabled"] | None = None


class SecretRotation(Strict):
    grace_seconds: int = Field(default=86_400, ge=0, le=30 * 86_400, description="how long the old secret still works")


class Partner(BaseModel):
    partner_id: str
    name: str
    skus: list[str] | None
    status: str
    previous_secret_valid_until: Timestamp | None = None
    created_at: Timestamp
    updated_at: Timestamp


class PartnerCreated(Partner):
    secret: str  # shown this once


class PartnerList(BaseModel):
    items: list[Partner]
    next_cursor: str | None = None


class VerificationRequest(Strict):
    code: Code


class Verification(BaseModel):
    status: Literal["valid", "redeemed", "void"]
    sku: str
    redeemed_at: Timestamp | None = None


class RedemptionRequest(Strict):
    code: Code
    reference: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")]


class Redemption(BaseModel):
    redemption_id: str
    sku: str
    redeemed_at: Timestamp
    reference: str
