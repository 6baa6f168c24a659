"""Capacity units as DynamoDB bills them, metered in the emulator (`GET /_local/capacity`).

Real DynamoDB's throughput limits are per partition (1,000 WCU and 3,000 RCU a second), so a
flash sale's ceiling is the hottest partition key's share of the units. Moto does not bill, so
each DynamoDB request the emulator serves is billed here, by table or index and partition key:

- writes (docs: "Item sizes and formats", "Capacity management for transactions"): 1 WCU per
  KB of the larger of the item before and after; 2 per KB inside `TransactWriteItems` (a
  prepare and a commit write). A conditional write whose condition fails is billed too, on the
  item as it was. A cancelled transaction is billed by the same rule and counted apart
  (`cancelled`), an upper bound: nothing was written.
- a global secondary index: its own partitions and units, 1 WCU per KB of the index entry for
  an entry added, removed or changed (2 writes when its key changes: the old entry deleted, the
  new one put); nothing when neither its keys nor its projected attributes change.
- reads: 1 RCU per 4 KB strongly consistent, half of that eventually consistent, twice that
  transactional (a `ConditionCheck` reads its item); `GetItem` / `BatchGetItem` round each item
  up (an absent item still costs the minimum), `Query` / `Scan` round the sum of what they read
  per partition key.

Sizes follow the documented formula (attribute names plus values: UTF-8 strings, binary bytes,
numbers ~1 byte per two significant digits plus one, 3 bytes per list or map plus 1 per
element). This is an estimate of the bill, good to a few percent, not the bill.
"""

from __future__ import annotations

import base64
import json
import math
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from moto.dynamodb.exceptions import MockValidationException
from moto.dynamodb.models import dynamodb_backends

from local.template import ACCOUNT_ID, REGION

Attributes = dict[str, dict[str, Any]]
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
READS = {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"}


def value_size(value: dict[str, Any]) -> int:
    (kind, v), *_ = value.items()
    if kind == "S":
        return len(str(v).encode())
    if kind == "N":
        digits = str(v).lstrip("-").replace(".", "").strip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if kind == "B":
        return len(base64.b64decode(v)) if isinstance(v, str) else len(v)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in v)
    if kind == "NS":
        return sum(value_size({"N": n}) for n in v)
    if kind == "BS":
        return sum(value_size({"B": b}) for b in v)
    if kind == "L":
        return 3 + sum(1 + value_size(e) for e in v)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(e) for k, e in v.items())
    return 0


def item_size(item: Attributes | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def units(size: int, unit: int) -> int:
    return max(1, math.ceil(size / unit))


Where = tuple[str, str, str]  # function (or ""), table (or table:index), partition key


class Meter:
    """What each request consumed: `wcu` / `rcu` by function, table (or table:index) and
    partition key, `cancelled` the WCU of cancelled transactions among them, `items` the WCU by
    item (the function, table, partition and sort key)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.wcu: Counter[Where] = Counter()
        self.rcu: defaultdict[Where, float] = defaultdict(float)
        self.cancelled: Counter[Where] = Counter()
        self.items: Counter[tuple[str, str, str, str]] = Counter()

    def reset(self) -> None:
        with self._lock:
            self.wcu.clear()
            self.rcu.clear()
            self.cancelled.clear()
            self.items.clear()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "wcu": [{"function": f, "table": t, "pk": k, "units": u} for (f, t, k), u in self.wcu.items()],
                "rcu": [{"function": f, "table": t, "pk": k, "units": u} for (f, t, k), u in self.rcu.items()],
                "cancelled": [
                    {"function": f, "table": t, "pk": k, "units": u} for (f, t, k), u in self.cancelled.items()
                ],
                "items": [
                    {"function": f, "table": t, "pk": k, "sk": s, "units": u} for (f, t, k, s), u in self.items.items()
                ],
            }

    # -- around one request (the emulator's lock is held)

    def before(self, environ: dict[str, Any], body: bytes) -> _Pending | None:
        operation = environ.get("HTTP_X_AMZ_TARGET", "").rpartition(".")[2]
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_") or operation not in WRITES | READS:
            return None
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return None
        pending = _Pending(environ.get("HTTP_X_KAYISU_FUNCTION", ""), operation, request)
        if operation in WRITES:
            pending.befores = {key: _current(key) for key in pending.write_keys()}
        return pending

    def after(self, pending: _Pending, status: int, response: bytes) -> None:
        try:
            answer = json.loads(response or b"{}")
        except ValueError:
            answer = {}
        with self._lock:
            if pending.operation in WRITES:
                self._bill_writes(pending, status, answer)
            elif status == 200:
                self._bill_reads(pending, answer)

    def _bill_writes(self, pending: _Pending, status: int, answer: dict[str, Any]) -> None:
        fn = pending.function
        transactional = pending.operation == "TransactWriteItems"
        cancelled = transactional and status != 200
        if status != 200 and not cancelled and "ConditionalCheckFailed" not in str(answer.get("__type", "")):
            return  # a malformed request: nothing billed
        factor = 2 if transactional else 1
        for key in pending.write_keys():
            table = _table(key[0])
            if table is None:
                continue
            old = pending.befores.get(key)
            new = _current(key) if status == 200 else old
            if key in pending.checks:
                self.rcu[(fn, key[0], key[1])] += 2 * units(item_size(old), 4096)
                continue
            wcu = factor * units(max(item_size(old), item_size(new), item_size(pending.put_items.get(key))), 1024)
            self.wcu[(fn, key[0], key[1])] += wcu
            self.items[(fn, *key)] += wcu
            if cancelled:
                self.cancelled[(fn, key[0], key[1])] += wcu
            if status == 200:
                for index_key, index_wcu in _index_writes(table, old, new):
                    self.wcu[(fn, *index_key)] += index_wcu
                    self.items[(fn, *index_key, "")] += index_wcu

    def _bill_reads(self, pending: _Pending, answer: dict[str, Any]) -> None:
        request, operation, fn = pending.request, pending.operation, pending.function
        if operation == "GetItem":
            key = _key_of(request["TableName"], request["Key"])
            size = item_size(answer.get("Item"))
            self.rcu[(fn, *key)] += units(size, 4096) * (1.0 if request.get("ConsistentRead") else 0.5)
        elif operation == "BatchGetItem":
            for name, spec in request.get("RequestItems", {}).items():
                found = {_key_of(name, k): item_size(i) for i in answer.get("Responses", {}).get(name, []) for k in [i]}
                factor = 1.0 if spec.get("ConsistentRead") else 0.5
                for k in spec.get("Keys", []):
                    key = _key_of(name, k)
                    self.rcu[(fn, *key)] += units(found.get(key, 0), 4096) * factor
        elif operation == "TransactGetItems":
            for entry in request.get("TransactItems", []):
                get = entry.get("Get", {})
                self.rcu[(fn, *_key_of(get["TableName"], get["Key"]))] += 2
        elif operation in ("Query", "Scan"):
            name, index = request["TableName"], request.get("IndexName")
            label = f"{name}:{index}" if index else name
            hash_attr = _hash_attr(name, index)
            sizes: Counter[str] = Counter()
            for item in answer.get("Items", []):
                pk = "(scan)" if operation == "Scan" else _plain(item.get(hash_attr)) if hash_attr else ""
                sizes[pk] += item_size(item)
            factor = 1.0 if request.get("ConsistentRead") else 0.5
            for pk, size in (sizes or Counter({"": 0})).items():
                self.rcu[(fn, label, pk)] += units(size, 4096) * factor


class _Pending:
    def __init__(self, function: str, operation: str, request: dict[str, Any]) -> None:
        self.function = function
        self.operation = operation
        self.request = request
        self.befores: dict[tuple[str, str, str], Attributes | None] = {}
        self.put_items: dict[tuple[str, str, str], Attributes] = {}
        self.checks: set[tuple[str, str, str]] = set()

    def write_keys(self) -> list[tuple[str, str, str]]:
        keys: list[tuple[str, str, str]] = []
        for op, spec in self._parts():
            name = spec.get("TableName", "")
            item = spec.get("Item")
            key = _key_of(name, item if item is not None else spec.get("Key", {}), full=True)
            if item is not None:
                self.put_items[key] = item
            if op == "ConditionCheck":
                self.checks.add(key)
            keys.append(key)
        return keys

    def _parts(self) -> Iterable[tuple[str, dict[str, Any]]]:
        r, op = self.request, self.operation
        if op == "TransactWriteItems":
            for entry in r.get("TransactItems", []):
                yield next(iter(entry.items()))
        elif op == "BatchWriteItem":
            for name, writes in r.get("RequestItems", {}).items():
                for w in writes:
                    if "PutRequest" in w:
                        yield "Put", {"TableName": name, "Item": w["PutRequest"]["Item"]}
                    else:
                        yield "Delete", {"TableName": name, "Key": w["DeleteRequest"]["Key"]}
        else:
            yield op, r


def _table(name: str) -> Any:
    return dynamodb_backends[ACCOUNT_ID][REGION].tables.get(name)


def _plain(value: dict[str, Any] | None) -> str:
    if not value:
        return ""
    return str(next(iter(value.values())))


def _hash_attr(name: str, index: str | None) -> str | None:
    table = _table(name)
    if table is None:
        return None
    if index is None:
        return str(table.hash_key_attr)
    for gsi in [*table.global_indexes, *table.indexes]:
        if gsi.name == index:
            return str(next(k["AttributeName"] for k in gsi.schema if k["KeyType"] == "HASH"))
    return None


def _key_of(name: str, attributes: Attributes, full: bool = False) -> Any:
    table = _table(name)
    if table is None:
        return (name, "", "") if full else (name, "")
    pk = _plain(attributes.get(table.hash_key_attr))
    sk = _plain(attributes.get(table.range_key_attr)) if table.range_key_attr else ""
    return (name, pk, sk) if full else (name, pk)


def _current(key: tuple[str, str, str]) -> Attributes | None:
    table = _table(key[0])
    if table is None:
        return None
    raw: Attributes = {table.hash_key_attr: {table.hash_key_type: key[1]}}
    if table.range_key_attr:
        raw[table.range_key_attr] = {str(table.range_key_type): key[2]}
    try:
        item = dynamodb_backends[ACCOUNT_ID][REGION].get_item(key[0], raw)
    except MockValidationException:  # a malformed key: the request itself reports it
        return None
    return None if item is None else dict(item.to_json()["Attributes"])


def _index_writes(table: Any, old: Attributes | None, new: Attributes | None) -> list[tuple[tuple[str, str], int]]:
    out: list[tuple[tuple[str, str], int]] = []
    for gsi in table.global_indexes:
        key_attrs = [k["AttributeName"] for k in gsi.schema]
        hash_attr = next(k["AttributeName"] for k in gsi.schema if k["KeyType"] == "HASH")
        before, after = _entry(gsi, table, key_attrs, old), _entry(gsi, table, key_attrs, new)
        if before == after:
            continue
        label = f"{table.name}:{gsi.name}"
        if before is not None and after is not None and all(before[a] == after[a] for a in key_attrs):
            out.append(((label, _plain(after[hash_attr])), units(max(item_size(before), item_size(after)), 1024)))
            continue
        if before is not None:
            out.append(((label, _plain(before[hash_attr])), units(item_size(before), 1024)))
        if after is not None:
            out.append(((label, _plain(after[hash_attr])), units(item_size(after), 1024)))
    return out


def _entry(gsi: Any, table: Any, key_attrs: list[str], item: Attributes | None) -> Attributes | None:
    if item is None or any(a not in item for a in key_attrs):
        return None
    projection = gsi.projection or {}
    kind = projection.get("ProjectionType", "ALL")
    if kind == "ALL":
        return dict(item)
    keep = {*key_attrs, table.hash_key_attr, *([table.range_key_attr] if table.range_key_attr else [])}
    if kind == "INCLUDE":
        keep |= set(projection.get("NonKeyAttributes", []))
    return {a: v for a, v in item.items() if a in keep}


METER = Meter()
