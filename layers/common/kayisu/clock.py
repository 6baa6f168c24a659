"""Time is UTC inside; API timestamps are RFC 3339 with `Z`, to the second."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import PlainSerializer


def now() -> datetime:
    return datetime.now(UTC)


def scheduled_at(event: Mapping[str, Any]) -> datetime:
    """When a scheduled run was due: the `time` of its EventBridge (Scheduler) event, in UTC. A
    late or replayed run works as of then, not as of the clock. KeyError if the event has none."""
    return datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00")).astimezone(UTC)


def rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


Timestamp = Annotated[datetime, PlainSerializer(rfc3339, return_type=str, when_used="json")]
