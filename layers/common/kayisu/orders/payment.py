"""Provider notifications (CONTRACT §2): verified over the raw body, then recorded once.

`pending_payment → paid` happens in one transaction with the provider transaction's record
(promise 5). Fulfilment is then requested on the queue; if this function dies between the two,
the provider repeats the notification (we have not answered 2xx) and the repeat finds the
transaction recorded and requests fulfilment again, and the sweeper re-requests fulfilment for
any order paid but not delivered after two minutes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from kayisu.alerts.ops import alert_operators
from kayisu.clock import now
from kayisu.errors import Problem, conflict, route_not_found
from kayisu.observability import logger, metrics
from kayisu.orders import queue as fulfilment_queue
from kayisu.orders.ports import FulfilmentRequests, PaymentRecords
from kayisu.orders.problems import amount_mismatch, bad_signature, provider_unavailable, try_again, unknown_order
from kayisu.orders.schemas import WebhookAck
from kayisu.orders.status import REFUNDABLE, OrderStatus
from kayisu.payments.provider import (
    Answer,
    BadSignature,
    NotificationKind,
    PaymentNotification,
    PaymentProvider,
    PaymentQuery,
    PaymentStatus,
    ProviderError,
    Refund,
    RefundStatus,
)
from kayisu.payments.registry import UnknownProvider, provider
from kayisu.store import orders as store

HELD = "held_for_review"  # a payment for an order held after a mismatch: recorded, not applied


def receive(provider_name: str, headers: Mapping[str, str], raw_body: bytes) -> Answer:
    """The webhook: the provider's own answer (WeChat Pay's 204 or `{"code":"FAIL"}`, Alipay's
    `success`), or our JSON acknowledgement (and problem details, raised) for the others."""
    try:
        gateway = provider(provider_name)
    except UnknownProvider:
        raise route_not_found() from None
    try:
        ack = _receive(gateway, headers, raw_body)
    except Problem as problem:
        rejected = gateway.reject(problem.status, problem.code, problem.detail)
        if rejected is None:
            raise
        return replace(rejected, headers=dict(problem.headers))
    answer = gateway.acknowledge(ack.status or "")
    if answer is None:
        return Answer(200, "application/json", ack.model_dump_json(exclude_none=True))
    return answer


def _receive(gateway: PaymentProvider, headers: Mapping[str, str], raw_body: bytes) -> WebhookAck:
    name = gateway.name
    try:
        notification = gateway.verify_notification(headers, raw_body)
    except BadSignature as exc:
        logger.warning("notification rejected", extra={"provider": name, "why": str(exc)})
        metrics.add_metric(name="WebhookRejected", unit="Count", value=1)
        raise bad_signature() from None
    except ProviderError as exc:  # e.g. its secret is not filled in: the provider retries later
        logger.error("cannot verify notifications", extra={"provider": name, "why": str(exc)})
        raise provider_unavailable(name) from None
    logger.append_keys(order_id=notification.order_id, provider=name)
    if gateway.dedupe_events and store.event_seen(name, notification.event_id):
        return WebhookAck(order_id=notification.order_id or None, status="already_handled")
    status = handle(name, notification)
    if gateway.dedupe_events:
        store.remember_event(name, notification.event_id, now())  # only once handled to the end
    return WebhookAck(order_id=notification.order_id or None, status=status)


def handle(provider_name: str, n: PaymentNotification) -> str:
    """What a verified notification (or a query's answer) does; returns the resulting status."""
    if n.kind is NotificationKind.FAILED:
        logger.info("payment failed at the provider")  # the order stays payable until it expires
        return OrderStatus.PENDING_PAYMENT
    if n.kind is NotificationKind.IGNORED:
        return "ignored"
    if n.kind is NotificationKind.REFUND:
        return refund_news(provider_name, n)
    return apply_payment(provider_name, n)


def check_with_provider(order: store.OrderItem) -> tuple[PaymentQuery, str | None]:
    """Asks the order's provider whether it was paid: a missed callback (掉单). A payment found
    goes through `handle`, exactly the path its notification would have taken. Returns the
    provider's answer and, when a payment was found, the status it led to."""
    if order.payment_id is None:  # checkout stopped before the provider made its payment
        return PaymentQuery(PaymentStatus.NOT_PAID, detail="no payment was created for this order"), None
    try:
        gateway = provider(str(order.payment_method))
    except UnknownProvider:  # no longer enabled on this stage: nobody to ask
        return PaymentQuery(PaymentStatus.UNKNOWN, detail="the provider is not enabled"), None
    answer = gateway.query_payment(order.order_id, order.payment_id)
    if answer.paid is None:
        return answer, None
    if answer.status is PaymentStatus.REFUNDED:
        return answer, hold_refunded(str(order.payment_method), answer.paid, answer.detail)
    logger.warning("a payment found by asking the provider", extra={"order_id": order.order_id})
    metrics.add_metric(name="PaymentRecovered", unit="Count", value=1)
    return answer, handle(str(order.payment_method), answer.paid)


def hold_refunded(provider_name: str, n: PaymentNotification, detail: str) -> str:
    """A payment the provider reports as refunded (in whole or in part) that we never applied:
    recorded (`outcome: refunded`) and the order held for review, the path an amount mismatch
    takes, so it is never paid nor delivered; it expires as unpaid orders do. A payment we had
    recorded before is left to the refund's own path (ours, or one made at the provider)."""
    reason = (
        f"paid ({n.transaction_id}) and refunded at {provider_name} ({detail}) before Kayisu heard of the "
        "payment: not delivered; check the refund at the provider"
    )
    recorded = store.flag_for_review(
        n.order_id, provider_name, n.transaction_id, n.amount, n.currency, reason, now(), outcome="refunded"
    )
    if not recorded:
        order = store.load_order(n.order_id)
        return str(order.status) if order is not None else "unknown"
    logger.warning("a payment refunded at the provider; held for review, not delivered")
    metrics.add_metric(name="PaymentRefundedBeforeApplied", unit="Count", value=1)
    return HELD


def refund_news(provider_name: str, n: PaymentNotification) -> str:
    """A provider's word on a refund: settles ours, finishes ours when its function died before
    recording it, or records one made at the provider by hand."""
    assert n.refund_id is not None
    assert n.refund_status is not None
    at = now()
    try:
        refund = store.settle_refund(provider_name, n.refund_id, n.refund_status, at)
    except store.RefundUnknown:
        order_id = n.order_id or store.order_of_transaction(provider_name, n.transaction_id) or ""
        order = store.load_order(order_id) if order_id else None
        if order is not None and _ours(order, n) and _finish_refund(provider_name, n, order):
            return f"refund_{n.refund_status}"
        currency = n.currency or (order.currency if order else "")
        store.record_outside_refund(provider_name, n.refund_id, order_id, n.amount, currency, n.refund_status, at)
        logger.warning("a refund made at the provider, outside Kayisu, recorded for review")
        metrics.add_metric(name="RefundOutside", unit="Count", value=1)
        alert_operators(
            f"{provider_name} refund made outside Kayisu",
            f"{provider_name} reports refund {n.refund_id} ({n.refund_status}) for order {order_id or 'unknown'}, "
            "which Kayisu did not make. The order is marked for review; refund it in Kayisu to void its cards.",
        )
        return "refund_recorded"
    order = store.load_order(str(refund.order_id)) if n.refund_status is not RefundStatus.PENDING else None
    if order is not None and order.refund_requested and order.status in REFUNDABLE:
        # Ours, held after the provider said it failed, or its record written before the order's
        # (a repeat): this news decides it, as the provider's answer would have.
        _finish_refund(provider_name, n, order)
    elif n.refund_status is RefundStatus.FAILED:
        # The order was refunded on the provider's word that the refund was under way.
        store.mark_for_review(str(refund.order_id), f"refund {n.refund_id} failed at {provider_name}: pay back by hand")
        logger.error("a refund failed at the provider")
        metrics.add_metric(name="RefundFailed", unit="Count", value=1)
        alert_operators(
            f"{provider_name} refund failed",
            f"Refund {n.refund_id} of order {refund.order_id} failed at {provider_name}: the shopper has not "
            "been paid back. See docs/operations.md (refunds).",
        )
    return f"refund_{n.refund_status}"


def _ours(order: store.OrderItem, n: PaymentNotification) -> bool:
    """A refund of the whole order while our refund of it is decided and not recorded: ours,
    whose function died after the provider took it (or is still recording it)."""
    return bool(order.refund_requested) and order.status in REFUNDABLE and n.amount == int(order.amount)


def _finish_refund(provider_name: str, n: PaymentNotification, order: store.OrderItem) -> bool:
    """Finishes (or holds) our refund on the provider's news, as its answer would have; False if
    it cannot be ours after all (a code was redeemed although unlocked: decided before locks)."""
    # Imported here: a webhook container that only records payments never loads fulfilment.
    from kayisu.orders.fulfilment import RefundFailed, refund_order

    assert n.refund_id is not None
    assert n.refund_status is not None
    answer = Refund(n.refund_id, n.amount, n.currency or order.currency, n.refund_status)
    try:
        refund_order(order, order.refund_reason or "refund", provider_name, answer=answer)
    except RefundFailed:
        pass  # held for review; operators alerted
    except store.CardRedeemed:
        return False
    except store.OrderMoved:
        pass  # recorded by its own function meanwhile
    return True


def apply_payment(
    provider_name: str,
    n: PaymentNotification,
    records: PaymentRecords = store,
    fulfilment: FulfilmentRequests = fulfilment_queue,
) -> str:
    """Records a payment exactly once and requests fulfilment; returns the order's status."""
    at = now()
    status: str
    try:
        records.record_payment(n.order_id, n.payment_id, provider_name, n.transaction_id, n.amount, n.currency, at)
        status = OrderStatus.PAID
    except store.AlreadyRecorded as seen:
        if seen.order_id != n.order_id:
            raise conflict("DUPLICATE_TRANSACTION", "This provider transaction already paid another order.") from None
        if seen.outcome == "mismatch":
            raise amount_mismatch() from None  # a repeat of a mismatch is still one
        if seen.outcome == "unmatched":
            raise unknown_order() from None  # a repeat: still no such order
        if seen.outcome == "duplicate":
            return "duplicate"  # a repeat of a second payment: already held for review
        if seen.outcome in ("held", "refunded"):
            return HELD  # a repeat of a payment for a held order, or of one refunded at the provider
        status = OrderStatus.PAID  # a repeat: make sure fulfilment was requested, change nothing else
    except store.NotPayable:
        status = _not_payable(provider_name, n, records)
        if status != OrderStatus.PAID:
            return status
    fulfilment.request_fulfilment(n.order_id)
    metrics.add_metric(name="OrdersPaid", unit="Count", value=1)
    return status


def _not_payable(provider_name: str, n: PaymentNotification, records: PaymentRecords) -> str:
    order = records.load_order(n.order_id)
    if order is None:
        # Verified money for an order we never made: finance must see it, and someone refund it.
        records.record_unmatched(provider_name, n.transaction_id, n.order_id, n.amount, n.currency, now())
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
        records.flag_for_review(
            n.order_id, provider_name, n.transaction_id, n.amount, n.currency, "paid amount or currency differs", now()
        )
        logger.warning("payment does not match the order; held for review")
        metrics.add_metric(name="PaymentMismatch", unit="Count", value=1)
        raise amount_mismatch()
    if order.held:
        # Paid in full after a mismatch: the order stays held, never delivered; both payments
        # are recorded for the operator who reviews it.
        records.flag_for_review(
            n.order_id,
            provider_name,
            n.transaction_id,
            n.amount,
            n.currency,
            f"{order.review_reason}; then paid in full ({n.transaction_id}): refund what the shopper paid",
            now(),
            outcome="held",
        )
        logger.warning("a payment for an order held for review; recorded, not applied")
        metrics.add_metric(name="PaymentWhileHeld", unit="Count", value=1)
        return HELD
    if order.status == OrderStatus.EXPIRED:
        try:
            records.record_payment(
                n.order_id,
                n.payment_id,
                provider_name,
                n.transaction_id,
                n.amount,
                n.currency,
                now(),
                OrderStatus.EXPIRED,
            )
        except store.AlreadyRecorded:
            pass  # the same late payment, delivered twice at once
        except store.NotPayable:
            return _not_payable(provider_name, n, records)  # it moved meanwhile: look again
        logger.info("late payment recorded")
        return OrderStatus.PAID
    if order.status == OrderStatus.PENDING_PAYMENT:
        # Matched, yet the condition failed: it moved and back? Ask for a retry.
        raise try_again("The order changed while this payment was recorded.")
    # Paid already by another transaction, delivered or refunded: the shopper paid twice. The
    # money is recorded and the order held for an operator to refund it; the order is unchanged.
    records.flag_for_review(
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
