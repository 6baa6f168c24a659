"""The built-in sandbox provider (CONTRACT §2): a pay page with Pay and Decline, and a webhook
signed like Stripe's: `Kayisu-Sandbox-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "t.body")>`.
It never moves money, so refunds succeed at once and status queries know nothing."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from kayisu.payments.http import header
from kayisu.payments.provider import (
    BadSignature,
    NotificationKind,
    PaymentInstructions,
    PaymentNotification,
    PaymentProvider,
    PaymentQuery,
    PaymentRequest,
    PaymentStatus,
    Refund,
)
from kayisu.payments.signature import v1_header, verify_v1

SIGNATURE_HEADER = "Kayisu-Sandbox-Signature"
PAYMENT_PREFIX = "sbx_"


def payment_id_for(order_id: str) -> str:
    return PAYMENT_PREFIX + order_id


def order_id_of(payment_id: str) -> str | None:
    return payment_id[len(PAYMENT_PREFIX) :] if payment_id.startswith(PAYMENT_PREFIX) else None


def sign(secret: str, body: bytes, at: int) -> str:
    return v1_header(secret, body, at)


def event_body(kind: str, payment_id: str, order_id: str, amount: int, currency: str, at: int) -> bytes:
    return json.dumps(
        {
            "id": "evt_" + secrets.token_hex(12),
            "type": kind,
            "payment_id": payment_id,
            "order_id": order_id,
            "amount": amount,
            "currency": currency,
            "transaction_id": "sbxtxn_" + secrets.token_hex(12),
            "created": at,
        },
        separators=(",", ":"),
    ).encode()


def verify(secret: str, headers: Mapping[str, str], raw_body: bytes, now: float | None = None) -> dict[str, Any]:
    """The event, if the signature is good and fresh; else BadSignature. Every `v1` is tried
    (secret rotation), each in constant time (kayisu.payments.signature)."""
    verify_v1([secret], header(headers, SIGNATURE_HEADER), raw_body, now)
    try:
        event = json.loads(raw_body)
    except ValueError:
        raise BadSignature("signed body is not JSON") from None
    if not isinstance(event, dict):
        raise BadSignature("signed body is not an event")
    return event


class SandboxProvider(PaymentProvider):
    name = "sandbox"

    def __init__(self, secret: Callable[[], str]) -> None:
        self._secret = secret  # read only when signing or verifying: checkout never needs it

    def create_payment(self, request: PaymentRequest) -> PaymentInstructions:
        payment_id = payment_id_for(request.order_id)
        return PaymentInstructions(payment_id=payment_id, pay_url=f"{request.api_base}/v1/sandbox/pay/{payment_id}")

    def verify_notification(self, headers: Mapping[str, str], raw_body: bytes) -> PaymentNotification:
        event = verify(self._secret(), headers, raw_body)
        kinds = {"payment.succeeded": NotificationKind.PAID, "payment.failed": NotificationKind.FAILED}
        try:
            amount = event["amount"]
            if not isinstance(amount, int) or isinstance(amount, bool):
                raise TypeError("amount")
            return PaymentNotification(
                event_id=str(event["id"]),
                kind=kinds[str(event["type"])],
                order_id=str(event["order_id"]),
                payment_id=str(event["payment_id"]),
                amount=amount,
                currency=str(event["currency"]),
                transaction_id=str(event["transaction_id"]),
            )
        except (KeyError, TypeError) as exc:
            raise BadSignature(f"signed event lacks a valid {exc}") from None

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
        # Derived from the order, so that a retried refund is the same refund.
        digest = hashlib.sha256(f"sandbox-refund:{order_id}".encode()).hexdigest()[:24]
        return Refund(refund_id=f"sbxrf_{digest}", amount=amount, currency=currency)

    def query_payment(self, order_id: str, payment_id: str) -> PaymentQuery:
        return PaymentQuery(PaymentStatus.UNKNOWN, detail="the sandbox keeps no record; its webhook is the only news")

    def send_event(
        self, kind: str, payment_id: str, order_id: str, amount: int, currency: str, api_base: str
    ) -> tuple[int, dict[str, Any]]:
        """What the sandbox does when the shopper presses Pay or Decline: POST the signed event
        to this API's webhook, as a real provider would. Returns the webhook's status and body."""
        import urllib.error
        import urllib.request

        at = int(time.time())
        body = event_body(kind, payment_id, order_id, amount, currency, at)
        request = urllib.request.Request(  # noqa: S310 - our own API's URL, http(s) only
            f"{api_base}/v1/webhooks/sandbox",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", SIGNATURE_HEADER: sign(self._secret(), body, at)},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return int(response.status), json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            try:
                answer = json.loads(exc.read() or b"{}")
            except ValueError:
                answer = {}
            return int(exc.code), answer if isinstance(answer, dict) else {}
