"""Webhook deliveries from the delivery queue, and a sweep for any whose message was lost."""

from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from kayisu.web import metrics
from kayisu.webhooks.delivery import attempt, sweep
from kayisu.webhooks.fanout import parse_message

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
    at = datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00"))  # the schedule's time
    return sweep(at)
