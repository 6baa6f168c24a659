"""Finance exports on their schedules: the day, ISO week or month that has just ended.

The event is EventBridge Scheduler's input: `{"time": <scheduled time>, "kind"?}`. Without a
kind, a run reports every period that ended at the start of its business day. An operator can
re-run one period with `{"kind": "daily", "period": "2026-11-24"}`.
"""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from kayisu.clock import now, scheduled_at
from kayisu.config import require
from kayisu.observability import metrics
from kayisu.reports import periods
from kayisu.reports.export import export

# What this function needs set: a missing one fails the cold start, not the first call.
require("orders_table", "reports_bucket")

logger = Logger()


def requested(event: dict[str, Any]) -> list[periods.Period]:
    kind = periods.ReportKind(event["kind"]) if event.get("kind") else None
    if kind and event.get("period"):
        return [periods.parse(kind, str(event["period"]))]
    at = scheduled_at(event) if event.get("time") else now()
    return periods.due_at(at, [kind] if kind else None)


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    written = []
    for period in requested(event):
        result = export(period)
        metrics.add_metric(name="ReportMismatches", unit="Count", value=result.mismatches)
        written.append({"report_id": result.report_id, "rows": result.rows, "mismatches": result.mismatches})
    return {"reports": written}
