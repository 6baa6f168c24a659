"""Card batch ingestion: an uploaded file becomes encrypted, de-duplicated cards.

The file is streamed (never whole in memory) and applied in chunks; each chunk is one
transaction that also moves the batch's checkpoint, so a crash, a timeout or a redelivered
message resumes at the checkpoint without importing anything twice or losing a row. A batch
that runs out of time hands itself on in a continuation message. See docs/ingestion.md.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from itertools import islice
from typing import Any, BinaryIO

from aws_lambda_powertools import Logger

from kayisu import crypto
from kayisu.aws import client
from kayisu.clock import now
from kayisu.config import get_settings
from kayisu.ingest.ids import new_batch_id as new_batch_id
from kayisu.ingest.parsing import LIMITS, CardRow, FileRejected, RejectedRow, file_too_large, kind_of, read_rows
from kayisu.ports import INGEST_QUEUE, Queue
from kayisu.spreadsheet import safe_row
from kayisu.store import cards as store
from kayisu.store.catalog import load_product

logger = Logger(child=True)

INCOMING = "incoming/"
MAX_ROWS_PER_CHUNK = 5000  # a chunk of only bad rows still moves the checkpoint
TIME_RESERVE_MS = 60_000  # stop and hand on while this much time is left
_PRESIGNED_KEY = re.compile(r"^incoming/[^/]+/(b-[a-z0-9]{20})/[^/]+$")


class Outcome(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"
    CONTINUE = "continue"


@dataclass(frozen=True)
class Upload:
    bucket: str
    key: str
    version: str  # the S3 event's sequencer (or eTag): one upload of a key


def uploads_in(s3_event: dict[str, Any]) -> Iterator[Upload]:
    """The uploads an S3 notification announces (its keys arrive URL-encoded)."""
    for record in s3_event.get("Records", []):
        if not str(record.get("eventName", "")).startswith("ObjectCreated"):
            continue
        obj = record["s3"]["object"]
        key = urllib.parse.unquote_plus(obj["key"])
        if key.startswith(INCOMING):
            yield Upload(record["s3"]["bucket"]["name"], key, str(obj.get("sequencer") or obj.get("eTag", "")))


def batch_id_of(upload: Upload) -> str:
    """A presigned upload names its batch in its key; a direct upload gets an id derived from
    its key and version, so a redelivered notification finds the same batch."""
    match = _PRESIGNED_KEY.match(upload.key)
    if match:
        return match.group(1)
    return "b-" + hashlib.sha256(f"{upload.key}\n{upload.version}".encode()).hexdigest()[:20]


def batch_for(upload: Upload) -> store.BatchItem:
    batch_id = batch_id_of(upload)
    existing = store.load_batch(batch_id)
    if existing is not None:
        return existing
    parts = upload.key.split("/")
    sku = parts[1] if len(parts) > 2 else ""
    try:
        return store.new_batch(batch_id, sku, parts[-1], upload.key, status="processing")
    except store.BatchExists:
        batch = store.load_batch(batch_id)
        assert batch is not None
        return batch


def run(batch: store.BatchItem, remaining_ms: Callable[[], int]) -> Outcome:
    """Ingests as much of the batch as time allows."""
    if batch.status in ("completed", "failed"):
        _clean_up(batch)  # a redelivered message, or an upload to a finished batch's key
        return Outcome(batch.status)
    try:
        kind = kind_of(batch.filename)
        product = load_product(batch.sku)
        if product is None:
            raise FileRejected(f"unknown SKU {batch.sku!r}: create the product first")
        if product.product.bundle():
            raise FileRejected(f"{batch.sku!r} is a bundle: upload cards to its components")
        key = _data_key(batch)
        with _open_upload(batch, kind == "xlsx") as source:
            outcome = _import(batch, key, read_rows(kind, source), remaining_ms)
    except FileRejected as exc:
        return _finish(batch, Outcome.FAILED, str(exc))
    except _UploadGone:
        batch.refresh(consistent_read=True)
        if batch.status in ("completed", "failed"):
            return Outcome(batch.status)  # another attempt finished it and removed the upload
        return _finish(batch, Outcome.FAILED, "the uploaded file is gone before it was ingested; upload it again")
    if outcome is Outcome.COMPLETED:
        return _finish(batch, Outcome.COMPLETED)
    return outcome


def _finish(batch: store.BatchItem, outcome: Outcome, error: str | None = None) -> Outcome:
    """Report, then the batch's end, then removal of the upload and the report's parts: each
    step can be repeated by a retry after a crash, and none loses what an earlier one did."""
    batch.refresh(consistent_read=True)  # the counts the chunks added
    rejects_key = _merge_rejects(batch) if int(batch.rejected) else None
    try:
        store.finish_batch(batch, str(outcome), rejects_key=rejects_key, error=error)
    except store.BatchFinished:
        batch.refresh(consistent_read=True)
        outcome = Outcome(batch.status)
    _clean_up(batch)
    log = logger.info if outcome is Outcome.COMPLETED else logger.warning
    log(
        "BatchCompleted" if outcome is Outcome.COMPLETED else "BatchFailed",
        extra={
            "batch_id": batch.batch_id,
            "sku": batch.sku,
            "rows": int(batch.rows),
            "imported": int(batch.imported),
            "duplicates": int(batch.duplicates),
            "rejected": int(batch.rejected),
            "error": error,
        },
    )
    return outcome


def _clean_up(batch: store.BatchItem) -> None:
    """The plaintext upload goes once its batch has ended; so do the rejects report's parts."""
    s3 = client("s3")
    s3.delete_object(Bucket=get_settings().cards_bucket, Key=batch.s3_key)
    for part in _rejects_parts(batch.batch_id):
        s3.delete_object(Bucket=get_settings().reports_bucket, Key=part)


def hand_on(batch_id: str, queue: Queue = INGEST_QUEUE) -> None:
    """Continue in a new invocation (before this one runs out of time)."""
    queue.send({"continue_batch": batch_id})


def _data_key(batch: store.BatchItem) -> bytes:
    if batch.data_key is None:
        fresh = crypto.new_data_key(batch.sku, batch.batch_id)
        stored = store.attach_data_key(batch, fresh.encrypted)
        if stored == fresh.encrypted:
            return fresh.plaintext
    assert batch.data_key is not None
    return crypto.DATA_KEYS.open(bytes(batch.data_key), batch.sku, batch.batch_id)


class _UploadGone(Exception):
    pass


class _open_upload:  # noqa: N801 - used as a context manager
    """The uploaded object as a stream; an xlsx (a zip, read from its end) is spooled to /tmp.
    An object over `LIMITS.upload_bytes` is refused (`FileRejected`) by its size, unread.
    The first read pins the object's ETag on the batch; a continuation reads only that object,
    so a file replaced under the same key is never mixed with the first."""

    def __init__(self, batch: store.BatchItem, seekable: bool) -> None:
        self.batch = batch
        self.seekable = seekable
        self._closers: list[Callable[[], None]] = []

    def __enter__(self) -> BinaryIO:
        from botocore.exceptions import ClientError

        s3 = client("s3")
        request: dict[str, str] = {"Bucket": get_settings().cards_bucket, "Key": self.batch.s3_key}
        if self.batch.upload_etag:
            request["IfMatch"] = self.batch.upload_etag
        try:
            response = s3.get_object(**request)
        except s3.exceptions.NoSuchKey:
            raise _UploadGone(self.batch.s3_key) from None
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("PreconditionFailed", "412"):
                raise FileRejected("the upload was replaced while it was being ingested; upload it again") from None
            raise
        if not self.batch.upload_etag and store.pin_upload(self.batch, str(response["ETag"])) != response["ETag"]:
            response["Body"].close()  # another worker pinned a different upload of this key first
            raise FileRejected("the upload was replaced while it was being ingested; upload it again")
        body = response["Body"]
        if int(response["ContentLength"]) > LIMITS.upload_bytes:
            body.close()  # refused by its size alone, before a byte is read or spooled
            raise file_too_large(LIMITS)
        self._closers.append(body.close)
        if not self.seekable:
            return body  # type: ignore[no-any-return]
        spool = tempfile.TemporaryFile()
        self._closers.append(spool.close)
        spooled = 0
        for block in iter(lambda: body.read(1 << 20), b""):
            spooled += len(block)
            if spooled > LIMITS.upload_bytes:  # /tmp is 512 MB: never more than the cap in it
                self.__exit__()
                raise file_too_large(LIMITS)
            spool.write(block)
        spool.seek(0)
        return spool

    def __exit__(self, *exc: object) -> None:
        for close in reversed(self._closers):
            close()


def _import(
    batch: store.BatchItem, key: bytes, rows: Iterator[CardRow | RejectedRow], remaining_ms: Callable[[], int]
) -> Outcome:
    digester = crypto.code_digester()
    per_chunk = store.CARDS_PER_CHUNK
    position = int(batch.position)
    pending = islice(rows, position, None)  # rows before the checkpoint were applied already
    stop_at = time.monotonic() + get_settings().ingest_slice_seconds
    while True:
        if remaining_ms() < TIME_RESERVE_MS or time.monotonic() > stop_at:
            return Outcome.CONTINUE
        start = position
        cards: list[store.NewCard] = []
        seen: set[str] = set()
        rejects: list[RejectedRow] = []
        repeats = 0
        damage: FileRejected | None = None
        try:
            for row in pending:
                seq = position
                position += 1
                if isinstance(row, RejectedRow):
                    rejects.append(row)
                else:
                    digest = digester.digest(row.code)
                    if digest in seen:
                        repeats += 1
                    else:
                        seen.add(digest)
                        identity = crypto.card_identity(batch.sku, batch.batch_id, digest)
                        cards.append(
                            store.NewCard(
                                digest=digest,
                                seq=seq,
                                sealed=crypto.seal(key, row.code, identity),
                                serial=row.serial,
                                expires_at=row.expires_at.isoformat() if row.expires_at else None,
                                face_value=row.face_value,
                            )
                        )
                if len(cards) >= per_chunk or position - start >= MAX_ROWS_PER_CHUNK:
                    break
        except FileRejected as exc:
            # The file is damaged further on: keep the good rows read so far, then fail.
            damage = exc
        if position == start:
            if damage is not None:
                raise damage
            return Outcome.COMPLETED
        if rejects:
            _write_rejects_part(batch, start, rejects)
        try:
            store.import_chunk(batch, cards, len(rejects), repeats, position, now())
        except store.StaleCheckpoint:
            # Another attempt applied this chunk: hand on, to go on from where the batch really is.
            batch.refresh(consistent_read=True)
            return Outcome.CONTINUE
        if damage is not None:
            raise FileRejected(f"{damage} (the {position:,} rows before it were processed)")


# -- the rejects report: line number and reason, never the code


def _rejects_prefix(batch_id: str) -> str:
    return f"batches/{batch_id}/rejects/"


def _write_rejects_part(batch: store.BatchItem, start: int, rejects: list[RejectedRow]) -> None:
    """Written before the chunk commits, under a name fixed by the chunk's start, so a retried
    chunk overwrites its own part and a committed chunk always has its part."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    for r in rejects:
        writer.writerow(safe_row([r.line, r.reason]))  # fixed reasons today; a spreadsheet opens it
    client("s3").put_object(
        Bucket=get_settings().reports_bucket,
        Key=f"{_rejects_prefix(batch.batch_id)}{start:09d}.csv",
        Body=text.getvalue().encode("utf-8"),
        ContentType="text/csv; charset=utf-8",
    )


def _rejects_parts(batch_id: str) -> list[str]:
    pages = (
        client("s3")
        .get_paginator("list_objects_v2")
        .paginate(Bucket=get_settings().reports_bucket, Prefix=_rejects_prefix(batch_id))
    )
    return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))


def _merge_rejects(batch: store.BatchItem) -> str:
    """One report from the parts; the parts are removed only after the batch records it, so a
    retry after a crash here merges them again rather than writing an empty report."""
    s3 = client("s3")
    bucket = get_settings().reports_bucket
    key = f"batches/{batch.batch_id}/rejects.csv"
    parts = _rejects_parts(batch.batch_id)
    if not parts and batch.rejects_key:
        return key
    out = io.BytesIO()
    out.write("\ufeffline,reason\n".encode())  # BOM: Excel opens it as UTF-8
    for part in parts:
        out.write(s3.get_object(Bucket=bucket, Key=part)["Body"].read())
    s3.put_object(Bucket=bucket, Key=key, Body=out.getvalue(), ContentType="text/csv; charset=utf-8")
    return key
