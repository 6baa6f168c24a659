"""`Kayisu-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>` (CONTRACT §13).
During a rotation's grace period each current secret signs: one `v1` per secret, newest first,
so a receiver that still knows only the old secret keeps verifying."""

from __future__ import annotations

import secrets

from kayisu.payments.signature import v1_signature

SIGNATURE_HEADER = "Kayisu-Signature"
EVENT_ID_HEADER = "Kayisu-Event-Id"


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)  # 256 bits


def signature(secrets_: list[str], body: bytes, at: int) -> str:
    """The header's value: the scheme is kayisu.payments.signature's, with one `v1` per secret."""
    return ",".join([f"t={at}", *(f"v1={v1_signature(s, body, at)}" for s in secrets_)])
