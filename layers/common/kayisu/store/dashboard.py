"""The dashboard table: counters, and per order what its changes have added to them.

- `DAY#{business date}` / `COUNTS`: a day's counters, one number attribute each (names in
  kayisu.dashboard.counters), only ever changed by ADD.
- `BUYERS#{business date}#{shard}` / `COUNTS`: per buyer (an email digest), their sales that day.
- `MARK#{order id}` / `MARK`: for the order and each of its payments and refunds (its
  "sources"), the sequence number of the last stream record applied and what the item added
  then; `version` makes each write of a mark conditional on the one that was read.

A stream batch is written as TransactWriteItems: the marks of its orders with the counters
their changes add, so that either both happen or neither does (docs/dashboard.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from kayisu.aws import client
from kayisu.config import get_settings
from kayisu.dashboard.counters import Counts
from kayisu.store.batch import batch_get
from kayisu.store.txn import MAX_ATTEMPTS, back_off

COUNTS_SK = "COUNTS"
MARK_SK = "MARK"
TRANSACTION_ITEMS = 100  # DynamoDB's most items in one TransactWriteItems
MAX_ATTRIBUTES = 250  # per counter update: its ADD expression stays well under DynamoDB's 4 KB
_CONTENTION = {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}


@dataclass
class Applied:
    """What one source item added when its change `seq` (zero-padded) was applied."""

    seq: str
    counts: Counts


@dataclass
class Mark:
    group: str
    version: int = 0  # 0: never written
    sources: dict[str, Applied] = field(default_factory=dict)


class MarksMoved(Exception):
    """Some marks were written by someone else since they were read (nothing was written here)."""

    def __init__(self, groups: set[str]) -> None:
        super().__init__(f"{len(groups)} marks")
        self.groups = groups


def _table() -> str:
    return get_settings().dashboard_table


def _mark_key(group: str) -> dict[str, Any]:
    return {"pk": {"S": f"MARK#{group}"}, "sk": {"S": MARK_SK}}


def _counts_key(key: str) -> dict[str, Any]:
    return {"pk": {"S": key}, "sk": {"S": COUNTS_SK}}


def _batch_get(keys: list[dict[str, Any]], consistent: bool) -> Iterator[dict[str, Any]]:
    """Every item of `keys` that exists."""
    table = _table()
    yield from batch_get({table: keys}, consistent)[table]


def load_marks(groups: Iterable[str]) -> dict[str, Mark]:
    """The marks of `groups` (strongly consistent: a batch repeated after a crash sees what the
    first attempt committed); a group without one gets an empty Mark."""
    wanted = list(dict.fromkeys(groups))
    out = {group: Mark(group) for group in wanted}
    for item in _batch_get([_mark_key(g) for g in wanted], consistent=True):
        group = item["pk"]["S"].removeprefix("MARK#")
        sources = json.loads(item["sources"]["S"])
        out[group] = Mark(
            group,
            int(item["version"]["N"]),
            {name: Applied(str(s["seq"]), {k: dict(v) for k, v in s["counts"].items()}) for name, s in sources.items()},
        )
    return out


def _mark_put(mark: Mark) -> dict[str, Any]:
    sources = {name: {"seq": a.seq, "counts": a.counts} for name, a in sorted(mark.sources.items())}
    put: dict[str, Any] = {
        "TableName": _table(),
        "Item": {
            **_mark_key(mark.group),
            "version": {"N": str(mark.version + 1)},
            "sources": {"S": json.dumps(sources, separators=(",", ":"), sort_keys=True)},
        },
    }
    if mark.version == 0:
        put["ConditionExpression"] = "attribute_not_exists(pk)"
    else:
        put["ConditionExpression"] = "version = :v"
        put["ExpressionAttributeValues"] = {":v": {"N": str(mark.version)}}
    return {"Put": put}


def _counts_update(key: str, attributes: dict[str, int]) -> dict[str, Any]:
    names = {f"#a{i}": name for i, name in enumerate(sorted(attributes))}
    values = {f":v{i}": {"N": str(attributes[name])} for i, name in enumerate(sorted(attributes))}
    expression = "ADD " + ", ".join(f"#a{i} :v{i}" for i in range(len(names)))
    return {
        "Update": {
            "TableName": _table(),
            "Key": _counts_key(key),
            "UpdateExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
    }


def write(marks: list[Mark], counts: Counts) -> None:
    """The marks (each as read, with its new sources) and the counters' additions, in one
    transaction. MarksMoved if a mark changed since it was read: then nothing was written."""
    items = [_mark_put(m) for m in marks] + [_counts_update(k, a) for k, a in sorted(counts.items()) if a]
    assert len(items) <= TRANSACTION_ITEMS, len(items)
    db = client("dynamodb")
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            db.transact_write_items(TransactItems=items)
            return
        except ClientError as exc:
            error = exc.response.get("Error", {}).get("Code", "")
            reasons = [str(r.get("Code", "None")) for r in exc.response.get("CancellationReasons", [])]
            if error == "TransactionCanceledException" and "ConditionalCheckFailed" in reasons:
                raise MarksMoved(
                    {marks[i].group for i, code in enumerate(reasons[: len(marks)]) if code == "ConditionalCheckFailed"}
                ) from None
            contended = set(reasons) & _CONTENTION or error in ("TransactionInProgressException", "ThrottlingException")
            if contended and attempt < MAX_ATTEMPTS:
                back_off(attempt)
                continue
            raise


def load_counters(keys: Iterable[str]) -> dict[str, dict[str, int]]:
    """The counter items of `keys` that exist, as {key: {attribute: number}}."""
    out: dict[str, dict[str, int]] = {}
    for item in _batch_get([_counts_key(k) for k in dict.fromkeys(keys)], consistent=False):
        out[item["pk"]["S"]] = {
            name: int(value["N"]) for name, value in item.items() if name not in ("pk", "sk") and "N" in value
        }
    return out
