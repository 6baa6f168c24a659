"""Report periods (issue 7): business days, ISO weeks and months, and what a run at a time reports."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from kayisu.reports.periods import ReportKind, day, due_at, from_report_id, month, parse, week

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def test_a_day_is_midnight_to_midnight_in_the_business_time_zone() -> None:
    start, end = day(date(2026, 11, 24)).bounds(SHANGHAI)
    assert (start, end) == (datetime(2026, 11, 23, 16, tzinfo=UTC), datetime(2026, 11, 24, 16, tzinfo=UTC))


def test_a_day_with_a_clock_change_is_23_hours_long() -> None:
    start, end = day(date(2026, 3, 8)).bounds(ZoneInfo("America/New_York"))
    assert (end - start).total_seconds() == 23 * 3600


def test_a_run_reports_the_periods_that_just_ended() -> None:
    assert [p.report_id for p in due_at(at("2026-11-25T00:10:00"))] == ["daily-2026-11-24"]
    # 23:59 the evening before is still the 24th's business day: it reports the 23rd.
    assert [p.report_id for p in due_at(at("2026-11-24T23:59:59"))] == ["daily-2026-11-23"]
    assert [p.report_id for p in due_at(at("2026-11-30T00:20:00"))] == ["daily-2026-11-29", "weekly-2026-W48"]
    assert [p.report_id for p in due_at(at("2026-12-01T00:30:00"))] == ["daily-2026-11-30", "monthly-2026-11"]
    # 1 January 2029 is a Monday: the day, the last ISO week of 2028, and December.
    assert [p.report_id for p in due_at(at("2029-01-01T00:10:00"))] == [
        "daily-2028-12-31",
        "weekly-2028-W52",
        "monthly-2028-12",
    ]


def test_a_schedule_for_one_kind_reports_its_last_complete_period() -> None:
    assert [p.report_id for p in due_at(at("2026-11-26T09:00:00"), [ReportKind.WEEKLY])] == ["weekly-2026-W47"]
    assert [p.report_id for p in due_at(at("2026-11-26T09:00:00"), [ReportKind.MONTHLY])] == ["monthly-2026-10"]


def test_iso_weeks_cross_years() -> None:
    w = week(date(2027, 1, 2))
    assert (w.label, w.first_day, w.end_day) == ("2026-W53", date(2026, 12, 28), date(2027, 1, 4))
    assert parse(ReportKind.WEEKLY, "2026-W53") == w


@pytest.mark.parametrize(
    "report_id",
    ["daily-2026-11-24", "weekly-2026-W48", "monthly-2026-02"],
)
def test_report_ids_round_trip(report_id: str) -> None:
    period = from_report_id(report_id)
    assert period.report_id == report_id
    assert period.key == f"finance/{period.kind.value}/{period.label}.csv"


def test_a_month_ends_on_the_first_of_the_next() -> None:
    feb = month(date(2028, 2, 10))
    assert (feb.first_day, feb.end_day) == (date(2028, 2, 1), date(2028, 3, 1))


@pytest.mark.parametrize(
    "report_id", ["daily-2026-13-01", "daily-2026-11", "weekly-2026-W54", "monthly-2026-1", "hourly-2026", "x"]
)
def test_names_of_no_period_are_refused(report_id: str) -> None:
    with pytest.raises(ValueError, match=r"^not a "):
        from_report_id(report_id)
