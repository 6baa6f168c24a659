"""The orders table's items, and the parts every state change of an order writes with it: its
history event and the release of its pending-order limits."""

from __future__ import annotations

import json
import secrets
from datetime import datetime

from pynamodb.attributes import (
    BooleanAttribute,
    DiscriminatorAttribute,
    JSONAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.expressions.update import Action
from pynamodb.models import Model

from kayisu.config import get_settings
from kayisu.store import sales
from kayisu.store.coupons import give_back, keep
from kayisu.store.orders.keys import LIMIT_SK, iso, order_pk
from kayisu.store.promotions_table import HELD, KEPT, RETURNED
from kayisu.store.stock import StockPlan
from kayisu.store.txn import Transaction


class OrdersItem(Model):
    class Meta:
        table_name = get_settings().orders_table

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = DiscriminatorAttribute()


class OrderItem(OrdersItem, discriminator="order"):
    order_id = UnicodeAttribute()
    status = UnicodeAttribute()  # an OrderStatus (kayisu.orders.status)
    sku = UnicodeAttribute()
    quantity = NumberAttribute()
    amount = NumberAttribute()
    subtotal = NumberAttribute(null=True)  # list price × quantity; absent on orders placed before promotions: = amount
    discounts = JSONAttribute(null=True)  # [{"kind", "id", "amount"}] of its quote (CONTRACT §8)
    coupon_id = UnicodeAttribute(null=True)  # the coupon it used (kayisu.store.coupons)
    coupon_buyer = UnicodeAttribute(null=True)  # its buyer's use counter of that coupon, if the coupon counts them
    coupon_use = UnicodeAttribute(null=True)  # held | returned | kept: see release_coupon
    sale_id = UnicodeAttribute(null=True)  # the flash sale whose price it has (kayisu.store.sales)
    sale_reservation = JSONAttribute(null=True)  # {shard: units} taken from the sale's counters
    sale_buyer = UnicodeAttribute(null=True)  # its buyer's units counter of the sale, if it counts them
    sale_use = UnicodeAttribute(null=True)  # held | returned | kept: see release_sale
    currency = UnicodeAttribute()
    unit_cost = NumberAttribute(null=True)  # the product's `cost` when ordered (operators only: the dashboard's profit)
    email = UnicodeAttribute()
    limit_keys = ListAttribute(of=UnicodeAttribute, default=list)  # the pending-order limits it counts in
    units_limit_key = UnicodeAttribute(null=True)  # the pending-units limit (its IP, its SKU) it counts `quantity` in
    holds_limit = BooleanAttribute(default=True)
    token_hashes = UnicodeSetAttribute()  # SHA-256 of each access token; the tokens are never stored
    request_digest = UnicodeAttribute(null=True)  # set when made with an Idempotency-Key
    # JSON {shard: count} reserved at checkout; a bundle's {"{component sku}#{shard}": count}
    reservation = UnicodeAttribute(default="{}")
    bundle = JSONAttribute(null=True)  # a bundle's order: {component sku: units per bundle} when ordered
    payment_method = UnicodeAttribute()
    payment_id = UnicodeAttribute(null=True)
    pay_url = UnicodeAttribute(null=True)
    qr_code = UnicodeAttribute(null=True)
    transaction_id = UnicodeAttribute(null=True)
    cards = ListAttribute(of=UnicodeAttribute, null=True)  # "{batch_id}:{digest}" of each delivered card
    refund_id = UnicodeAttribute(null=True)
    refund_reason = UnicodeAttribute(null=True)
    review_reason = UnicodeAttribute(null=True)
    held = BooleanAttribute(null=True)  # a payment did not match it: never paid nor delivered (CONTRACT §2)
    withdrawn = BooleanAttribute(null=True)  # its payment could not be made: a tombstone its key's retry replaces
    late = BooleanAttribute(default=False)  # paid after it had expired
    created_at = UTCDateTimeAttribute()
    expires_at = UTCDateTimeAttribute()
    paid_at = UTCDateTimeAttribute(null=True)
    delivered_at = UTCDateTimeAttribute(null=True)
    expired_at = UTCDateTimeAttribute(null=True)
    refunded_at = UTCDateTimeAttribute(null=True)
    mailed_at = UTCDateTimeAttribute(null=True)
    refund_mail_owed = BooleanAttribute(null=True)  # set with the refund, removed once mailed
    refund_requested = BooleanAttribute(null=True)  # decided before the provider is asked; delivery respects it
    refund_failed = BooleanAttribute(null=True)  # the provider reported the refund failed: held for an operator
    api_base = UnicodeAttribute(null=True)  # this API's base URL when ordered: where providers send refund news
    # ByCreated (admin lists, newest first) and OpenByDeadline (sparse: what a sweeper must do).
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    gsi2pk = UnicodeAttribute(null=True)
    gsi2sk = UnicodeAttribute(null=True)
    # ByEmail (keys only): operators find a buyer's orders by the SHA-256 of the normalised email.
    gsi3pk = UnicodeAttribute(null=True)
    gsi3sk = UnicodeAttribute(null=True)

    def reserved(self) -> StockPlan:
        """What the order holds reserved, by (sku, shard)."""
        plan: StockPlan = {}
        for key, count in json.loads(self.reservation or "{}").items():
            sku, _, shard = str(key).rpartition("#")
            plan[(sku or str(self.sku), int(shard))] = int(count)
        return plan

    def stock_units(self) -> dict[str, int]:
        """The cards it takes of each SKU: `quantity` of its own, or of each bundle component."""
        per_bundle = {str(k): int(v) for k, v in (self.bundle or {}).items()} or {str(self.sku): 1}
        return {sku: units * int(self.quantity) for sku, units in per_bundle.items()}

    def card_refs(self) -> list[tuple[str, str]]:
        pairs = [str(ref).split(":", 1) for ref in self.cards or []]
        return [(batch_id, digest) for batch_id, digest in pairs]


class OrderEventItem(OrdersItem, discriminator="event"):
    """One state change, written in the transaction that made it (the history admins see)."""

    order_id = UnicodeAttribute()
    at = UTCDateTimeAttribute()
    from_status = UnicodeAttribute(null=True)
    to_status = UnicodeAttribute()
    reason = UnicodeAttribute()
    actor = UnicodeAttribute()


class MoneyItem(OrdersItem):
    """A movement of money at a provider (payment or refund), on the `MONEY#{day}` index
    partitions that finance reports read."""

    provider = UnicodeAttribute()
    order_id = UnicodeAttribute()
    amount = NumberAttribute()
    currency = UnicodeAttribute()
    at = UTCDateTimeAttribute()
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()


class PaymentItem(MoneyItem, discriminator="payment"):
    """A provider transaction: its key makes one transaction pay one order once (promise 5)."""

    transaction_id = UnicodeAttribute()
    # paid | late | mismatch | held (its order was held after a mismatch) | duplicate | unmatched (no such order)
    # | refunded (refunded at the provider before it was applied: its order is held)
    outcome = UnicodeAttribute()


class RefundItem(MoneyItem, discriminator="refund"):
    refund_id = UnicodeAttribute()
    reason = UnicodeAttribute()
    status = UnicodeAttribute(null=True)  # succeeded | pending | failed (RefundStatus); absent: succeeded
    settled_at = UTCDateTimeAttribute(null=True)  # when the provider's notification confirmed it


class EventSeenItem(OrdersItem, discriminator="event_seen"):
    """A provider event handled to the end, for providers that repeat events under one id."""

    at = UTCDateTimeAttribute()
    ttl = NumberAttribute()


class LimitItem(OrdersItem, discriminator="limit"):
    """How many unpaid orders an email or a source IP holds (or, for `LIMIT#IPSKU#…`, how
    many units of one SKU one source IP holds)."""

    pending = NumberAttribute(default=0)


class OrderMoved(Exception):
    """The order is no longer in the state this change starts from (another worker got there)."""


def reservation_json(sku: str, plan: StockPlan) -> str:
    """An order's `reservation`: shards of its own SKU by number, a bundle's components' by
    `{sku}#{shard}` (SKUs have no '#')."""
    return json.dumps({(str(shard) if s == sku else f"{s}#{shard}"): n for (s, shard), n in sorted(plan.items())})


def order_event(order_id: str, at: datetime, before: str | None, after: str, reason: str, actor: str) -> OrderEventItem:
    return OrderEventItem(
        order_pk(order_id),
        f"EVENT#{iso(at)}#{secrets.token_hex(3)}",
        order_id=order_id,
        at=at,
        from_status=before,
        to_status=after,
        reason=reason,
        actor=actor,
    )


def release_limits(t: Transaction, order: OrderItem) -> list[Action]:
    """The order stops counting against its email's and IP's pending limits (once: the caller's
    transaction is conditioned on the order's state, and holds_limit goes false with it)."""
    if not order.holds_limit:
        return []
    for key in order.limit_keys:
        t.update(f"limit:{key}", LimitItem(key, LIMIT_SK), actions=[LimitItem.pending.add(-1)])
    if order.units_limit_key:
        units_key = str(order.units_limit_key)
        t.update(
            f"limit:{units_key}", LimitItem(units_key, LIMIT_SK), actions=[LimitItem.pending.add(-int(order.quantity))]
        )
    return [OrderItem.holds_limit.set(False)]


def release_coupon(t: Transaction, order: OrderItem, kept: bool) -> list[Action]:
    """The order stops holding its coupon's use: given back (`kept` false: it expired or was
    withdrawn, never paid) or kept (delivered; a refund leaves it as it is). Once: the caller's
    transaction is conditioned on the order's state, and `coupon_use` changes with it. A late
    payment's order gave its use back when it expired and takes it again when kept."""
    if order.coupon_id is None or order.coupon_use == KEPT:
        return []
    coupon_id, buyer = str(order.coupon_id), order.coupon_buyer
    if not kept:
        if order.coupon_use != HELD:
            return []
        give_back(t, coupon_id, buyer)
        return [OrderItem.coupon_use.set(RETURNED)]
    keep(t, coupon_id, already_taken=order.coupon_use == HELD, buyer=buyer)
    return [OrderItem.coupon_use.set(KEPT)]


def release_sale(t: Transaction, order: OrderItem, kept: bool) -> list[Action]:
    """As release_coupon, for the flash-sale units the order took: given back when it expires
    or is withdrawn, kept when delivered (a late payment's units,
    given back at expiry, are taken again then)."""
    if order.sale_id is None or order.sale_use == KEPT:
        return []
    plan = {int(k): int(v) for k, v in (order.sale_reservation or {}).items()}
    sale_id, buyer, units = str(order.sale_id), order.sale_buyer, int(order.quantity)
    if not kept:
        if order.sale_use != HELD:
            return []
        sales.give_back(t, sale_id, plan, buyer, units)
        return [OrderItem.sale_use.set(RETURNED)]
    if order.sale_use == RETURNED and plan:
        # Taken again from one shard (it may go below 0: the sale's `sold` stays right), so the
        # delivery's transaction holds two more items at most (reservation.BOOKKEEPING_ITEMS).
        sales.give_back(t, sale_id, {min(plan): units}, buyer, units, sign=-1)
    return [OrderItem.sale_use.set(KEPT)]
