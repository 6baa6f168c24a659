"""Operators load stock: card batches (/v1/admin/batches) and stock levels (/v1/admin/stock)."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from kayisu.catalog import service as catalog
from kayisu.catalog.schemas import StockList
from kayisu.config import require
from kayisu.ingest import admin
from kayisu.ingest.schemas import Batch, BatchCreate, BatchGenerate, BatchUpload, BatchVoided
from kayisu.web import OPERATORS, create_app, documented, json_response, lambda_handler

# What this function needs set: a missing one fails the cold start, not the first call.
require("catalog_table", "cards_table", "cards_bucket", "reports_bucket")

app = create_app()


@app.post(
    "/v1/admin/batches",
    middlewares=[OPERATORS],
    summary="Start a card batch upload",
    tags=["admin"],
    responses=documented(201, BatchUpload, "Created: PUT the file to upload_url", UNKNOWN_SKU=404),
)
def start_upload(data: Annotated[BatchCreate, Body()]) -> Response[str]:
    return json_response(admin.start_upload(data), 201)


@app.post(
    "/v1/admin/batches/generate",
    middlewares=[OPERATORS],
    summary="Generate a batch of random redemption codes",
    tags=["admin"],
    responses=documented(201, Batch, "Created: ingestion encrypts the codes", UNKNOWN_SKU=404),
)
def generate(data: Annotated[BatchGenerate, Body()]) -> Response[str]:
    return json_response(admin.generate(data), 201, exclude_none=True)


@app.get(
    "/v1/admin/batches/<batch_id>",
    middlewares=[OPERATORS],
    summary="A batch and its report",
    tags=["admin"],
    responses=documented(200, Batch, UNKNOWN_BATCH=404),
)
def get_batch(batch_id: str) -> Response[str]:
    return json_response(admin.view(batch_id), exclude_none=True)  # rejects_url, error only when there


@app.post(
    "/v1/admin/batches/<batch_id>/void",
    middlewares=[OPERATORS],
    summary="Void unsold cards",
    tags=["admin"],
    responses=documented(UNKNOWN_BATCH=404, BATCH_NOT_FINISHED=409),
)
def void_batch(batch_id: str) -> BatchVoided:
    return admin.void(batch_id)


@app.get("/v1/admin/stock", middlewares=[OPERATORS], summary="Stock per SKU", tags=["admin"])
def stock() -> StockList:
    return StockList(items=catalog.stock_levels())


handler = lambda_handler(app)
