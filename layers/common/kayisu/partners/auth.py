"""Who is calling the partner API: the signature over the raw request, a fresh timestamp, a
nonce never seen before, an active partner with a guess slot free (CONTRACT §3; lockout.py)."""

from __future__ import annotations

import base64
import math
import threading
import time
from typing import Any

from kayisu.clock import now
from kayisu.container import scope
from kayisu.errors import Problem
from kayisu.observability import logger, metrics
from kayisu.partners import keys, lockout, signing
from kayisu.store import partners as store

PARTNER_CACHE_SECONDS = 10.0  # a disabled partner or a new scope takes effect within this

_partners: dict[tuple[str, str], tuple[float, store.PartnerItem | None]] = {}
_lock = threading.Lock()


def bad_signature(why: str) -> Problem:
    # One answer for every reason: a caller learns nothing about which check failed.
    logger.info("partner request refused", extra={"why": why})
    metrics.add_metric(name="PartnerRequestRefused", unit="Count", value=1)
    return Problem(401, "BAD_SIGNATURE", "Bad signature", "The request signature is not valid.")


def too_many_attempts(until: float) -> Problem:
    wait = max(1, math.ceil(until - time.time()))
    logger.info("partner locked out", extra={"retry_after": wait})
    return Problem(
        429,
        "TOO_MANY_ATTEMPTS",
        "Too many attempts",
        "Too many invalid codes in 10 minutes; try again later.",
        extra={"retry_after": wait},
        headers={"Retry-After": str(wait)},
    )


def _partner(partner_id: str) -> store.PartnerItem | None:
    slot = (scope(), partner_id)
    at = time.monotonic()
    with _lock:
        hit = _partners.get(slot)
        if hit and at - hit[0] < PARTNER_CACHE_SECONDS:
            return hit[1]
    found = store.load_partner(partner_id)
    with _lock:
        if len(_partners) > 1000:
            _partners.clear()
        _partners[slot] = (at, found)
    return found


def raw_body(event: dict[str, Any]) -> bytes:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return base64.b64decode(body)
    return str(body).encode("utf-8")


def authenticate(event: dict[str, Any]) -> dict[str, Any]:
    """The partner and the guess slot its request holds, as `{"partner": PartnerItem, "slot":
    Slot}`; a Problem (401, or 429 when locked out)."""
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    partner_id = headers.get("x-kayisu-partner", "")
    timestamp = headers.get("x-kayisu-timestamp", "")
    nonce = headers.get("x-kayisu-nonce", "")
    signature = headers.get("x-kayisu-signature", "")
    if not (partner_id and signing.well_formed(timestamp, nonce, signature)):
        raise bad_signature("missing or malformed headers")
    if not signing.fresh(timestamp, time.time()):
        raise bad_signature("stale timestamp")
    partner = _partner(partner_id) if len(partner_id) <= 64 else None
    if partner is None or partner.status != "active":
        raise bad_signature("unknown or disabled partner")
    at = now()
    secrets_ = [keys.open_secret(partner_id, partner.sealed_secret)]
    if partner.previous_sealed_secret and partner.previous_valid_until and partner.previous_valid_until > at:
        secrets_.append(keys.open_secret(partner_id, partner.previous_sealed_secret))
    method = str((event.get("requestContext") or {}).get("http", {}).get("method", ""))
    path = str(event.get("rawPath", ""))
    if not signing.matches(secrets_, signature, method, path, timestamp, nonce, raw_body(event)):
        raise bad_signature("signature does not match")
    try:
        slot = lockout.admit(partner_id, nonce, at)
    except store.NonceReused:
        raise bad_signature("nonce reused") from None
    except lockout.LockedOut as locked:
        raise too_many_attempts(locked.until) from None
    logger.append_keys(partner_id=partner_id)
    return {"partner": partner, "slot": slot}


def settle(admitted: dict[str, Any]) -> None:
    """After the answer: a slot the route did not spend on a wrong guess or give back itself (a
    422 body, a read of a redemption, an error before the lookup) is given back."""
    slot = admitted.get("slot")
    if isinstance(slot, store.Slot):
        store.release(slot)
