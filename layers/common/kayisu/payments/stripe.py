"""Stripe: Checkout Sessions, refunds, session queries, and webhook events verified as Stripe
specifies: `Stripe-Signature: t=…,v1=…[,v1=…]`, HMAC-SHA256 with an endpoint secret over
`t.body`, every `v1` tried against every secret in use (rolling), in constant time, within
300 s. A session counts as paid on `checkout.session.completed` (or
`checkout.session.async_payment_succeeded`) with `payment_status == "paid"`; events are
de-duplicated on their id by the webhook (`dedupe_events`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from kayisu.payments.http import Reply, call, header, refused, required
from kayisu.payments.provider import (
    BadSignature,
    NotificationKind,
    PaymentInstructions,
    PaymentNotification,
    PaymentProvider,
    PaymentQuery,
    PaymentRequest,
    PaymentStatus,
    ProviderError,
    Refund,
    RefundStatus,
)
from kayisu.payments.signature import v1_signature, verify_v1

NAME = "stripe"
API_BASE = "https://api.stripe.com"
SIGNATURE_HEADER = "Stripe-Signature"
PAID_EVENTS = frozenset({"checkout.session.completed", "checkout.session.async_payment_succeeded"})
REFUND_EVENTS = frozenset({"refund.created", "refund.updated", "refund.failed"})
_REFUND_STATES = {
    "succeeded": RefundStatus.SUCCEEDED,
    "pending": RefundStatus.PENDING,
    "requires_action": RefundStatus.PENDING,
    "failed": RefundStatus.FAILED,
    "canceled": RefundStatus.FAILED,
}


@dataclass(frozen=True)
class Account:
    secret_key: str
    webhook_secrets: tuple[str, ...]
    api_base: str


def account(secret: Mapping[str, Any]) -> Account:
    (secret_key,) = required(NAME, secret, "secret_key")
    webhook = secret.get("webhook_secrets") or secret.get("webhook_secret")
    secrets = [webhook] if isinstance(webhook, str) else webhook
    if not isinstance(secrets, list) or not secrets or not all(isinstance(s, str) and s for s in secrets):
        raise ProviderError(NAME, "NOT_CONFIGURED", "the secret has no webhook_secrets")
    return Account(secret_key, tuple(secrets), str(secret.get("api_base") or API_BASE).rstrip("/"))


def signature(secret: str, body: bytes, at: int) -> str:
    return v1_signature(secret, body, at)


def verify(secrets: tuple[str, ...], headers: Mapping[str, str], body: bytes, now: float | None = None) -> None:
    verify_v1(secrets, header(headers, SIGNATURE_HEADER), body, now)


def form(fields: Mapping[str, str | int]) -> bytes:
    return urlencode({k: str(v) for k, v in fields.items()}).encode()


def _id(value: Any) -> str:
    """An object id, whether Stripe sent the id or the expanded object."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else ""


def _session_paid(session: Mapping[str, Any], event_id: str) -> PaymentNotification | None:
    if session.get("object") != "checkout.session" or session.get("payment_status") != "paid":
        return None
    metadata = session.get("metadata")
    order_id = session.get("client_reference_id") or (metadata.get("order_id") if isinstance(metadata, dict) else None)
    amount = session.get("amount_total")
    if not isinstance(order_id, str) or not isinstance(amount, int) or isinstance(amount, bool):
        raise BadSignature("the session names no order or amount")
    return PaymentNotification(
        event_id=event_id,
        kind=NotificationKind.PAID,
        order_id=order_id,
        payment_id=str(session.get("id") or ""),
        amount=amount,
        currency=str(session.get("currency") or "").upper(),
        transaction_id=_id(session.get("payment_intent")) or str(session.get("id") or ""),
    )


def _refunded(session: Mapping[str, Any]) -> int:
    """How much of a paid session's charge was refunded (minor units), from the expanded
    `payment_intent.latest_charge`; an answer without it is no answer."""
    intent = session.get("payment_intent")
    charge = intent.get("latest_charge") if isinstance(intent, dict) else None
    refunded = charge.get("amount_refunded") if isinstance(charge, dict) else None
    if not isinstance(refunded, int) or isinstance(refunded, bool):
        raise ProviderError(NAME, "BAD_RESPONSE", "the session's charge was not expanded")
    return refunded


class Stripe(PaymentProvider):
    name = NAME
    dedupe_events = True
    remote_create = True

    def __init__(self, secret: Callable[[], Mapping[str, Any]]) -> None:
        self._secret = secret

    def account(self) -> Account:
        return account(self._secret())

    def _request(self, a: Account, method: str, path: str, key: str = "", body: bytes | None = None) -> Reply:
        headers = {"Authorization": f"Bearer {a.secret_key}", "User-Agent": "kayisu"}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if key:
            headers["Idempotency-Key"] = key
        return call(NAME, method, a.api_base + path, headers, body)

    def create_payment(self, request: PaymentRequest) -> PaymentInstructions:
        a = self.account()
        back = request.return_url or f"{request.api_base}/"
        fields: dict[str, str | int] = {
            "mode": "payment",
            "line_items[0][quantity]": 1,
            "line_items[0][price_data][currency]": request.currency.lower(),
            "line_items[0][price_data][unit_amount]": request.amount,
            "line_items[0][price_data][product_data][name]": request.description[:250],
            "client_reference_id": request.order_id,
            "metadata[order_id]": request.order_id,
            "payment_intent_data[metadata][order_id]": request.order_id,
            "success_url": back,
            "cancel_url": back,
        }
        reply = self._request(a, "POST", "/v1/checkout/sessions", f"kayisu-checkout-{request.order_id}", form(fields))
        session = reply.json()
        if reply.status != 200 or not isinstance(session.get("id"), str) or not isinstance(session.get("url"), str):
            raise refused(NAME, reply, "Checkout Session")
        return PaymentInstructions(payment_id=session["id"], pay_url=session["url"])

    def verify_notification(self, headers: Mapping[str, str], raw_body: bytes) -> PaymentNotification:
        verify(self.account().webhook_secrets, headers, raw_body)
        try:
            event = json.loads(raw_body)
        except ValueError:
            raise BadSignature("signed body is not JSON") from None
        data = event.get("data") if isinstance(event, dict) else None
        obj = data.get("object") if isinstance(data, dict) else None
        if not isinstance(event, dict) or not isinstance(obj, dict) or not isinstance(event.get("id"), str):
            raise BadSignature("signed body is not an event")
        event_id, kind = event["id"], str(event.get("type"))
        if kind in PAID_EVENTS:
            paid = _session_paid(obj, event_id)
            if paid is not None:
                return paid
        elif kind in REFUND_EVENTS and obj.get("object") == "refund":
            return self._refund_news(event_id, obj)
        return PaymentNotification(event_id, NotificationKind.IGNORED, "", "", 0, "", _id(obj.get("payment_intent")))

    def _refund_news(self, event_id: str, refund: Mapping[str, Any]) -> PaymentNotification:
        metadata = refund.get("metadata")
        amount = refund.get("amount")
        return PaymentNotification(
            event_id=event_id,
            kind=NotificationKind.REFUND,
            order_id=str(metadata.get("order_id") or "") if isinstance(metadata, dict) else "",
            payment_id="",
            amount=amount if isinstance(amount, int) and not isinstance(amount, bool) else 0,
            currency=str(refund.get("currency") or "").upper(),
            transaction_id=_id(refund.get("payment_intent")),
            refund_id=str(refund.get("id") or ""),
            refund_status=_REFUND_STATES.get(str(refund.get("status")), RefundStatus.PENDING),
        )

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
        a = self.account()
        fields: dict[str, str | int] = {
            "payment_intent": transaction_id,
            "amount": amount,
            "reason": "requested_by_customer",
            "metadata[order_id]": order_id,
            "metadata[reason]": reason[:450],
        }
        reply = self._request(a, "POST", "/v1/refunds", f"kayisu-refund-{order_id}", form(fields))
        answer = reply.json()
        if reply.status != 200 or not isinstance(answer.get("id"), str):
            raise refused(NAME, reply, "refund")
        status = _REFUND_STATES.get(str(answer.get("status")), RefundStatus.PENDING)
        return Refund(refund_id=answer["id"], amount=amount, currency=currency, status=status)

    def query_payment(self, order_id: str, payment_id: str) -> PaymentQuery:
        a = self.account()
        # A refunded session still says `paid`: its charge (expanded, in the same request) tells.
        path = f"/v1/checkout/sessions/{quote(payment_id, safe='')}?expand%5B%5D=payment_intent.latest_charge"
        reply = self._request(a, "GET", path)
        session = reply.json()
        if reply.status == 404:
            return PaymentQuery(PaymentStatus.NOT_PAID, detail="no such session")
        if reply.status != 200:
            raise refused(NAME, reply, "session query")
        paid = _session_paid(session, "query")
        if paid is not None:
            if paid.order_id != order_id:
                raise ProviderError(NAME, "BAD_RESPONSE", "the session belongs to another order")
            refunded = _refunded(session)
            if refunded:
                return PaymentQuery(PaymentStatus.REFUNDED, paid, detail=f"paid, {refunded} refunded")
            return PaymentQuery(PaymentStatus.PAID, paid, detail="paid")
        return PaymentQuery(PaymentStatus.NOT_PAID, detail=f"{session.get('status')}/{session.get('payment_status')}")
