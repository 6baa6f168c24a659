"""Operators and finance read orders; operators refund them (/v1/admin/orders)."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from kayisu.config import require
from kayisu.orders import admin
from kayisu.orders.schemas import AdminOrderDetail, AdminOrderList, PaymentCheck, RefundRequest
from kayisu.web import OPERATORS, OPERATORS_OR_FINANCE, caller, create_app, documented, lambda_handler, public_base

# What this function needs set: a missing one fails the cold start, not the first call.
require("catalog_table", "orders_table", "cards_table", "fulfilment_queue_url", "alerts_topic_arn")

app = create_app()


@app.get("/v1/admin/orders", middlewares=[OPERATORS_OR_FINANCE], summary="Orders, newest first", tags=["admin"])
def list_orders(
    status: Annotated[str | None, Query(description="only orders in this status")] = None,
    from_: Annotated[str | None, Query(alias="from", description="created at or after (date or RFC 3339)")] = None,
    to: Annotated[str | None, Query(description="created at or before (date or RFC 3339)")] = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = admin.PAGE,
    email: Annotated[str | None, Query(description="only this buyer's orders (any case)", max_length=254)] = None,
) -> AdminOrderList:
    return admin.list_orders(status, from_, to, cursor, limit, email)


@app.get(
    "/v1/admin/orders/<order_id>",
    middlewares=[OPERATORS_OR_FINANCE],
    summary="One order",
    tags=["admin"],
    responses=documented(UNKNOWN_ORDER=404),
)
def get_order(order_id: str) -> AdminOrderDetail:
    return admin.detail(order_id)


@app.post(
    "/v1/admin/orders/<order_id>/refund",
    middlewares=[OPERATORS],
    summary="Refund an order",
    tags=["admin"],
    responses=documented(
        UNKNOWN_ORDER=404,
        NOT_REFUNDABLE=409,
        CARD_REDEEMED=409,
        REFUND_FAILED=409,
        REFUND_DECLINED=502,
        PAYMENT_UNAVAILABLE=503,
    ),
)
def refund_order(order_id: str, data: Annotated[RefundRequest, Body()]) -> AdminOrderDetail:
    event = app.current_event.raw_event
    return admin.refund(order_id, data.reason, caller(event), public_base(event))


@app.post(
    "/v1/admin/orders/<order_id>/payment-check",
    middlewares=[OPERATORS],
    summary="Ask the provider whether the order was paid (a missed callback); apply a payment found",
    tags=["admin"],
    responses=documented(UNKNOWN_ORDER=404, AMOUNT_MISMATCH=409, PAYMENT_UNAVAILABLE=503),
)
def check_payment(order_id: str) -> PaymentCheck:
    return admin.check_payment(order_id)


handler = lambda_handler(app)
