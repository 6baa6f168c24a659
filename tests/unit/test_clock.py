"""A scheduled run works as of when it was due (kayisu.clock.scheduled_at)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kayisu.clock import scheduled_at


def test_a_schedules_time_is_read_in_utc() -> None:
    due = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)
    assert scheduled_at({"time": "2026-11-24T16:00:00Z"}) == due
    at = scheduled_at({"time": "2026-11-25T00:00:00+08:00"})
    assert (at, at.tzinfo) == (due, UTC)


def test_an_event_without_a_time_is_refused() -> None:
    with pytest.raises(KeyError):
        scheduled_at({})
