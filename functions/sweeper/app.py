"""Every minute: expire unpaid orders, re-request fulfilment of stuck ones, watch dead letters."""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from kayisu.clock import scheduled_at
from kayisu.config import require
from kayisu.observability import metrics
from kayisu.orders.sweeper import sweep

# What this function needs set: a missing one fails the cold start, not the first call.
require("catalog_table", "orders_table", "fulfilment_queue_url", "alerts_topic_arn")

logger = Logger()


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # The schedule's time, not the clock: a late or replayed run sweeps as of when it was due.
    result = sweep(scheduled_at(event))
    logger.info("swept", extra=result)
    return result
