"""Card batch ingestion: S3 upload notifications (and continuations) from the ingest queue."""

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from kayisu.config import require
from kayisu.ingest import service
from kayisu.store.cards import load_batch

# What this function needs set: a missing one fails the cold start, not the first call.
require(
    "catalog_table",
    "cards_table",
    "cards_bucket",
    "reports_bucket",
    "ingest_queue_url",
    "kms_key_id",
    "code_digest_secret_arn",
)

logger = Logger()
processor = BatchProcessor(event_type=EventType.SQS)


def ingest(record: SQSRecord, lambda_context: LambdaContext) -> None:
    message = json.loads(record.body)
    if "continue_batch" in message:
        batches = [b for b in [load_batch(message["continue_batch"])] if b is not None]
    else:
        batches = [service.batch_for(upload) for upload in service.uploads_in(message)]
    for batch in batches:
        logger.append_keys(batch_id=batch.batch_id, sku=batch.sku)
        if service.run(batch, lambda_context.get_remaining_time_in_millis) is service.Outcome.CONTINUE:
            service.hand_on(batch.batch_id)


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=ingest, processor=processor, context=context)
