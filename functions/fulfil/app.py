"""Fulfilment requests from the fulfilment queue: allocate, deliver, mail (or refund)."""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from kayisu.config import require
from kayisu.observability import metrics
from kayisu.orders.fulfilment import fulfil
from kayisu.orders.queue import order_of

# What this function needs set: a missing one fails the cold start, not the first call.
require("catalog_table", "orders_table", "cards_table", "alerts_topic_arn")

logger = Logger()
processor = BatchProcessor(event_type=EventType.SQS)


def fulfil_record(record: SQSRecord) -> str:
    return fulfil(order_of(record.body))


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=fulfil_record, processor=processor, context=context)
