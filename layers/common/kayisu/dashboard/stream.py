"""The dashboard's counters from the orders table's change stream (docs/dashboard.md).

A batch of stream records becomes, per order, the difference between what its items add now
(kayisu.dashboard.counters, from each item's newest image in the batch) and what its mark says
they added last, written with the new mark in one transaction: a few counter updates per
batch, however many records it holds.

Nothing counts twice and nothing is lost, whatever Lambda does with a batch:
- a repeated record (a retried or duplicated batch) is not newer than its item's mark: skipped;
- an older record arriving after a newer one (reordered batches) is skipped too, and the newer
  one already brought the item to what it is: the counters follow the newest image seen, not the
  path to it;
- a crash before the transaction leaves nothing written; after it, the marks say it happened;
- two invocations racing on one order: the second's conditional mark write fails, and it
  reads the marks again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kayisu.dashboard.counters import Counts, difference, merge, of_item
from kayisu.observability import logger
from kayisu.reports.periods import business_zone
from kayisu.store import dashboard as store
from kayisu.store.orders import OrderItem, OrdersItem, PaymentItem, RefundItem

MODELS: dict[str, type[OrdersItem]] = {"order": OrderItem, "payment": PaymentItem, "refund": RefundItem}
SEQUENCE_DIGITS = 40  # DynamoDB Streams' longest sequence number
MAX_GROUP = 200  # an order id this long is not ours: such a movement is marked on its own
PLAN_ATTEMPTS = 5


@dataclass(frozen=True)
class Change:
    """The newest state of one source item in a batch."""

    group: str  # the order it belongs to: its mark
    source: str  # the item's key
    seq: str  # zero-padded, so that text order is number order
    counts: Counts  # what the item adds as it is now


@dataclass
class Outcome:
    records: int = 0
    changes: int = 0  # source items newer than their marks
    skipped: int = 0  # items repeated or out of date
    transactions: int = 0
    retries: int = 0


def _image(raw: dict[str, Any] | None) -> OrdersItem | None:
    if not raw:
        return None
    model = MODELS.get(str((raw.get("kind") or {}).get("S", "")))
    return model.from_raw_data(raw) if model is not None else None


def _group(item: OrdersItem, source: str) -> str:
    order_id = str(getattr(item, "order_id", "") or "")
    return order_id if 0 < len(order_id) <= MAX_GROUP else source


def changes(records: Iterable[dict[str, Any]]) -> tuple[list[Change], int]:
    """(the newest change of each counted item in `records`, how many records there were)."""
    newest: dict[str, dict[str, Any]] = {}
    count = 0
    for record in records:
        count += 1
        data = record.get("dynamodb") or {}
        keys = data.get("Keys") or {}
        source = f"{keys.get('pk', {}).get('S', '')}|{keys.get('sk', {}).get('S', '')}"
        seq = str(data.get("SequenceNumber", "")).zfill(SEQUENCE_DIGITS)
        if source not in newest or seq > newest[source]["seq"]:
            newest[source] = {"seq": seq, "record": record}
    zone = business_zone()
    out: list[Change] = []
    for source, entry in newest.items():
        data = entry["record"].get("dynamodb") or {}
        new = _image(data.get("NewImage"))
        before = new or _image(data.get("OldImage"))  # a removed item belongs where it was
        if before is None:
            continue  # not an order, payment or refund: counts nowhere
        out.append(Change(_group(before, source), source, entry["seq"], of_item(new, zone)))
    return out, count


@dataclass
class _Planned:
    mark: store.Mark
    adds: Counts


def _plan(mark: store.Mark, group_changes: list[Change], outcome: Outcome) -> _Planned | None:
    sources = dict(mark.sources)
    adds: Counts = {}
    for change in group_changes:
        applied = sources.get(change.source)
        if applied is not None and applied.seq >= change.seq:
            outcome.skipped += 1  # a repeat, or older than what was applied
            continue
        # Marked even when it adds what it added already (or nothing): an older record of the
        # item, arriving later, must find this newer one marked, or it would be applied.
        sources[change.source] = store.Applied(change.seq, change.counts)
        merge(adds, difference(change.counts, applied.counts if applied is not None else {}))
        outcome.changes += 1
    if sources == mark.sources:
        return None
    return _Planned(store.Mark(mark.group, mark.version, sources), adds)


def _chunks(planned: list[_Planned]) -> list[list[_Planned]]:
    """Groups of orders whose marks and counters fit one transaction."""
    out: list[list[_Planned]] = []
    current: list[_Planned] = []
    keys: dict[str, set[str]] = {}
    for p in planned:
        merged = {k: set(v) for k, v in keys.items()}
        for key, attributes in p.adds.items():
            merged.setdefault(key, set()).update(attributes)
        fits = len(current) + 1 + len(merged) <= store.TRANSACTION_ITEMS and all(
            len(a) <= store.MAX_ATTRIBUTES for a in merged.values()
        )
        if current and not fits:
            out.append(current)
            current, merged = [], {k: set(v) for k, v in p.adds.items()}
        current.append(p)
        keys = merged
    if current:
        out.append(current)
    return out


def _commit(chunk: list[_Planned]) -> None:
    adds: Counts = {}
    for p in chunk:
        merge(adds, p.adds)
    store.write([p.mark for p in chunk], adds)


def apply(records: Iterable[dict[str, Any]]) -> Outcome:
    """Applies a batch of the orders table's stream records to the counters."""
    found, count = changes(records)
    outcome = Outcome(records=count)
    by_group: dict[str, list[Change]] = {}
    for change in found:
        by_group.setdefault(change.group, []).append(change)
    pending = set(by_group)
    for attempt in range(1, PLAN_ATTEMPTS + 1):
        marks = store.load_marks(sorted(pending))
        planned = [p for g in sorted(pending) if (p := _plan(marks[g], by_group[g], outcome)) is not None]
        moved: set[str] = set()
        for chunk in _chunks(planned):
            try:
                _commit(chunk)
                outcome.transactions += 1
            except store.MarksMoved as exc:  # another invocation got to these orders: look again
                moved |= {p.mark.group for p in chunk}
                logger.info("marks moved; planning again", extra={"groups": len(exc.groups), "attempt": attempt})
        if not moved:
            return outcome
        outcome.retries += 1
        pending = moved
    raise RuntimeError(f"{len(pending)} orders' marks kept moving; the batch will be retried")
