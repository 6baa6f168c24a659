"""`Kayisu-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>` (CONTRACT §13).
During a rotation's grace period each current secret signs: one `v1` per secret, newest first,
so a receiver that still knows only the old secret keeps verifying."""

from __future__ import annotations

import hashlib
import hmac
import secrets

SIGNATURE_HEADER = "Kayisu-Signature"
EVENT_ID_HEADER = "Kayisu-Event-Id"


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)  # 256 bits


def mac(secret: str, body: bytes, at: int) -> str:
    return hmac.new(secret.encode("utf-8"), str(at).encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


def signature(secrets_: list[str], body: bytes, at: int) -> str:
    return ",".join([f"t={at}", *(f"v1={mac(s, body, at)}" for s in secrets_)])
