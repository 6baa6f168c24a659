"""Shoppers order and read their orders: POST /v1/orders, GET /v1/orders/{order_id}."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Header

from kayisu.orders import checkout
from kayisu.orders.schemas import Order, OrderCreate
from kayisu.web import create_app, json_response, lambda_handler, on_phone, public_base, source_ip

app = create_app()


@app.post(
    "/v1/orders",
    summary="Create an order and reserve its stock",
    tags=["shopper"],
    responses={201: {"description": "Created", "content": {"application/json": {"schema": Order.model_json_schema()}}}},
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


@app.get("/v1/orders/<order_id>", summary="An order (with its codes once delivered)", tags=["shopper"])
def get_order(
    order_id: str,
    authorization: Annotated[str | None, Header(alias="Authorization", description="Bearer <access_token>")] = None,
) -> Response[str]:
    scheme, _, token = (authorization or "").partition(" ")
    order = checkout.view(order_id, token.strip() if scheme.lower() == "bearer" else None)
    return json_response(order.public())


handler = lambda_handler(app)
