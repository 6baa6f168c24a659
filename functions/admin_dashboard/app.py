"""Operators and finance read the dashboard: GET /v1/admin/dashboard?from=&to= (CONTRACT §14)."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from kayisu.config import require
from kayisu.dashboard import query
from kayisu.dashboard.schemas import Dashboard
from kayisu.web import OPERATORS_OR_FINANCE, create_app, lambda_handler

require("catalog_table", "dashboard_table")

app = create_app()
DAY = r"^\d{4}-\d{2}-\d{2}$"


@app.get(
    "/v1/admin/dashboard",
    middlewares=[OPERATORS_OR_FINANCE],
    summary="Sales, money, buyers and stock of a range of business days",
    tags=["admin"],
)
def dashboard(
    from_: Annotated[str, Query(alias="from", pattern=DAY, description="first business day, YYYY-MM-DD")],
    to: Annotated[str, Query(pattern=DAY, description="last business day, YYYY-MM-DD (at most 400 days in all)")],
) -> Dashboard:
    return query.dashboard(from_, to)


handler = lambda_handler(app)
