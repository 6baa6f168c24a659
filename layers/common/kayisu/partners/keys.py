"""Partner secrets: made once, shown once, kept only as KMS ciphertext, opened into a cache that
forgets them after a few minutes."""

from __future__ import annotations

import secrets
import threading
import time

from kayisu.aws import client
from kayisu.config import get_settings
from kayisu.container import scope

CACHE_SECONDS = 300


def new_secret() -> str:
    return "kps_" + secrets.token_urlsafe(32)  # 256 bits


def _context(partner_id: str) -> dict[str, str]:
    return {"partner_id": partner_id}


def seal(partner_id: str, secret: str) -> bytes:
    out = client("kms").encrypt(
        KeyId=get_settings().kms_key_id, Plaintext=secret.encode("utf-8"), EncryptionContext=_context(partner_id)
    )
    return bytes(out["CiphertextBlob"])


_opened: dict[tuple[str, bytes], tuple[float, str]] = {}
_lock = threading.Lock()


def open_secret(partner_id: str, sealed: bytes) -> str:
    slot = (scope(), sealed)
    now = time.monotonic()
    with _lock:
        hit = _opened.get(slot)
        if hit and now - hit[0] < CACHE_SECONDS:
            return hit[1]
    plaintext = client("kms").decrypt(CiphertextBlob=sealed, EncryptionContext=_context(partner_id))["Plaintext"]
    secret = bytes(plaintext).decode("utf-8")
    with _lock:
        for key in [k for k, (at, _) in _opened.items() if now - at >= CACHE_SECONDS]:
            del _opened[key]
        _opened[slot] = (now, secret)
    return secret
