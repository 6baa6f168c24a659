"""Writing one finance export: every money movement of a period, totals, then mismatches.

The CSV is UTF-8 with a BOM (Excel in China then opens Chinese text correctly). It is written
row by row to a temporary file and uploaded from there, so memory stays flat however many
orders the period holds; only the totals grow, by provider and currency. The body has no
generation time in it: re-running a period rewrites the same bytes unless the data changed (the
time is in the object's metadata).
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import IO, Any

from kayisu.aws import client
from kayisu.clock import now, rfc3339
from kayisu.config import get_settings
from kayisu.money import MINOR_UNITS
from kayisu.observability import logger
from kayisu.orders.status import OrderStatus
from kayisu.reports.periods import Period, business_zone
from kayisu.spreadsheet import safe_row
from kayisu.store import ledger
from kayisu.store.orders import MoneyItem, OrderItem, PaymentItem, RefundItem

# Paid orders are looked for among those created up to this long before the period: an order
# is paid within its TTL, or late within the provider's payment window (hours, not days).
PAID_LOOKBACK = timedelta(days=2)
PROGRESS_EVERY = 10_000

MOVEMENT_HEADER = [
    "section",
    "type",
    "time",  # the business time zone, as Excel reads dates
    "time_utc",  # RFC 3339, as the API writes times
    "order_id",
    "sku",
    "quantity",
    "amount",
    "amount_decimal",
    "currency",
    "provider",
    "transaction_id",  # the provider's payment transaction (for a refund: the payment refunded)
    "refund_id",
    "order_status",
    "outcome",
    "refund_status",  # refunds: succeeded | pending (the provider took it) | failed (no money went back)
]
TOTALS_HEADER = [
    "section",
    "provider",
    "currency",
    "payments",
    "payment_amount",
    "refunds",
    "refund_amount",
    "net_amount",
]
MISMATCH_HEADER = [
    "section",
    "kind",
    "order_id",
    "provider",
    "transaction_id",
    "refund_id",
    "expected_amount",
    "actual_amount",
    "currency",
    "detail",
]
SETTLED = {OrderStatus.PAID, OrderStatus.DELIVERED, OrderStatus.REFUNDED}  # an order in one of these took a payment
PAYING = {"paid", "late"}  # payment outcomes that paid their order


def decimal(amount: int, currency: str) -> str:
    digits = MINOR_UNITS.get(currency, 2)
    if digits == 0:
        return str(amount)
    sign = "-" if amount < 0 else ""
    whole, part = divmod(abs(amount), 10**digits)
    return f"{sign}{whole}.{part:0{digits}d}"


@dataclass
class Totals:
    payments: int = 0
    payment_amount: int = 0
    refunds: int = 0
    refund_amount: int = 0


@dataclass
class Reconciliation:
    """What a pass over the movements found, besides the rows it wrote."""

    totals: dict[tuple[str, str], Totals] = field(default_factory=dict)
    rows: int = 0
    mismatches: int = 0


@dataclass(frozen=True)
class ExportResult:
    report_id: str
    key: str
    rows: int
    mismatches: int
    size: int


class _Writer:
    def __init__(self, out: IO[str]) -> None:
        self._csv = csv.writer(out, lineterminator="\r\n")

    def row(self, cells: list[Any]) -> None:
        # Provider-controlled text (order and transaction ids) must not open as a formula.
        self._csv.writerow(safe_row(cells))


def export(period: Period) -> ExportResult:
    """Writes `period`'s report to the reports bucket (replacing any earlier run's)."""
    start, end = period.bounds()
    tz = business_zone()
    seen = Reconciliation()
    with (
        tempfile.TemporaryFile() as raw,
        tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as problems,
    ):
        body = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")  # utf-8-sig: the BOM first
        out, issues = _Writer(body), _Writer(problems)
        out.row(MOVEMENT_HEADER)
        for movement, order in _movements(start, end):
            _movement_row(out, issues, seen, movement, order, tz)
            seen.rows += 1
            if seen.rows % PROGRESS_EVERY == 0:
                logger.info("report progress", extra={"report": period.report_id, "rows": seen.rows})
        _paid_without_payment(issues, seen, start, end)
        out.row([])
        out.row(TOTALS_HEADER)
        _total_rows(out, seen.totals)
        out.row([])
        out.row(MISMATCH_HEADER)
        problems.seek(0)
        for line in problems:
            body.write(line)
        body.flush()
        size = raw.seek(0, 2)
        raw.seek(0)
        # One streamed PUT (up to 5 GB): no multipart upload, so no kms:Decrypt to grant.
        client("s3").put_object(
            Bucket=get_settings().reports_bucket,
            Key=period.key,
            Body=raw,
            ContentLength=size,
            ContentType="text/csv; charset=utf-8",
            ContentDisposition=f'attachment; filename="{period.report_id}.csv"',
            Metadata={
                "kind": period.kind.value,
                "period": period.label,
                "rows": str(seen.rows),
                "mismatches": str(seen.mismatches),
                "generated-at": rfc3339(now()),
            },
        )
        body.detach()  # `raw` closes with its own `with`
    logger.info("report written", extra={"report": period.report_id, "rows": seen.rows, "mismatches": seen.mismatches})
    return ExportResult(period.report_id, period.key, seen.rows, seen.mismatches, size)


def _movements(start: datetime, end: datetime) -> Iterator[tuple[MoneyItem, OrderItem | None]]:
    for keys in ledger.chunks(ledger.movement_keys(start, end)):
        movements = ledger.load_movements(keys)
        orders = ledger.load_orders(str(m.order_id) for m in movements)
        for m in movements:
            yield m, orders.get(str(m.order_id))


def _movement_row(
    out: _Writer, issues: _Writer, seen: Reconciliation, m: MoneyItem, order: OrderItem | None, tz: Any
) -> None:
    amount, currency, provider = int(m.amount), str(m.currency), str(m.provider)
    totals = seen.totals.setdefault((provider, currency), Totals())
    status = str(order.status) if order else ""
    refund_status = ""
    if isinstance(m, PaymentItem):
        kind, transaction, refund, outcome = "payment", str(m.transaction_id), "", str(m.outcome)
        totals.payments += 1
        totals.payment_amount += amount
        _check_payment(issues, seen, m, order)
    elif isinstance(m, RefundItem):
        kind, refund, outcome = "refund", str(m.refund_id), str(m.reason)
        refund_status = str(m.status or "succeeded")  # recorded before statuses were: succeeded
        transaction = str(order.transaction_id or "") if order else ""
        if refund_status == "failed":  # no money went back: not counted as money out
            _mismatch(
                issues,
                seen,
                "refund_failed",
                m,
                order,
                (transaction, refund),
                str(order.review_reason or "the refund failed at the provider") if order else "no such order",
            )
        else:
            totals.refunds += 1
            totals.refund_amount += amount
        if refund_status != "failed" and (order is None or order.status != OrderStatus.REFUNDED):
            _mismatch(
                issues,
                seen,
                "refund_without_refunded_order",
                m,
                order,
                (transaction, refund),
                f"order status {status or 'missing'}",
            )
    else:
        return
    out.row(
        [
            "movement",
            kind,
            m.at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"),
            rfc3339(m.at),
            m.order_id,
            order.sku if order else "",
            int(order.quantity) if order else "",
            amount,
            decimal(amount, currency),
            currency,
            provider,
            transaction,
            refund,
            status,
            outcome,
            refund_status,
        ]
    )


def _check_payment(issues: _Writer, seen: Reconciliation, p: PaymentItem, order: OrderItem | None) -> None:
    reference, outcome = (str(p.transaction_id), ""), str(p.outcome)
    if order is None:
        _mismatch(issues, seen, "payment_without_order", p, None, reference, "no such order here")
    elif outcome == "mismatch" or int(order.amount) != int(p.amount) or order.currency != p.currency:
        _mismatch(issues, seen, "amount_differs", p, order, reference, str(order.review_reason or "held for review"))
    elif outcome == "duplicate":
        _mismatch(issues, seen, "duplicate_payment", p, order, reference, "second payment: refund it")
    elif order.status not in SETTLED or order.transaction_id != p.transaction_id:
        _mismatch(issues, seen, "payment_without_paid_order", p, order, reference, f"order status {order.status}")


def _mismatch(
    issues: _Writer,
    seen: Reconciliation,
    kind: str,
    m: MoneyItem,
    order: OrderItem | None,
    reference: tuple[str, str],
    detail: str,
) -> None:
    """`reference`: (provider transaction id, refund id)."""
    seen.mismatches += 1
    issues.row(
        [
            "mismatch",
            kind,
            m.order_id,
            m.provider,
            *reference,
            int(order.amount) if order else "",
            int(m.amount),
            m.currency,
            detail,
        ]
    )


def _paid_without_payment(issues: _Writer, seen: Reconciliation, start: datetime, end: datetime) -> None:
    """Orders this system calls paid in the period whose provider payment is not in it.

    Each batch of orders looks its payments up by key rather than remembering the period's
    transactions, so memory does not grow with the number of payments."""
    attributes = ["kind", "order_id", "status", "paid_at", "transaction_id", "payment_method", "amount", "currency"]
    for ids in ledger.chunks(ledger.orders_created(start - PAID_LOOKBACK, end)):
        paid = [o for o in ledger.load_orders(ids, attributes).values() if o.paid_at and start <= o.paid_at < end]
        references = [(str(o.payment_method), str(o.transaction_id)) for o in paid if o.transaction_id]
        payments = ledger.load_payments(references)
        for order in paid:
            payment = payments.get((str(order.payment_method), str(order.transaction_id)))
            if payment is not None and payment.outcome in PAYING and start <= payment.at < end:
                continue
            seen.mismatches += 1
            issues.row(
                [
                    "mismatch",
                    "paid_order_without_payment",
                    order.order_id,
                    order.payment_method,
                    order.transaction_id or "",
                    "",
                    int(order.amount),
                    "",
                    order.currency,
                    f"order status {order.status}; no provider payment recorded",
                ]
            )


def _total_rows(out: _Writer, totals: dict[tuple[str, str], Totals]) -> None:
    by_currency: dict[str, Totals] = {}
    for (provider, currency), t in sorted(totals.items()):
        out.row(_total_row(provider, currency, t))
        all_ = by_currency.setdefault(currency, Totals())
        all_.payments += t.payments
        all_.payment_amount += t.payment_amount
        all_.refunds += t.refunds
        all_.refund_amount += t.refund_amount
    if not by_currency:
        out.row(_total_row("all", "", Totals()))  # an empty period still says "nothing moved"
    for currency, t in sorted(by_currency.items()):
        out.row(_total_row("all", currency, t))


def _total_row(provider: str, currency: str, t: Totals) -> list[Any]:
    return [
        "total",
        provider,
        currency,
        t.payments,
        t.payment_amount,
        t.refunds,
        t.refund_amount,
        t.payment_amount - t.refund_amount,
    ]
