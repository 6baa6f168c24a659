"""Partners verify and redeem codes (/v1/partner, CONTRACT §3): signed requests only."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from kayisu.config import require
from kayisu.partners import redemption
from kayisu.partners.auth import authenticate, settle
from kayisu.partners.schemas import Redemption, RedemptionRequest, Verification, VerificationRequest
from kayisu.store.partners import PartnerItem, Slot
from kayisu.web import create_app, documented, json_response, lambda_handler

# What this function needs set: a missing one fails the cold start, not the first call.
require("catalog_table", "cards_table", "partners_table", "code_digest_secret_arn")

app = create_app()


def partner() -> PartnerItem:
    found: PartnerItem = app.context["partner"]
    return found


def slot() -> Slot:
    held: Slot = app.context["slot"]
    return held


@app.post(
    "/v1/partner/verifications",
    summary="Is this code redeemable?",
    tags=["partner"],
    responses=documented(INVALID_CODE=404),
)
def verify(data: Annotated[VerificationRequest, Body()]) -> Verification:
    return redemption.verify(partner(), slot(), data.code)


@app.post(
    "/v1/partner/redemptions",
    summary="Redeem a code (once; retry with the same reference)",
    tags=["partner"],
    responses={
        **documented(
            201,
            Redemption,
            "Redeemed now",
            INVALID_CODE=404,
            ALREADY_REDEEMED=409,
            REFERENCE_REUSED=409,
            CODE_VOID=409,
        ),
        200: {"description": "A retry: the first result", "content": {"application/json": {"model": Redemption}}},
    },
)
def redeem(data: Annotated[RedemptionRequest, Body()]) -> Response[str]:
    made, new = redemption.redeem(partner(), slot(), data.code, data.reference)
    return json_response(made, status=201 if new else 200)


@app.get(
    "/v1/partner/redemptions/<redemption_id>",
    summary="One of your redemptions",
    tags=["partner"],
    responses=documented(UNKNOWN_REDEMPTION=404),
)
def get_redemption(redemption_id: str) -> Redemption:
    return redemption.get(partner(), redemption_id)


handler = lambda_handler(app, authenticate=authenticate, settle=settle)
