"""The sandbox provider's pay page: GET and POST /v1/sandbox/pay/{payment_id} (not in prod)."""

from aws_lambda_powertools.event_handler import Response

from kayisu.config import require
from kayisu.payments import sandbox_page
from kayisu.web import create_app, html_page, lambda_handler, public_base

# What this function needs set: a missing one fails the cold start, not the first call.
require("orders_table")

app = create_app()


def _html(result: tuple[int, str]) -> Response[str]:
    status, page = result
    return Response(
        status_code=status,
        content_type="text/html; charset=utf-8",
        body=page,
        headers={
            "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
        },
    )


@app.get("/v1/sandbox/pay/<payment_id>", summary="Sandbox pay page", tags=["payments"], responses=html_page(200, 404))
def show(payment_id: str) -> Response[str]:
    return _html(sandbox_page.show(payment_id))


@app.post(
    "/v1/sandbox/pay/<payment_id>",
    summary="Sandbox Pay or Decline (form field action=pay|decline)",
    tags=["payments"],
    responses=html_page(200, 404, 422),
)
def act(payment_id: str) -> Response[str]:
    event = app.current_event
    return _html(sandbox_page.act(payment_id, event.decoded_body or "", public_base(event.raw_event)))


handler = lambda_handler(app)
