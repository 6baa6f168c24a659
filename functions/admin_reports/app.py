"""Finance and operators list the exports and download them (/v1/admin/reports)."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from kayisu.config import require
from kayisu.reports import library
from kayisu.reports.periods import ReportKind
from kayisu.web import OPERATORS_OR_FINANCE, create_app, documented, lambda_handler

# What this function needs set: a missing one fails the cold start, not the first call.
require("reports_bucket")

app = create_app()


@app.get(
    "/v1/admin/reports", middlewares=[OPERATORS_OR_FINANCE], summary="Finance exports, newest first", tags=["admin"]
)
def list_reports(
    kind: Annotated[ReportKind | None, Query(description="daily, weekly or monthly; all when absent")] = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = library.PAGE,
) -> library.ReportList:
    return library.list_reports(kind, cursor, limit)


@app.get(
    "/v1/admin/reports/<report_id>",
    middlewares=[OPERATORS_OR_FINANCE],
    summary="One export",
    tags=["admin"],
    responses=documented(UNKNOWN_REPORT=404),
)
def get_report(report_id: str) -> library.Report:
    return library.get_report(report_id)


handler = lambda_handler(app)
