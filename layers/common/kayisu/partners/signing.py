"""The partner request signature (CONTRACT §3), in one place for the server and the tests.

hex(HMAC-SHA256(secret, METHOD \\n PATH \\n TIMESTAMP \\n NONCE \\n hex(SHA-256(raw body))))
"""

from __future__ import annotations

import hashlib
import hmac
import re

WINDOW_SECONDS = 300
_NONCE = re.compile(r"^[\x21-\x7e]{16,64}$")  # visible ASCII: it goes into a key and a log line
_TIMESTAMP = re.compile(r"^\d{1,12}$")
_HEX = re.compile(r"^[0-9a-fA-F]{64}$")


def canonical(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return "\n".join([method.upper(), path, timestamp, nonce, digest]).encode("utf-8")


def sign(secret: str, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), canonical(method, path, timestamp, nonce, body), hashlib.sha256).hexdigest()


def well_formed(timestamp: str, nonce: str, signature: str) -> bool:
    return bool(_TIMESTAMP.match(timestamp) and _NONCE.match(nonce) and _HEX.match(signature))


def fresh(timestamp: str, now: float) -> bool:
    return abs(now - int(timestamp)) <= WINDOW_SECONDS


def matches(
    secrets_: list[str], signature: str, method: str, path: str, timestamp: str, nonce: str, body: bytes
) -> bool:
    """True if any of the partner's current secrets signed this; every one is compared, in
    constant time, so the answer's timing says nothing about which or how much matched."""
    given = signature.lower().encode("ascii")
    found = False
    for secret in secrets_:
        expected = sign(secret, method, path, timestamp, nonce, body).encode("ascii")
        found |= hmac.compare_digest(expected, given)
    return found
