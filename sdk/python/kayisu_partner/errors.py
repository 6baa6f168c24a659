"""Typed errors, one per stable `code` of the Partner API (RFC 9457 problem+json bodies).

Branch on the class (or on `.code`), never on `detail`, which is for people. Every error the
SDK raises is a `KayisuError`, so `except KayisuError` catches them all.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from .models import parse_time


class KayisuError(Exception):
    """An answer that is not a success. `status` is the HTTP status (None only for
    `ConnectionFailed`), `code` the problem's `code`, `body` the whole problem document and
    `request_id` the `X-Request-Id` to quote to Kayisu support."""

    def __init__(
        self,
        status: int | None,
        code: str,
        detail: str,
        body: dict[str, Any] | None = None,
        *,
        request_id: str | None = None,
    ) -> None:
        super().__init__(f"{code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.body: dict[str, Any] = body if body is not None else {}
        self.request_id = request_id


class BadSignature(KayisuError):
    """401 `BAD_SIGNATURE`: wrong secret or partner id, disabled partner, a clock more than 300 s
    off, or a reused nonce. Not retried: the same request would fail the same way."""


class InvalidCode(KayisuError):
    """404 `INVALID_CODE`: unknown, unsold, or outside your SKUs (deliberately indistinguishable)."""


class AlreadyRedeemed(KayisuError):
    """409 `ALREADY_REDEEMED`: redeemed before (by another `reference` or partner) at `redeemed_at`."""

    @property
    def redeemed_at(self) -> datetime | None:
        raw = self.body.get("redeemed_at")
        try:
            return parse_time(raw) if isinstance(raw, str) else None
        except ValueError:
            return None


class ReferenceReused(KayisuError):
    """409 `REFERENCE_REUSED`: this `reference` already redeemed a different code; use a new one."""


class CodeVoid(KayisuError):
    """409 `CODE_VOID`: the code was voided (its order refunded), or its order's refund is under
    way; it cannot be redeemed."""


class TooManyAttempts(KayisuError):
    """429 `TOO_MANY_ATTEMPTS`: too many invalid codes lately; wait `retry_after` seconds (None
    when the server did not say). Never retried automatically: guessing must not pay."""

    def __init__(
        self,
        status: int | None,
        code: str,
        detail: str,
        body: dict[str, Any] | None = None,
        *,
        request_id: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(status, code, detail, body, request_id=request_id)
        self.retry_after = retry_after


class ValidationError(KayisuError):
    """422 `VALIDATION_ERROR`; `errors` is `[{"field": ..., "message": ...}, ...]`."""

    @property
    def errors(self) -> list[dict[str, Any]]:
        raw = self.body.get("errors")
        return [e for e in raw if isinstance(e, dict)] if isinstance(raw, list) else []


class UnknownRedemption(KayisuError):
    """404 `UNKNOWN_REDEMPTION`: no such redemption among your own."""


class ApiError(KayisuError):
    """Any other answer: another `code` (`INTERNAL_ERROR`, `MALFORMED_JSON`, ...), a 502/503/504
    or throttling 429 still failing after the retries, or a body that is not what the contract
    says (`code` is then `HTTP_<status>` or `UNEXPECTED_RESPONSE`)."""


class ConnectionFailed(KayisuError):
    """No answer at all (connection refused or reset, timeout) after every retry. For `redeem`
    the outcome is unknown: call it again with the same `reference` to learn it."""


ERRORS_BY_CODE: dict[str, type[KayisuError]] = {
    "BAD_SIGNATURE": BadSignature,
    "INVALID_CODE": InvalidCode,
    "ALREADY_REDEEMED": AlreadyRedeemed,
    "REFERENCE_REUSED": ReferenceReused,
    "CODE_VOID": CodeVoid,
    "TOO_MANY_ATTEMPTS": TooManyAttempts,
    "VALIDATION_ERROR": ValidationError,
    "UNKNOWN_REDEMPTION": UnknownRedemption,
}


def parse_retry_after(value: str | None, now: datetime | None = None) -> int | None:
    """`Retry-After` is delay-seconds or an HTTP-date (RFC 9110 §10.2.3); None if absent or odd."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0, math.ceil((when - (now or datetime.now(UTC))).total_seconds()))


def error_from_problem(
    status: int, body: Any, *, retry_after: str | None = None, request_id: str | None = None
) -> KayisuError:
    """The typed error for a non-success answer; `body` is the decoded JSON (or None)."""
    problem: dict[str, Any] = body if isinstance(body, dict) else {}
    code = problem.get("code")
    if not isinstance(code, str) or not code:
        code = f"HTTP_{status}"
    detail = problem.get("detail") or problem.get("title") or problem.get("message") or f"HTTP {status}"
    cls = ERRORS_BY_CODE.get(code, ApiError)
    if cls is TooManyAttempts:
        # The header is the standard place; the body's `retry_after` (seconds) is the fallback.
        wait = parse_retry_after(retry_after)
        if wait is None and isinstance(problem.get("retry_after"), int):
            wait = max(0, problem["retry_after"])
        return TooManyAttempts(status, code, str(detail), problem, retry_after=wait, request_id=request_id)
    return cls(status, code, str(detail), problem, request_id=request_id)
