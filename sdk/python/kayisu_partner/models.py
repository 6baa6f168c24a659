"""What the Partner API answers, as frozen dataclasses with aware UTC datetimes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

VerificationStatus = Literal["valid", "redeemed", "void"]
VERIFICATION_STATUSES: tuple[VerificationStatus, ...] = ("valid", "redeemed", "void")


@dataclass(frozen=True, slots=True)
class Verification:
    """`POST /v1/partner/verifications`: may the code be redeemed now (`valid`)?"""

    status: VerificationStatus
    sku: str
    redeemed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Redemption:
    """One redemption. `replayed` is True when `redeem` got 200 (the server returned the first
    result for this `reference`) instead of 201; `get_redemption` always gives False."""

    redemption_id: str
    sku: str
    redeemed_at: datetime
    reference: str
    replayed: bool = False


def parse_time(value: str) -> datetime:
    """RFC 3339 (`2026-11-24T08:00:00Z`) to an aware UTC datetime."""
    parsed = datetime.fromisoformat(value)  # 3.11 accepts the trailing Z
    if parsed.tzinfo is None:  # the contract says UTC even where an offset is missing
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_time(value: datetime) -> str:
    """The contract's form back: UTC, whole seconds, `Z`."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
