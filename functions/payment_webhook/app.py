"""Payment providers' notifications: POST /v1/webhooks/{provider}."""

from aws_lambda_powertools.event_handler import Response

from kayisu.orders import payment
from kayisu.orders.schemas import WebhookAck
from kayisu.web import create_app, lambda_handler

app = create_app()


@app.post(
    "/v1/webhooks/<provider>",
    summary="A payment provider's notification",
    description=(
        "Verified over the raw body with the provider's own scheme. Sandbox and Stripe get JSON; "
        'WeChat Pay gets 204 or `{"code":"FAIL","message":…}`; Alipay gets the text `success` or `fail`.'
    ),
    tags=["payments"],
    responses={200: {"description": "Recorded", "content": {"application/json": {"model": WebhookAck}}}},
)
def notify(provider: str) -> Response[str]:
    event = app.current_event
    raw = (event.decoded_body or "").encode("utf-8")  # the signature covers these exact bytes
    return payment.receive(provider, event.headers, raw)


handler = lambda_handler(app)
