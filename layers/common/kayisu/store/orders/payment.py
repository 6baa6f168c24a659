"""Payments' writes: a provider transaction recorded once (`TXN#…`), in the transaction that
pays its order, or beside an order that cannot take it (held for an operator); and the events
a provider repeats under one id, remembered once handled."""

from __future__ import annotations

from datetime import datetime, timedelta

from pynamodb.exceptions import PutError
from pynamodb.expressions.update import Action

from kayisu.orders.status import OrderStatus
from kayisu.store.orders.items import EventSeenItem, OrderItem, PaymentItem, order_event
from kayisu.store.orders.keys import ORDER_SK, event_seen_key, money_keys, order_pk, paid_keys, payment_key
from kayisu.store.txn import Cancelled, Transaction

HOLDING_OUTCOMES = frozenset({"mismatch", "refunded"})  # payments after which the order is held
EVENT_SEEN_DAYS = 35  # Stripe retries an event for up to 3 days


class AlreadyRecorded(Exception):
    """This provider transaction was recorded before (for the order `order_id`, as `outcome`)."""

    def __init__(self, order_id: str, outcome: str) -> None:
        super().__init__(order_id)
        self.order_id = order_id
        self.outcome = outcome


class NotPayable(Exception):
    """The order was not in the state (or for the amount) this payment needs."""


def _payment_item(
    provider: str, transaction_id: str, order_id: str, amount: int, currency: str, outcome: str, at: datetime
) -> PaymentItem:
    index_pk, index_sk = money_keys(at, transaction_id)
    return PaymentItem(
        *payment_key(provider, transaction_id),
        provider=provider,
        transaction_id=transaction_id,
        order_id=order_id,
        amount=amount,
        currency=currency,
        outcome=outcome,
        at=at,
        gsi1pk=index_pk,
        gsi1sk=index_sk,
    )


def _paid_actions(at: datetime, transaction_id: str, order_id: str) -> list[Action]:
    due_pk, due_sk = paid_keys(order_id, at)
    return [
        OrderItem.status.set(OrderStatus.PAID),
        OrderItem.paid_at.set(at),
        OrderItem.transaction_id.set(transaction_id),
        OrderItem.gsi2pk.set(due_pk),
        OrderItem.gsi2sk.set(due_sk),
    ]


def record_payment(
    order_id: str,
    payment_id: str,
    provider: str,
    transaction_id: str,
    amount: int,
    currency: str,
    at: datetime,
    from_status: str = OrderStatus.PENDING_PAYMENT,
) -> None:
    """`from_status → paid` for exactly this amount, currency and provider, and the provider
    transaction recorded, in one transaction. AlreadyRecorded if the transaction id was seen;
    NotPayable if the order is missing, in another state, for another amount, or held."""
    t = Transaction()
    outcome = "paid" if from_status == OrderStatus.PENDING_PAYMENT else "late"
    t.put(
        "payment",
        _payment_item(provider, transaction_id, order_id, amount, currency, outcome, at),
        condition=PaymentItem.pk.does_not_exist(),
    )
    t.put(
        "event",
        order_event(
            order_id,
            at,
            from_status,
            OrderStatus.PAID,
            f"{provider} payment" + (" after expiry" if outcome == "late" else ""),
            provider,
        ),
    )
    actions = _paid_actions(at, transaction_id, order_id)
    if outcome == "late":
        actions.append(OrderItem.late.set(True))
    t.update(
        "order",
        OrderItem(order_pk(order_id), ORDER_SK),
        actions=actions,
        condition=(OrderItem.status == from_status)
        & OrderItem.held.does_not_exist()
        & (OrderItem.amount == amount)
        & (OrderItem.currency == currency)
        & (OrderItem.payment_method == provider)
        & (OrderItem.payment_id == payment_id),
    )
    try:
        t.commit()
    except Cancelled as exc:
        if "payment" in exc.failed:
            existing = PaymentItem.get(*payment_key(provider, transaction_id), consistent_read=True)
            raise AlreadyRecorded(str(existing.order_id), str(existing.outcome)) from None
        raise NotPayable(order_id) from None


def flag_for_review(
    order_id: str,
    provider: str,
    transaction_id: str,
    amount: int,
    currency: str,
    reason: str,
    at: datetime,
    outcome: str = "mismatch",
) -> bool:
    """Money arrived that this order cannot take (a mismatch, a payment while held, a second
    payment, or one already refunded at the provider): record it, and mark the order for an
    operator. The order's state does not change, and after a mismatch or a refunded payment it
    is held: no later payment pays it. False if this transaction was recorded before."""
    t = Transaction()
    t.put(
        "payment",
        _payment_item(provider, transaction_id, order_id, amount, currency, outcome, at),
        condition=PaymentItem.pk.does_not_exist(),
    )
    actions: list[Action] = [OrderItem.review_reason.set(reason)]
    if outcome in HOLDING_OUTCOMES:
        actions.append(OrderItem.held.set(True))
    t.update("order", OrderItem(order_pk(order_id), ORDER_SK), actions=actions, condition=OrderItem.pk.exists())
    try:
        t.commit()
    except Cancelled as exc:
        if "payment" not in exc.failed:
            raise
        return False
    return True


def mark_for_review(order_id: str, reason: str) -> None:
    OrderItem(order_pk(order_id), ORDER_SK).update(
        actions=[OrderItem.review_reason.set(reason)], condition=OrderItem.pk.exists()
    )


def record_unmatched(
    provider: str, transaction_id: str, order_id: str, amount: int, currency: str, at: datetime
) -> None:
    """Money for an order that does not exist here: kept (once) so that reconciliation lists it."""
    try:
        _payment_item(provider, transaction_id, order_id, amount, currency, "unmatched", at).save(
            condition=PaymentItem.pk.does_not_exist()
        )
    except PutError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise


def order_of_transaction(provider: str, transaction_id: str) -> str | None:
    """The order a provider transaction paid (or was recorded against)."""
    try:
        return str(PaymentItem.get(*payment_key(provider, transaction_id)).order_id)
    except PaymentItem.DoesNotExist:
        return None


def event_seen(provider: str, event_id: str) -> bool:
    try:
        EventSeenItem.get(*event_seen_key(provider, event_id))
    except EventSeenItem.DoesNotExist:
        return False
    return True


def remember_event(provider: str, event_id: str, at: datetime) -> None:
    ttl = int((at + timedelta(days=EVENT_SEEN_DAYS)).timestamp())
    EventSeenItem(*event_seen_key(provider, event_id), at=at, ttl=ttl).save()
