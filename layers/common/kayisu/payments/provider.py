"""The provider interface: what checkout, the webhook, refunds and the sweeper need of a payment
provider. The sandbox implements it here; WeChat Pay, Alipay and Stripe plug in the same way."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class NotificationKind(StrEnum):
    PAID = "paid"
    FAILED = "failed"
    REFUND = "refund"  # news of a refund: settled, failed, or made at the provider by hand
    IGNORED = "ignored"  # a genuine event that changes nothing here (acknowledged, not retried)


@dataclass(frozen=True)
class PaymentRequest:
    """What a provider needs to take a payment for an order."""

    order_id: str
    amount: int
    currency: str
    description: str
    api_base: str  # where this API is reached from the shopper's browser (pay pages)
    expires_at: datetime | None = None
    client_ip: str = ""
    mobile: bool = False  # a phone's browser: WeChat H5 and Alipay WAP instead of QR and page pay
    return_url: str = ""  # where the shopper lands after paying (the storefront's order page)


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
    refund_id: str | None = None  # REFUND only
    refund_status: RefundStatus | None = None  # REFUND only


class RefundStatus(StrEnum):
    SUCCEEDED = "succeeded"
    PENDING = "pending"  # accepted; the provider's notification settles it
    FAILED = "failed"  # the money did not go back: an operator must act


@dataclass(frozen=True)
class Refund:
    refund_id: str
    amount: int
    currency: str
    status: RefundStatus = RefundStatus.SUCCEEDED


class PaymentStatus(StrEnum):
    PAID = "paid"
    # Paid, then refunded (in whole or in part) at the provider before we heard of the payment,
    # e.g. from its dashboard: the payment is recorded and the order held, never delivered.
    REFUNDED = "refunded"
    NOT_PAID = "not_paid"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class PaymentQuery:
    """What the provider says of an order's payment; `paid` is built as verified as a
    notification is, so it takes exactly the webhook's path. With `REFUNDED`, `paid` is the
    payment that was refunded."""

    status: PaymentStatus
    paid: PaymentNotification | None = None
    detail: str = ""


@dataclass(frozen=True)
class Answer:
    """What a provider expects back from our webhook (WeChat Pay: 204 or `{"code":"FAIL"}`;
    Alipay: the text `success`; the others our JSON acknowledgement). The web layer sends it
    (kayisu.web.answer_response); the domain never builds an HTTP response."""

    status: int
    content_type: str
    body: str
    headers: Mapping[str, str] = field(default_factory=dict)  # e.g. Retry-After


class BadSignature(Exception):
    """The notification is not from the provider (bad, missing or stale signature)."""


class ProviderError(Exception):
    """The provider refused a request or could not be reached. `declined`: it answered that it
    will not do it (a business refusal), so the request had no effect; otherwise (unreachable,
    a server error, an answer we cannot trust) it may have been done."""

    def __init__(self, provider: str, code: str, detail: str, status: int = 0, declined: bool = False) -> None:
        super().__init__(f"{provider}: {code}: {detail}")
        self.provider = provider
        self.code = code
        self.detail = detail
        self.status = status
        self.declined = declined


class NotConfigured(ProviderError):
    """The provider is enabled but its secret lacks a value it needs (nothing was sent)."""

    def __init__(self, provider: str, code: str, detail: str) -> None:
        super().__init__(provider, code, detail, declined=True)


class PaymentProvider(ABC):
    name: str
    currencies: frozenset[str] | None = None  # what it can take; None for any
    dedupe_events = False  # remember event ids (Stripe repeats events under the same id)
    # create_payment asks the provider over the network (it costs a call and the provider's
    # quota): checkout then calls it only once the order holds its stock and limits.
    remote_create = False

    @abstractmethod
    def create_payment(self, request: PaymentRequest) -> PaymentInstructions: ...

    @abstractmethod
    def verify_notification(self, headers: Mapping[str, str], raw_body: bytes) -> PaymentNotification:
        """Checks the signature over the raw body; raises BadSignature."""

    @abstractmethod
    def refund(
        self,
        order_id: str,
        payment_id: str,
        transaction_id: str,
        amount: int,
        currency: str,
        reason: str,
        notify_base: str = "",
    ) -> Refund:
        """Refunds the order's payment in full. Idempotent per order: a retry returns the same refund.
        `notify_base`: this API's base URL, for providers told per refund where to send its news."""

    @abstractmethod
    def query_payment(self, order_id: str, payment_id: str) -> PaymentQuery:
        """Asks the provider whether the order was paid (missed callbacks, 掉单)."""

    def acknowledge(self, status: str) -> Answer | None:
        """The provider's own success answer; None for our JSON acknowledgement."""
        return None

    def reject(self, status: int, code: str, detail: str) -> Answer | None:
        """The provider's own failure answer; None for our problem details."""
        return None
