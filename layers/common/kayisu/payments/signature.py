"""Webhook signatures' shared rules: how fresh a signed timestamp must be, and the
`t=<unix>,v1=<hex HMAC-SHA256(secret, "t.body")>` scheme Stripe specifies and our sandbox copies.

Every `v1` of a header is compared with the signature under every secret in use (secrets are
rolled, so several may be valid at once), all in constant time and all of them, so that the time
taken says nothing about which one matched."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Sequence

from kayisu.payments.provider import BadSignature

TOLERANCE_SECONDS = 300  # a signed timestamp's most distance from our clock, either way
_UNIX_SECONDS = re.compile(r"[0-9]{1,10}")  # ASCII digits only: no huge or exotic numbers


def check_fresh(timestamp: int, now: float | None = None) -> None:
    """BadSignature unless `timestamp` (Unix seconds) is within TOLERANCE_SECONDS of now."""
    if abs((time.time() if now is None else now) - timestamp) > TOLERANCE_SECONDS:
        raise BadSignature("stale signature timestamp")


def v1_signature(secret: str, body: bytes, at: int) -> str:
    return hmac.new(secret.encode(), str(at).encode() + b"." + body, hashlib.sha256).hexdigest()


def v1_header(secret: str, body: bytes, at: int) -> str:
    return f"t={at},v1={v1_signature(secret, body, at)}"


def verify_v1(secrets: Sequence[str], value: str, body: bytes, now: float | None = None) -> None:
    """BadSignature unless the header `value` (`t=…,v1=…[,v1=…]`) is fresh and one of its `v1`
    is the signature of `body` under one of `secrets`."""
    timestamp: int | None = None
    candidates: list[bytes] = []
    for part in value.split(","):
        key, _, item = part.strip().partition("=")
        if key == "t" and _UNIX_SECONDS.fullmatch(item):
            timestamp = int(item)
        elif key == "v1":
            candidates.append(item.encode())
    if timestamp is None or not candidates:
        raise BadSignature("missing or malformed signature header")
    check_fresh(timestamp, now)
    expected = [v1_signature(s, body, timestamp).encode() for s in secrets]
    matched = [hmac.compare_digest(e, c) for e in expected for c in candidates]
    if not any(matched):
        raise BadSignature("signature does not match")
