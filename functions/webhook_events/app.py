"""The tables' change streams: each order paid, delivered or refunded, low-stock alert and
redemption becomes an event with one delivery per subscribed webhook endpoint."""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from kayisu.config import require
from kayisu.observability import metrics
from kayisu.webhooks.fanout import handle_records

# What this function needs set: a missing one fails the cold start, not the first call.
require("webhooks_table", "webhook_queue_url", "orders_table", "catalog_table", "partners_table")

logger = Logger()


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    # A whole batch or nothing: on an error the stream hands the same batch again, and every
    # write here is idempotent (docs/webhooks.md).
    result = handle_records(list(event.get("Records") or []))
    logger.info("webhook events", extra=result)
    return result
