"""Verifying the shop's outgoing webhooks (CONTRACT §13) in the receiving system.

    event = verify(secret, request.headers["Kayisu-Signature"], raw_body)

`Kayisu-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`, with one
`v1` per secret while a rotation's grace lasts. The body must be the raw bytes received, before
any JSON parsing. Deliveries are at least once: de-duplicate on the returned event's `id`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Sequence
from typing import Any

SIGNATURE_HEADER = "Kayisu-Signature"
EVENT_ID_HEADER = "Kayisu-Event-Id"
TOLERANCE_SECONDS = 300
_UNIX_SECONDS = re.compile(r"[0-9]{1,10}")


class WebhookSignatureError(ValueError):
    """The request is not a fresh webhook signed with one of your secrets: answer 400."""


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The hex `v1` of `body` signed at `timestamp` (for tests of your receiver)."""
    return hmac.new(secret.encode("utf-8"), str(int(timestamp)).encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(
    secrets: str | Sequence[str],
    header: str,
    body: bytes,
    *,
    tolerance: int = TOLERANCE_SECONDS,
    now: float | None = None,
) -> dict[str, Any]:
    """The event (`{"id", "type", "created", "data"}`) if `header` is a signature of `body`,
    made within `tolerance` seconds of `now`, under one of `secrets` (pass old and new during a
    rotation of your own); else WebhookSignatureError. Every comparison is constant-time."""
    keys = [secrets] if isinstance(secrets, str) else list(secrets)
    if not keys:
        raise ValueError("no secret to verify with")
    stamps: list[str] = []
    given: list[str] = []
    for part in (header or "").split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            stamps.append(value)
        elif key == "v1":
            given.append(value)
    if len(stamps) != 1 or not _UNIX_SECONDS.fullmatch(stamps[0]) or not given:
        raise WebhookSignatureError("missing or malformed Kayisu-Signature header")
    timestamp = int(stamps[0])
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        raise WebhookSignatureError("the signature's timestamp is too old or in the future")
    matched = False
    for key in keys:
        expected = signature(key, body, timestamp).encode()
        for candidate in given:
            matched |= hmac.compare_digest(expected, candidate.encode())
    if not matched:
        raise WebhookSignatureError("the signature does not match")
    event: dict[str, Any] = json.loads(body)
    return event
