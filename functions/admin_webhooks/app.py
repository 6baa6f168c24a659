"""Operators manage the shop's outgoing webhooks and their delivery log (/v1/admin/webhooks)."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from kayisu.config import require
from kayisu.web import OPERATORS, create_app, documented, json_response, lambda_handler
from kayisu.webhooks import admin
from kayisu.webhooks.schemas import (
    Delivery,
    DeliveryList,
    SecretRotation,
    Webhook,
    WebhookCreate,
    WebhookCreated,
    WebhookList,
    WebhookUpdate,
)

# What this function needs set: a missing one fails the cold start, not the first call.
require("webhooks_table", "webhook_queue_url", "kms_key_id")

app = create_app()


@app.post(
    "/v1/admin/webhooks",
    middlewares=[OPERATORS],
    summary="Add a webhook endpoint (its secret is shown this once)",
    tags=["admin"],
    responses=documented(201, WebhookCreated, "Created", BAD_WEBHOOK_URL=422),
)
def create_webhook(data: Annotated[WebhookCreate, Body()]) -> Response[str]:
    return json_response(admin.create(data), status=201)


@app.get("/v1/admin/webhooks", middlewares=[OPERATORS], summary="Every webhook endpoint", tags=["admin"])
def list_webhooks() -> WebhookList:
    return admin.list_all()


@app.get(
    "/v1/admin/webhooks/<webhook_id>",
    middlewares=[OPERATORS],
    summary="One webhook endpoint",
    tags=["admin"],
    responses=documented(UNKNOWN_WEBHOOK=404),
)
def get_webhook(webhook_id: str) -> Webhook:
    return admin.get(webhook_id)


@app.put(
    "/v1/admin/webhooks/<webhook_id>",
    middlewares=[OPERATORS],
    summary="Change the URL, events or description; disable or enable",
    tags=["admin"],
    responses=documented(UNKNOWN_WEBHOOK=404, BAD_WEBHOOK_URL=422),
)
def update_webhook(webhook_id: str, data: Annotated[WebhookUpdate, Body()]) -> Webhook:
    return admin.update(webhook_id, data)


@app.delete(
    "/v1/admin/webhooks/<webhook_id>",
    middlewares=[OPERATORS],
    summary="Delete a webhook endpoint (its pending deliveries fail)",
    tags=["admin"],
    responses=documented(204, None, "Deleted", UNKNOWN_WEBHOOK=404),
)
def delete_webhook(webhook_id: str) -> Response[str]:
    admin.delete(webhook_id)
    return Response(status_code=204, body="")


@app.post(
    "/v1/admin/webhooks/<webhook_id>/secret",
    middlewares=[OPERATORS],
    summary="Rotate the secret (the old one also signs for grace_seconds)",
    tags=["admin"],
    responses=documented(UNKNOWN_WEBHOOK=404),
)
def rotate_secret(webhook_id: str, data: Annotated[SecretRotation | None, Body()] = None) -> WebhookCreated:
    return admin.rotate(webhook_id, data or SecretRotation())


@app.get(
    "/v1/admin/webhooks/<webhook_id>/deliveries",
    middlewares=[OPERATORS],
    summary="The endpoint's deliveries, newest first",
    tags=["admin"],
    responses=documented(UNKNOWN_WEBHOOK=404),
)
def list_deliveries(webhook_id: str, cursor: Annotated[str | None, Query()] = None) -> DeliveryList:
    return admin.deliveries(webhook_id, cursor)


@app.post(
    "/v1/admin/webhooks/<webhook_id>/deliveries/<delivery_id>/retry",
    middlewares=[OPERATORS],
    summary="Attempt a delivery again now (a fresh retry schedule)",
    tags=["admin"],
    responses=documented(202, Delivery, "Queued", UNKNOWN_WEBHOOK=404, UNKNOWN_DELIVERY=404),
)
def retry_delivery(webhook_id: str, delivery_id: str) -> Response[str]:
    return json_response(admin.retry(webhook_id, delivery_id), status=202)


handler = lambda_handler(app)
