"""Refunds' and expiry's writes. A refund is decided before money moves (the order's intent and
a lock on each card, in one transaction), then finished (`paid | delivered → refunded`, cards
void or the reservation back, the refund recorded) or held when the provider says it failed.
An unpaid order past its deadline expires, giving its reservation back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.update import Action

from kayisu.orders.status import OrderStatus
from kayisu.store.cards import CARD_SK, CardItem, card_pk
from kayisu.store.orders.items import (
    OrderItem,
    OrderMoved,
    RefundItem,
    order_event,
    release_coupon,
    release_limits,
    release_sale,
)
from kayisu.store.orders.keys import ORDER_SK, REFUND_SK, money_keys, order_pk, paid_keys, refund_pk
from kayisu.store.stock import Stock, StockPlan, move_plan
from kayisu.store.txn import Cancelled, Transaction


@dataclass
class RefundedCard:
    digest: str
    shard: int
    redeemed: bool = False
    sku: str = ""  # its own SKU (a bundle's order holds cards of its components); "": the order's


@dataclass
class RefundPlan:
    """What refunding an order gives back: cards to void (delivered) or a reservation to release."""

    void_cards: list[RefundedCard] = field(default_factory=list)
    release: StockPlan = field(default_factory=dict)


class CardRedeemed(Exception):
    """A card of the order was redeemed: it cannot be voided."""


class RefundUnknown(Exception):
    """No refund with this id was recorded here."""


def _refund_item(
    provider: str, refund_id: str, order_id: str, amount: int, currency: str, reason: str, status: str, at: datetime
) -> RefundItem:
    index_pk, index_sk = money_keys(at, refund_id)
    return RefundItem(
        refund_pk(provider, refund_id),
        REFUND_SK,
        provider=provider,
        refund_id=refund_id,
        order_id=order_id,
        amount=amount,
        currency=currency,
        reason=reason,
        status=status,
        at=at,
        gsi1pk=index_pk,
        gsi1sk=index_sk,
    )


def _order_refund_item(order: OrderItem, refund_id: str, reason: str, status: str, at: datetime) -> RefundItem:
    return _refund_item(
        str(order.payment_method), refund_id, order.order_id, int(order.amount), order.currency, reason, status, at
    )


def sold_cards(order: OrderItem) -> list[RefundedCard]:
    keys = [(card_pk(digest), CARD_SK) for _, digest in order.card_refs()]
    return [
        RefundedCard(str(c.digest), int(c.shard), c.redeemed_at is not None, str(c.sku))
        for c in CardItem.batch_get(keys)
    ]


def request_refund(order: OrderItem, reason: str, cards: list[RefundedCard], at: datetime) -> None:
    """Decides the refund before any money moves, in one transaction: the order's intent (from the
    state it is in, once) and a lock on each of its cards (still sold to it, unredeemed), which
    delivery and redemption respect, so that no partner redeems a code whose money is going back.
    A delivered order goes on the sweeper's `PAID#` index, so that an intent whose function died is
    finished. OrderMoved if the order left its state or was decided already; CardRedeemed if a
    card was redeemed first."""
    t = Transaction()
    actions: list[Action] = [OrderItem.refund_requested.set(True), OrderItem.refund_reason.set(reason)]
    if order.status == OrderStatus.DELIVERED:
        due_pk, due_sk = paid_keys(order.order_id, at)
        actions += [OrderItem.gsi2pk.set(due_pk), OrderItem.gsi2sk.set(due_sk)]
    t.update(
        "order",
        OrderItem(order.pk, ORDER_SK),
        actions=actions,
        condition=(OrderItem.status == order.status) & OrderItem.refund_requested.does_not_exist(),
    )
    for card in cards:
        t.update(
            f"card:{card.digest}",
            CardItem(card_pk(card.digest), CARD_SK),
            actions=[CardItem.refund_lock.set(order.order_id)],
            condition=(CardItem.status == "sold")
            & (CardItem.order_id == order.order_id)
            & CardItem.redeemed_at.does_not_exist(),
        )
    try:
        t.commit()
    except Cancelled as exc:
        if "order" in exc.failed:
            raise OrderMoved(order.order_id) from None
        raise CardRedeemed(order.order_id) from None


def release_refund(order: OrderItem, cards: list[RefundedCard]) -> None:
    """Undoes a refund decision the provider declined (no money moved): the intent goes, and the
    cards are redeemable again. OrderMoved if someone else moved the order meanwhile."""
    t = Transaction()
    actions: list[Action] = [OrderItem.refund_requested.remove(), OrderItem.refund_reason.remove()]
    if order.status == OrderStatus.DELIVERED:
        actions += [OrderItem.gsi2pk.remove(), OrderItem.gsi2sk.remove()]
    t.update(
        "order",
        OrderItem(order.pk, ORDER_SK),
        actions=actions,
        condition=(OrderItem.status == order.status)
        & OrderItem.refund_requested.exists()
        & OrderItem.refund_failed.does_not_exist(),
    )
    for card in cards:
        t.update(
            f"card:{card.digest}",
            CardItem(card_pk(card.digest), CARD_SK),
            actions=[CardItem.refund_lock.remove()],
            condition=CardItem.refund_lock == order.order_id,
        )
    try:
        t.commit()
    except Cancelled:
        raise OrderMoved(order.order_id) from None


def hold_refund(order: OrderItem, refund_id: str, reason: str, note: str, at: datetime) -> bool:
    """The provider reports the refund failed: the money did not go back. The refund is recorded
    (status `failed`, so finance does not count it), the order stays in its state with a
    `review_reason`, off the sweeper's index, its cards still locked (its refund is still owed).
    True if this is news (not held before), for the caller to alert once."""
    recorded = False
    for _attempt in range(2):
        t = Transaction()
        if not recorded:
            item = _order_refund_item(order, refund_id, reason, "failed", at)
            t.put("refund", item, condition=RefundItem.pk.does_not_exist())
        else:  # recorded before (say as pending): it failed since
            t.update(
                "refund",
                RefundItem(refund_pk(str(order.payment_method), refund_id), REFUND_SK),
                actions=[RefundItem.status.set("failed"), RefundItem.settled_at.set(at)],
                condition=RefundItem.pk.exists(),
            )
        t.update(
            "order",
            OrderItem(order.pk, ORDER_SK),
            actions=[
                OrderItem.refund_failed.set(True),
                OrderItem.review_reason.set(note),
                OrderItem.gsi2pk.remove(),
                OrderItem.gsi2sk.remove(),
            ],
            condition=(OrderItem.status == order.status)
            & OrderItem.refund_requested.exists()
            & OrderItem.refund_failed.does_not_exist(),
        )
        try:
            t.commit()
        except Cancelled as exc:
            if "order" in exc.failed:
                return False  # held already (a repeat), or finished by someone else
            recorded = True
            continue
        return True
    return False


def refund(
    order: OrderItem,
    refund_id: str,
    reason: str,
    actor: str,
    plan: RefundPlan,
    at: datetime,
    status: str = "succeeded",
    recorded: bool = False,
) -> None:
    """`paid | delivered → refunded` with the refund recorded, in one transaction. A delivered
    order's cards go `sold → void` (unless redeemed); a paid order's reservation returns to
    available. `recorded`: the refund was recorded before as failed (the order held), and the
    provider now reports it done. OrderMoved if the order left that state meanwhile."""
    t = Transaction()
    before = str(order.status)
    if recorded:
        t.update(
            "refund",
            RefundItem(refund_pk(str(order.payment_method), refund_id), REFUND_SK),
            actions=[RefundItem.status.set(status), RefundItem.settled_at.set(at)],
            condition=RefundItem.pk.exists(),
        )
    else:
        t.put(
            "refund",
            _order_refund_item(order, refund_id, reason, status, at),
            condition=RefundItem.pk.does_not_exist(),
        )
    t.put("event", order_event(order.order_id, at, before, OrderStatus.REFUNDED, reason, actor))
    voided: StockPlan = {}
    for card in plan.void_cards:
        at_shard = (card.sku or str(order.sku), card.shard)
        voided[at_shard] = voided.get(at_shard, 0) + 1
        t.update(
            f"card:{card.digest}",
            CardItem(card_pk(card.digest), CARD_SK),
            actions=[CardItem.status.set("void"), CardItem.void_at.set(at), CardItem.refund_lock.remove()],
            condition=(CardItem.status == "sold")
            & (CardItem.order_id == order.order_id)
            & CardItem.redeemed_at.does_not_exist(),
        )
    move_plan(t, voided, Stock.SOLD, Stock.VOID)
    move_plan(t, plan.release, Stock.RESERVED, Stock.AVAILABLE, prefix="release")
    actions: list[Action] = [
        OrderItem.status.set(OrderStatus.REFUNDED),
        OrderItem.refunded_at.set(at),
        OrderItem.refund_id.set(refund_id),
        OrderItem.refund_reason.set(reason),
        OrderItem.refund_mail_owed.set(True),
        OrderItem.refund_failed.remove(),
        OrderItem.gsi2pk.remove(),
        OrderItem.gsi2sk.remove(),
    ]
    actions += release_limits(t, order)
    # A refund leaves a coupon's use and a flash sale's units where they are: held by an order
    # paid in time (it counts against max_uses; `used` counts delivered orders), given back by
    # one paid late. So refunds, of every path, write only the orders, cards and catalog tables.
    t.update("order", OrderItem(order.pk, ORDER_SK), actions=actions, condition=OrderItem.status == before)
    try:
        t.commit()
    except Cancelled as exc:
        if "order" in exc.failed or "refund" in exc.failed:
            raise OrderMoved(order.order_id) from None
        if exc.any("card:"):
            raise CardRedeemed(order.order_id) from None
        raise


def refund_recorded(provider: str, refund_id: str) -> bool:
    try:
        RefundItem.get(refund_pk(provider, refund_id), REFUND_SK, consistent_read=True)
    except RefundItem.DoesNotExist:
        return False
    return True


def settle_refund(provider: str, refund_id: str, status: str, at: datetime) -> RefundItem:
    """The provider's news of a refund we recorded: its final status. RefundUnknown if we did
    not record it (made at the provider by hand, or our record is not committed yet)."""
    item = RefundItem(refund_pk(provider, refund_id), REFUND_SK)
    try:
        item.update(
            actions=[RefundItem.status.set(status), RefundItem.settled_at.set(at)],
            condition=RefundItem.pk.exists(),
        )
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise RefundUnknown(refund_id) from None
        raise
    return item


def record_outside_refund(
    provider: str, refund_id: str, order_id: str, amount: int, currency: str, status: str, at: datetime
) -> None:
    """A refund made at the provider, not here (e.g. in its dashboard): recorded once for finance,
    and the order, if there is one, marked for an operator. The order's state does not change."""
    note = f"refunded at {provider} outside Kayisu ({refund_id}, {status}): refund it here to void its cards"
    t = Transaction()
    t.put(
        "refund",
        _refund_item(provider, refund_id, order_id, amount, currency, "refunded at the provider", status, at),
        condition=RefundItem.pk.does_not_exist(),
    )
    if order_id:
        t.update(
            "order",
            OrderItem(order_pk(order_id), ORDER_SK),
            actions=[OrderItem.review_reason.set(note)],
            condition=OrderItem.pk.exists(),
        )
    try:
        t.commit()
    except Cancelled as exc:
        if "refund" in exc.failed:
            return  # recorded before
        if "order" in exc.failed:
            _refund_item(provider, refund_id, order_id, amount, currency, note, status, at).save(
                condition=RefundItem.pk.does_not_exist()
            )
            return
        raise


def expire(order: OrderItem, at: datetime) -> None:
    """`pending_payment → expired` once its deadline passed, giving its reservation back."""
    t = Transaction()
    move_plan(t, order.reserved(), Stock.RESERVED, Stock.AVAILABLE)
    actions: list[Action] = [
        OrderItem.status.set(OrderStatus.EXPIRED),
        OrderItem.expired_at.set(at),
        OrderItem.reservation.set("{}"),
        OrderItem.gsi2pk.remove(),
        OrderItem.gsi2sk.remove(),
    ]
    actions += release_limits(t, order)
    actions += release_coupon(t, order, kept=False)
    actions += release_sale(t, order, kept=False)
    t.update(
        "order",
        OrderItem(order.pk, ORDER_SK),
        actions=actions,
        condition=(OrderItem.status == OrderStatus.PENDING_PAYMENT) & (OrderItem.expires_at <= at),
    )
    t.put(
        "event",
        order_event(
            order.order_id, at, OrderStatus.PENDING_PAYMENT, OrderStatus.EXPIRED, "not paid in time", "sweeper"
        ),
    )
    try:
        t.commit()
    except Cancelled as exc:
        if "order" in exc.failed:
            raise OrderMoved(order.order_id) from None
        raise
