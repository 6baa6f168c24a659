"""Webhook deliveries from the delivery queue, and a sweep for any whose message was lost."""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from kayisu.clock import scheduled_at
from kayisu.config import require
from kayisu.observability import metrics
from kayisu.webhooks.delivery import attempt, sweep
from kayisu.webhooks.queue import parse_message

# What this function needs set: a missing one fails the cold start, not the first call.
require("webhooks_table", "webhook_queue_url", "kms_key_id", "alerts_topic_arn")

logger = Logger()
processor = BatchProcessor(event_type=EventType.SQS)


def deliver_record(record: SQSRecord) -> str:
    webhook_id, delivery_id = parse_message(record.body)
    return attempt(webhook_id, delivery_id).status


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    if "Records" in event:
        return process_partial_response(
            event=event, record_handler=deliver_record, processor=processor, context=context
        )
    return sweep(scheduled_at(event))
