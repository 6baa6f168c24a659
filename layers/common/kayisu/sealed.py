"""Secrets we must use again but never store in the clear (partner and webhook secrets): kept
only as KMS ciphertext under an encryption context naming their owner, opened into a cache
that forgets them after a few minutes."""

from __future__ import annotations

import threading
import time

from kayisu.aws import client
from kayisu.config import get_settings
from kayisu.container import scope

CACHE_SECONDS = 300

_opened: dict[tuple[str, bytes], tuple[float, str]] = {}
_lock = threading.Lock()


def seal(context: dict[str, str], secret: str) -> bytes:
    out = client("kms").encrypt(
        KeyId=get_settings().kms_key_id, Plaintext=secret.encode("utf-8"), EncryptionContext=context
    )
    return bytes(out["CiphertextBlob"])


def open_sealed(context: dict[str, str], sealed: bytes) -> str:
    slot = (scope(), sealed)
    now = time.monotonic()
    with _lock:
        hit = _opened.get(slot)
        if hit and now - hit[0] < CACHE_SECONDS:
            return hit[1]
    plaintext = client("kms").decrypt(CiphertextBlob=sealed, EncryptionContext=context)["Plaintext"]
    secret = bytes(plaintext).decode("utf-8")
    with _lock:
        for key in [k for k, (at, _) in _opened.items() if now - at >= CACHE_SECONDS]:
            del _opened[key]
        _opened[slot] = (now, secret)
    return secret
