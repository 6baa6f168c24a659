"""Keys of the orders table and of its indexes, computed here and nowhere else.

- `ORDER#{id}` / `ORDER`: the order; `ORDER#{id}` / `EVENT#{time}#{rand}`: its history.
- `TXN#{provider}#{transaction}` / `TXN`: a provider transaction (one item: it pays once).
- `REFUND#{provider}#{refund}` / `REFUND`: a refund.
- `LIMIT#{kind}#{sha256}` / `LIMIT`: a pending-order (or pending-units) counter.
- ByCreated `CREATED#{month}#{nn}`, OpenByDeadline `{PENDING|PAID}#{nn}` and the finance index
  `MONEY#{day}#{nn}` spread one busy month, state or day over INDEX_SHARDS partitions (by a hash
  of the order or movement id); ByEmail `EMAIL#{sha256}` holds a digest, never an address.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

INDEX_SHARDS = 16  # spreads a flash sale's index writes over 16 partitions per month / state
ORDER_SK = "ORDER"
LIMIT_SK = "LIMIT"
REFUND_SK = "REFUND"


def order_pk(order_id: str) -> str:
    return f"ORDER#{order_id}"


def iso(at: datetime) -> str:
    """A sort key's time: sorts as the time does (microseconds, UTC)."""
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sort_key_at(at: datetime) -> str:
    return iso(at)


def index_shard(item_id: str) -> int:
    return int(hashlib.sha256(item_id.encode()).hexdigest()[:8], 16) % INDEX_SHARDS


def created_partition(at: datetime, shard: int) -> str:
    return f"CREATED#{at:%Y-%m}#{shard:02d}"


def created_keys(order_id: str, at: datetime) -> tuple[str, str]:
    return created_partition(at, index_shard(order_id)), f"{iso(at)}#{order_id}"


def open_partition(state: str, shard: int) -> str:
    return f"{state}#{shard:02d}"


def pending_keys(order_id: str, expires_at: datetime) -> tuple[str, str]:
    """OpenByDeadline while unpaid: by its expiry, for the sweeper to expire it."""
    return open_partition("PENDING", index_shard(order_id)), iso(expires_at)


def paid_keys(order_id: str, at: datetime) -> tuple[str, str]:
    """OpenByDeadline while paid and not delivered (or while a refund is owed): by `at`, for the
    sweeper to finish it."""
    return open_partition("PAID", index_shard(order_id)), iso(at)


def money_partition(at: datetime, shard: int) -> str:
    return f"MONEY#{at:%Y-%m-%d}#{shard:02d}"


def money_keys(at: datetime, movement_id: str) -> tuple[str, str]:
    return money_partition(at, index_shard(movement_id)), f"{iso(at)}#{movement_id}"


def email_partition(email: str) -> str:
    """The ByEmail key: a digest, so the index never holds an address as a key. Case and
    surrounding spaces are dropped (an operator types Alice@Example.com for alice@example.com)."""
    return f"EMAIL#{hashlib.sha256(email.strip().lower().encode()).hexdigest()}"


def email_keys(email: str, order_id: str, at: datetime) -> tuple[str, str]:
    return email_partition(email), f"{iso(at)}#{order_id}"


def limit_key(kind: str, value: str) -> str:
    return f"LIMIT#{kind}#{hashlib.sha256(value.encode()).hexdigest()}"


def payment_key(provider: str, transaction_id: str) -> tuple[str, str]:
    """A provider transaction's item key: one item per transaction is what makes it pay once."""
    return f"TXN#{provider}#{transaction_id}", "TXN"


def refund_pk(provider: str, refund_id: str) -> str:
    return f"REFUND#{provider}#{refund_id}"


def event_seen_key(provider: str, event_id: str) -> tuple[str, str]:
    return f"EVENT#{provider}#{event_id}", "EVENT"
