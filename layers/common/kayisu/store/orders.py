"""The orders table, and every transaction that moves an order, its stock and its cards.

Each state change of an order is one DynamoDB transaction that also writes what must change
with it (stock shard counters, cards, the pending-order limits, the provider transaction, the
history event), conditioned on the state it starts from. That condition is what makes a
change happen once however often a webhook, a queue message or a sweeper repeats it: the
exactly-once logic of promises 1, 2, 3 and 5 is read here. See docs/orders.md.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    DiscriminatorAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.exceptions import PutError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.models import Model

from kayisu.aws import client
from kayisu.config import get_settings
from kayisu.store.cards import CARD_SK, CardItem, card_pk, pool_pk
from kayisu.store.catalog import StockShardItem, product_pk, shard_sk
from kayisu.store.txn import Cancelled, Transaction

INDEX_SHARDS = 16  # spreads a flash sale's index writes over 16 partitions per month / state
ORDER_SK = "ORDER"


class OrdersItem(Model):
    class Meta:
        table_name = get_settings().orders_table

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = DiscriminatorAttribute()


class OrderItem(OrdersItem, discriminator="order"):
    order_id = UnicodeAttribute()
    status = UnicodeAttribute()  # pending_payment | paid | delivered | expired | refunded
    sku = UnicodeAttribute()
    quantity = NumberAttribute()
    amount = NumberAttribute()
    currency = UnicodeAttribute()
    unit_cost = NumberAttribute(null=True)  # the product's `cost` when ordered (operators only: the dashboard's profit)
    email = UnicodeAttribute()
    limit_keys = ListAttribute(of=UnicodeAttribute, default=list)  # the pending-order limits it counts in
    units_limit_key = UnicodeAttribute(null=True)  # the pending-units limit (its IP, its SKU) it counts `quantity` in
    holds_limit = BooleanAttribute(default=True)
    token_hashes = UnicodeSetAttribute()  # SHA-256 of each access token; the tokens are never stored
    request_digest = UnicodeAttribute(null=True)  # set when made with an Idempotency-Key
    reservation = UnicodeAttribute(default="{}")  # JSON {shard: count} reserved at checkout
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

    def reserved(self) -> dict[int, int]:
        return {int(k): int(v) for k, v in json.loads(self.reservation or "{}").items()}

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


class AlertStateItem(OrdersItem, discriminator="alert"):
    """What an alert last said, so that a sweeper repeating every minute alerts once per change."""

    last_count = NumberAttribute(default=0)
    at = UTCDateTimeAttribute()


def order_pk(order_id: str) -> str:
    return f"ORDER#{order_id}"


def _index_shard(order_id: str) -> int:
    return int(hashlib.sha256(order_id.encode()).hexdigest()[:8], 16) % INDEX_SHARDS


def created_partition(at: datetime, shard: int) -> str:
    return f"CREATED#{at:%Y-%m}#{shard:02d}"


def money_partition(at: datetime, shard: int) -> str:
    return f"MONEY#{at:%Y-%m-%d}#{shard:02d}"


def money_keys(at: datetime, movement_id: str) -> tuple[str, str]:
    return money_partition(at, _index_shard(movement_id)), f"{_iso(at)}#{movement_id}"


def open_partition(state: str, shard: int) -> str:
    return f"{state}#{shard:02d}"


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def limit_key(kind: str, value: str) -> str:
    return f"LIMIT#{kind}#{hashlib.sha256(value.encode()).hexdigest()}"


def _event(order_id: str, at: datetime, before: str | None, after: str, reason: str, actor: str) -> OrderEventItem:
    return OrderEventItem(
        order_pk(order_id),
        f"EVENT#{_iso(at)}#{secrets.token_hex(3)}",
        order_id=order_id,
        at=at,
        from_status=before,
        to_status=after,
        reason=reason,
        actor=actor,
    )


def _release_limits(t: Transaction, order: OrderItem) -> list[Action]:
    """The order stops counting against its email's and IP's pending limits (once: the caller's
    transaction is conditioned on the order's state, and holds_limit goes false with it)."""
    if not order.holds_limit:
        return []
    for key in order.limit_keys:
        t.update(f"limit:{key}", LimitItem(key, "LIMIT"), actions=[LimitItem.pending.add(-1)])
    if order.units_limit_key:
        units_key = str(order.units_limit_key)
        t.update(
            f"limit:{units_key}", LimitItem(units_key, "LIMIT"), actions=[LimitItem.pending.add(-int(order.quantity))]
        )
    return [OrderItem.holds_limit.set(False)]


# -- checkout


class OrderExists(Exception):
    pass


class ShardsShort(Exception):
    """A shard no longer had the stock this reservation counted on (another order took it)."""


class LimitReached(Exception):
    pass


def place_order(
    order: OrderItem, reservation: dict[int, int], limits: dict[str, int], units_most: int | None = None
) -> None:
    """Creates the order and reserves its stock in one transaction: the order exists if and only
    if its stock was reserved and it fits its pending-order limits: each of `limits` counts
    orders (`pending < most`), `order.units_limit_key` counts units (`pending + quantity <=
    units_most`). A withdrawn order of the same id (an Idempotency-Key's earlier attempt) is
    replaced."""
    t = Transaction()
    t.put("order", order, condition=OrderItem.pk.does_not_exist() | (OrderItem.withdrawn == True))  # noqa: E712
    t.put("event", _event(order.order_id, order.created_at, None, "pending_payment", "created", "shopper"))
    for shard, count in sorted(reservation.items()):
        t.update(
            f"shard:{shard}",
            StockShardItem(product_pk(order.sku), shard_sk(shard)),
            actions=[StockShardItem.available.add(-count), StockShardItem.reserved.add(count)],
            condition=StockShardItem.available >= count,
        )
    for key, most in limits.items():
        t.update(
            f"limit:{key}",
            LimitItem(key, "LIMIT"),
            actions=[LimitItem.kind.set(LimitItem), LimitItem.pending.add(1)],
            condition=LimitItem.pending.does_not_exist() | (LimitItem.pending < most),
        )
    if order.units_limit_key and units_most is not None:
        key, units = str(order.units_limit_key), int(order.quantity)
        if units > units_most:
            raise LimitReached()  # more than the cap in one order: the counter's absence must not let it in
        t.update(
            f"limit:{key}",
            LimitItem(key, "LIMIT"),
            actions=[LimitItem.kind.set(LimitItem), LimitItem.pending.add(units)],
            condition=LimitItem.pending.does_not_exist() | (LimitItem.pending <= units_most - units),
        )
    try:
        t.commit()
    except Cancelled as exc:
        if "order" in exc.failed:
            raise OrderExists(order.order_id) from None
        if exc.any("shard:"):
            raise ShardsShort() from None
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
            condition=(OrderItem.status == "pending_payment") & OrderItem.payment_id.does_not_exist(),
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
    for shard, count in sorted(order.reserved().items()):
        t.update(
            f"shard:{shard}",
            StockShardItem(product_pk(order.sku), shard_sk(shard)),
            actions=[StockShardItem.reserved.add(-count), StockShardItem.available.add(count)],
            condition=StockShardItem.reserved >= count,
        )
    actions: list[Action] = [
        OrderItem.status.set("expired"),
        OrderItem.expired_at.set(at),
        OrderItem.withdrawn.set(True),
        OrderItem.reservation.set("{}"),
        OrderItem.gsi1pk.remove(),
        OrderItem.gsi1sk.remove(),
        OrderItem.gsi2pk.remove(),
        OrderItem.gsi2sk.remove(),
    ]
    actions += _release_limits(t, order)
    t.update(
        "order",
        OrderItem(order.pk, ORDER_SK),
        actions=actions,
        condition=(OrderItem.status == "pending_payment") & OrderItem.payment_id.does_not_exist(),
    )
    t.put("event", _event(order.order_id, at, "pending_payment", "expired", "no payment could be made", "checkout"))
    try:
        t.commit()
    except Cancelled as exc:
        if "order" in exc.failed:
            return False
        raise
    return True


def load_order(order_id: str) -> OrderItem | None:
    try:
        return OrderItem.get(order_pk(order_id), ORDER_SK, consistent_read=True)
    except OrderItem.DoesNotExist:
        return None


def add_token(order_id: str, token_hash: str) -> None:
    OrderItem(order_pk(order_id), ORDER_SK).update(
        actions=[OrderItem.token_hashes.add({token_hash})], condition=OrderItem.pk.exists()
    )


def history(order_id: str) -> tuple[OrderItem | None, list[OrderEventItem]]:
    """The order and its events, oldest first, with one Query."""
    order: OrderItem | None = None
    events: list[OrderEventItem] = []
    for item in OrdersItem.query(order_pk(order_id), consistent_read=True):
        if isinstance(item, OrderItem):
            order = item
        elif isinstance(item, OrderEventItem):
            events.append(item)
    return order, events


# -- payment


class AlreadyRecorded(Exception):
    """This provider transaction was recorded before (for the order `order_id`, as `outcome`)."""

    def __init__(self, order_id: str, outcome: str) -> None:
        super().__init__(order_id)
        self.order_id = order_id
        self.outcome = outcome


class NotPayable(Exception):
    """The order was not in the state (or for the amount) this payment needs."""


def payment_key(provider: str, transaction_id: str) -> tuple[str, str]:
    """A provider transaction's item key: one item per transaction is what makes it pay once."""
    return f"TXN#{provider}#{transaction_id}", "TXN"


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
    return [
        OrderItem.status.set("paid"),
        OrderItem.paid_at.set(at),
        OrderItem.transaction_id.set(transaction_id),
        OrderItem.gsi2pk.set(open_partition("PAID", _index_shard(order_id))),
        OrderItem.gsi2sk.set(_iso(at)),
    ]


def record_payment(
    order_id: str,
    payment_id: str,
    provider: str,
    transaction_id: str,
    amount: int,
    currency: str,
    at: datetime,
    from_status: str = "pending_payment",
) -> None:
    """`from_status → paid` for exactly this amount, currency and provider, and the provider
    transaction recorded, in one transaction. AlreadyRecorded if the transaction id was seen;
    NotPayable if the order is missing, in another state, for another amount, or held."""
    t = Transaction()
    outcome = "paid" if from_status == "pending_payment" else "late"
    t.put(
        "payment",
        _payment_item(provider, transaction_id, order_id, amount, currency, outcome, at),
        condition=PaymentItem.pk.does_not_exist(),
    )
    t.put(
        "event",
        _event(
            order_id,
            at,
            from_status,
            "paid",
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


HOLDING_OUTCOMES = frozenset({"mismatch", "refunded"})  # payments after which the order is held


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


# -- fulfilment


@dataclass(frozen=True)
class CardRef:
    batch_id: str
    digest: str
    shard: int

    @property
    def ref(self) -> str:
        return f"{self.batch_id}:{self.digest}"


def candidate_cards(sku: str, shard: int, limit: int) -> list[CardRef]:
    """Cards still in the shard's available pool (keys only: the index holds nothing else)."""
    response = client("dynamodb").query(
        TableName=get_settings().cards_table,
        IndexName="AvailablePool",
        KeyConditionExpression="pool_pk = :p",
        ExpressionAttributeValues={":p": {"S": pool_pk(sku, shard)}},
        Limit=limit,
    )
    return [
        CardRef(item["pool_sk"]["S"].rsplit("#", 1)[0], item["pk"]["S"].removeprefix("CARD#"), shard)
        for item in response.get("Items", [])
    ]


class CardsTaken(Exception):
    """Some chosen cards were sold or voided meanwhile: choose others."""

    def __init__(self, taken: set[str]) -> None:
        super().__init__(f"{len(taken)} cards")
        self.taken = taken


class OrderMoved(Exception):
    """The order is no longer in the state this change starts from (another worker got there)."""


class StockGone(Exception):
    """A late-paid order's stock is no longer available."""


def deliver(order: OrderItem, cards: list[CardRef], from_reserved: bool, token_hash: str, at: datetime) -> None:
    """`paid → delivered` with exactly these cards sold to it, in one transaction (promises 1-3):
    each card `available → sold` only if still available, the shards' counters moved
    (reserved → sold, or available → sold for a late payment), the order only if still paid."""
    t = Transaction()
    by_shard: dict[int, int] = {}
    for card in cards:
        by_shard[card.shard] = by_shard.get(card.shard, 0) + 1
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
            condition=(CardItem.status == "available") & (CardItem.sku == order.sku),
        )
    source = StockShardItem.reserved if from_reserved else StockShardItem.available
    for shard, count in sorted(by_shard.items()):
        t.update(
            f"shard:{shard}",
            StockShardItem(product_pk(order.sku), shard_sk(shard)),
            actions=[source.add(-count), StockShardItem.sold.add(count)],
            condition=source >= count,
        )
    refs: Any = [c.ref for c in cards]
    actions: list[Action] = [
        OrderItem.status.set("delivered"),
        OrderItem.delivered_at.set(at),
        OrderItem.cards.set(refs),
        OrderItem.token_hashes.add({token_hash}),
        OrderItem.gsi2pk.remove(),
        OrderItem.gsi2sk.remove(),
    ]
    actions += _release_limits(t, order)
    t.update(
        "order",
        OrderItem(order.pk, ORDER_SK),
        actions=actions,
        condition=(OrderItem.status == "paid") & OrderItem.refund_requested.does_not_exist(),
    )
    t.put("event", _event(order.order_id, at, "paid", "delivered", f"{len(cards)} cards allocated", "fulfilment"))
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


# -- refunds and expiry


def _refund_item(
    provider: str, refund_id: str, order_id: str, amount: int, currency: str, reason: str, status: str, at: datetime
) -> RefundItem:
    index_pk, index_sk = money_keys(at, refund_id)
    return RefundItem(
        refund_pk(provider, refund_id),
        "REFUND",
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


def refund_pk(provider: str, refund_id: str) -> str:
    return f"REFUND#{provider}#{refund_id}"


@dataclass
class RefundedCard:
    digest: str
    shard: int
    redeemed: bool = False


@dataclass
class RefundPlan:
    """What refunding an order gives back: cards to void (delivered) or a reservation to release."""

    void_cards: list[RefundedCard] = field(default_factory=list)
    release: dict[int, int] = field(default_factory=dict)


def sold_cards(order: OrderItem) -> list[RefundedCard]:
    keys = [(card_pk(digest), CARD_SK) for _, digest in order.card_refs()]
    return [RefundedCard(str(c.digest), int(c.shard), c.redeemed_at is not None) for c in CardItem.batch_get(keys)]


class CardRedeemed(Exception):
    """A card of the order was redeemed: it cannot be voided."""


def request_refund(order: OrderItem, reason: str, cards: list[RefundedCard], at: datetime) -> None:
    """Decides the refund before any money moves, in one transaction: the order's intent (from the
    state it is in, once) and a lock on each of its cards (still sold to it, unredeemed), which
    delivery and redemption respect, so that no partner redeems a code whose money is going back.
    A delivered order goes on the sweeper's `PAID#` index, so that an intent whose function died is
    finished. OrderMoved if the order left its state or was decided already; CardRedeemed if a
    card was redeemed first."""
    t = Transaction()
    actions: list[Action] = [OrderItem.refund_requested.set(True), OrderItem.refund_reason.set(reason)]
    if order.status == "delivered":
        actions += [
            OrderItem.gsi2pk.set(open_partition("PAID", _index_shard(order.order_id))),
            OrderItem.gsi2sk.set(_iso(at)),
        ]
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
    if order.status == "delivered":
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
            item = _refund_item(
                str(order.payment_method),
                refund_id,
                order.order_id,
                int(order.amount),
                order.currency,
                reason,
                "failed",
                at,
            )
            t.put("refund", item, condition=RefundItem.pk.does_not_exist())
        else:  # recorded before (say as pending): it failed since
            t.update(
                "refund",
                RefundItem(refund_pk(str(order.payment_method), refund_id), "REFUND"),
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
            RefundItem(refund_pk(str(order.payment_method), refund_id), "REFUND"),
            actions=[RefundItem.status.set(status), RefundItem.settled_at.set(at)],
            condition=RefundItem.pk.exists(),
        )
    else:
        t.put(
            "refund",
            _refund_item(
                str(order.payment_method),
                refund_id,
                order.order_id,
                int(order.amount),
                order.currency,
                reason,
                status,
                at,
            ),
            condition=RefundItem.pk.does_not_exist(),
        )
    t.put("event", _event(order.order_id, at, before, "refunded", reason, actor))
    by_shard: dict[int, int] = {}
    for card in plan.void_cards:
        by_shard[card.shard] = by_shard.get(card.shard, 0) + 1
        t.update(
            f"card:{card.digest}",
            CardItem(card_pk(card.digest), CARD_SK),
            actions=[CardItem.status.set("void"), CardItem.void_at.set(at), CardItem.refund_lock.remove()],
            condition=(CardItem.status == "sold")
            & (CardItem.order_id == order.order_id)
            & CardItem.redeemed_at.does_not_exist(),
        )
    for shard, count in sorted(by_shard.items()):
        t.update(
            f"shard:{shard}",
            StockShardItem(product_pk(order.sku), shard_sk(shard)),
            actions=[StockShardItem.sold.add(-count), StockShardItem.void.add(count)],
            condition=StockShardItem.sold >= count,
        )
    for shard, count in sorted(plan.release.items()):
        t.update(
            f"release:{shard}",
            StockShardItem(product_pk(order.sku), shard_sk(shard)),
            actions=[StockShardItem.reserved.add(-count), StockShardItem.available.add(count)],
            condition=StockShardItem.reserved >= count,
        )
    actions: list[Action] = [
        OrderItem.status.set("refunded"),
        OrderItem.refunded_at.set(at),
        OrderItem.refund_id.set(refund_id),
        OrderItem.refund_reason.set(reason),
        OrderItem.refund_mail_owed.set(True),
        OrderItem.refund_failed.remove(),
        OrderItem.gsi2pk.remove(),
        OrderItem.gsi2sk.remove(),
    ]
    actions += _release_limits(t, order)
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
        RefundItem.get(refund_pk(provider, refund_id), "REFUND", consistent_read=True)
    except RefundItem.DoesNotExist:
        return False
    return True


class RefundUnknown(Exception):
    """No refund with this id was recorded here."""


def settle_refund(provider: str, refund_id: str, status: str, at: datetime) -> RefundItem:
    """The provider's news of a refund we recorded: its final status. RefundUnknown if we did
    not record it (made at the provider by hand, or our record is not committed yet)."""
    item = RefundItem(refund_pk(provider, refund_id), "REFUND")
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


def order_of_transaction(provider: str, transaction_id: str) -> str | None:
    """The order a provider transaction paid (or was recorded against)."""
    try:
        return str(PaymentItem.get(*payment_key(provider, transaction_id)).order_id)
    except PaymentItem.DoesNotExist:
        return None


def event_seen(provider: str, event_id: str) -> bool:
    try:
        EventSeenItem.get(f"EVENT#{provider}#{event_id}", "EVENT")
    except EventSeenItem.DoesNotExist:
        return False
    return True


def remember_event(provider: str, event_id: str, at: datetime) -> None:
    ttl = int((at + timedelta(days=35)).timestamp())  # Stripe retries an event for up to 3 days
    EventSeenItem(f"EVENT#{provider}#{event_id}", "EVENT", at=at, ttl=ttl).save()


def expire(order: OrderItem, at: datetime) -> None:
    """`pending_payment → expired` once its deadline passed, giving its reservation back."""
    t = Transaction()
    for shard, count in sorted(order.reserved().items()):
        t.update(
            f"shard:{shard}",
            StockShardItem(product_pk(order.sku), shard_sk(shard)),
            actions=[StockShardItem.reserved.add(-count), StockShardItem.available.add(count)],
            condition=StockShardItem.reserved >= count,
        )
    actions: list[Action] = [
        OrderItem.status.set("expired"),
        OrderItem.expired_at.set(at),
        OrderItem.reservation.set("{}"),
        OrderItem.gsi2pk.remove(),
        OrderItem.gsi2sk.remove(),
    ]
    actions += _release_limits(t, order)
    t.update(
        "order",
        OrderItem(order.pk, ORDER_SK),
        actions=actions,
        condition=(OrderItem.status == "pending_payment") & (OrderItem.expires_at <= at),
    )
    t.put("event", _event(order.order_id, at, "pending_payment", "expired", "not paid in time", "sweeper"))
    try:
        t.commit()
    except Cancelled as exc:
        if "order" in exc.failed:
            raise OrderMoved(order.order_id) from None
        raise


# -- what is due, and lists


def due(state: str, before: datetime) -> Iterator[str]:
    """Order ids in `state` (PENDING by expiry, PAID by payment time) up to `before`."""
    db = client("dynamodb")
    for shard in range(INDEX_SHARDS):
        kwargs: dict[str, Any] = {
            "TableName": get_settings().orders_table,
            "IndexName": "OpenByDeadline",
            "KeyConditionExpression": "gsi2pk = :p AND gsi2sk <= :t",
            "ExpressionAttributeValues": {":p": {"S": open_partition(state, shard)}, ":t": {"S": _iso(before)}},
        }
        while True:
            page = db.query(**kwargs)
            for item in page.get("Items", []):
                yield item["pk"]["S"].removeprefix("ORDER#")
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def load_orders(order_ids: Iterable[str], attributes: list[str] | None = None) -> dict[str, OrderItem]:
    """By id, 100 per BatchGetItem; `attributes` (with `kind`) to read only those."""
    keys = [(order_pk(i), ORDER_SK) for i in dict.fromkeys(order_ids)]
    out: dict[str, OrderItem] = {}
    for start in range(0, len(keys), 100):
        for item in OrderItem.batch_get(keys[start : start + 100], attributes_to_get=attributes):
            out[str(item.order_id)] = item
    return out


def created_page(month: datetime, before: str | None, after: str | None, limit: int) -> list[tuple[str, str]]:
    """(sort key, order id) of one month's orders, newest first, from every index shard,
    between `after` and `before` (exclusive sort keys)."""
    db = client("dynamodb")
    found: list[tuple[str, str]] = []
    for shard in range(INDEX_SHARDS):
        condition = "gsi1pk = :p"
        values: dict[str, Any] = {":p": {"S": created_partition(month, shard)}}
        if before and after:
            condition += " AND gsi1sk BETWEEN :a AND :b"
            values.update({":a": {"S": after}, ":b": {"S": before}})
        elif before:
            condition += " AND gsi1sk < :b"
            values[":b"] = {"S": before}
        elif after:
            condition += " AND gsi1sk > :a"
            values[":a"] = {"S": after}
        page = db.query(
            TableName=get_settings().orders_table,
            IndexName="ByCreated",
            KeyConditionExpression=condition,
            ExpressionAttributeValues=values,
            ScanIndexForward=False,
            Limit=limit + 1,
        )
        for item in page.get("Items", []):
            key = item["gsi1sk"]["S"]
            if before and key >= before:
                continue
            found.append((key, item["pk"]["S"].removeprefix("ORDER#")))
    found.sort(reverse=True)
    return found[:limit]


def created_keys(order_id: str, at: datetime) -> tuple[str, str]:
    return created_partition(at, _index_shard(order_id)), f"{_iso(at)}#{order_id}"


def pending_keys(order_id: str, expires_at: datetime) -> tuple[str, str]:
    return open_partition("PENDING", _index_shard(order_id)), _iso(expires_at)


def sort_key_at(at: datetime) -> str:
    return _iso(at)


def email_partition(email: str) -> str:
    """The ByEmail key: a digest, so the index never holds an address as a key. Case and
    surrounding spaces are dropped (an operator types Alice@Example.com for alice@example.com)."""
    return f"EMAIL#{hashlib.sha256(email.strip().lower().encode()).hexdigest()}"


def email_keys(email: str, order_id: str, at: datetime) -> tuple[str, str]:
    return email_partition(email), f"{_iso(at)}#{order_id}"


def email_page(email: str, before: str, after: str, limit: int) -> list[tuple[str, str]]:
    """(sort key, order id) of one email's orders, newest first, with sort keys strictly
    between `after` and `before`."""
    page = client("dynamodb").query(
        TableName=get_settings().orders_table,
        IndexName="ByEmail",
        KeyConditionExpression="gsi3pk = :p AND gsi3sk BETWEEN :a AND :b",
        ExpressionAttributeValues={":p": {"S": email_partition(email)}, ":a": {"S": after}, ":b": {"S": before}},
        ScanIndexForward=False,
        Limit=limit + 1,
    )
    found = [(item["gsi3sk"]["S"], item["pk"]["S"].removeprefix("ORDER#")) for item in page.get("Items", [])]
    return [(key, order_id) for key, order_id in found if after < key < before][:limit]


# -- operator alerts


def alert_changed(name: str, count: int, at: datetime) -> bool:
    """Remembers `count` for alert `name`; True if it differs from what was last remembered."""
    try:
        AlertStateItem(f"ALERT#{name}", "ALERT", last_count=count, at=at).save(
            condition=AlertStateItem.pk.does_not_exist() | (AlertStateItem.last_count != count)
        )
    except PutError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True
