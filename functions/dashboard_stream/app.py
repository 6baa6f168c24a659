"""The orders table's change stream: the dashboard's counters (kayisu.dashboard.stream).

A failure raises, so that Lambda retries the whole batch: what a first attempt committed is
marked, and the retry adds only the rest."""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from kayisu.config import require
from kayisu.dashboard import stream
from kayisu.observability import metrics

# What this function needs set: a missing one fails the cold start, not the first call.
require("dashboard_table")

logger = Logger()


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    outcome = stream.apply(event.get("Records") or [])
    metrics.add_metric(name="DashboardChanges", unit="Count", value=outcome.changes)
    logger.info("counters updated", extra=outcome.__dict__)
    return dict(outcome.__dict__)
