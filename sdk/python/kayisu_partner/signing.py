"""Request signing for the Partner API (CONTRACT §3). Pure functions: no I/O, no clock unless
you leave `timestamp`/`nonce` out, so other implementations can be checked against them.

    signature = hex(HMAC-SHA256(secret, METHOD \\n PATH \\n TIMESTAMP \\n NONCE \\n hex(SHA-256(raw body))))
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

PARTNER_HEADER = "X-Kayisu-Partner"
TIMESTAMP_HEADER = "X-Kayisu-Timestamp"
NONCE_HEADER = "X-Kayisu-Nonce"
SIGNATURE_HEADER = "X-Kayisu-Signature"

NONCE_MIN, NONCE_MAX = 16, 64


def new_nonce() -> str:
    """32 hex characters (128 random bits): a server remembers nonces, so they must never repeat."""
    return secrets.token_hex(16)


def body_digest(body: bytes) -> str:
    """Lowercase hex SHA-256 of the raw body bytes (an empty body for GET)."""
    return hashlib.sha256(body).hexdigest()


def canonical_string(method: str, path: str, timestamp: int, nonce: str, body: bytes) -> str:
    """The exact text that is signed. `path` is the URL path as sent (with any stage prefix such
    as `/prod`), never a query string: the server signs what it receives, not what we meant."""
    if "?" in path or "#" in path:
        raise ValueError("the signed path has no query string or fragment")
    if not NONCE_MIN <= len(nonce) <= NONCE_MAX:
        raise ValueError(f"a nonce is {NONCE_MIN}..{NONCE_MAX} characters")
    return "\n".join((method.upper(), path, str(int(timestamp)), nonce, body_digest(body)))


def sign(secret: str, method: str, path: str, timestamp: int, nonce: str, body: bytes) -> str:
    """Lowercase hex HMAC-SHA256 of the canonical string, keyed with the secret's UTF-8 bytes."""
    message = canonical_string(method, path, timestamp, nonce, body).encode("utf-8")
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signed_headers(
    partner_id: str,
    secret: str,
    method: str,
    path: str,
    body: bytes,
    *,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The four X-Kayisu-* headers for one attempt. Leave `timestamp` and `nonce` out to get the
    current time and a fresh nonce, which every attempt (retries included) needs."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    once = new_nonce() if nonce is None else nonce
    return {
        PARTNER_HEADER: partner_id,
        TIMESTAMP_HEADER: str(ts),
        NONCE_HEADER: once,
        SIGNATURE_HEADER: sign(secret, method, path, ts, once, body),
    }
