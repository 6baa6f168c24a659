"""Request and response shapes of orders (CONTRACT §1 Order, §4 admin orders)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

from kayisu.catalog.schemas import Sku
from kayisu.clock import Timestamp
from kayisu.orders.status import OrderStatus
from kayisu.pricing.schemas import CouponCode, Discount


def mask_email(email: str) -> str:
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}***@{domain}"


class OrderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    sku: Sku
    quantity: Annotated[StrictInt, Field(ge=1, le=64)]
    email: Annotated[str, Field(min_length=3, max_length=254)]
    payment_method: Annotated[str, Field(min_length=1, max_length=32)]
    coupon: CouponCode | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        local, at, domain = value.rpartition("@")
        if not at or not local or "." not in domain or any(c.isspace() for c in value) or domain.startswith("."):
            raise ValueError("must be an email address")
        return f"{local}@{domain.lower()}"


class Payment(BaseModel):
    method: str
    payment_id: str | None = None
    pay_url: str | None = None
    qr_code: str | None = None


class DeliveredCard(BaseModel):
    code: str
    serial: str | None = None
    expires_at: str | None = None
    sku: str | None = Field(default=None, description="the component it is, in a bundle's order")


class OrderSummary(BaseModel):
    """What shoppers and operators both see of an order."""

    order_id: str
    status: OrderStatus
    sku: str
    quantity: int
    subtotal: int  # list price × quantity (CONTRACT §8)
    discounts: list[Discount]  # amount = subtotal − Σ discounts
    amount: int
    currency: str
    email: str  # masked
    created_at: Timestamp
    expires_at: Timestamp
    paid_at: Timestamp | None = None
    delivered_at: Timestamp | None = None
    refunded_at: Timestamp | None = None
    payment: Payment


class Order(OrderSummary):
    access_token: str | None = None
    cards: list[DeliveredCard] | None = None

    def public(self) -> dict[str, object]:
        """JSON fields: the access token and cards only where the contract has them."""
        skip = {name for name in ("access_token", "cards", "refunded_at") if getattr(self, name) is None}
        return self.model_dump(mode="json", exclude=skip)


class CardHistory(BaseModel):
    code: str  # masked
    batch_id: str
    sku: str | None = None  # the card's own SKU (a bundle's order holds its components')
    serial: str | None = None
    status: str
    sold_at: Timestamp | None = None
    redeemed_at: Timestamp | None = None
    void_at: Timestamp | None = None


class OrderEvent(BaseModel):
    at: Timestamp
    from_status: str | None
    to_status: str
    reason: str
    actor: str


class AdminOrder(OrderSummary):
    expired_at: Timestamp | None = None
    transaction_id: str | None = None
    refund_id: str | None = None
    refund_reason: str | None = None
    review_reason: str | None = None
    late_payment: bool = False


class AdminOrderDetail(AdminOrder):
    cards: list[CardHistory]
    history: list[OrderEvent]


class AdminOrderList(BaseModel):
    items: list[AdminOrder]
    next_cursor: str | None = None


class RefundRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: Annotated[str, Field(min_length=1, max_length=500)]


class WebhookAck(BaseModel):
    received: bool = True
    order_id: str | None = None
    status: str | None = None


class PaymentCheck(BaseModel):
    """What the provider said when an operator asked about an order's payment."""

    provider: str
    provider_status: Literal["paid", "refunded", "not_paid", "unknown"]
    provider_detail: str = Field(description="the provider's own word for the state, e.g. NOTPAY, TRADE_SUCCESS")
    applied: str | None = Field(description="what the payment found led to (paid, duplicate, …); null if none")
    order: AdminOrderDetail
