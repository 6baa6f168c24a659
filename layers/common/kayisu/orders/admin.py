"""What operators and finance see of orders, and operators' refunds (CONTRACT §4)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

from kayisu.clock import now
from kayisu.errors import FieldError, Problem, conflict, validation_error
from kayisu.observability import logger
from kayisu.orders.delivery import mask_code, opened
from kayisu.orders.fulfilment import RefundDeclined, RefundFailed, mail_refund_if_owed, refund_order
from kayisu.orders.payment import check_with_provider
from kayisu.orders.problems import provider_unavailable, unknown_order
from kayisu.orders.schemas import (
    AdminOrder,
    AdminOrderDetail,
    AdminOrderList,
    CardHistory,
    OrderEvent,
    PaymentCheck,
)
from kayisu.orders.status import ORDER_STATUSES, REFUNDABLE, OrderStatus
from kayisu.orders.views import summary_fields
from kayisu.pagination import decode_cursor, encode_cursor
from kayisu.payments.provider import ProviderError
from kayisu.store import orders as store

EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,253}", re.ASCII)  # a lookup key, not a check of deliverability
DEFAULT_MONTHS = 3  # how far back a list goes when `from` is not given
# Each month of the range costs one query per index shard even when empty: a longer range is
# 422, so that `from=0001-01-01` cannot make one request scan twenty thousand months.
MAX_RANGE_DAYS = 400
PAGE = 50
# What _cursor_out hands out: the ByCreated sort key of the last order shown (store.sort_key_at + id).
_CURSOR_KEY = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z#ord_[A-Za-z0-9]{1,60}")


def _when(field: str, value: str | None, end_of_day: bool) -> datetime | None:
    if not value:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime.combine(day, time.max if end_of_day else time.min, tzinfo=UTC)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            raise validation_error([FieldError(field, "needs a time zone (use Z for UTC)")])
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: year 1 or 9999 moved into UTC
        raise validation_error([FieldError(field, "must be a date (YYYY-MM-DD) or an RFC 3339 time")]) from None


def _month_start(at: datetime) -> datetime:
    return at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _previous_month(month: datetime) -> datetime:
    return _month_start(month - timedelta(days=1))


def _months_back(month: datetime, count: int) -> datetime:
    for _ in range(count):
        if month.year == 1 and month.month == 1:
            break  # no month before it
        month = _previous_month(month)
    return month


def _cursor_in(cursor: str | None) -> tuple[str, datetime] | None:
    """The sort key to resume before, and its time."""
    if not cursor:
        return None
    key = decode_cursor(cursor, _CURSOR_KEY)
    try:
        at = datetime.strptime(key.split("#", 1)[0], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:  # a month 13 or a 30 February
        raise validation_error([FieldError("cursor", "is not a cursor this list gave out")]) from None
    return key, at


def _cursor_out(key: str) -> str:
    return encode_cursor(key)


def list_orders(
    status: str | None,
    from_: str | None,
    to: str | None,
    cursor: str | None,
    limit: int = PAGE,
    email: str | None = None,
) -> AdminOrderList:
    if status and status not in ORDER_STATUSES:
        raise validation_error([FieldError("status", f"must be one of {', '.join(ORDER_STATUSES)}")])
    if email is not None and not EMAIL.fullmatch(email.strip()):
        raise validation_error([FieldError("email", "must be an email address")])
    upper = _when("to", to, end_of_day=True) or now()
    lower = _when("from", from_, end_of_day=False) or _months_back(_month_start(upper), DEFAULT_MONTHS - 1)
    if lower > upper:
        raise validation_error([FieldError("from", "must not be after `to`")])
    upper = min(upper, now())  # no order is created later: a `to` in the future means now
    if upper - lower > timedelta(days=MAX_RANGE_DAYS):
        raise validation_error([FieldError("from", f"must be at most {MAX_RANGE_DAYS} days before `to` (or now)")])
    resume = _cursor_in(cursor)
    if resume is not None and resume[1] > upper:  # a cursor never reaches past `to`
        resume = None
    if email is not None:
        return _by_email(email, status, lower, upper, resume[0] if resume else None, limit)
    before = store.sort_key_at(upper) + "~"
    start = upper
    if resume is not None:
        before, start = resume
    after = store.sort_key_at(lower)
    if before <= after:  # nothing can lie between (a range in the future; a cursor before `from`)
        return AdminOrderList(items=[], next_cursor=None)
    month = _month_start(start)
    floor = _month_start(lower)
    items: list[AdminOrder] = []
    last_seen: str | None = None
    while len(items) < limit and month >= floor:
        keys = store.created_page(month, before, after, limit)
        found = store.load_orders([order_id for _, order_id in keys])
        for key, order_id in keys:
            last_seen = key
            order = found.get(order_id)
            if order is not None and (not status or order.status == status):
                items.append(admin_order(order))
                if len(items) == limit:
                    break
        if len(keys) < limit and len(items) < limit:
            if month == floor:
                break
            month = _previous_month(month)
            if last_seen:
                before = last_seen
            continue
        if last_seen:
            before = last_seen
    more = len(items) == limit and last_seen is not None
    return AdminOrderList(items=items, next_cursor=_cursor_out(last_seen) if more and last_seen else None)


def _by_email(
    email: str, status: str | None, lower: datetime, upper: datetime, resume: str | None, limit: int
) -> AdminOrderList:
    """One buyer's orders through the ByEmail index: each page reads that email's keys only
    (never a scan), newest first, the status filtered after reading as in the full list."""
    before = resume or store.sort_key_at(upper) + "~"
    after = store.sort_key_at(lower)
    items: list[AdminOrder] = []
    last_seen: str | None = None
    while len(items) < limit:
        keys = store.email_page(email, before, after, limit)
        found = store.load_orders([order_id for _, order_id in keys])
        for key, order_id in keys:
            last_seen = key
            order = found.get(order_id)
            if order is not None and (not status or order.status == status):
                items.append(admin_order(order))
                if len(items) == limit:
                    break
        if len(keys) < limit or last_seen is None:
            break
        before = last_seen
    more = len(items) == limit and last_seen is not None
    return AdminOrderList(items=items, next_cursor=_cursor_out(last_seen) if more and last_seen else None)


def admin_order(order: store.OrderItem) -> AdminOrder:
    return AdminOrder(
        **summary_fields(order),
        expired_at=order.expired_at,
        transaction_id=order.transaction_id,
        refund_id=order.refund_id,
        refund_reason=order.refund_reason,
        review_reason=order.review_reason,
        late_payment=bool(order.late),
    )


def detail(order_id: str) -> AdminOrderDetail:
    order, events = store.history(order_id)
    if order is None:
        raise unknown_order(order_id)
    cards = [
        CardHistory(
            code=mask_code(o.code),
            batch_id=o.card.batch_id,
            sku=str(o.card.sku),
            serial=o.card.serial,
            status=o.card.status,
            sold_at=o.card.sold_at,
            redeemed_at=o.card.redeemed_at,
            void_at=o.card.void_at,
        )
        for o in opened(order)
    ]
    history = [
        OrderEvent(at=e.at, from_status=e.from_status, to_status=e.to_status, reason=e.reason, actor=e.actor)
        for e in events
    ]
    return AdminOrderDetail(**admin_order(order).model_dump(), cards=cards, history=history)


def refund(order_id: str, reason: str, operator: str, api_base: str = "") -> AdminOrderDetail:
    """Refunds a paid or delivered order through its provider and voids its cards. Refunding a
    refunded order again changes nothing and answers the same; refunding an order held after a
    failed refund asks the provider again."""
    order = store.load_order(order_id)
    if order is None:
        raise unknown_order(order_id)
    if order.status == OrderStatus.REFUNDED:
        mail_refund_if_owed(order)  # the first attempt may have died before mailing
        return detail(order_id)
    if order.status not in REFUNDABLE:
        raise conflict("NOT_REFUNDABLE", f"An order that is {order.status} has taken no money to refund.")
    try:
        refund_order(order, f"operator: {reason}", operator, api_base=api_base)
    except RefundDeclined as declined:
        logger.warning("the provider declined a refund", extra={"order_id": order_id, "why": str(declined.error)})
        raise Problem(
            502,
            "REFUND_DECLINED",
            "Refund declined",
            f"{order.payment_method} declined the refund ({declined.error.code}): no money moved and the order "
            "is as it was.",
        ) from None
    except RefundFailed:
        raise conflict(
            "REFUND_FAILED",
            f"{order.payment_method} reports the refund failed: no money went back. The order is held for "
            "review (see review_reason) and its codes stay locked.",
        ) from None
    except ProviderError as exc:  # the refund stays decided: repeating the request finishes it
        logger.error("the provider refused or failed a refund", extra={"order_id": order_id, "why": str(exc)})
        raise provider_unavailable(str(order.payment_method)) from None
    except store.CardRedeemed:
        raise conflict("CARD_REDEEMED", "A code of this order was already redeemed; it cannot be voided.") from None
    except store.OrderMoved:
        raise conflict("NOT_REFUNDABLE", "The order changed meanwhile and has taken no money to refund.") from None
    return detail(order_id)


def check_payment(order_id: str) -> PaymentCheck:
    """An operator's question to the provider: was this order paid? (a missed callback, 掉单).
    A payment found is applied exactly as its notification would have been."""
    order = store.load_order(order_id)
    if order is None:
        raise unknown_order(order_id)
    try:
        answer, status = check_with_provider(order)
    except ProviderError as exc:
        logger.error("the provider could not be asked", extra={"order_id": order_id, "why": str(exc)})
        raise provider_unavailable(str(order.payment_method)) from None
    return PaymentCheck(
        provider=str(order.payment_method),
        provider_status=answer.status.value,
        provider_detail=answer.detail,
        applied=status,
        order=detail(order_id),
    )
