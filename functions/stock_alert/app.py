"""Low-stock alerts: the stock-events queue (a reservation crossed a threshold) and a check of
every SKU every 5 minutes."""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from kayisu.alerts import stock
from kayisu.clock import now, scheduled_at
from kayisu.config import require
from kayisu.observability import metrics

# What this function needs set: a missing one fails the cold start, not the first call.
require("catalog_table", "orders_table", "alerts_topic_arn")

logger = Logger()
processor = BatchProcessor(event_type=EventType.SQS)


def evaluate_record(record: SQSRecord) -> str:
    return stock.evaluate(stock.sku_of(record.body), now())


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    if "Records" in event:
        return process_partial_response(
            event=event, record_handler=evaluate_record, processor=processor, context=context
        )
    outcomes = stock.check_all(scheduled_at(event))
    logger.info("stock checked", extra={"fired": sorted(k for k, v in outcomes.items() if v == "fired")})
    return {"checked": len(outcomes), "outcomes": outcomes}
