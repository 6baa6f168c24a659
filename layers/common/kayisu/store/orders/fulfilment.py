"""Fulfilment's writes: a paid order delivered with exactly its cards in one transaction
(promises 1-3), and the claim on sending its delivery mail again."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.update import Action

from kayisu.orders.status import OrderStatus
from kayisu.store.cards import CARD_SK, CardItem, CardRef, card_pk
from kayisu.store.orders.items import OrderItem, OrderMoved, order_event, release_coupon, release_limits, release_sale
from kayisu.store.orders.keys import ORDER_SK, order_pk
from kayisu.store.stock import Stock, StockPlan, move_plan
from kayisu.store.txn import Cancelled, Transaction


class CardsTaken(Exception):
    """Some chosen cards were sold or voided meanwhile: choose others."""

    def __init__(self, taken: set[str]) -> None:
        super().__init__(f"{len(taken)} cards")
        self.taken = taken


class StockGone(Exception):
    """A late-paid order's stock is no longer available."""


def deliver(order: OrderItem, cards: list[CardRef], from_reserved: bool, token_hash: str, at: datetime) -> None:
    """`paid → delivered` with exactly these cards sold to it, in one transaction (promises 1-3):
    each card `available → sold` only if still available, the shards' counters moved
    (reserved → sold, or available → sold for a late payment), the order only if still paid."""
    t = Transaction()
    sold: StockPlan = {}
    for card in cards:
        sku = card.sku or str(order.sku)
        sold[(sku, card.shard)] = sold.get((sku, card.shard), 0) + 1
        t.update(
            f"card:{card.digest}",
            CardItem(card_pk(card.digest), CARD_SK),
            actions=[
                CardItem.status.set("sold"),
                CardItem.order_id.set(order.order_id),
                CardItem.sold_at.set(at),
                CardItem.pool_pk.remove(),
                CardItem.pool_sk.remove(),
            ],
            condition=(CardItem.status == "available") & (CardItem.sku == (card.sku or order.sku)),
        )
    source = Stock.RESERVED if from_reserved else Stock.AVAILABLE
    move_plan(t, sold, source, Stock.SOLD)
    refs: Any = [c.ref for c in cards]
    actions: list[Action] = [
        OrderItem.status.set(OrderStatus.DELIVERED),
        OrderItem.delivered_at.set(at),
        OrderItem.cards.set(refs),
        OrderItem.token_hashes.add({token_hash}),
        OrderItem.gsi2pk.remove(),
        OrderItem.gsi2sk.remove(),
    ]
    actions += release_limits(t, order)
    actions += release_coupon(t, order, kept=True)
    actions += release_sale(t, order, kept=True)
    t.update(
        "order",
        OrderItem(order.pk, ORDER_SK),
        actions=actions,
        condition=(OrderItem.status == OrderStatus.PAID) & OrderItem.refund_requested.does_not_exist(),
    )
    t.put(
        "event",
        order_event(
            order.order_id, at, OrderStatus.PAID, OrderStatus.DELIVERED, f"{len(cards)} cards allocated", "fulfilment"
        ),
    )
    try:
        t.commit()
    except Cancelled as exc:
        if "order" in exc.failed:
            raise OrderMoved(order.order_id) from None
        taken = {name.removeprefix("card:") for name in exc.failed if name.startswith("card:")}
        if taken:
            raise CardsTaken(taken) from None
        raise StockGone(order.order_id) from None


def claim_mail(order_id: str, at: datetime) -> bool:
    """True for the one repeat that gets to send a delivery mail again (see fulfilment)."""
    try:
        OrderItem(order_pk(order_id), ORDER_SK).update(
            actions=[OrderItem.mailed_at.set(at)], condition=OrderItem.mailed_at.does_not_exist()
        )
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def release_mail(order_id: str) -> None:
    OrderItem(order_pk(order_id), ORDER_SK).update(actions=[OrderItem.mailed_at.remove()])


def refund_mailed(order_id: str) -> None:
    OrderItem(order_pk(order_id), ORDER_SK).update(actions=[OrderItem.refund_mail_owed.remove()])
