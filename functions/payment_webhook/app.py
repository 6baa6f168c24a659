"""Payment providers' notifications: POST /v1/webhooks/{provider}."""

from aws_lambda_powertools.event_handler import Response

from kayisu.config import require
from kayisu.orders import payment
from kayisu.orders.schemas import WebhookAck
from kayisu.web import answer_response, create_app, documented, lambda_handler

# What this function needs set: a missing one fails the cold start, not the first call.
require("catalog_table", "orders_table", "cards_table", "fulfilment_queue_url", "alerts_topic_arn")

app = create_app()


@app.post(
    "/v1/webhooks/<provider>",
    summary="A payment provider's notification",
    description=(
        "Verified over the raw body with the provider's own scheme. Sandbox and Stripe get JSON; "
        'WeChat Pay gets 204 or `{"code":"FAIL","message":…}`; Alipay gets the text `success` or `fail`.'
    ),
    tags=["payments"],
    responses=documented(
        200,
        WebhookAck,
        "Recorded (each provider gets the answer its own spec expects: docs/api.md)",
        BAD_SIGNATURE=400,
        UNKNOWN_ORDER=404,
        AMOUNT_MISMATCH=409,
        DUPLICATE_TRANSACTION=409,
        TRY_AGAIN=503,
    ),
)
def notify(provider: str) -> Response[str]:
    event = app.current_event
    raw = (event.decoded_body or "").encode("utf-8")  # the signature covers these exact bytes
    return answer_response(payment.receive(provider, event.headers, raw))


handler = lambda_handler(app)
