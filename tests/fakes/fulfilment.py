"""In-memory stand-ins for what fulfilment and refunds touch (kayisu.orders.ports): the orders
table with the cards and stock counters its transactions change, the catalog's shards, the
cards' available pool, and a provider's refunds. Fakes, not mocks: each write keeps the
conditions of the DynamoDB transaction it stands for (kayisu.store.orders.fulfilment, .refunds)
and fails the way it does, so fulfilment's branches run against behaviour, and the tests assert
on the state left: each card's owner, each shard's counters, each order's state."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kayisu.orders.status import OrderStatus
from kayisu.payments.provider import ProviderError, Refund, RefundStatus
from kayisu.store.cards import CardRef
from kayisu.store.catalog import ProductItem, ProductWithShards, product_pk
from kayisu.store.orders import (
    CardRedeemed,
    CardsTaken,
    OrderItem,
    OrderMoved,
    RefundedCard,
    RefundPlan,
    StockGone,
    new_order,
    reservation_json,
)

AT = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
COUNTERS = ("imported", "available", "reserved", "sold", "void")


@dataclass
class Card:
    batch_id: str
    digest: str
    sku: str
    shard: int
    status: str = "available"  # available | sold | void
    order_id: str | None = None
    refund_lock: str | None = None
    redeemed: bool = False


@dataclass
class FakeShop:
    """The orders, cards and catalog tables of one shop. `orders` holds the stored rows; reads
    return copies, as DynamoDB's do, so a rule never sees a write it did not read back."""

    orders: dict[str, OrderItem] = field(default_factory=dict)
    cards: dict[str, Card] = field(default_factory=dict)
    shards: dict[tuple[str, int], dict[str, int]] = field(default_factory=dict)
    products: set[str] = field(default_factory=set)
    refunds: dict[tuple[str, str], str] = field(default_factory=dict)  # (provider, refund id) → status
    meanwhile: list[Callable[[list[CardRef]], None]] = field(default_factory=list)  # before the next delivery's write

    # -- set-up

    def stock(self, sku: str, shard: int, count: int) -> list[Card]:
        """`count` cards imported into the shard."""
        self.products.add(sku)
        counters = self.counters(sku, shard)
        made = []
        for _ in range(count):
            n = len(self.cards)
            card = Card("bat_1", f"d{n:04d}", sku, shard)
            self.cards[card.digest] = card
            made.append(card)
        counters["imported"] += count
        counters["available"] += count
        return made

    def counters(self, sku: str, shard: int) -> dict[str, int]:
        return self.shards.setdefault((sku, shard), dict.fromkeys(COUNTERS, 0))

    def paid_order(
        self, order_id: str, sku: str = "GIFT-100", quantity: int = 1, reserved_in: int | None = 0, **fields: object
    ) -> OrderItem:
        """A paid order, its units reserved in shard `reserved_in` at checkout (None: paid after
        it expired, so its reservation went back)."""
        reservation: dict[tuple[str, int], int] = {}
        if reserved_in is not None:
            self._move(sku, reserved_in, "available", "reserved", quantity)
            reservation = {(sku, reserved_in): quantity}
        order = new_order(
            order_id,
            f"{order_id}@example.com",
            AT,
            AT + timedelta(minutes=15),
            status=fields.pop("status", OrderStatus.PAID),
            sku=sku,
            quantity=quantity,
            amount=990 * quantity,
            currency="CNY",
            token_hashes={"h"},
            payment_method="sandbox",
            payment_id=f"sbx_{order_id}",
            transaction_id=f"txn_{order_id}",
            reservation=reservation_json(sku, reservation),
            **fields,
        )
        self.orders[order_id] = order
        return order

    def sold_to(self, order_id: str) -> list[Card]:
        return [card for card in self.cards.values() if card.order_id == order_id and card.status == "sold"]

    def kept(self, sku: str) -> bool:
        """Promise 3 for every shard of the SKU: available + reserved + sold + void = imported."""
        return all(
            c["available"] + c["reserved"] + c["sold"] + c["void"] == c["imported"]
            for (s, _), c in self.shards.items()
            if s == sku
        )

    def _move(self, sku: str, shard: int, src: str, dst: str, n: int) -> None:
        counters = self.counters(sku, shard)
        if counters[src] < n:
            raise StockGone(sku)
        counters[src] -= n
        counters[dst] += n

    def _stored(self, order: OrderItem, *statuses: str) -> OrderItem:
        stored = self.orders.get(order.order_id)
        if stored is None or stored.status not in (statuses or (order.status,)):
            raise OrderMoved(order.order_id)
        return stored

    # -- StockShards and CardPool

    def load_shards(self, sku: str) -> ProductWithShards | None:
        if sku not in self.products:
            return None
        shards = {shard: c["available"] for (s, shard), c in self.shards.items() if s == sku}
        return ProductWithShards(ProductItem(product_pk(sku), "PRODUCT", sku=sku), shards)

    def candidate_cards(self, sku: str, shard: int, limit: int) -> list[CardRef]:
        pool = [c for c in self.cards.values() if c.sku == sku and c.shard == shard and c.status == "available"]
        return [CardRef(c.batch_id, c.digest, c.shard, c.sku) for c in pool[:limit]]

    # -- FulfilmentRecords

    def load_order(self, order_id: str) -> OrderItem | None:
        stored = self.orders.get(order_id)
        return copy.deepcopy(stored) if stored is not None else None

    def deliver(
        self, order: OrderItem, cards: list[CardRef], from_reserved: bool, token_hash: str, at: datetime
    ) -> None:
        while self.meanwhile:  # someone else's write, between this worker's read and its transaction
            self.meanwhile.pop(0)(cards)
        stored = self._stored(order, OrderStatus.PAID)
        if stored.refund_requested:
            raise OrderMoved(order.order_id)
        chosen = [self.cards[c.digest] for c in cards]
        taken = {c.digest for c in chosen if c.status != "available" or c.sku not in order.stock_units()}
        if taken:
            raise CardsTaken(taken)
        by_shard: dict[tuple[str, int], int] = {}
        for mine in chosen:
            by_shard[(mine.sku, mine.shard)] = by_shard.get((mine.sku, mine.shard), 0) + 1
        source = "reserved" if from_reserved else "available"
        if any(self.counters(sku, s)[source] < n for (sku, s), n in by_shard.items()):
            raise StockGone(order.order_id)
        for (sku, s), n in by_shard.items():
            self._move(sku, s, source, "sold", n)
        for c in cards:
            card = self.cards[c.digest]
            card.status, card.order_id = "sold", order.order_id
        refs: Any = [c.ref for c in cards]  # as kayisu.store.orders.fulfilment writes them
        stored.status, stored.delivered_at, stored.cards = OrderStatus.DELIVERED, at, refs
        stored.token_hashes = (stored.token_hashes or set()) | {token_hash}

    def claim_mail(self, order_id: str, at: datetime) -> bool:
        stored = self.orders[order_id]
        if stored.mailed_at is not None:
            return False
        stored.mailed_at = at
        return True

    def release_mail(self, order_id: str) -> None:
        self.orders[order_id].mailed_at = None

    def add_token(self, order_id: str, token_hash: str) -> None:
        stored = self.orders[order_id]
        stored.token_hashes = (stored.token_hashes or set()) | {token_hash}

    def sold_cards(self, order: OrderItem) -> list[RefundedCard]:
        cards = [self.cards[digest] for _, digest in order.card_refs()]
        return [RefundedCard(c.digest, c.shard, c.redeemed, c.sku) for c in cards]

    def request_refund(self, order: OrderItem, reason: str, cards: list[RefundedCard], at: datetime) -> None:
        stored = self._stored(order)
        if stored.refund_requested:
            raise OrderMoved(order.order_id)
        mine = [self.cards[c.digest] for c in cards]
        if any(c.status != "sold" or c.order_id != order.order_id or c.redeemed for c in mine):
            raise CardRedeemed(order.order_id)
        stored.refund_requested, stored.refund_reason = True, reason
        for card in mine:
            card.refund_lock = order.order_id

    def release_refund(self, order: OrderItem, cards: list[RefundedCard]) -> None:
        stored = self._stored(order)
        if not stored.refund_requested or stored.refund_failed:
            raise OrderMoved(order.order_id)
        stored.refund_requested, stored.refund_reason = None, None
        for c in cards:
            self.cards[c.digest].refund_lock = None

    def hold_refund(self, order: OrderItem, refund_id: str, reason: str, note: str, at: datetime) -> bool:
        stored = self.orders[order.order_id]
        if stored.status != order.status or not stored.refund_requested or stored.refund_failed:
            return False
        self.refunds[(str(order.payment_method), refund_id)] = "failed"
        stored.refund_failed, stored.review_reason = True, note
        return True

    def refund(
        self,
        order: OrderItem,
        refund_id: str,
        reason: str,
        actor: str,
        plan: RefundPlan,
        at: datetime,
        status: str = "succeeded",
        recorded: bool = False,
    ) -> None:
        key = (str(order.payment_method), refund_id)
        if (key in self.refunds) != recorded:
            raise OrderMoved(order.order_id)
        stored = self._stored(order)
        voided = [self.cards[c.digest] for c in plan.void_cards]
        if any(c.status != "sold" or c.order_id != order.order_id or c.redeemed for c in voided):
            raise CardRedeemed(order.order_id)
        for card in voided:
            self._move(card.sku, card.shard, "sold", "void", 1)
            card.status, card.refund_lock = "void", None
        for (sku, shard), n in plan.release.items():
            self._move(sku, shard, "reserved", "available", n)
        self.refunds[key] = status
        stored.status, stored.refunded_at, stored.refund_id = OrderStatus.REFUNDED, at, refund_id
        stored.refund_reason, stored.refund_mail_owed, stored.refund_failed = reason, True, None

    def refund_recorded(self, provider: str, refund_id: str) -> bool:
        return (provider, refund_id) in self.refunds

    def refund_mailed(self, order_id: str) -> None:
        self.orders[order_id].refund_mail_owed = None


@dataclass
class FakeRefunds:
    """A provider's refunds: one per order however often asked (the real ones are idempotent per
    order), answering `status`, or declining every request when `declines`."""

    status: RefundStatus = RefundStatus.SUCCEEDED
    declines: bool = False
    asked: list[str] = field(default_factory=list)  # each order asked about, each time

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
        self.asked.append(order_id)
        if self.declines:
            raise ProviderError("sandbox", "REFUND_DECLINED", "the provider will not refund it", 400, declined=True)
        return Refund(f"re_{order_id}", amount, currency, self.status)
