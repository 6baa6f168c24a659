"""Operators create and manage promotions (/v1/admin/promotions, CONTRACT §8)."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from kayisu.config import require
from kayisu.promotions import admin
from kayisu.promotions.schemas import Promotion, PromotionCreate, PromotionList, PromotionUpdate
from kayisu.web import OPERATORS, create_app, documented, json_response, lambda_handler

# What this function needs set: a missing one fails the cold start, not the first call.
require("promotions_table")

app = create_app()


@app.post(
    "/v1/admin/promotions",
    middlewares=[OPERATORS],
    summary="Create a promotion (full reduction; flash sales and group buys are not available yet)",
    tags=["admin"],
    responses=documented(201, Promotion, "Created"),
)
def create_promotion(data: Annotated[PromotionCreate, Body()]) -> Response[str]:
    return json_response(admin.create(data), status=201)


@app.get("/v1/admin/promotions", middlewares=[OPERATORS], summary="Promotions, newest first", tags=["admin"])
def list_promotions(cursor: Annotated[str | None, Query(max_length=256)] = None) -> PromotionList:
    return admin.list_page(cursor)


@app.get(
    "/v1/admin/promotions/<promotion_id>",
    middlewares=[OPERATORS],
    summary="One promotion",
    tags=["admin"],
    responses=documented(UNKNOWN_PROMOTION=404),
)
def get_promotion(promotion_id: str) -> Promotion:
    return admin.get(promotion_id)


@app.put(
    "/v1/admin/promotions/<promotion_id>",
    middlewares=[OPERATORS],
    summary="Change a promotion's window, tiers or scope, or disable it",
    tags=["admin"],
    responses=documented(UNKNOWN_PROMOTION=404),
)
def update_promotion(promotion_id: str, data: Annotated[PromotionUpdate, Body()]) -> Promotion:
    return admin.update(promotion_id, data)


handler = lambda_handler(app)
