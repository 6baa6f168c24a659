"""Shoppers order and read their orders: POST /v1/orders, GET /v1/orders/{order_id}."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Header

from kayisu.config import require
from kayisu.orders import checkout
from kayisu.orders.schemas import Order, OrderCreate
from kayisu.web import create_app, documented, json_response, lambda_handler, on_phone, public_base, source_ip

# What this function needs set: a missing one fails the cold start, not the first call.
require("catalog_table", "orders_table", "cards_table", "stock_events_queue_url")

app = create_app()


@app.post(
    "/v1/orders",
    summary="Create an order and reserve its stock",
    tags=["shopper"],
    responses={
        **documented(
            201,
            Order,
            "Created",
            UNKNOWN_SKU=404,
            OUT_OF_STOCK=409,
            IDEMPOTENCY_KEY_REUSED=422,
            RATE_LIMITED=429,
            PAYMENT_UNAVAILABLE=503,
            TRY_AGAIN=503,
        ),
        200: {
            "description": "An Idempotency-Key repeat: the same order",
            "content": {"application/json": {"model": Order}},
        },
    },
)
def create_order(
    data: Annotated[OrderCreate, Body()],
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", max_length=64, pattern=r"^[\x21-\x7e]+$", description="repeat-safe key"),
    ] = None,
) -> Response[str]:
    event = app.current_event.raw_event
    order, created = checkout.place(data, source_ip(event), idempotency_key, public_base(event), on_phone(event))
    return json_response(order.public(), 201 if created else 200)


@app.get(
    "/v1/orders/<order_id>",
    summary="An order (with its codes once delivered)",
    tags=["shopper"],
    responses=documented(200, Order, UNKNOWN_ORDER=404),
)
def get_order(
    order_id: str,
    authorization: Annotated[str | None, Header(alias="Authorization", description="Bearer <access_token>")] = None,
) -> Response[str]:
    scheme, _, token = (authorization or "").partition(" ")
    order = checkout.view(order_id, token.strip() if scheme.lower() == "bearer" else None)
    return json_response(order.public())


handler = lambda_handler(app)
