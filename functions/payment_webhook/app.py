"""Payment providers' notifications: POST /v1/webhooks/{provider}."""

from kayisu.orders import payment
from kayisu.orders.schemas import WebhookAck
from kayisu.web import create_app, lambda_handler

app = create_app()


@app.post("/v1/webhooks/<provider>", summary="A payment provider's notification", tags=["payments"])
def notify(provider: str) -> WebhookAck:
    event = app.current_event
    raw = (event.decoded_body or "").encode("utf-8")  # the signature covers these exact bytes
    return payment.receive(provider, event.headers, raw)


handler = lambda_handler(app)
