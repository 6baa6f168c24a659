"""What one order or money movement adds to the dashboard's counters: a pure function of the
item as it is now (docs/dashboard.md).

The stream function remembers, per item, what it added for it last, and adds the difference
when the item changes. A counter is therefore always the sum of `of_item` over the items as
they are, whatever was repeated, reordered or retried on the way there.

Order figures belong to the business day (and hour) the order was created; money figures to
the business day the money moved, as in the finance export (kayisu.reports.export): every
recorded provider payment counts as paid, whatever its outcome, and a refund counts unless its
status is `failed` (no money went back). A withdrawn order (its payment could not be made)
counts nowhere.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from kayisu.buyers.identity import email_identity
from kayisu.store.orders import OrderItem, OrdersItem, PaymentItem, RefundItem

Counts = dict[str, dict[str, int]]  # counter item (its key) -> attribute -> amount

SEP = "|"
BUYER_SHARDS = 4  # buyer counters per day: each holds up to ~20,000 buyers (DynamoDB's 400 KB item)
DEFAULT_CHANNEL = "web"  # CONTRACT §10: an order without a channel was sold on the shop
DIGEST_CHARS = 16  # 64 bits of SHA-256: no two buyers of one range share one in practice

# Attributes of a day's counter item (see docs/dashboard.md for the whole layout).
ORDERS = "orders"  # orders created (not withdrawn); `orders@HH` per business hour
PAID = "paid"  # `paid|CNY`: money paid at the providers; `paid@HH|CNY` per business hour
PAYMENTS = "payments"  # `payments|CNY`: how many payments
REFUNDED = "refunded"  # `refunded|CNY`: money refunded (not failed)
REFUNDS = "refunds"  # `refunds|CNY`
STATUS = "status"  # `status|delivered`: orders created that day, by their status now
FUNNEL = "funnel"  # `funnel|paid`, `funnel|delivered`: orders created that day that got there
SKU = "sku"  # `sku|GIFT-50|CNY|units` (also amount, orders, cost, costed): sales, not refunded
CHANNEL = "channel"  # `channel|web|CNY|orders` (also amount)
METHOD = "method"  # `method|sandbox|CNY|orders` (also amount)


def day_key(day: date) -> str:
    return f"DAY#{day.isoformat()}"


def buyers_key(day: date, shard: int) -> str:
    return f"BUYERS#{day.isoformat()}#{shard}"


def hourly(name: str, hour: int) -> str:
    return f"{name}@{hour:02d}"


def attribute(*parts: str) -> str:
    return SEP.join(parts)


def buyer_digest(email: str) -> str:
    """A buyer however the address is spelled (kayisu.buyers.identity), as a digest: the
    dashboard never holds an address."""
    return hashlib.sha256(email_identity(email).encode()).hexdigest()[:DIGEST_CHARS]


def buyer_shard(digest: str) -> int:
    return int(digest[0], 16) % BUYER_SHARDS


def sold(order: OrderItem) -> bool:
    """Paid and not refunded: a sale (delivered or on its way; a refund that failed leaves it sold)."""
    return order.paid_at is not None and order.status != "refunded"


def _add(counts: Counts, key: str, name: str, amount: int) -> None:
    if amount:
        item = counts.setdefault(key, {})
        item[name] = item.get(name, 0) + amount


def _local(at: datetime, zone: ZoneInfo) -> datetime:
    return at.astimezone(zone)


def of_order(order: OrderItem, zone: ZoneInfo) -> Counts:
    counts: Counts = {}
    if order.withdrawn:
        return counts
    created = _local(order.created_at, zone)
    day = day_key(created.date())
    _add(counts, day, ORDERS, 1)
    _add(counts, day, hourly(ORDERS, created.hour), 1)
    _add(counts, day, attribute(STATUS, str(order.status)), 1)
    if order.paid_at is not None:
        _add(counts, day, attribute(FUNNEL, "paid"), 1)
    if order.delivered_at is not None:
        _add(counts, day, attribute(FUNNEL, "delivered"), 1)
    if not sold(order):
        return counts
    amount, quantity, currency = int(order.amount), int(order.quantity), str(order.currency)
    sku = attribute(SKU, str(order.sku), currency)
    _add(counts, day, attribute(sku, "units"), quantity)
    _add(counts, day, attribute(sku, "amount"), amount)
    _add(counts, day, attribute(sku, "orders"), 1)
    if order.unit_cost is not None:
        _add(counts, day, attribute(sku, "cost"), int(order.unit_cost) * quantity)
        _add(counts, day, attribute(sku, "costed"), amount)  # the revenue whose cost is known
    channel = attribute(CHANNEL, str(getattr(order, "channel", None) or DEFAULT_CHANNEL), currency)
    _add(counts, day, attribute(channel, "orders"), 1)
    _add(counts, day, attribute(channel, "amount"), amount)
    method = attribute(METHOD, str(order.payment_method), currency)
    _add(counts, day, attribute(method, "orders"), 1)
    _add(counts, day, attribute(method, "amount"), amount)
    digest = buyer_digest(str(order.email))
    _add(counts, buyers_key(created.date(), buyer_shard(digest)), digest, 1)
    return counts


def of_payment(payment: PaymentItem, zone: ZoneInfo) -> Counts:
    """Every recorded payment, as the finance export's totals count them (any outcome)."""
    counts: Counts = {}
    at = _local(payment.at, zone)
    day, currency, amount = day_key(at.date()), str(payment.currency), int(payment.amount)
    _add(counts, day, attribute(PAID, currency), amount)
    _add(counts, day, attribute(hourly(PAID, at.hour), currency), amount)
    _add(counts, day, attribute(PAYMENTS, currency), 1)
    return counts


def of_refund(refund: RefundItem, zone: ZoneInfo) -> Counts:
    """A refund is money out unless it failed (as in the finance export; absent: succeeded)."""
    counts: Counts = {}
    if (refund.status or "succeeded") == "failed":
        return counts
    at = _local(refund.at, zone)
    day, currency = day_key(at.date()), str(refund.currency)
    _add(counts, day, attribute(REFUNDED, currency), int(refund.amount))
    _add(counts, day, attribute(REFUNDS, currency), 1)
    return counts


def of_item(item: OrdersItem | None, zone: ZoneInfo) -> Counts:
    """What `item` (None: deleted) adds; items of other kinds (history, limits, ...) add nothing."""
    if isinstance(item, OrderItem):
        return of_order(item, zone)
    if isinstance(item, PaymentItem):
        return of_payment(item, zone)
    if isinstance(item, RefundItem):
        return of_refund(item, zone)
    return {}


def merge(into: Counts, more: Counts, sign: int = 1) -> None:
    for key, attributes in more.items():
        for name, amount in attributes.items():
            _add(into, key, name, sign * amount)
        if key in into and not any(into[key].values()):
            del into[key]
        elif key in into:
            into[key] = {n: v for n, v in into[key].items() if v}


def difference(new: Counts, old: Counts) -> Counts:
    """new − old, without zeros: what changing from `old` to `new` must add."""
    out: Counts = {k: dict(v) for k, v in new.items()}
    merge(out, old, -1)
    return out


def total(parts: Iterable[Counts]) -> Counts:
    out: Counts = {}
    for part in parts:
        merge(out, part)
    return out
