"""A small typed client of the admin API: one method per route, every failure an `ApiError`.

The API answers errors as RFC 9457 problem+json; S3 (presigned URLs) answers them as XML, and a
gateway in between may answer with neither. All of them end up as `ApiError(status, code,
detail)` so the command line reports them one way.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, NotRequired, TypedDict, cast
from urllib.parse import quote, urlsplit

import requests

# (connect, read) seconds: a stuck connection fails instead of hanging the operator's shell.
TIMEOUT = (10.0, 60.0)
DOWNLOAD_CHUNK = 64 * 1024
MAX_REPORT_PAGES = 1000


class FieldError(TypedDict):
    field: str
    message: str


class ApiError(Exception):
    """A failed call: `status` 0 means no HTTP answer at all (connection refused, timeout)."""

    def __init__(self, status: int, code: str, detail: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(f"{code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.errors: list[FieldError] = errors or []


BatchStatus = Literal["pending", "processing", "completed", "failed"]
FINAL_STATUSES: frozenset[str] = frozenset({"completed", "failed"})


class BatchCreated(TypedDict):
    batch_id: str
    upload_url: str
    s3_key: str
    expires_at: str


class Batch(TypedDict):
    batch_id: str
    sku: str
    status: BatchStatus
    rows: int
    imported: int
    duplicates: int
    rejected: int
    rejects_url: NotRequired[str]
    error: NotRequired[str]


class StockItem(TypedDict):
    sku: str
    available: int
    reserved: int
    sold: int
    redeemed: int
    void: int
    alert_threshold: int


class StockList(TypedDict):
    items: list[StockItem]


class ReportSummary(TypedDict):
    report_id: str
    kind: str
    period: str


class ReportPage(TypedDict):
    items: list[ReportSummary]
    next_cursor: str | None


class Report(TypedDict):
    report_id: str
    kind: str
    period: str
    download_url: str


def unreachable(url: str, exc: requests.RequestException) -> ApiError:
    """Names only the host: a presigned URL's query string is a credential and is never shown."""
    host = urlsplit(url).netloc or url
    if isinstance(exc, requests.Timeout):
        reason = "timed out"
    elif "refused" in str(exc).lower():
        reason = "connection refused"
    else:
        reason = type(exc).__name__
    return ApiError(0, "UNREACHABLE", f"cannot reach {host}: {reason}")


def error_from_response(resp: requests.Response) -> ApiError:
    """problem+json first, then S3's XML, then whatever text the gateway sent."""
    status = resp.status_code
    fallback_code = "UNAUTHORIZED" if status == 401 else f"HTTP_{status}"
    try:
        body: Any = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        code = body.get("code") or fallback_code
        detail = body.get("detail") or body.get("message") or body.get("title") or resp.reason or ""
        raw_errors = body.get("errors")
        errors = [
            FieldError(field=str(e.get("field", "")), message=str(e.get("message", "")))
            for e in (raw_errors if isinstance(raw_errors, list) else [])
            if isinstance(e, dict)
        ]
        return ApiError(status, str(code), str(detail), errors)
    text = resp.text or ""
    xml_code = re.search(r"<Code>([^<]*)</Code>", text)
    xml_message = re.search(r"<Message>([^<]*)</Message>", text)
    if xml_code:
        return ApiError(status, xml_code.group(1), xml_message.group(1) if xml_message else resp.reason or "")
    first_line = text.strip().splitlines()[0][:200] if text.strip() else ""
    return ApiError(status, fallback_code, first_line or resp.reason or f"HTTP {status}")


class AdminClient:
    """The admin routes of one API, with one bearer token.

    `renew_token` (local stack only) is asked for a fresh token once when the API answers 401,
    e.g. because the local stack restarted with a new user pool since the token was stored.
    """

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        renew_token: Callable[[], str | None] | None = None,
        http: requests.Session | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self._token = token
        self._renew_token = renew_token
        self._http = http or requests.Session()

    def _request(self, method: str, path: str, *, params: dict[str, str] | None = None, body: Any = None) -> Any:
        for attempt in range(2):
            try:
                resp = self._http.request(
                    method,
                    self.api_url + path,
                    params=params,
                    json=body,
                    headers={"Authorization": f"Bearer {self._token}", "Accept": "application/json"},
                    timeout=TIMEOUT,
                )
            except requests.RequestException as exc:
                raise unreachable(self.api_url, exc) from None
            if resp.status_code == 401 and attempt == 0 and self._renew_token is not None:
                fresh = self._renew_token()
                if fresh:
                    self._token = fresh
                    continue
            if not resp.ok:
                raise error_from_response(resp)
            try:
                return resp.json()
            except ValueError:
                raise ApiError(resp.status_code, "BAD_RESPONSE", f"{method} {path} did not answer JSON") from None
        raise AssertionError("unreachable")  # pragma: no cover - the loop always returns or raises

    def create_batch(self, sku: str, filename: str) -> BatchCreated:
        """Registers a batch and gets the presigned PUT URL its file must go to."""
        return cast(BatchCreated, self._request("POST", "/v1/admin/batches", body={"sku": sku, "filename": filename}))

    def get_batch(self, batch_id: str) -> Batch:
        return cast(Batch, self._request("GET", f"/v1/admin/batches/{quote(batch_id, safe='')}"))

    def stock(self) -> StockList:
        return cast(StockList, self._request("GET", "/v1/admin/stock"))

    def list_reports(self, kind: str, cursor: str | None = None) -> ReportPage:
        params = {"kind": kind}
        if cursor:
            params["cursor"] = cursor
        return cast(ReportPage, self._request("GET", "/v1/admin/reports", params=params))

    def find_report(self, kind: str, period: str) -> ReportSummary | None:
        """Walks the pages of `kind` until `period` shows up (the list has no period filter)."""
        cursor: str | None = None
        seen: set[str] = set()
        for _ in range(MAX_REPORT_PAGES):
            page = self.list_reports(kind, cursor)
            for item in page.get("items", []):
                if item.get("period") == period:
                    return item
            cursor = page.get("next_cursor")
            if not cursor or cursor in seen:
                return None
            seen.add(cursor)
        return None

    def check_payment(self, order_id: str) -> dict[str, Any]:
        """Asks the order's payment provider whether it was paid; a payment found is applied."""
        answer: dict[str, Any] = self._request("POST", f"/v1/admin/orders/{quote(order_id, safe='')}/payment-check")
        return answer

    def get_report(self, report_id: str) -> Report:
        return cast(Report, self._request("GET", f"/v1/admin/reports/{quote(report_id, safe='')}"))


def download(url: str, dest: Path, *, http: requests.Session | None = None) -> int:
    """Streams a presigned GET to `dest` (no bearer token: the URL carries its own signature).

    It writes `dest.part` and renames it at the end, so a failed download never leaves a
    truncated file under the real name. Returns the number of bytes written.
    """
    session = http or requests.Session()
    partial = dest.with_name(dest.name + ".part")
    try:
        with session.get(url, stream=True, timeout=TIMEOUT) as resp:
            if not resp.ok:
                raise error_from_response(resp)
            size = 0
            with partial.open("wb") as out:
                for chunk in resp.iter_content(chunk_size=DOWNLOAD_CHUNK):
                    out.write(chunk)
                    size += len(chunk)
    except requests.RequestException as exc:
        partial.unlink(missing_ok=True)
        raise unreachable(url, exc) from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, dest)
    return size
