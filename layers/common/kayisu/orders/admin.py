"""What operators and finance see of orders, and operators' refunds (CONTRACT §4)."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, date, datetime, time, timedelta

from aws_lambda_powertools import Logger

from kayisu.clock import now
from kayisu.errors import FieldError, Problem, conflict, not_found, validation_error
from kayisu.orders.delivery import mask_code, opened
from kayisu.orders.fulfilment import RefundDeclined, RefundFailed, mail_refund_if_owed, refund_order
from kayisu.orders.payment import check_with_provider
from kayisu.orders.problems import provider_unavailable
from kayisu.orders.schemas import (
    ORDER_STATUSES,
    AdminOrder,
    AdminOrderDetail,
    AdminOrderList,
    CardHistory,
    OrderEvent,
    PaymentCheck,
)
from kayisu.orders.views import summary_fields
from kayisu.payments.provider import ProviderError
from kayisu.store import orders as store

logger = Logger()

DEFAULT_MONTHS = 3  # how far back a list goes when `from` is not given
PAGE = 50


def _when(field: str, value: str | None, end_of_day: bool) -> datetime | None:
    if not value:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime.combine(day, time.max if end_of_day else time.min, tzinfo=UTC)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise validation_error([FieldError(field, "must be a date (YYYY-MM-DD) or an RFC 3339 time")]) from None
    if parsed.tzinfo is None:
        raise validation_error([FieldError(field, "needs a time zone (use Z for UTC)")])
    return parsed.astimezone(UTC)


def _month_start(at: datetime) -> datetime:
    return at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _previous_month(month: datetime) -> datetime:
    return _month_start(month - timedelta(days=1))


def _months_back(month: datetime, count: int) -> datetime:
    for _ in range(count):
        month = _previous_month(month)
    return month


def _cursor_in(cursor: str | None) -> str | None:
    if not cursor:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor.encode() + b"==").decode()
    except (binascii.Error, UnicodeDecodeError):
        text = ""
    try:
        datetime.fromisoformat(text.split("#", 1)[0].replace("Z", "+00:00"))
    except ValueError:
        text = ""
    if "#ord_" not in text:
        raise validation_error([FieldError("cursor", "is not a cursor this API gave out")])
    return text


def _cursor_out(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def list_orders(
    status: str | None, from_: str | None, to: str | None, cursor: str | None, limit: int = PAGE
) -> AdminOrderList:
    if status and status not in ORDER_STATUSES:
        raise validation_error([FieldError("status", f"must be one of {', '.join(ORDER_STATUSES)}")])
    upper = _when("to", to, end_of_day=True) or now()
    lower = _when("from", from_, end_of_day=False) or _months_back(_month_start(upper), DEFAULT_MONTHS - 1)
    if lower > upper:
        raise validation_error([FieldError("from", "must not be after `to`")])
    resume = _cursor_in(cursor)
    before = resume or store.sort_key_at(upper) + "~"
    after = store.sort_key_at(lower)
    start = datetime.fromisoformat(resume.split("#", 1)[0].replace("Z", "+00:00")) if resume else upper
    month = _month_start(min(upper, start))
    items: list[AdminOrder] = []
    last_seen: str | None = None
    while len(items) < limit and month >= _month_start(lower):
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
            month = _previous_month(month)
            if last_seen:
                before = last_seen
            continue
        if last_seen:
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


def unknown_order(order_id: str) -> Problem:
    return not_found("UNKNOWN_ORDER", f"There is no order {order_id!r}.")


def detail(order_id: str) -> AdminOrderDetail:
    order, events = store.history(order_id)
    if order is None:
        raise unknown_order(order_id)
    cards = [
        CardHistory(
            code=mask_code(o.code),
            batch_id=o.card.batch_id,
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
    if order.status == "refunded":
        mail_refund_if_owed(order)  # the first attempt may have died before mailing
        return detail(order_id)
    if order.status not in ("paid", "delivered"):
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
