"""The cards table: cards keyed by the digest of their code, and the batches they came in.

A card's key is `CARD#{digest}`, so "this code exists anywhere already" is the condition
`attribute_not_exists(pk)` on its own put: global uniqueness needs no extra item and no
read. Importing a chunk is one transaction: the cards, the stock shards they add to, and the
batch's checkpoint (conditioned on the checkpoint it started from, so a chunk is applied once
even if a worker crashes after the commit and its message is delivered again).
See docs/architecture.md and docs/ingestion.md.
"""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from collections.abc import Iterator
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
from pynamodb.connection import Connection
from pynamodb.exceptions import PutError, TransactWriteError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from kayisu.aws import client
from kayisu.clock import now
from kayisu.config import get_settings
from kayisu.store.catalog import StockShardItem, product_pk, shard_sk
from kayisu.store.txn import MAX_ATTEMPTS, back_off, contended, failed_at

# DynamoDB allows 100 items per transaction; a chunk also writes its shards and the batch.
TRANSACTION_ITEMS = 100
_connection = Connection()


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


def chunk_shard(batch_id: str, chunk: int) -> int:
    """All cards of a chunk go to one stock shard (one contended item per transaction, not S).
    Chunks go round the shards from a place picked by the batch, so a batch spreads evenly
    (hashing each chunk on its own piled two or three chunks of a 1,000-card batch on one
    shard); the chunk's number is part of the batch's checkpoint, so a retry picks the same."""
    digest = hashlib.sha256(batch_id.encode()).digest()
    return (int.from_bytes(digest[:4], "big") + chunk) % get_settings().stock_shards


def import_chunk(
    batch: BatchItem, cards: list[NewCard], rejected: int, repeats: int, new_position: int, at: datetime
) -> ChunkResult:
    """Applies one chunk exactly once: its cards (each only if the code is new everywhere), the
    stock they add, and the batch's counts and checkpoint. `repeats` are codes the caller saw
    twice within the chunk. Raises StaleCheckpoint if the batch is no longer at the position
    this chunk started from."""
    result = ChunkResult()
    pending = list(cards)
    chunk = int(batch.chunks or 0)
    shard = chunk_shard(batch.batch_id, chunk)
    attempt = 0
    while True:
        attempt += 1
        by_shard: dict[int, int] = {shard: len(pending)} if pending else {}
        try:
            with TransactWrite(connection=_connection) as t:
                for card in pending:  # puts come first in the request: index i is pending[i]
                    t.save(_card_item(batch, card, shard, at), condition=CardItem.pk.does_not_exist())
                for shard, count in sorted(by_shard.items()):
                    t.update(
                        StockShardItem(product_pk(batch.sku), shard_sk(shard)),
                        actions=[
                            StockShardItem.kind.set(StockShardItem),
                            StockShardItem.sku.set(batch.sku),
                            StockShardItem.imported.add(count),
                            StockShardItem.available.add(count),
                        ],
                    )
                t.update(
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
        except TransactWriteError as exc:
            reasons = exc.cancellation_reasons
            if contended(exc) and attempt < MAX_ATTEMPTS:
                back_off(attempt)  # another transaction held an item: nothing was written
                continue
            if not reasons:
                raise
            if failed_at(reasons, len(reasons) - 1):
                raise StaleCheckpoint(batch.batch_id) from exc
            taken = {pending[i].digest for i in range(len(pending)) if failed_at(reasons, i)}
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


def _available_in_shard(sku: str, shard: int) -> int:
    for item in StockShardItem.query(product_pk(sku), StockShardItem.sk == shard_sk(shard), consistent_read=True):
        return int(item.available)
    return 0


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


# A chunk's transaction: its cards, its one stock shard and the batch.
CARDS_PER_CHUNK = TRANSACTION_ITEMS - 2


# -- the available pool


@dataclass(frozen=True)
class CardRef:
    batch_id: str
    digest: str
    shard: int

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
        CardRef(item["pool_sk"]["S"].rsplit("#", 1)[0], item["pk"]["S"].removeprefix("CARD#"), shard)
        for item in response.get("Items", [])
    ]


# -- void


def batch_card_keys(batch_id: str) -> Iterator[str]:
    for key in CardItem.by_batch.query(batch_pk(batch_id)):
        yield str(key.pk)


class BatchNotFinished(Exception):
    """Voiding waits until ingestion is over, or later chunks would add available cards."""


def void_unsold(batch: BatchItem) -> tuple[int, int]:
    """Voids the batch's cards that are still available, as far as unpaid orders' reservations
    allow (a reserved card stays sellable for its order). Returns (voided, held)."""
    if batch.status not in ("completed", "failed"):
        raise BatchNotFinished(batch.batch_id)
    voided = held = 0
    keys = list(batch_card_keys(batch.batch_id))
    # Cards of one batch may sit in every shard: leave room for all shards and the batch.
    step = TRANSACTION_ITEMS - 1 - get_settings().stock_shards
    for start in range(0, len(keys), step):
        page = [(k, CARD_SK) for k in keys[start : start + step]]
        cards = [c for c in CardItem.batch_get(page) if c.status == "available"]
        v, h = _void_cards(batch, cards)
        voided, held = voided + v, held + h
    return voided, held


def _void_cards(batch: BatchItem, cards: list[CardItem]) -> tuple[int, int]:
    held = 0
    for _attempt in range(10):
        if not cards:
            return 0, held
        by_shard: dict[int, list[CardItem]] = defaultdict(list)
        for card in cards:
            by_shard[int(card.shard)].append(card)
        at = now()
        try:
            with TransactWrite(connection=_connection) as t:
                for shard, group in sorted(by_shard.items()):
                    t.update(
                        StockShardItem(product_pk(batch.sku), shard_sk(shard)),
                        actions=[StockShardItem.available.add(-len(group)), StockShardItem.void.add(len(group))],
                        condition=StockShardItem.available >= len(group),
                    )
                t.update(
                    BatchItem(batch.pk, batch.sk),
                    actions=[BatchItem.voided.add(len(cards)), BatchItem.updated_at.set(at)],
                )
                for card in cards:
                    t.update(
                        card,
                        actions=[
                            CardItem.status.set("void"),
                            CardItem.void_at.set(at),
                            CardItem.pool_pk.remove(),
                            CardItem.pool_sk.remove(),
                        ],
                        condition=CardItem.status == "available",
                    )
            return len(cards), held
        except TransactWriteError as exc:
            reasons = exc.cancellation_reasons
            if contended(exc):
                back_off(_attempt + 1)
                continue
            if not reasons:
                raise
            shard_list = sorted(by_shard)
            # Updates in insertion order: shards, the batch, then cards.
            gone = {cards[i].pk for i in range(len(cards)) if failed_at(reasons, len(shard_list) + 1 + i)}
            short = {shard_list[i] for i in range(len(shard_list)) if failed_at(reasons, i)}
            cards = [c for c in cards if c.pk not in gone]
            for shard in short:
                available = _available_in_shard(batch.sku, shard)
                group = [c for c in cards if int(c.shard) == shard]
                keep = {c.pk for c in group[: max(0, available)]}
                held += len(group) - len(keep)
                cards = [c for c in cards if int(c.shard) != shard or c.pk in keep]
            time.sleep(0.01)
    raise RuntimeError("voiding did not settle after 10 attempts")
