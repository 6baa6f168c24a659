"""Report periods: business days, ISO weeks and months in the business time zone, as UTC instants.

A run at time T reports what has just ended: the business day before T's (every run), the ISO
week before T's (when T is a Monday) and the month before T's (when T is the 1st). So a run at
2026-11-25T00:10 Shanghai time covers 2026-11-24, and any period can be re-run by its time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from kayisu.config import get_settings


class ReportKind(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


@dataclass(frozen=True)
class Period:
    kind: ReportKind
    label: str  # 2026-11-24 | 2026-W48 | 2026-11
    first_day: date  # business dates, end exclusive
    end_day: date

    @property
    def report_id(self) -> str:
        return f"{self.kind.value}-{self.label}"

    @property
    def key(self) -> str:
        return f"finance/{self.kind.value}/{self.label}.csv"

    def bounds(self, tz: ZoneInfo | None = None) -> tuple[datetime, datetime]:
        """[start, end) in UTC: midnight to midnight in the business time zone."""
        zone = tz or business_zone()
        start = datetime.combine(self.first_day, time(), zone).astimezone(UTC)
        end = datetime.combine(self.end_day, time(), zone).astimezone(UTC)
        return start, end


def business_zone() -> ZoneInfo:
    return ZoneInfo(get_settings().business_time_zone)


def day(d: date) -> Period:
    return Period(ReportKind.DAILY, d.isoformat(), d, d + timedelta(days=1))


def week(d: date) -> Period:
    """The ISO week (Monday to Sunday) that contains `d`."""
    monday = d - timedelta(days=d.weekday())
    year, number, _ = monday.isocalendar()
    return Period(ReportKind.WEEKLY, f"{year}-W{number:02d}", monday, monday + timedelta(days=7))


def month(d: date) -> Period:
    first = d.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return Period(ReportKind.MONTHLY, f"{first:%Y-%m}", first, following)


def due_at(at: datetime, kinds: list[ReportKind] | None = None) -> list[Period]:
    """What a run at `at` reports: the periods that ended at the start of its business day.
    `kinds` limits it (a schedule per kind); without it, every kind that is due."""
    today = at.astimezone(business_zone()).date()
    yesterday = today - timedelta(days=1)
    periods = [day(yesterday)]
    if today.weekday() == 0:
        periods.append(week(yesterday))
    if today.day == 1:
        periods.append(month(yesterday))
    if kinds is None:
        return periods
    # A schedule for one kind reports its last complete period, even when run off its day.
    last = {
        ReportKind.DAILY: day(yesterday),
        ReportKind.WEEKLY: week(today - timedelta(days=today.weekday() + 1)),
        ReportKind.MONTHLY: month(today.replace(day=1) - timedelta(days=1)),
    }
    return [last[k] for k in kinds]


_LABELS = {
    ReportKind.DAILY: re.compile(r"^\d{4}-\d{2}-\d{2}$"),
    ReportKind.WEEKLY: re.compile(r"^(\d{4})-W(\d{2})$"),
    ReportKind.MONTHLY: re.compile(r"^\d{4}-\d{2}$"),
}


def parse(kind: ReportKind, label: str) -> Period:
    """The period called `label`; ValueError if it names none."""
    match = _LABELS[kind].match(label)
    if not match:
        raise ValueError(f"not a {kind.value} period: {label!r}")
    try:
        if kind is ReportKind.DAILY:
            return day(date.fromisoformat(label))
        if kind is ReportKind.WEEKLY:
            return week(date.fromisocalendar(int(match.group(1)), int(match.group(2)), 1))
        return month(date.fromisoformat(f"{label}-01"))
    except ValueError:
        raise ValueError(f"not a {kind.value} period: {label!r}") from None


def from_report_id(report_id: str) -> Period:
    kind, _, label = report_id.partition("-")
    if kind not in ReportKind.__members__.values():
        raise ValueError(f"not a report kind: {kind!r}")
    return parse(ReportKind(kind), label)
