"""Card codes at rest: KMS envelope encryption and keyed digests (promise 6).

- One KMS data key per batch (GenerateDataKey, encryption context {sku, batch_id}); its
  encrypted form is stored on the batch. Each code is sealed with AES-256-GCM under it, with a
  fresh 96-bit nonce and the card's identity as associated data, so a sealed code cannot be
  moved to another card, batch or SKU.
- Decryption of data keys goes through one bounded cache (size and age limits), so delivering
  an order costs at most one KMS call per batch per container.
- A code's identity is HMAC-SHA256 under a key kept in Secrets Manager (encrypted under the KMS
  key); lookups and uniqueness use it, never the code.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import time
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kayisu.aws import client
from kayisu.config import get_settings
from kayisu.container import scope

NONCE_BYTES = 12


class CodeIntegrityError(Exception):
    """A sealed code did not authenticate: wrong key, wrong card identity, or tampering."""


def normalise(code: str) -> str:
    return unicodedata.normalize("NFC", code.strip())


def card_identity(sku: str, batch_id: str, digest: str) -> bytes:
    return f"kayisu-card:v1|{sku}|{batch_id}|{digest}".encode()


def encryption_context(sku: str, batch_id: str) -> dict[str, str]:
    return {"sku": sku, "batch_id": batch_id}


def seal(key: bytes, code: str, identity: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, code.encode("utf-8"), identity)


def unseal(key: bytes, sealed: bytes, identity: bytes) -> str:
    from cryptography.exceptions import InvalidTag

    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], identity).decode("utf-8")
    except InvalidTag:
        raise CodeIntegrityError("sealed code did not authenticate") from None


@dataclass(frozen=True)
class DataKey:
    plaintext: bytes
    encrypted: bytes


def new_data_key(sku: str, batch_id: str) -> DataKey:
    """One KMS call per batch."""
    out = client("kms").generate_data_key(
        KeyId=get_settings().kms_key_id, KeySpec="AES_256", EncryptionContext=encryption_context(sku, batch_id)
    )
    return DataKey(out["Plaintext"], out["CiphertextBlob"])


class DataKeyCache:
    """Decrypted batch keys, bounded in number and age."""

    def __init__(self, max_keys: int = 256, max_age_seconds: float = 300.0) -> None:
        self.max_keys = max_keys
        self.max_age = max_age_seconds
        self._keys: OrderedDict[tuple[str, bytes], tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def open(self, encrypted: bytes, sku: str, batch_id: str) -> bytes:
        now = time.monotonic()
        slot = (scope(), encrypted)
        with self._lock:
            hit = self._keys.get(slot)
            if hit is not None and now - hit[0] < self.max_age:
                self._keys.move_to_end(slot)
                return hit[1]
        plaintext: bytes = client("kms").decrypt(
            CiphertextBlob=encrypted, EncryptionContext=encryption_context(sku, batch_id)
        )["Plaintext"]
        with self._lock:
            self._keys[slot] = (now, plaintext)
            self._keys.move_to_end(slot)
            while len(self._keys) > self.max_keys:
                self._keys.popitem(last=False)
        return plaintext

    def clear(self) -> None:
        with self._lock:
            self._keys.clear()


DATA_KEYS = DataKeyCache()


class CodeDigester:
    """HMAC-SHA256 of the normalised code under the digest key from Secrets Manager."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the code digest key must have at least 32 bytes")
        self._key = key

    def digest(self, code: str) -> str:
        return hmac.new(self._key, normalise(code).encode("utf-8"), hashlib.sha256).hexdigest()


_digesters: dict[str, CodeDigester] = {}
_digester_lock = threading.Lock()


def code_digester() -> CodeDigester:
    """Loaded once per container."""
    with _digester_lock:
        if scope() not in _digesters:
            secret = client("secretsmanager").get_secret_value(SecretId=get_settings().code_digest_secret_arn)
            _digesters[scope()] = CodeDigester(str(secret["SecretString"]).encode("utf-8"))
        return _digesters[scope()]
