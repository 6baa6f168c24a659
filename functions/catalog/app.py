"""Public catalog: GET /v1/products, GET /v1/products/{sku}, and prices: POST /v1/quotes,
GET /v1/promotions."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body

from kayisu.catalog import service
from kayisu.catalog.schemas import Product, ProductList
from kayisu.config import require
from kayisu.pricing import service as pricing
from kayisu.pricing.schemas import Quote, QuoteRequest
from kayisu.promotions import admin as promotions
from kayisu.promotions.schemas import RunningPromotions
from kayisu.web import create_app, documented, lambda_handler

# What this function needs set: a missing one fails the cold start, not the first call.
require("catalog_table", "promotions_table")

app = create_app()


@app.get("/v1/products", summary="List products for sale", tags=["shopper"])
def list_products() -> ProductList:
    return ProductList(items=service.list_active_products())


@app.get("/v1/products/<sku>", summary="One product", tags=["shopper"], responses=documented(UNKNOWN_SKU=404))
def get_product(sku: str) -> Product:
    return service.get_active_product(sku)


@app.post(
    "/v1/quotes",
    summary="What an order would cost now, step by step (nothing is reserved)",
    tags=["shopper"],
    responses=documented(200, Quote, UNKNOWN_SKU=404, COUPON_INVALID=422),
)
def quote(data: Annotated[QuoteRequest, Body()]) -> Quote:
    return pricing.quote_for(data)


@app.get("/v1/promotions", summary="The promotions running now", tags=["shopper"])
def running_promotions() -> RunningPromotions:
    return promotions.running_now()


handler = lambda_handler(app)
