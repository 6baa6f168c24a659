"""Provider notifications (CONTRACT §2): verified over the raw body, then recorded once.

`pending_payment → paid` happens in one transaction with the provider transaction's record
(promise 5). Fulfilment is then requested on the queue; if this function dies between the two,
the provider repeats the notification (we have not answered 2xx) and the repeat finds the
transaction recorded and requests fulfilment again, and the sweeper re-requests fulfilment for
any order paid but not delivered after two minutes.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_lambda_powertools import Logger

from kayisu.clock import now
from kayisu.errors import Problem, conflict, route_not_found
from kayisu.orders.problems import amount_mismatch, bad_signature, unknown_order
from kayisu.orders.queue import request_fulfilment
from kayisu.orders.schemas import WebhookAck
from kayisu.payments.provider import BadSignature, NotificationKind, PaymentNotification
from kayisu.payments.registry import UnknownProvider, provider
from kayisu.store import orders as store
from kayisu.web import metrics

logger = Logger()


def receive(provider_name: str, headers: Mapping[str, str], raw_body: bytes) -> WebhookAck:
    try:
        gateway = provider(provider_name)
    except UnknownProvider:
        raise route_not_found() from None
    try:
        notification = gateway.verify_notification(headers, raw_body)
    except BadSignature as exc:
        logger.warning("notification rejected", extra={"provider": provider_name, "why": str(exc)})
        metrics.add_metric(name="WebhookRejected", unit="Count", value=1)
        raise bad_signature() from None
    logger.append_keys(order_id=notification.order_id, provider=provider_name)
    if notification.kind is NotificationKind.FAILED:
        logger.info("payment failed at the provider")  # the order stays payable until it expires
        return WebhookAck(order_id=notification.order_id, status="pending_payment")
    return WebhookAck(order_id=notification.order_id, status=apply_payment(provider_name, notification))


def apply_payment(provider_name: str, n: PaymentNotification) -> str:
    """Records a payment exactly once and requests fulfilment; returns the order's status."""
    at = now()
    try:
        store.record_payment(n.order_id, n.payment_id, provider_name, n.transaction_id, n.amount, n.currency, at)
        status = "paid"
    except store.AlreadyRecorded as seen:
        if seen.order_id != n.order_id:
            raise conflict("DUPLICATE_TRANSACTION", "This provider transaction already paid another order.") from None
        if seen.outcome == "mismatch":
            raise amount_mismatch() from None  # a repeat of a mismatch is still one
        if seen.outcome == "unmatched":
            raise unknown_order() from None  # a repeat: still no such order
        if seen.outcome == "duplicate":
            return "duplicate"  # a repeat of a second payment: already held for review
        status = "paid"  # a repeat: make sure fulfilment was requested, change nothing else
    except store.NotPayable:
        status = _not_payable(provider_name, n)
        if status != "paid":
            return status
    request_fulfilment(n.order_id)
    metrics.add_metric(name="OrdersPaid", unit="Count", value=1)
    return status


def _not_payable(provider_name: str, n: PaymentNotification) -> str:
    order = store.load_order(n.order_id)
    if order is None:
        # Verified money for an order we never made: finance must see it, and someone refund it.
        store.record_unmatched(provider_name, n.transaction_id, n.order_id, n.amount, n.currency, now())
        logger.warning("payment for an unknown order recorded for reconciliation")
        metrics.add_metric(name="PaymentUnmatched", unit="Count", value=1)
        raise unknown_order()
    matches = (
        int(order.amount) == n.amount
        and order.currency == n.currency
        and order.payment_method == provider_name
        and order.payment_id == n.payment_id
    )
    if not matches:
        store.flag_for_review(
            n.order_id, provider_name, n.transaction_id, n.amount, n.currency, "paid amount or currency differs", now()
        )
        logger.warning("payment does not match the order; held for review")
        metrics.add_metric(name="PaymentMismatch", unit="Count", value=1)
        raise amount_mismatch()
    if order.status == "expired":
        try:
            store.record_payment(
                n.order_id, n.payment_id, provider_name, n.transaction_id, n.amount, n.currency, now(), "expired"
            )
        except store.AlreadyRecorded:
            pass  # the same late payment, delivered twice at once
        except store.NotPayable:
            return _not_payable(provider_name, n)  # it moved meanwhile: look again
        logger.info("late payment recorded")
        return "paid"
    if order.status == "pending_payment":  # matched, yet the condition failed: it moved and back? ask for a retry
        raise Problem(503, "TRY_AGAIN", "Try again", "The order changed while this payment was recorded.")
    # Paid already by another transaction, delivered or refunded: the shopper paid twice. The
    # money is recorded and the order held for an operator to refund it; the order is unchanged.
    store.flag_for_review(
        n.order_id,
        provider_name,
        n.transaction_id,
        n.amount,
        n.currency,
        f"paid again ({n.transaction_id}) while {order.status}: refund the second payment",
        now(),
        outcome="duplicate",
    )
    logger.warning("a second payment for an order already paid; held for review", extra={"status": order.status})
    metrics.add_metric(name="PaymentDuplicate", unit="Count", value=1)
    return "duplicate"
