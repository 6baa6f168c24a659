"""Operators issue and manage partners (/v1/admin/partners)."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from kayisu.config import require
from kayisu.partners import admin
from kayisu.partners.schemas import Partner, PartnerCreate, PartnerCreated, PartnerList, PartnerUpdate, SecretRotation
from kayisu.web import OPERATORS, create_app, documented, json_response, lambda_handler

# What this function needs set: a missing one fails the cold start, not the first call.
require("catalog_table", "partners_table", "kms_key_id")

app = create_app()


@app.post(
    "/v1/admin/partners",
    middlewares=[OPERATORS],
    summary="Issue a partner (its secret is shown this once)",
    tags=["admin"],
    responses=documented(201, PartnerCreated, "Created"),
)
def create_partner(data: Annotated[PartnerCreate, Body()]) -> Response[str]:
    return json_response(admin.create(data), status=201)


@app.get("/v1/admin/partners", middlewares=[OPERATORS], summary="Every partner", tags=["admin"])
def list_partners() -> PartnerList:
    return admin.list_all()


@app.get(
    "/v1/admin/partners/<partner_id>",
    middlewares=[OPERATORS],
    summary="One partner",
    tags=["admin"],
    responses=documented(UNKNOWN_PARTNER=404),
)
def get_partner(partner_id: str) -> Partner:
    return admin.get(partner_id)


@app.put(
    "/v1/admin/partners/<partner_id>",
    middlewares=[OPERATORS],
    summary="Rename, change the scope, disable or enable",
    tags=["admin"],
    responses=documented(UNKNOWN_PARTNER=404),
)
def update_partner(partner_id: str, data: Annotated[PartnerUpdate, Body()]) -> Partner:
    return admin.update(partner_id, data)


@app.post(
    "/v1/admin/partners/<partner_id>/secret",
    middlewares=[OPERATORS],
    summary="Rotate the secret (the old one works for grace_seconds)",
    tags=["admin"],
    responses=documented(UNKNOWN_PARTNER=404),
)
def rotate_secret(partner_id: str, data: Annotated[SecretRotation | None, Body()] = None) -> PartnerCreated:
    return admin.rotate(partner_id, data or SecretRotation())


handler = lambda_handler(app)
