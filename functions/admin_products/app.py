"""Operators manage the catalog: POST/PUT/GET /v1/admin/products."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body

from kayisu.catalog import service
from kayisu.catalog.schemas import AdminProduct, AdminProductList, ProductCreate, ProductUpdate
from kayisu.config import require
from kayisu.web import OPERATORS, create_app, documented, json_response, lambda_handler

# What this function needs set: a missing one fails the cold start, not the first call.
require("catalog_table")

app = create_app()


@app.post(
    "/v1/admin/products",
    middlewares=[OPERATORS],
    summary="Create a product",
    tags=["admin"],
    responses=documented(201, AdminProduct, "Created", SKU_EXISTS=409),
)
def create_product(data: Annotated[ProductCreate, Body()]):  # type: ignore[no-untyped-def]
    return json_response(service.create_product(data), 201)


@app.put(
    "/v1/admin/products/<sku>",
    middlewares=[OPERATORS],
    summary="Change a product",
    tags=["admin"],
    responses=documented(UNKNOWN_SKU=404),
)
def update_product(sku: str, change: Annotated[ProductUpdate, Body()]) -> AdminProduct:
    return service.update_product(sku, change)


@app.get("/v1/admin/products", middlewares=[OPERATORS], summary="All products, any status", tags=["admin"])
def list_products() -> AdminProductList:
    return AdminProductList(items=service.list_all_products())


handler = lambda_handler(app)
