"""The template's DynamoDB stream event sources, run locally as Lambda's event source mapping
runs them: records read from the table's stream in order, filtered by the event's
FilterCriteria, handed to the function in batches (BatchSize, MaximumBatchingWindowInSeconds);
a batch that fails is retried whole (MaximumRetryAttempts, -1 for until it succeeds), or from
its first failed record with ReportBatchItemFailures. Nothing else reads the stream: records
are not trimmed, as DynamoDB keeps them 24 hours."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3

from local.functions import Function
from local.template import REGION, Template

log = logging.getLogger("kayisu.local.streams")
POLL_SECONDS = 0.25  # Lambda polls a stream's shards four times a second
RETRY_SECONDS = 1.0


# -- Lambda's event filtering (the part of its pattern syntax a stream's records need)


def _matches_value(rule: Any, value: Any, present: bool) -> bool:
    if isinstance(rule, dict):
        ((op, arg),) = rule.items()
        if op == "exists":
            return present is bool(arg)
        if not present:
            return False
        if op == "prefix":
            return isinstance(value, str) and value.startswith(str(arg))
        if op == "suffix":
            return isinstance(value, str) and value.endswith(str(arg))
        if op == "anything-but":
            return value not in (arg if isinstance(arg, list) else [arg])
        raise ValueError(f"the local stack does not filter with {op!r}")
    return present and value == rule


def matches(pattern: dict[str, Any], record: dict[str, Any]) -> bool:
    """Whether `record` (as the function receives it) matches a FilterCriteria pattern."""
    for key, rule in pattern.items():
        present = isinstance(record, dict) and key in record
        value: Any = record.get(key) if isinstance(record, dict) else None
        if isinstance(rule, dict):
            if not present or not isinstance(value, dict) or not matches(rule, value):
                return False
        elif isinstance(rule, list):
            if not any(_matches_value(r, value, present) for r in rule):
                return False
        else:
            raise ValueError(f"a filter's {key!r} must be an object or a list of values")
    return True


def _check_pattern(pattern: dict[str, Any]) -> None:
    """Refuses, at start, a pattern the local stack could not apply as Lambda does."""
    for rule in pattern.values():
        if isinstance(rule, dict):
            _check_pattern(rule)
        elif isinstance(rule, list):
            for r in rule:
                if isinstance(r, dict) and set(r) - {"exists", "prefix", "suffix", "anything-but"}:
                    raise ValueError(f"the local stack does not filter with {sorted(r)}")
        else:
            raise ValueError("a filter pattern's leaves must be lists of values")


@dataclass
class StreamMapping:
    name: str  # the event's logical id
    function: Function
    stream_arn: str
    batch_size: int = 100
    window_seconds: float = 0.0
    starting_position: str = "TRIM_HORIZON"
    report_failures: bool = False
    max_retries: int = -1  # -1: until it succeeds (Lambda's default)
    filters: list[dict[str, Any]] = field(default_factory=list)

    def wanted(self, record: dict[str, Any]) -> bool:
        return not self.filters or any(matches(p, record) for p in self.filters)

    def stream_event(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        return {"Records": records}


def lambda_record(raw: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A record as GetRecords gives it to boto3, as Lambda hands it to a function: times as
    epoch seconds, binary values base64, and the stream's ARN."""

    def plain(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, bytes | bytearray):
            return base64.b64encode(value).decode()
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list | set):
            return [plain(v) for v in value]
        return value

    record: dict[str, Any] = plain(raw)
    record["eventSourceARN"] = stream_arn
    return record


def stream_mappings(template: Template, functions: dict[str, Function]) -> list[StreamMapping]:
    out = []
    for fn in functions.values():
        for name, event in fn.events.items():
            if event.get("Type") != "DynamoDB":
                continue
            props = template.resolve(event["Properties"])
            patterns = [json.loads(f["Pattern"]) for f in (props.get("FilterCriteria") or {}).get("Filters", [])]
            for pattern in patterns:
                _check_pattern(pattern)
            out.append(
                StreamMapping(
                    name=name,
                    function=fn,
                    stream_arn=str(props["Stream"]),
                    batch_size=int(props.get("BatchSize", 100)),
                    window_seconds=float(props.get("MaximumBatchingWindowInSeconds", 0)),
                    starting_position=str(props.get("StartingPosition", "TRIM_HORIZON")),
                    report_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
                    max_retries=int(props.get("MaximumRetryAttempts", -1)),
                    filters=patterns,
                )
            )
    return out


class StreamPoller:
    """One mapping's shards, read in order; one batch at a time per shard, as Lambda does
    (ParallelizationFactor 1)."""

    def __init__(self, mapping: StreamMapping, endpoint_url: str) -> None:
        self.mapping = mapping
        self.streams = boto3.client("dynamodbstreams", region_name=REGION, endpoint_url=endpoint_url)
        self.iterators: dict[str, str | None] = {}  # shard id -> its next iterator
        self.pending: list[dict[str, Any]] = []  # read, wanted, not yet handed over
        self.failures = 0
        self.oldest_pending = 0.0

    def _shards(self) -> None:
        description = self.streams.describe_stream(StreamArn=self.mapping.stream_arn)["StreamDescription"]
        for shard in description.get("Shards", []):
            if shard["ShardId"] not in self.iterators:
                self.iterators[shard["ShardId"]] = self.streams.get_shard_iterator(
                    StreamArn=self.mapping.stream_arn,
                    ShardId=shard["ShardId"],
                    ShardIteratorType=self.mapping.starting_position,
                )["ShardIterator"]

    def _read(self) -> None:
        for shard, iterator in list(self.iterators.items()):
            while iterator is not None and len(self.pending) < self.mapping.batch_size:
                page = self.streams.get_records(ShardIterator=iterator, Limit=self.mapping.batch_size)
                iterator = page.get("NextShardIterator")
                self.iterators[shard] = iterator
                got = [lambda_record(r, self.mapping.stream_arn) for r in page.get("Records", [])]
                if not got:
                    break
                if not self.pending:
                    self.oldest_pending = time.monotonic()
                self.pending += [r for r in got if self.mapping.wanted(r)]

    def poll_once(self, force: bool = False) -> int:
        """Reads what the stream has; hands a batch over once it is full, its window has passed
        or `force`. Returns the number of records handed over (0: none, or it failed)."""
        if not self.iterators:
            self._shards()
        self._read()
        if not self.pending:
            return 0
        full = len(self.pending) >= self.mapping.batch_size
        waited = time.monotonic() - self.oldest_pending >= self.mapping.window_seconds
        if not (full or waited or force):
            return 0
        batch = self.pending[: self.mapping.batch_size]
        try:
            result = self.mapping.function.invoke(self.mapping.stream_event(batch))
        except Exception:
            log.exception("%s failed on a batch of %d", self.mapping.name, len(batch))
            self._failed(batch, 0)
            return 0
        failed = self._first_failure(batch, result)
        if failed is not None:
            self._failed(batch, failed)
            return 0
        self._done(len(batch))
        return len(batch)

    def _failed(self, batch: list[dict[str, Any]], first_failed: int) -> None:
        """The records before `first_failed` are done; the rest is retried, up to max_retries."""
        self.pending = self.pending[first_failed:]
        self.failures += 1
        if 0 <= self.mapping.max_retries < self.failures:
            dropped = len(batch) - first_failed
            log.error("%s: %d records dropped after %d retries", self.mapping.name, dropped, self.mapping.max_retries)
            self._done(len(batch) - first_failed)

    def _first_failure(self, batch: list[dict[str, Any]], result: Any) -> int | None:
        """The index of the first record a ReportBatchItemFailures answer names, if any."""
        if not self.mapping.report_failures or not isinstance(result, dict):
            return None
        named = {str(f.get("itemIdentifier")) for f in result.get("batchItemFailures") or []}
        for index, record in enumerate(batch):
            if str(record["dynamodb"]["SequenceNumber"]) in named:
                return index
        return None

    def _done(self, count: int) -> None:
        self.pending = self.pending[count:]
        self.failures = 0
        self.oldest_pending = time.monotonic()

    def run(self, stopping: threading.Event) -> None:
        while not stopping.is_set():
            try:
                handed = self.poll_once()
            except Exception:
                log.exception("reading the stream of %s failed", self.mapping.name)
                handed = 0
            if not handed:
                stopping.wait(RETRY_SECONDS if self.failures else POLL_SECONDS)
