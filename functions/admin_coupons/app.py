"""Operators issue and manage coupons (/v1/admin/coupons, CONTRACT §8)."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from kayisu.config import require
from kayisu.coupons import admin
from kayisu.coupons.schemas import Coupon, CouponCreate, CouponList, CouponUpdate
from kayisu.web import OPERATORS, create_app, documented, json_response, lambda_handler

# What this function needs set: a missing one fails the cold start, not the first call.
require("promotions_table")

app = create_app()


@app.post(
    "/v1/admin/coupons",
    middlewares=[OPERATORS],
    summary="Issue a coupon, or `count` single-use coupons",
    tags=["admin"],
    # 201 with a Coupon, or with {"items": [Coupon]} (CouponBatch) when `count` > 1.
    responses=documented(201, Coupon, "Created", COUPON_EXISTS=409),
)
def create_coupon(data: Annotated[CouponCreate, Body()]) -> Response[str]:
    return json_response(admin.create(data), status=201)


@app.get("/v1/admin/coupons", middlewares=[OPERATORS], summary="Coupons, newest first", tags=["admin"])
def list_coupons(cursor: Annotated[str | None, Query(max_length=256)] = None) -> CouponList:
    return admin.list_page(cursor)


@app.get(
    "/v1/admin/coupons/<coupon_id>",
    middlewares=[OPERATORS],
    summary="One coupon with its uses",
    tags=["admin"],
    responses=documented(UNKNOWN_COUPON=404),
)
def get_coupon(coupon_id: str) -> Coupon:
    return admin.get(coupon_id)


@app.put(
    "/v1/admin/coupons/<coupon_id>",
    middlewares=[OPERATORS],
    summary="Change a coupon's terms, or disable it",
    tags=["admin"],
    responses=documented(UNKNOWN_COUPON=404),
)
def update_coupon(coupon_id: str, data: Annotated[CouponUpdate, Body()]) -> Coupon:
    return admin.update(coupon_id, data)


handler = lambda_handler(app)
