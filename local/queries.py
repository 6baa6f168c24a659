"""moto's Query, reading one partition instead of the whole table.

moto answers every Query by sorting and filtering all the items of the table: on a test
session's tables (thousands of orders and cards) each `Query AvailablePool` of a fulfilment,
each sweeper tick's `OpenByDeadline` and each webhook tick's `Pending` read them all, and the
local stack's one emulator became the bottleneck of the suite and of the flash-sale benchmark.

Here a Query hands moto only the items of its own partition: of the table's own partition
(moto keeps items by hash key), or of an index partition, from an index by partition key that
follows every write. moto's own code still applies the key condition, sorts, filters, pages
and projects them, so the answers are the same (tests/unit/test_emulator.py compares them
with plain moto's). Requests reach moto one at a time (local.emulator.Serialised): nothing
else sees a table while one Query has it."""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Callable
from typing import Any

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table

CHECK = os.environ.get("KAYISU_CHECK_QUERIES") == "1"
_log = logging.getLogger("kayisu.local.queries")

TableKey = tuple[DynamoType, DynamoType | None]  # an item's (hash key, range key) in its table
PartitionKey = DynamoType  # an index's partition key: equal as moto compares them (1 = 1.0)


def _table_order(item: Item) -> Any:
    """The order of moto's `Table.all_items()`, which its Query's stable sort starts from."""
    return (item.hash_key, item.range_key) if item.range_key else item.hash_key


class _IndexPartitions:
    """One index of one table: the table keys of its items by index partition key."""

    def __init__(self, table: Table, attribute: str) -> None:
        self.table = table
        self.attribute = attribute
        self.members: dict[PartitionKey, set[TableKey]] = {}
        self.placed: dict[TableKey, PartitionKey] = {}
        for item in table.all_items():
            self._place((item.hash_key, item.range_key), item)

    def _place(self, key: TableKey, item: Item) -> None:
        value = item.attrs.get(self.attribute)
        if value:  # moto's Query skips an item without the attribute (or with a falsy value)
            partition = value
            self.members.setdefault(partition, set()).add(key)
            self.placed[key] = partition

    def follow(self, key: TableKey) -> None:
        """The item with this key was written (put, updated, deleted): index it as it is now."""
        partition = self.placed.pop(key, None)
        if partition is not None:
            members = self.members[partition]
            members.discard(key)
            if not members:
                del self.members[partition]
        item = _item(self.table, key)
        if item is not None:
            self._place(key, item)

    def items(self, partition: PartitionKey) -> list[Item]:
        found = (_item(self.table, key) for key in self.members.get(partition, ()))
        return sorted((item for item in found if item is not None), key=_table_order)


def _item(table: Table, key: TableKey) -> Item | None:
    hash_key, range_key = key
    stored = table.items.get(hash_key)
    if stored is None or not table.range_key_attr:
        return stored  # type: ignore[return-value]  # moto keeps the Item itself then
    found: Item | None = stored.get(range_key)
    return found


class _TableIndexes:
    """A table's indexes, built on their first Query; writes are noted as keys and followed
    before the next Query (each key once, however often it was written)."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.indexes: dict[str, _IndexPartitions] = {}
        self.written: set[TableKey] = set()

    def partition(self, index: str, attribute: str, partition: PartitionKey) -> list[Item]:
        for key in self.written:
            for each in self.indexes.values():
                each.follow(key)
        self.written.clear()
        built = self.indexes.get(index)
        if built is None or built.attribute != attribute:
            built = self.indexes[index] = _IndexPartitions(self.table, attribute)
        return built.items(partition)


_TRACKED: dict[int, _TableIndexes] = {}  # by id(table); checked against the table itself


def _tracked(table: Table, create: bool) -> _TableIndexes | None:
    indexes = _TRACKED.get(id(table))
    if indexes is not None and indexes.table is not table:  # defensive: the map holds its tables
        del _TRACKED[id(table)]
        indexes = None
    if indexes is None and create:
        indexes = _TRACKED[id(table)] = _TableIndexes(table)
    return indexes


def _note_written(table: Table, key: TableKey) -> None:
    indexes = _tracked(table, create=False)
    if indexes is not None:
        indexes.written.add(key)


def _key_of(table: Table, attributes: dict[str, Any]) -> TableKey | None:
    """An item's table key from its wire form (PutItem's Item, UpdateItem's Key)."""
    hash_value = attributes.get(table.hash_key_attr)
    range_value = attributes.get(table.range_key_attr) if table.range_key_attr else None
    if not isinstance(hash_value, dict) or (table.range_key_attr and not isinstance(range_value, dict)):
        return None  # malformed: moto refuses it and writes nothing
    return DynamoType(hash_value), DynamoType(range_value) if range_value is not None else None


# moto changes items in three places only: Table.put_item and Table.delete_item (which
# BatchWriteItem, TransactWriteItems and a new item's UpdateItem go through too) and
# DynamoDBBackend.update_item, which changes the stored item in place.
_original_put: Callable[..., Item] = Table.put_item
_original_delete: Callable[..., Item | None] = Table.delete_item
_original_update: Callable[..., Item] = dynamodb_models.DynamoDBBackend.update_item
_original_query: Callable[..., Any] = Table.query
_QUERY = inspect.signature(Table.query)


def _put_item(table: Table, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Item:
    try:
        return _original_put(table, item_attrs, *args, **kwargs)
    finally:
        key = _key_of(table, item_attrs)
        if key is not None:
            _note_written(table, key)


def _delete_item(table: Table, hash_key: DynamoType, range_key: DynamoType | None) -> Item | None:
    try:
        return _original_delete(table, hash_key, range_key)
    finally:
        _note_written(table, (hash_key, range_key))


def _update_item(backend: Any, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Item:
    try:
        return _original_update(backend, table_name, key, *args, **kwargs)
    finally:
        table = backend.tables.get(table_name)
        written = _key_of(table, key) if table is not None and isinstance(key, dict) else None
        if table is not None and written is not None:
            _note_written(table, written)


def _query(table: Table, *args: Any, **kwargs: Any) -> Any:
    call = _QUERY.bind(table, *args, **kwargs)
    index_name = call.arguments.get("index_name")
    hash_key = call.arguments.get("hash_key")
    if index_name is None:
        if hash_key is None or not table.range_key_attr:
            return _original_query(table, *args, **kwargs)
        candidates = list(table.items.get(hash_key, {}).values())  # moto sorts them by range key
    else:
        index = next((i for i in table.all_indexes() if i.name == index_name), None)
        hash_attributes = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"] if index else []
        conditions = call.arguments.get("hash_key_conditions") or []
        if len(hash_attributes) != 1 or len(conditions) != 1 or conditions[0][0] != hash_attributes[0]:
            return _original_query(table, *args, **kwargs)  # moto's errors, multi-key indexes
        indexes = _tracked(table, create=True)
        assert indexes is not None
        candidates = indexes.partition(str(index_name), hash_attributes[0], conditions[0][1])
    # moto's Query filters `all_items()`: for this call, that is the partition's items only.
    table.all_items = lambda: candidates  # type: ignore[method-assign]
    try:
        answer = _original_query(table, *args, **kwargs)
    finally:
        del table.all_items
    if CHECK:
        _check(table, answer, _original_query(table, *args, **kwargs), str(index_name))
    return answer


def _check(table: Table, ours: Any, plain: Any, index: str) -> None:
    """KAYISU_CHECK_QUERIES=1: each Query is answered twice, and a difference from plain
    moto's answer is logged (a suite run with it: no difference in 1,300 s of integration tests)."""
    mine, theirs = [i.to_json() for i in ours[0]], [i.to_json() for i in plain[0]]
    if mine != theirs or ours[1:] != plain[1:]:
        keys = [table.hash_key_attr, table.range_key_attr]
        missing = [[i["Attributes"].get(k) for k in keys if k] for i in theirs if i not in mine][:3]  # keys only
        _log.error(
            "Query of %s %s differs from moto's: %d items, not %d; missing %s",
            table.name,
            index,
            len(mine),
            len(theirs),
            missing,
        )


def install() -> None:
    setattr(Table, "put_item", _put_item)  # noqa: B010 - patching moto
    setattr(Table, "delete_item", _delete_item)  # noqa: B010
    setattr(dynamodb_models.DynamoDBBackend, "update_item", _update_item)  # noqa: B010
    setattr(Table, "query", _query)  # noqa: B010


def uninstall() -> None:
    """moto's own Query and writes again (a benchmark's or a test's comparison)."""
    setattr(Table, "put_item", _original_put)  # noqa: B010
    setattr(Table, "delete_item", _original_delete)  # noqa: B010
    setattr(dynamodb_models.DynamoDBBackend, "update_item", _original_update)  # noqa: B010
    setattr(Table, "query", _original_query)  # noqa: B010
    _TRACKED.clear()  # writes made meanwhile were not followed
