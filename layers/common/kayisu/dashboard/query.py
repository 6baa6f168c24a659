"""GET /v1/admin/dashboard (CONTRACT §14): the range's counters, summed; never a scan of orders.

One BatchGetItem per 100 counter items (a day has one, and BUYER_SHARDS of buyers) and one
Scan of the catalog (names by SKU, and stock for the low-stock list)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from kayisu.clock import rfc3339
from kayisu.dashboard import counters as c
from kayisu.dashboard.schemas import (
    Buyers,
    ChannelSplit,
    CurrencyTotal,
    Dashboard,
    Funnel,
    LowStock,
    MethodSplit,
    Profit,
    SeriesPoint,
    Tickets,
    TopProduct,
)
from kayisu.errors import FieldError, validation_error
from kayisu.orders.status import ORDER_STATUSES, OrderStatus
from kayisu.reports.periods import business_zone
from kayisu.store import catalog as catalog_store
from kayisu.store import dashboard as store

MAX_DAYS = 400  # both days included
TOP_PRODUCTS = 10
DEFAULT_CURRENCY = "CNY"

Split = tuple[str, str]  # (sku, channel or method; currency)


def _day(name: str, value: str, errors: list[FieldError]) -> date | None:
    try:
        if len(value) != 10:
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        errors.append(FieldError(name, "must be a date, YYYY-MM-DD (business time zone)"))
        return None


def date_range(from_: str, to: str) -> tuple[date, date]:
    """The business days asked for, both included; 422 VALIDATION_ERROR otherwise."""
    errors: list[FieldError] = []
    first, last = _day("from", from_, errors), _day("to", to, errors)
    if first is None or last is None:
        raise validation_error(errors)
    if first > last:
        raise validation_error([FieldError("from", "must not be after `to`")])
    if (last - first).days + 1 > MAX_DAYS:
        raise validation_error([FieldError("to", f"must be at most {MAX_DAYS} days from `from`, both included")])
    return first, last


@dataclass
class _Sales:
    units: int = 0
    amount: int = 0
    orders: int = 0
    cost: int = 0
    costed: int = 0


@dataclass
class _Tally:
    """The range's counters, summed over its days."""

    created: int = 0
    paid: Counter[str] = field(default_factory=Counter)
    payments: Counter[str] = field(default_factory=Counter)
    refunded: Counter[str] = field(default_factory=Counter)
    refunds: Counter[str] = field(default_factory=Counter)
    status: Counter[str] = field(default_factory=Counter)
    funnel: Counter[str] = field(default_factory=Counter)
    skus: dict[tuple[str, str], _Sales] = field(default_factory=dict)
    channels: dict[tuple[str, str], _Sales] = field(default_factory=dict)
    methods: dict[tuple[str, str], _Sales] = field(default_factory=dict)

    def add(self, name: str, value: int) -> None:
        parts = name.split(c.SEP)
        head = parts[0]
        if name == c.ORDERS:
            self.created += value
        elif len(parts) == 2 and head in (c.PAID, c.PAYMENTS, c.REFUNDED, c.REFUNDS, c.STATUS, c.FUNNEL):
            getattr(self, head)[parts[1]] += value
        elif len(parts) == 4 and head in (c.SKU, c.CHANNEL, c.METHOD):
            table = {c.SKU: self.skus, c.CHANNEL: self.channels, c.METHOD: self.methods}[head]
            sales = table.setdefault((parts[1], parts[2]), _Sales())
            if parts[3] in ("units", "amount", "orders", "cost", "costed"):
                setattr(sales, parts[3], getattr(sales, parts[3]) + value)
        # hourly attributes (name@HH) are read by the per-hour series only


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _main_currency(tally: _Tally) -> str:
    if tally.paid:
        return max(sorted(tally.paid), key=lambda cur: tally.paid[cur])
    if tally.skus:
        return sorted(tally.skus.items(), key=lambda kv: -kv[1].amount)[0][0][1]
    return DEFAULT_CURRENCY


def _series(days: list[date], day_counts: dict[str, dict[str, int]], currency: str) -> list[SeriesPoint]:
    if len(days) == 1:
        counts, zone = day_counts.get(c.day_key(days[0]), {}), business_zone()
        return [
            SeriesPoint(
                date=days[0].isoformat(),
                hour=hour,
                at=rfc3339(datetime.combine(days[0], time(hour), zone).astimezone(UTC)),
                orders=counts.get(c.hourly(c.ORDERS, hour), 0),
                amount=counts.get(c.attribute(c.hourly(c.PAID, hour), currency), 0),
                currency=currency,
            )
            for hour in range(24)
        ]
    return [
        SeriesPoint(
            date=d.isoformat(),
            orders=day_counts.get(c.day_key(d), {}).get(c.ORDERS, 0),
            amount=day_counts.get(c.day_key(d), {}).get(c.attribute(c.PAID, currency), 0),
            currency=currency,
        )
        for d in days
    ]


def _buyers(counts: list[dict[str, int]]) -> Buyers:
    sales: Counter[str] = Counter()
    for item in counts:
        sales.update(item)
    total = sum(1 for n in sales.values() if n > 0)
    repeat = sum(1 for n in sales.values() if n > 1)
    return Buyers(total=total, repeat=repeat, repeat_rate=round(repeat / total, 4) if total else 0.0)


def _profit(skus: dict[tuple[str, str], _Sales]) -> list[Profit]:
    by_currency: dict[str, _Sales] = {}
    for (_sku, currency), s in skus.items():
        t = by_currency.setdefault(currency, _Sales())
        t.amount, t.cost, t.costed = t.amount + s.amount, t.cost + s.cost, t.costed + s.costed
    return [
        Profit(
            currency=currency,
            revenue=t.costed,
            cost=t.cost,
            gross_profit=t.costed - t.cost,
            margin=round((t.costed - t.cost) / t.costed, 4) if t.costed else None,
            uncosted_revenue=t.amount - t.costed,
        )
        for currency, t in sorted(by_currency.items())
    ]


def dashboard(from_: str, to: str) -> Dashboard:
    first, last = date_range(from_, to)
    days = _days(first, last)
    buyer_keys = [c.buyers_key(d, s) for d in days for s in range(c.BUYER_SHARDS)]
    found = store.load_counters([c.day_key(d) for d in days] + buyer_keys)
    day_counts = {k: v for k, v in found.items() if k.startswith("DAY#")}
    tally = _Tally()
    for counts in day_counts.values():
        for name, value in counts.items():
            tally.add(name, value)
    products = {e.product.sku: e for e in catalog_store.scan_products()}
    currency = _main_currency(tally)
    currencies = sorted(set(tally.paid) | set(tally.refunded))
    ranked = sorted(tally.skus.items(), key=lambda kv: (-kv[1].units, -kv[1].amount, kv[0]))
    return Dashboard(
        currency_totals=[
            CurrencyTotal(
                currency=cur,
                paid=tally.paid[cur],
                refunded=tally.refunded[cur],
                net=tally.paid[cur] - tally.refunded[cur],
                payments=tally.payments[cur],
                refunds=tally.refunds[cur],
            )
            for cur in currencies
        ],
        orders={**dict.fromkeys(ORDER_STATUSES, 0), **{s: n for s, n in sorted(tally.status.items()) if n}},
        series=_series(days, day_counts, currency),
        top_products=[
            TopProduct(
                sku=sku,
                name=str(products[sku].product.name) if sku in products else sku,
                units=s.units,
                amount=s.amount,
                currency=cur,
                orders=s.orders,
            )
            for (sku, cur), s in ranked[:TOP_PRODUCTS]
            if s.units > 0
        ],
        channels=[
            ChannelSplit(channel=name, orders=s.orders, amount=s.amount, currency=cur)
            for (name, cur), s in sorted(tally.channels.items(), key=lambda kv: (-kv[1].orders, kv[0]))
            if s.orders > 0
        ],
        payment_methods=[
            MethodSplit(method=name, orders=s.orders, amount=s.amount, currency=cur)
            for (name, cur), s in sorted(tally.methods.items(), key=lambda kv: (-kv[1].orders, kv[0]))
            if s.orders > 0
        ],
        buyers=_buyers([v for k, v in found.items() if k.startswith("BUYERS#")]),
        funnel=Funnel(
            created=tally.created, paid=tally.funnel[OrderStatus.PAID], delivered=tally.funnel[OrderStatus.DELIVERED]
        ),
        profit=_profit({k: v for k, v in tally.skus.items() if v.orders > 0}),
        low_stock=sorted(
            (
                LowStock(sku=sku, available=e.stock.available, alert_threshold=int(e.product.alert_threshold))
                for sku, e in products.items()
                if e.product.status == "active"
                and not e.product.bundle()  # no stock of its own: its components are listed
                and e.stock.available <= int(e.product.alert_threshold)
            ),
            key=lambda s: (s.available, s.sku),
        ),
        tickets=Tickets(open=0, overdue=0),  # CONTRACT §12's tickets feed these once they exist
    )
