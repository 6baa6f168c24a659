"""What operators do with batches: start an upload, follow it, void what is unsold."""

from __future__ import annotations

import tempfile
from datetime import timedelta

from kayisu.aws import client
from kayisu.catalog.service import unknown_sku
from kayisu.clock import now
from kayisu.config import get_settings
from kayisu.errors import FieldError, Problem, conflict, not_found, validation_error
from kayisu.ingest.ids import new_batch_id
from kayisu.ingest.schemas import Batch, BatchCreate, BatchGenerate, BatchUpload, BatchVoided
from kayisu.partners import codes
from kayisu.store import cards as store
from kayisu.store.catalog import load_product
from kayisu.store.voiding import BatchNotFinished, void_unsold

UPLOAD_SECONDS = 900
DOWNLOAD_SECONDS = 900


def unknown_batch(batch_id: str) -> Problem:
    return not_found("UNKNOWN_BATCH", f"There is no batch {batch_id!r}.")


def _card_product(sku: str) -> None:
    """Cards are uploaded to a product with cards of its own: a bundle sells its components'."""
    entry = load_product(sku)
    if entry is None:
        raise unknown_sku(sku)
    if entry.product.bundle():
        raise validation_error([FieldError("sku", "is a bundle: add cards to its components instead")])


def start_upload(data: BatchCreate) -> BatchUpload:
    _card_product(data.sku)
    batch_id = new_batch_id()
    key = f"incoming/{data.sku}/{batch_id}/{data.filename}"
    store.new_batch(batch_id, data.sku, data.filename, key)
    url = client("s3").generate_presigned_url(
        "put_object", Params={"Bucket": get_settings().cards_bucket, "Key": key}, ExpiresIn=UPLOAD_SECONDS
    )
    return BatchUpload(
        batch_id=batch_id, upload_url=url, s3_key=key, expires_at=now() + timedelta(seconds=UPLOAD_SECONDS)
    )


def generate(data: BatchGenerate) -> Batch:
    """A batch of random codes, written as an upload would be: ingestion encrypts them,
    de-duplicates them against every code there is, and deletes the file. Nobody sees them
    until a shopper buys one."""
    _card_product(data.sku)
    batch_id = new_batch_id()
    key = f"incoming/{data.sku}/{batch_id}/generated.txt"
    store.new_batch(batch_id, data.sku, "generated.txt", key)
    with tempfile.TemporaryFile() as body:
        for _ in range(data.count):
            body.write(codes.generate(data.length, data.prefix).encode("ascii") + b"\n")
        size = body.tell()
        body.seek(0)
        client("s3").put_object(
            Bucket=get_settings().cards_bucket, Key=key, Body=body, ContentLength=size, ContentType="text/plain"
        )
    return view(batch_id)


def view(batch_id: str) -> Batch:
    batch = store.load_batch(batch_id)
    if batch is None:
        raise unknown_batch(batch_id)
    rejects_url = None
    if batch.rejects_key:
        rejects_url = client("s3").generate_presigned_url(
            "get_object",
            Params={"Bucket": get_settings().reports_bucket, "Key": batch.rejects_key},
            ExpiresIn=DOWNLOAD_SECONDS,
        )
    return Batch(
        batch_id=batch.batch_id,
        sku=batch.sku,
        filename=batch.filename,
        status=batch.status,
        rows=int(batch.rows),
        imported=int(batch.imported),
        duplicates=int(batch.duplicates),
        rejected=int(batch.rejected),
        voided=int(batch.voided),
        rejects_url=rejects_url,
        error=batch.error,
        created_at=batch.created_at,
        completed_at=batch.completed_at,
    )


def void(batch_id: str) -> BatchVoided:
    batch = store.load_batch(batch_id)
    if batch is None:
        raise unknown_batch(batch_id)
    try:
        voided, held = void_unsold(batch)
    except BatchNotFinished:
        raise conflict(
            "BATCH_NOT_FINISHED", "The batch is still being ingested; void it when it has finished."
        ) from None
    return BatchVoided(batch_id=batch_id, voided=voided, held=held)
