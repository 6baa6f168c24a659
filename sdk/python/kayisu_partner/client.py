"""The Partner API client: signs every attempt, retries only what is safe to retry, and turns
problem+json answers into typed errors.

Why retries are safe: `verify` changes nothing, and `redeem` carries the partner's `reference`,
so a repeat of a redemption that did go through gets the first result back (200, `replayed`)
instead of a second redemption or an `ALREADY_REDEEMED`.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from types import TracebackType
from typing import Any, cast
from urllib.parse import quote, urlsplit

import requests

from ._version import __version__
from .errors import ApiError, ConnectionFailed, KayisuError, error_from_problem
from .models import VERIFICATION_STATUSES, Redemption, Verification, VerificationStatus, parse_time
from .signing import signed_headers

log = logging.getLogger("kayisu_partner")

VERIFICATIONS = "/v1/partner/verifications"
REDEMPTIONS = "/v1/partner/redemptions"
REFERENCE_MAX = 64
RETRY_STATUSES = frozenset({502, 503, 504})  # gateway trouble: the request may not have run
MAX_DELAY = 30.0  # seconds; also caps a server's Retry-After so a call cannot hang for long
# A body that broke off mid-answer is as good as no answer; the request is safe to repeat.
TRANSIENT = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


def new_reference() -> str:
    """A fresh, unique `reference` (32 hex characters). Store it with your own sale record
    before calling `redeem`, so that after a crash you can ask again with the same one."""
    return uuid.uuid4().hex


def _sleep(seconds: float) -> None:  # one seam for tests
    time.sleep(seconds)


class PartnerClient:
    """A client of `base_url` (the API root without `/v1`, e.g. `https://api.example.com` or a
    stage URL such as `https://abc.execute-api.region.amazonaws.com/prod`).

    `timeout` is per attempt in seconds; `retries` is how many times a transient failure is
    retried (so at most `retries + 1` attempts), waiting `backoff * 2**n` seconds (jittered)
    between them. Pass your own `requests.Session` for proxies, TLS settings or pooling; the
    client then leaves closing it to you.
    """

    def __init__(
        self,
        base_url: str,
        partner_id: str,
        secret: str,
        *,
        timeout: float = 10,
        retries: int = 3,
        backoff: float = 0.5,
        session: requests.Session | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError("base_url must be an http(s) URL without query or fragment")
        if not partner_id or not secret:
            raise ValueError("partner_id and secret are required")
        if retries < 0 or timeout <= 0 or backoff < 0:
            raise ValueError("retries and backoff must be >= 0 and timeout > 0")
        self.base_url = base_url.rstrip("/")
        self.partner_id = partner_id
        self._secret = secret
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._owns_session = session is None
        self._session = session if session is not None else requests.Session()

    def __repr__(self) -> str:  # never the secret
        return f"PartnerClient({self.base_url!r}, partner_id={self.partner_id!r})"

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> PartnerClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- the three calls -------------------------------------------------------------------

    def verify(self, code: str) -> Verification:
        """Whether `code` can be redeemed now. Raises `InvalidCode` for a code you may not
        redeem (unknown, unsold, another SKU); each of those counts towards `TooManyAttempts`."""
        _require_code(code)
        status, data = self._call("POST", VERIFICATIONS, {"code": code})
        try:
            if status != 200 or data["status"] not in VERIFICATION_STATUSES:
                raise ValueError(data["status"])
            redeemed_at = data.get("redeemed_at")
            return Verification(
                status=cast(VerificationStatus, data["status"]),
                sku=_text(data["sku"]),
                redeemed_at=parse_time(redeemed_at) if redeemed_at is not None else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise _unexpected(status, data) from exc

    def redeem(self, code: str, reference: str) -> Redemption:
        """Redeem `code` once. `reference` (1..64 characters, your own id for this sale; see
        `new_reference`) makes the call safe to repeat: the same reference returns the same
        redemption with `replayed=True`. Raises `AlreadyRedeemed` if it was redeemed under
        another reference or by another partner."""
        _require_code(code)
        if not isinstance(reference, str) or not 1 <= len(reference) <= REFERENCE_MAX:
            raise ValueError(f"reference must be 1..{REFERENCE_MAX} characters")
        status, data = self._call("POST", REDEMPTIONS, {"code": code, "reference": reference})
        if status not in (200, 201):
            raise _unexpected(status, data)
        return _redemption(status, data, replayed=status == 200)

    def get_redemption(self, redemption_id: str) -> Redemption:
        """One of your own redemptions; `UnknownRedemption` otherwise."""
        if not isinstance(redemption_id, str) or not redemption_id:
            raise ValueError("redemption_id is required")
        status, data = self._call("GET", f"{REDEMPTIONS}/{quote(redemption_id, safe='')}", None)
        if status != 200:
            raise _unexpected(status, data)
        return _redemption(status, data, replayed=False)

    # --- transport -------------------------------------------------------------------------

    def _call(self, method: str, path: str, payload: dict[str, Any] | None) -> tuple[int, dict[str, Any]]:
        """(status, JSON object) of the first non-transient answer; raises the typed error."""
        # Serialised once: these exact bytes are hashed, signed and sent on every attempt.
        body = b"" if payload is None else json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        url = self.base_url + path
        attempts = self.retries + 1
        for attempt in range(1, attempts + 1):
            final = attempt == attempts
            try:
                response = self._send(method, url, body)
            except TRANSIENT as exc:
                if final:
                    raise ConnectionFailed(
                        None,
                        "CONNECTION_FAILED",
                        f"no answer from {urlsplit(url).netloc} after {attempts} attempt(s) ({type(exc).__name__})",
                    ) from exc
                self._wait(attempt, None, f"{type(exc).__name__}", method, path)
                continue
            except requests.RequestException as exc:  # TLS, bad URL, ...: repeating will not help
                raise ConnectionFailed(None, "CONNECTION_FAILED", f"request failed ({type(exc).__name__})") from exc

            try:
                data: Any = response.json()
            except ValueError:
                data = None
            if 200 <= response.status_code < 300:
                if not isinstance(data, dict):
                    raise _unexpected(response.status_code, data)
                return response.status_code, data
            retry_after = response.headers.get("Retry-After")
            error = error_from_problem(
                response.status_code, data, retry_after=retry_after, request_id=response.headers.get("X-Request-Id")
            )
            if final or not _transient(response.status_code, error):
                raise error
            self._wait(attempt, retry_after, f"HTTP {response.status_code}", method, path)
        raise AssertionError("unreachable")  # the last attempt always returns or raises

    def _send(self, method: str, url: str, body: bytes) -> requests.Response:
        headers = {"Accept": "application/json", "User-Agent": f"kayisu-partner-python/{__version__}"}
        if body:
            headers["Content-Type"] = "application/json"
        prepared = self._session.prepare_request(requests.Request(method, url, data=body or None, headers=headers))
        # Sign the path as it will go on the wire (after requests' own quoting, with any stage
        # prefix), since that is what the server sees and checks.
        path = urlsplit(prepared.url or url).path
        # A fresh timestamp and nonce per attempt: the server refuses a nonce it has seen.
        prepared.headers.update(signed_headers(self.partner_id, self._secret, method, path, body))
        settings = self._session.merge_environment_settings(prepared.url, {}, None, None, None)
        # No redirects: a redirect would change the signed path (and could turn POST into GET).
        return self._session.send(prepared, timeout=self.timeout, allow_redirects=False, **settings)

    def _wait(self, attempt: int, retry_after: str | None, why: str, method: str, path: str) -> None:
        delay = min(MAX_DELAY, self.backoff * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)  # noqa: S311 - jitter
        if retry_after and retry_after.strip().isdigit():
            delay = max(delay, min(MAX_DELAY, float(retry_after.strip())))
        log.info("%s on %s %s: retry %d of %d in %.2f s", why, method, path, attempt, self.retries, delay)
        _sleep(delay)


def _transient(status: int, error: KayisuError) -> bool:
    """Gateway errors, and throttling that is not the invalid-code lockout (which only grows)."""
    return status in RETRY_STATUSES or (status == 429 and error.code != "TOO_MANY_ATTEMPTS")


def _require_code(code: str) -> None:
    if not isinstance(code, str) or not code:
        raise ValueError("code is required")


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value


def _redemption(status: int, data: dict[str, Any], *, replayed: bool) -> Redemption:
    try:
        return Redemption(
            redemption_id=_text(data["redemption_id"]),
            sku=_text(data["sku"]),
            redeemed_at=parse_time(_text(data["redeemed_at"])),
            reference=_text(data["reference"]),
            replayed=replayed,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise _unexpected(status, data) from exc


def _unexpected(status: int, data: Any) -> ApiError:
    body = data if isinstance(data, dict) else {}
    return ApiError(status, "UNEXPECTED_RESPONSE", f"HTTP {status} with a body the contract does not describe", body)
