"""Fulfilment: a paid order gets exactly `quantity` cards (a bundle's order, `quantity` times
each component's), or its money back (promise 2).

Cards are chosen at random among the first few dozen of the order's shard pool (so concurrent
orders rarely pick the same card) and sold to the order in the one transaction that moves it
`paid → delivered`. A card someone else took fails its condition and is swapped for another;
a second worker on the same order fails the order's condition and finds it delivered. A retry
after delivery therefore never allocates again.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from kayisu.alerts.ops import alert_operators
from kayisu.clock import now
from kayisu.config import get_settings
from kayisu.observability import logger, metrics
from kayisu.orders.ports import CardPool, FulfilmentRecords, Refunds, StockShards
from kayisu.orders.reservation import plan_stock
from kayisu.orders.status import REFUNDABLE, OrderStatus
from kayisu.orders.tokens import new_token
from kayisu.payments.provider import ProviderError, Refund, RefundStatus
from kayisu.payments.registry import provider
from kayisu.ports import ALERTS, MAIL, Alerts, Mailer
from kayisu.store import cards as cards_store
from kayisu.store import catalog as catalog_store
from kayisu.store import orders as store
from kayisu.store.cards import CardRef
from kayisu.store.stock import StockPlan
from kayisu.store.txn import back_off

ALLOCATION_ATTEMPTS = 30  # each failed attempt means another order got a card: progress
Outcome = Literal["delivered", "refunded", "skipped"]


class PoolShort(Exception):
    """The counters promise cards the pool does not show yet (an index behind its table); retry later."""


class RefundFailed(Exception):
    """The provider reports the refund failed: no money went back. The order is held for review
    (its state unchanged, its cards still locked) and operators were alerted."""


class RefundDeclined(Exception):
    """The provider declined the refund: no money moved, and the decision was undone (the order
    and its cards are as they were before it)."""

    def __init__(self, order_id: str, error: ProviderError) -> None:
        super().__init__(f"{order_id}: {error}")
        self.error = error


@dataclass(frozen=True)
class FulfilmentPorts:
    """Everything fulfilment and refunds touch; the defaults are AWS and the enabled providers."""

    records: FulfilmentRecords = store
    shards: StockShards = catalog_store
    pool: CardPool = cards_store
    providers: Callable[[str], Refunds] = provider
    mail: Mailer = MAIL
    alerts: Alerts = ALERTS


AWS = FulfilmentPorts()


def candidates_wanted(count: int) -> int:
    return min(100, 8 * count + 24)


def fulfil(order_id: str, ports: FulfilmentPorts = AWS) -> Outcome:
    order = ports.records.load_order(order_id)
    if order is None:
        logger.warning("fulfilment for an unknown order", extra={"order_id": order_id})
        return "skipped"
    logger.append_keys(order_id=order_id, sku=order.sku)
    if order.refund_requested and order.status in REFUNDABLE:
        if order.refund_failed:
            return "skipped"  # held for an operator: the provider said the refund failed
        # A refund was decided and not finished (its function died): finish it. A delivered
        # order is sent here by the sweeper, which finds it on the PAID# index.
        try:
            refund_order(order, order.refund_reason or "refund", "fulfilment", ports=ports)
        except (RefundFailed, RefundDeclined, store.CardRedeemed):
            return "skipped"  # held, or undone: nothing more for fulfilment to do
        return "refunded"
    if order.status == OrderStatus.DELIVERED:
        _mail_again(order, ports)
        return "skipped"
    if order.status == OrderStatus.REFUNDED:
        mail_refund_if_owed(order, ports)
        return "skipped"
    if order.status != OrderStatus.PAID:
        return "skipped"
    taken: set[str] = set()
    for _attempt in range(1, ALLOCATION_ATTEMPTS + 1):
        reservation = order.reserved()
        from_reserved = bool(reservation)
        if not from_reserved:  # paid after expiry: take what is available now, if anything
            plan = _plan_now(order, ports)
            if plan is None:
                return _refund_unfulfillable(order, ports)
            reservation = plan
        cards: list[CardRef] = []
        for (sku, shard), count in sorted(reservation.items()):
            offered = ports.pool.candidate_cards(sku, shard, candidates_wanted(count))
            pool = [c for c in offered if c.digest not in taken]
            if len(pool) < count:
                if not from_reserved:
                    taken.clear()
                    break
                if _moved(order, ports):  # another worker sold this order its cards meanwhile
                    return fulfil(order_id, ports)
                raise PoolShort(order_id)
            cards += random.sample(pool, count)
        if len(cards) != sum(order.stock_units().values()):
            continue
        token, hashed = new_token()
        try:
            ports.records.deliver(order, cards, from_reserved, hashed, now())
        except store.CardsTaken as exc:
            taken |= exc.taken
            metrics.add_metric(name="AllocationRetries", unit="Count", value=1)
            back_off(min(_attempt, 5))  # others are taking cards from this pool right now
            continue
        except store.StockGone:
            continue  # a late order's shard emptied meanwhile: plan again
        except store.OrderMoved:
            logger.info("the order moved meanwhile (another worker, or a refund decided)")
            return fulfil(order_id, ports)
        metrics.add_metric(name="OrdersDelivered", unit="Count", value=1)
        ports.mail.send(order.email, *delivered_mail(order.order_id, token))
        return "delivered"
    raise RuntimeError(f"could not allocate cards after {ALLOCATION_ATTEMPTS} attempts")


def _plan_now(order: store.OrderItem, ports: FulfilmentPorts) -> StockPlan | None:
    """Where a late-paid order's cards can come from now (a bundle's: every component's, or
    none); None if there are not enough."""
    units = order.stock_units()
    shards: dict[str, dict[int, int]] = {}
    for sku in units:
        entry = ports.shards.load_shards(sku)
        if entry is None:
            return None
        shards[sku] = entry.shards
    return plan_stock(shards, units)


def _moved(order: store.OrderItem, ports: FulfilmentPorts) -> bool:
    """Whether the order is no longer the paid order read at the start (one strongly consistent
    read, only when its shard's pool came up short: with a shard holding few cards, a second
    worker on the same order finds the pool emptied by the first, which delivered it)."""
    now_stored = ports.records.load_order(order.order_id)
    return now_stored is None or now_stored.status != order.status or bool(now_stored.refund_requested)


def _refund_unfulfillable(order: store.OrderItem, ports: FulfilmentPorts) -> Outcome:
    reason = "no stock left for a payment that arrived after the order expired"
    try:
        refund_order(order, reason, "fulfilment", allow_delivered=False, ports=ports)
    except store.OrderMoved:
        return fulfil(order.order_id, ports)  # delivered by another worker meanwhile
    except RefundFailed:
        return "skipped"  # held for an operator, who was alerted
    return "refunded"


def refund_order(
    order: store.OrderItem,
    reason: str,
    actor: str,
    allow_delivered: bool = True,
    api_base: str = "",
    answer: Refund | None = None,
    ports: FulfilmentPorts = AWS,
) -> store.OrderItem:
    """Refunds a paid (or, for operators, delivered) order and mails the shopper; returns it
    refunded. The refund is decided in the database before money moves: one transaction sets
    `refund_requested` (only from the state the order is in) and locks the order's cards, which
    delivery and redemption respect, so a partner cannot redeem a code whose money is going back.
    Then the provider refunds (idempotent per order), then one transaction records the refund with
    what the order gives back. A crash in between leaves the intent and the lock, and whoever
    handles the order next (the operator's repeat, the sweeper's re-request, a fulfilment retry,
    the provider's refund notification, which passes its `answer`) finishes it.

    The provider declining a refund it was asked for the first time undoes the decision
    (RefundDeclined); a refund it reports failed holds the order for review (RefundFailed);
    CardRedeemed if a partner redeemed a code first (before any money moved)."""
    records = ports.records
    if order.status == OrderStatus.REFUNDED:
        mail_refund_if_owed(order, ports)
        return order
    if order.status not in (REFUNDABLE if allow_delivered else {OrderStatus.PAID}):
        raise store.OrderMoved(order.order_id)
    delivered = order.status == OrderStatus.DELIVERED
    cards = records.sold_cards(order) if delivered else []
    plan = store.RefundPlan(void_cards=cards) if delivered else store.RefundPlan(release=order.reserved())
    first = not order.refund_requested
    if first:
        if any(card.redeemed for card in cards):
            raise store.CardRedeemed(order.order_id)  # before any money moves
        try:
            records.request_refund(order, reason, cards, now())
        except store.OrderMoved:
            moved = records.load_order(order.order_id)
            if moved is None or not (moved.refund_requested or moved.status != order.status):
                raise
            return refund_order(moved, reason, actor, allow_delivered, api_base, answer, ports)  # decided by another
    else:
        reason = order.refund_reason or reason
    if answer is None:
        assert order.payment_id is not None
        try:
            answer = ports.providers(str(order.payment_method)).refund(
                order.order_id,
                order.payment_id,
                order.transaction_id or "",
                int(order.amount),
                order.currency,
                reason,
                notify_base=order.api_base or api_base,
            )
        except ProviderError as exc:
            # Declined when asked for the first time: no money moved, so undo the decision. After
            # an earlier attempt whose outcome is unknown a refusal proves nothing: keep it.
            if first and exc.declined:
                records.release_refund(order, cards)
                raise RefundDeclined(order.order_id, exc) from exc
            raise
    if answer.status is RefundStatus.FAILED:
        _hold(order, answer.refund_id, reason, ports)
        raise RefundFailed(order.order_id)
    recorded = bool(order.refund_failed) and records.refund_recorded(str(order.payment_method), answer.refund_id)
    try:
        records.refund(order, answer.refund_id, reason, actor, plan, now(), answer.status, recorded)
    except store.OrderMoved:
        moved = records.load_order(order.order_id)
        if moved is None or moved.status != OrderStatus.REFUNDED:
            raise
        mail_refund_if_owed(moved, ports)
        return moved
    metrics.add_metric(name="OrdersRefunded", unit="Count", value=1)
    refreshed = records.load_order(order.order_id)
    if refreshed is None:  # pragma: no cover - it was just written
        raise store.OrderMoved(order.order_id)
    mail_refund_if_owed(refreshed, ports)
    return refreshed


def _hold(order: store.OrderItem, refund_id: str, reason: str, ports: FulfilmentPorts) -> None:
    """The money did not go back: the order keeps its state and its cards stay locked (the
    shopper is still owed the refund, so the codes must not be redeemed meanwhile); an operator
    is alerted once, and pays back by hand or asks the provider again (a repeated refund)."""
    name = str(order.payment_method)
    note = f"refund {refund_id} failed at {name}: the money did not go back; pay back by hand"
    if not ports.records.hold_refund(order, refund_id, reason, note, now()):
        return  # held before: alerted then
    logger.error("a refund failed at the provider; the order is held for review")
    metrics.add_metric(name="RefundFailed", unit="Count", value=1)
    alert_operators(
        f"{name} refund failed",
        f"Refund {refund_id} of order {order.order_id} failed at {name}: the shopper has not been paid back. "
        "The order is held for review and its codes stay locked. See docs/operations.md (refunds).",
        ports.alerts,
    )


def _mail_again(order: store.OrderItem, ports: FulfilmentPorts) -> None:
    """A repeat for a delivered order: the first attempt may have died before its mail went
    out, and cannot tell. One repeat claims the re-send (concurrent repeats do not all send);
    if sending fails it gives the claim back for the next repeat. So the shopper is mailed at
    least once and normally at most twice."""
    records = ports.records
    if order.mailed_at is not None or not records.claim_mail(order.order_id, now()):
        return
    try:
        token, hashed = new_token()
        records.add_token(order.order_id, hashed)
        ports.mail.send(order.email, *delivered_mail(order.order_id, token))
    except BaseException:
        records.release_mail(order.order_id)
        raise


def mail_refund_if_owed(order: store.OrderItem, ports: FulfilmentPorts = AWS) -> None:
    """The refund's transaction records that a mail is owed; it is cleared once sent, so a
    refund whose function died before mailing is mailed by the next attempt that sees it."""
    if order.status == OrderStatus.REFUNDED and order.refund_mail_owed:
        ports.mail.send(order.email, *refunded_mail(order.order_id))
        ports.records.refund_mailed(order.order_id)


def order_link(order_id: str, token: str) -> str:
    # The token rides in the fragment: browsers never send it to a server or in a Referer.
    return f"{get_settings().storefront_url.rstrip('/')}/orders/{order_id}#token={token}"


def delivered_mail(order_id: str, token: str) -> tuple[str, str]:
    link = order_link(order_id, token)
    return (
        f"您的订单已发货 / Your order {order_id} is ready",
        f"您的卡密已准备好，请打开以下链接查看（请勿转发）：\n{link}\n\n"
        f"Your codes are ready. Open this link to see them (do not forward it):\n{link}\n",
    )


def refunded_mail(order_id: str) -> tuple[str, str]:
    return (
        f"您的订单已退款 / Your order {order_id} was refunded",
        "很抱歉，我们无法完成您的订单，款项已原路退回。\n\n"
        f"Sorry, we could not fulfil order {order_id}. Your payment has been refunded in full.\n",
    )
