"""The finance exports that exist, and links to download them (/v1/admin/reports)."""

from __future__ import annotations

import re
from datetime import timedelta

from pydantic import BaseModel

from kayisu.aws import client
from kayisu.clock import Timestamp, now
from kayisu.config import get_settings
from kayisu.errors import Problem, not_found
from kayisu.pagination import decode_cursor, encode_cursor
from kayisu.reports.periods import Period, ReportKind, from_report_id, parse

DOWNLOAD_SECONDS = 900
PAGE = 50


class ReportSummary(BaseModel):
    report_id: str
    kind: ReportKind
    period: str
    size: int
    generated_at: Timestamp


class ReportList(BaseModel):
    items: list[ReportSummary]
    next_cursor: str | None


class Report(ReportSummary):
    download_url: str
    expires_at: Timestamp


def unknown_report(report_id: str) -> Problem:
    return not_found("UNKNOWN_REPORT", f"There is no report {report_id!r}.")


# What _order makes: the period's last day, its kind's rank and its label.
_CURSOR_KEY = re.compile(r"\d{4}-\d{2}-\d{2}/[012]/\d{4}-(W\d{2}|\d{2}(-\d{2})?)")


def _period_of(key: str) -> Period | None:
    parts = key.split("/")
    if len(parts) != 3 or not parts[2].endswith(".csv"):
        return None
    try:
        return parse(ReportKind(parts[1]), parts[2].removesuffix(".csv"))
    except ValueError:
        return None  # not one of ours: the list shows only reports it can name


_RANK = {ReportKind.DAILY: 0, ReportKind.WEEKLY: 1, ReportKind.MONTHLY: 2}


def _order(period: Period) -> str:
    """Sorts by the period's end, then daily, weekly, monthly for periods that end together."""
    return f"{period.end_day.isoformat()}/{_RANK[period.kind]}/{period.label}"


def list_reports(kind: ReportKind | None, cursor: str | None, limit: int = PAGE) -> ReportList:
    """Newest period first, across kinds when `kind` is not given."""
    prefix = f"finance/{kind.value}/" if kind else "finance/"
    before = decode_cursor(cursor, _CURSOR_KEY) if cursor else None
    found: list[tuple[str, ReportSummary]] = []
    pages = client("s3").get_paginator("list_objects_v2").paginate(Bucket=get_settings().reports_bucket, Prefix=prefix)
    for page in pages:  # a few thousand keys in a decade: listing them all stays cheap
        for obj in page.get("Contents", []):
            period = _period_of(obj["Key"])
            if period is None or (before is not None and _order(period) >= before):
                continue
            summary = ReportSummary(
                report_id=period.report_id,
                kind=period.kind,
                period=period.label,
                size=int(obj["Size"]),
                generated_at=obj["LastModified"],
            )
            found.append((_order(period), summary))
    found.sort(key=lambda pair: pair[0], reverse=True)
    more = len(found) > limit
    return ReportList(
        items=[s for _, s in found[:limit]], next_cursor=encode_cursor(found[limit - 1][0]) if more else None
    )


def get_report(report_id: str) -> Report:
    try:
        period: Period = from_report_id(report_id)
    except ValueError:
        raise unknown_report(report_id) from None
    s3 = client("s3")
    bucket = get_settings().reports_bucket
    try:
        head = s3.head_object(Bucket=bucket, Key=period.key)
    except s3.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            raise unknown_report(report_id) from None
        raise
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": period.key}, ExpiresIn=DOWNLOAD_SECONDS
    )
    return Report(
        report_id=period.report_id,
        kind=period.kind,
        period=period.label,
        size=int(head["ContentLength"]),
        generated_at=head["LastModified"],
        download_url=url,
        expires_at=now() + timedelta(seconds=DOWNLOAD_SECONDS),
    )
