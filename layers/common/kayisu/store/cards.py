"""The cards table: cards keyed by the digest of their code, and the batches they came in.

A card's key is `CARD#{digest}`, so "this code exists anywhere already" is the condition
`attribute_not_exists(pk)` on its own put: global uniqueness needs no extra item and no
read. Importing a chunk is one transaction: the cards, the stock shards they add to (`NEW →
available`, kayisu.store.stock.move_stock), and the batch's checkpoint (conditioned on the
checkpoint it started from, so a chunk is applied once even if a worker crashes after the commit
and its message is delivered again). Voiding a batch's unsold cards is kayisu.store.voiding.
See docs/architecture.md and docs/ingestion.md.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.attributes import (
    BinaryAttribute,
    DiscriminatorAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.exceptions import PutError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model

from kayisu.aws import client
from kayisu.clock import now
from kayisu.config import get_settings
from kayisu.store.stock import Stock, move_stock
from kayisu.store.txn import Cancelled, Transaction

# DynamoDB allows 100 items per transaction; a chunk also writes its shards and the batch.
TRANSACTION_ITEMS = 100


class ByBatch(GlobalSecondaryIndex["CardItem"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "ByBatch"
        # `kind` too: PynamoDB filters a subclass's queries on it.
        projection = IncludeProjection(["kind"])

    batch_pk = UnicodeAttribute(hash_key=True)
    batch_sk = UnicodeAttribute(range_key=True)


class CardsItem(Model):
    class Meta:
        table_name = get_settings().cards_table

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = DiscriminatorAttribute()


class CardItem(CardsItem, discriminator="card"):
    """One card. `sealed` is the AES-256-GCM ciphertext of the code; the code itself is never stored."""

    digest = UnicodeAttribute()
    sku = UnicodeAttribute()
    batch_id = UnicodeAttribute()
    seq = NumberAttribute()
    shard = NumberAttribute()
    status = UnicodeAttribute()  # available | sold | void
    sealed = BinaryAttribute(legacy_encoding=False)
    serial = UnicodeAttribute(null=True)
    expires_at = UnicodeAttribute(null=True)  # YYYY-MM-DD
    face_value = NumberAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    order_id = UnicodeAttribute(null=True)
    sold_at = UTCDateTimeAttribute(null=True)
    redeemed_at = UTCDateTimeAttribute(null=True)
    redemption_id = UnicodeAttribute(null=True)  # set with redeemed_at: a partner's retry finds its own
    void_at = UTCDateTimeAttribute(null=True)
    # The order whose refund is decided and not finished: no redemption meanwhile (it is about to be void).
    refund_lock = UnicodeAttribute(null=True)
    # Sparse: present only while the card is available (the AvailablePool index).
    pool_pk = UnicodeAttribute(null=True)
    pool_sk = UnicodeAttribute(null=True)
    batch_pk = UnicodeAttribute()
    batch_sk = UnicodeAttribute()
    by_batch = ByBatch()


class BatchItem(CardsItem, discriminator="batch"):
    batch_id = UnicodeAttribute()
    sku = UnicodeAttribute()
    filename = UnicodeAttribute()
    s3_key = UnicodeAttribute()
    status = UnicodeAttribute()  # pending | processing | completed | failed
    # position: how many non-empty rows of the file are done (the checkpoint).
    position = NumberAttribute(default=0)
    chunks = NumberAttribute(null=True)  # chunks applied so far: the next one's shard follows from it
    rows = NumberAttribute(default=0)
    imported = NumberAttribute(default=0)
    duplicates = NumberAttribute(default=0)
    rejected = NumberAttribute(default=0)
    voided = NumberAttribute(default=0)
    data_key = BinaryAttribute(legacy_encoding=False, null=True)
    rejects_key = UnicodeAttribute(null=True)
    upload_etag = UnicodeAttribute(null=True)  # the upload being ingested: continuations read the same one
    error = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    completed_at = UTCDateTimeAttribute(null=True)


def card_pk(digest: str) -> str:
    return f"CARD#{digest}"


CARD_SK = "CARD"
BATCH_SK = "BATCH"


def batch_pk(batch_id: str) -> str:
    return f"BATCH#{batch_id}"


def pool_pk(sku: str, shard: int) -> str:
    return f"POOL#{sku}#{shard:02d}"


@dataclass(frozen=True)
class NewCard:
    digest: str
    seq: int
    sealed: bytes
    serial: str | None = None
    expires_at: str | None = None
    face_value: int | None = None


@dataclass
class ChunkResult:
    imported: int = 0
    duplicates: int = 0


class StaleCheckpoint(Exception):
    """The batch moved on since this chunk was read: another attempt already applied it."""


class BatchExists(Exception):
    pass


# -- batches


def new_batch(batch_id: str, sku: str, filename: str, s3_key: str, status: str = "pending") -> BatchItem:
    at = now()
    item = BatchItem(
        batch_pk(batch_id),
        BATCH_SK,
        batch_id=batch_id,
        sku=sku,
        filename=filename,
        s3_key=s3_key,
        status=status,
        created_at=at,
        updated_at=at,
    )
    try:
        item.save(condition=BatchItem.pk.does_not_exist())
    except PutError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise BatchExists(batch_id) from exc
        raise
    return item


def load_batch(batch_id: str) -> BatchItem | None:
    try:
        item = BatchItem.get(batch_pk(batch_id), BATCH_SK, consistent_read=True)
    except BatchItem.DoesNotExist:
        return None
    return item


def attach_data_key(batch: BatchItem, encrypted: bytes) -> bytes:
    """Stores the batch's encrypted data key once; a concurrent attempt gets the first one."""
    try:
        batch.update(
            actions=[BatchItem.data_key.set(encrypted), BatchItem.status.set("processing")],
            condition=BatchItem.data_key.does_not_exist(),
        )
    except UpdateError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise
        batch.refresh(consistent_read=True)
    assert batch.data_key is not None
    return bytes(batch.data_key)


class BatchFinished(Exception):
    """The batch had already ended (another attempt finished it)."""


def pin_upload(batch: BatchItem, etag: str) -> str:
    """Pins the upload this batch ingests; two first reads at once agree on the first pin."""
    try:
        batch.update(actions=[BatchItem.upload_etag.set(etag)], condition=BatchItem.upload_etag.does_not_exist())
    except UpdateError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise
        batch.refresh(consistent_read=True)
    assert batch.upload_etag is not None
    return str(batch.upload_etag)


def finish_batch(batch: BatchItem, status: str, rejects_key: str | None = None, error: str | None = None) -> None:
    """Ends the batch once: a late or stale attempt never overwrites how it ended."""
    actions: list[Action] = [
        BatchItem.status.set(status),
        BatchItem.updated_at.set(now()),
        BatchItem.completed_at.set(now()),
    ]
    if rejects_key:
        actions.append(BatchItem.rejects_key.set(rejects_key))
    if error:
        actions.append(BatchItem.error.set(error))
    try:
        batch.update(actions=actions, condition=BatchItem.status.is_in("pending", "processing"))
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise BatchFinished(batch.batch_id) from exc
        raise


# -- import


SHARDS_PER_CHUNK = 8  # a chunk's cards go round this many shards (one contended item each)


def chunk_shards(batch_id: str, chunk: int) -> list[int]:
    """The shards a chunk's cards go round (card i of the chunk to the i-th mod their number).
    Chunks take the next shards in turn from a place picked by the batch, so that a batch
    spreads evenly over every shard: a 1,000-card batch in 11 chunks of 91 reaches 32 shards
    with at most 35 cards in one, where one shard per chunk left 11 shards of 98 (the per-SKU
    ceiling follows the fullest shard). Hashing each chunk on its own piled two or three chunks on
    one shard. The chunk's number is part of the batch's checkpoint, so a retry picks the same."""
    count = get_settings().stock_shards
    width = min(SHARDS_PER_CHUNK, count)
    start = int.from_bytes(hashlib.sha256(batch_id.encode()).digest()[:4], "big") + chunk * width
    return [(start + j) % count for j in range(width)]


def import_chunk(
    batch: BatchItem, cards: list[NewCard], rejected: int, repeats: int, new_position: int, at: datetime
) -> ChunkResult:
    """Applies one chunk exactly once: its cards (each only if the code is new everywhere), the
    stock they add to their shards, and the batch's counts and checkpoint. `repeats` are codes
    the caller saw twice within the chunk. Raises StaleCheckpoint if the batch is no longer at
    the position this chunk started from."""
    result = ChunkResult()
    chunk = int(batch.chunks or 0)
    shards = chunk_shards(batch.batch_id, chunk)
    placed = {card.digest: shards[i % len(shards)] for i, card in enumerate(cards)}
    pending = list(cards)
    while True:
        t = Transaction()
        for card in pending:
            t.put(
                f"card:{card.digest}",
                _card_item(batch, card, placed[card.digest], at),
                condition=CardItem.pk.does_not_exist(),
            )
        for shard, count in sorted(Counter(placed[card.digest] for card in pending).items()):
            move_stock(t, batch.sku, shard, Stock.NEW, Stock.AVAILABLE, count)
        t.update(
            "batch",
            BatchItem(batch.pk, batch.sk),
            actions=[
                BatchItem.position.set(new_position),
                BatchItem.chunks.set(chunk + 1),
                BatchItem.rows.set(new_position),
                BatchItem.imported.add(len(pending)),
                BatchItem.duplicates.add(repeats + result.duplicates),
                BatchItem.rejected.add(rejected),
                BatchItem.status.set("processing"),
                BatchItem.updated_at.set(at),
            ],
            condition=_at_position(int(batch.position)),
        )
        try:
            t.commit()  # contention (nothing written) is retried there
        except Cancelled as exc:
            if "batch" in exc.failed:
                raise StaleCheckpoint(batch.batch_id) from exc
            taken = {name.removeprefix("card:") for name in exc.failed if name.startswith("card:")}
            if not taken:
                raise
            result.duplicates += len(taken)
            pending = [c for c in pending if c.digest not in taken]
            continue
        result.imported = len(pending)
        result.duplicates += repeats
        batch.position = new_position
        batch.chunks = chunk + 1
        return result


def _at_position(position: int) -> Any:
    at = BatchItem.position == position
    return at | BatchItem.position.does_not_exist() if position == 0 else at


def _card_item(batch: BatchItem, card: NewCard, shard: int, at: datetime) -> CardItem:
    return CardItem(
        card_pk(card.digest),
        CARD_SK,
        digest=card.digest,
        sku=batch.sku,
        batch_id=batch.batch_id,
        seq=card.seq,
        shard=shard,
        status="available",
        sealed=card.sealed,
        serial=card.serial,
        expires_at=card.expires_at,
        face_value=card.face_value,
        created_at=at,
        pool_pk=pool_pk(batch.sku, shard),
        pool_sk=f"{batch.batch_id}#{card.seq:09d}",
        batch_pk=batch_pk(batch.batch_id),
        batch_sk=f"{card.seq:09d}",
    )


# A chunk's transaction: its cards, the stock shards they go round and the batch.
CARDS_PER_CHUNK = TRANSACTION_ITEMS - 1 - SHARDS_PER_CHUNK


# -- the available pool


@dataclass(frozen=True)
class CardRef:
    batch_id: str
    digest: str
    shard: int
    sku: str = ""  # the pool's SKU ("": the order's own)

    @property
    def ref(self) -> str:
        return f"{self.batch_id}:{self.digest}"


def candidate_cards(sku: str, shard: int, limit: int) -> list[CardRef]:
    """Cards still in the shard's available pool (keys only: the index holds nothing else)."""
    response = client("dynamodb").query(
        TableName=get_settings().cards_table,
        IndexName="AvailablePool",
        KeyConditionExpression="pool_pk = :p",
        ExpressionAttributeValues={":p": {"S": pool_pk(sku, shard)}},
        Limit=limit,
    )
    return [
        CardRef(item["pool_sk"]["S"].rsplit("#", 1)[0], item["pk"]["S"].removeprefix("CARD#"), shard, sku)
        for item in response.get("Items", [])
    ]
