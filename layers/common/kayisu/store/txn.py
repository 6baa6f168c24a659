"""DynamoDB transactions with named parts: which condition failed is read by name, not by the
position PynamoDB happens to send each part in (condition checks, puts, then updates)."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

MAX_ATTEMPTS = 8
_CONTENTION = {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
connection = Connection()


def contended(exc: TransactWriteError) -> bool:
    """Another transaction held an item, or DynamoDB throttled: nothing was written, try again."""
    codes = {getattr(r, "code", None) for r in exc.cancellation_reasons or []}
    return bool(codes & _CONTENTION) or exc.cause_response_code in (
        "TransactionInProgressException",
        "ThrottlingException",
    )


def back_off(attempt: int) -> None:
    time.sleep(random.uniform(0, min(1.0, 0.02 * 2**attempt)))  # noqa: S311 - jitter, not security


def failed_at(reasons: Sequence[object], index: int) -> bool:
    reason = reasons[index] if index < len(reasons) else None
    return getattr(reason, "code", None) == "ConditionalCheckFailed"


class Transaction:
    """Collects named writes, commits them as one TransactWriteItems, and on cancellation
    says which named parts failed their condition."""

    def __init__(self) -> None:
        self._checks: list[tuple[str, type[Model], str, str | None, Condition]] = []
        self._puts: list[tuple[str, Model, Condition | None]] = []
        self._updates: list[tuple[str, Model, list[Action], Condition | None]] = []

    def check(self, name: str, model: type[Model], hash_key: str, range_key: str | None, condition: Condition) -> None:
        """A condition on an item this transaction does not write."""
        self._checks.append((name, model, hash_key, range_key, condition))

    def put(self, name: str, item: Model, condition: Condition | None = None) -> None:
        self._puts.append((name, item, condition))

    def update(self, name: str, item: Model, actions: list[Action], condition: Condition | None = None) -> None:
        self._updates.append((name, item, actions, condition))

    def _names(self) -> list[str]:
        # PynamoDB sends condition checks, then puts, then updates.
        return [c[0] for c in self._checks] + [p[0] for p in self._puts] + [u[0] for u in self._updates]

    def commit(self) -> None:
        """Raises Cancelled (with the failed names) or lets other errors through. Contention is
        retried here with jittered back-off."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                with TransactWrite(connection=connection) as t:
                    for _, model, hash_key, range_key, check_condition in self._checks:
                        t.condition_check(model, hash_key, range_key, condition=check_condition)
                    for _, item, put_condition in self._puts:
                        t.save(item, condition=put_condition)
                    for _, item, actions, update_condition in self._updates:
                        t.update(item, actions=actions, condition=update_condition)
                return
            except TransactWriteError as exc:
                if contended(exc) and attempt < MAX_ATTEMPTS:
                    back_off(attempt)
                    continue
                reasons = exc.cancellation_reasons
                if not reasons:
                    raise
                names = self._names()
                failed = {names[i] for i in range(len(names)) if failed_at(reasons, i)}
                if not failed:
                    raise
                raise Cancelled(failed) from exc


class Cancelled(Exception):
    """The transaction was cancelled because these named parts failed their condition."""

    def __init__(self, failed: set[str]) -> None:
        super().__init__(", ".join(sorted(failed)))
        self.failed = failed

    def any(self, *prefixes: str) -> bool:
        return any(name.startswith(prefixes) for name in self.failed)
