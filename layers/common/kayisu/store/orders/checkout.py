"""Checkout's writes: an order placed with its reservation and limits in one transaction, the
payment attached to it afterwards, or the order withdrawn when no payment could be made."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.update import Action

from kayisu.orders.status import OrderStatus
from kayisu.store import sales
from kayisu.store.coupons import CouponItem, take_use
from kayisu.store.orders.items import LimitItem, OrderItem, order_event, release_coupon, release_limits, release_sale
from kayisu.store.orders.keys import LIMIT_SK, ORDER_SK, created_keys, email_keys, order_pk, pending_keys
from kayisu.store.stock import Stock, StockPlan, move_plan
from kayisu.store.txn import Cancelled, Transaction


class OrderExists(Exception):
    pass


class ShardsShort(Exception):
    """A shard no longer had the stock this reservation counted on (another order took it)."""


class LimitReached(Exception):
    pass


class SaleShort(Exception):
    """A flash sale's shard no longer had the units this order counted on."""


@dataclass(frozen=True)
class SaleTake:
    """The flash-sale units an order takes: from which shards, for which buyer's count."""

    promotion_id: str
    plan: dict[int, int]
    buyer: str | None
    max_per_email: int | None


class CouponRefused(Exception):
    """The coupon had no use left for this order: `reason` is a COUPON_INVALID reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def new_order(order_id: str, email: str, created_at: datetime, expires_at: datetime, **fields: Any) -> OrderItem:
    """An order not yet placed, with its keys and index keys: listed by creation time and email,
    and due for expiry at `expires_at`. `fields` are the rest of OrderItem's attributes."""
    gsi1pk, gsi1sk = created_keys(order_id, created_at)
    gsi2pk, gsi2sk = pending_keys(order_id, expires_at)
    gsi3pk, gsi3sk = email_keys(email, order_id, created_at)
    return OrderItem(
        order_pk(order_id),
        ORDER_SK,
        order_id=order_id,
        email=email,
        created_at=created_at,
        expires_at=expires_at,
        gsi1pk=gsi1pk,
        gsi1sk=gsi1sk,
        gsi2pk=gsi2pk,
        gsi2sk=gsi2sk,
        gsi3pk=gsi3pk,
        gsi3sk=gsi3sk,
        **fields,
    )


def place_order(
    order: OrderItem,
    reservation: StockPlan,
    limits: dict[str, int],
    units_most: int | None = None,
    coupon: CouponItem | None = None,
    buyer: str | None = None,
    sale: SaleTake | None = None,
) -> None:
    """Creates the order and reserves its stock (`reservation`: a bundle's over its components)
    in one transaction: the order exists if and only
    if its stock was reserved and it fits its pending-order limits: each of `limits` counts
    orders (`pending < most`), `order.units_limit_key` counts units (`pending + quantity <=
    units_most`). A withdrawn order of the same id (an Idempotency-Key's earlier attempt) is
    replaced. With `coupon`, the order takes one of its uses (and one of `buyer`'s, if the
    coupon counts them): CouponRefused if none is left. With `sale`, it takes the flash sale's
    units from the shards planned: SaleShort if one had fewer left, LimitReached if the buyer
    would pass the sale's `max_per_email`."""
    t = Transaction()
    t.put("order", order, condition=OrderItem.pk.does_not_exist() | (OrderItem.withdrawn == True))  # noqa: E712
    t.put(
        "event", order_event(order.order_id, order.created_at, None, OrderStatus.PENDING_PAYMENT, "created", "shopper")
    )
    move_plan(t, reservation, Stock.AVAILABLE, Stock.RESERVED)
    for key, most in limits.items():
        t.update(
            f"limit:{key}",
            LimitItem(key, LIMIT_SK),
            actions=[LimitItem.kind.set(LimitItem), LimitItem.pending.add(1)],
            condition=LimitItem.pending.does_not_exist() | (LimitItem.pending < most),
        )
    if order.units_limit_key and units_most is not None:
        key, units = str(order.units_limit_key), int(order.quantity)
        if units > units_most:
            raise LimitReached()  # more than the cap in one order: the counter's absence must not let it in
        t.update(
            f"limit:{key}",
            LimitItem(key, LIMIT_SK),
            actions=[LimitItem.kind.set(LimitItem), LimitItem.pending.add(units)],
            condition=LimitItem.pending.does_not_exist() | (LimitItem.pending <= units_most - units),
        )
    if coupon is not None:
        take_use(t, coupon, buyer)
    if sale is not None:
        sales.take(t, sale.promotion_id, sale.plan, sale.buyer, int(order.quantity), sale.max_per_email)
    try:
        t.commit()
    except Cancelled as exc:
        if "order" in exc.failed:
            raise OrderExists(order.order_id) from None
        if exc.any("shard:"):
            raise ShardsShort() from None
        if exc.any("sale:"):
            raise SaleShort() from None
        if "coupon" in exc.failed:
            raise CouponRefused("used_up") from None
        if "coupon_buyer" in exc.failed:
            raise CouponRefused("per_buyer_limit") from None
        raise LimitReached() from None


def attach_payment(order_id: str, payment_id: str, pay_url: str | None, qr_code: str | None) -> bool:
    """How to pay, once the provider made the payment of an order placed without one. False if
    the order has a payment already (a repeat attached it first) or was withdrawn."""
    actions: list[Action] = [OrderItem.payment_id.set(payment_id)]
    if pay_url is not None:
        actions.append(OrderItem.pay_url.set(pay_url))
    if qr_code is not None:
        actions.append(OrderItem.qr_code.set(qr_code))
    try:
        OrderItem(order_pk(order_id), ORDER_SK).update(
            actions=actions,
            condition=(OrderItem.status == OrderStatus.PENDING_PAYMENT) & OrderItem.payment_id.does_not_exist(),
        )
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def withdraw_order(order: OrderItem, at: datetime) -> bool:
    """The provider could not make the payment of an order just placed: in one transaction its
    stock and limits are given back and the order becomes a tombstone (`expired`, `withdrawn`,
    out of every index), which nobody can read or list and which a retry with the same
    Idempotency-Key replaces. False if a payment was attached meanwhile (a repeat's): the
    order stands. (A tombstone rather than a delete: the checkout role writes orders, it does
    not delete them.)"""
    t = Transaction()
    move_plan(t, order.reserved(), Stock.RESERVED, Stock.AVAILABLE)
    actions: list[Action] = [
        OrderItem.status.set(OrderStatus.EXPIRED),
        OrderItem.expired_at.set(at),
        OrderItem.withdrawn.set(True),
        OrderItem.reservation.set("{}"),
        OrderItem.gsi1pk.remove(),
        OrderItem.gsi1sk.remove(),
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
        condition=(OrderItem.status == OrderStatus.PENDING_PAYMENT) & OrderItem.payment_id.does_not_exist(),
    )
    reason = "no payment could be made"
    t.put(
        "event", order_event(order.order_id, at, OrderStatus.PENDING_PAYMENT, OrderStatus.EXPIRED, reason, "checkout")
    )
    try:
        t.commit()
    except Cancelled as exc:
        if "order" in exc.failed:
            return False
        raise
    return True


def add_token(order_id: str, token_hash: str) -> None:
    OrderItem(order_pk(order_id), ORDER_SK).update(
        actions=[OrderItem.token_hashes.add({token_hash})], condition=OrderItem.pk.exists()
    )
