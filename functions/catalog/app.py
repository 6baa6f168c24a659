"""Public catalog: GET /v1/products, GET /v1/products/{sku}."""

from kayisu.catalog import service
from kayisu.catalog.schemas import Product, ProductList
from kayisu.config import require
from kayisu.web import create_app, documented, lambda_handler

# What this function needs set: a missing one fails the cold start, not the first call.
require("catalog_table")

app = create_app()


@app.get("/v1/products", summary="List products for sale", tags=["shopper"])
def list_products() -> ProductList:
    return ProductList(items=service.list_active_products())


@app.get("/v1/products/<sku>", summary="One product", tags=["shopper"], responses=documented(UNKNOWN_SKU=404))
def get_product(sku: str) -> Product:
    return service.get_active_product(sku)


handler = lambda_handler(app)
