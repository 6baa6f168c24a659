"""The provider interface: what checkout, the webhook, refunds and the sweeper need of a payment
provider. The sandbox implements it here; WeChat Pay, Alipay and Stripe plug in the same way."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class NotificationKind(StrEnum):
    PAID = "paid"
    FAILED = "failed"


@dataclass(frozen=True)
class PaymentRequest:
    """What a provider needs to take a payment for an order."""

    order_id: str
    amount: int
    currency: str
    description: str
    api_base: str  # where this API is reached from the shopper's browser (pay pages)


@dataclass(frozen=True)
class PaymentInstructions:
    """How the shopper pays: a page to open and/or a QR code's content."""

    payment_id: str
    pay_url: str | None = None
    qr_code: str | None = None


@dataclass(frozen=True)
class PaymentNotification:
    """A verified notification. Nothing here is trusted until `verify_notification` built it."""

    event_id: str
    kind: NotificationKind
    order_id: str
    payment_id: str
    amount: int
    currency: str
    transaction_id: str


@dataclass(frozen=True)
class Refund:
    refund_id: str
    amount: int
    currency: str


class PaymentStatus(StrEnum):
    PAID = "paid"
    NOT_PAID = "not_paid"
    UNKNOWN = "unknown"


class BadSignature(Exception):
    """The notification is not from the provider (bad, missing or stale signature)."""


class PaymentProvider(ABC):
    name: str

    @abstractmethod
    def create_payment(self, request: PaymentRequest) -> PaymentInstructions: ...

    @abstractmethod
    def verify_notification(self, headers: Mapping[str, str], raw_body: bytes) -> PaymentNotification:
        """Checks the signature over the raw body; raises BadSignature."""

    @abstractmethod
    def refund(self, order_id: str, payment_id: str, amount: int, currency: str, reason: str) -> Refund:
        """Refunds the order's payment in full. Idempotent per order: a retry returns the same refund."""

    @abstractmethod
    def query_status(self, order_id: str, payment_id: str) -> PaymentStatus:
        """Asks the provider whether the order was paid (missed callbacks)."""
