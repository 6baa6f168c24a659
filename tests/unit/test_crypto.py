"""Card code sealing and the batch data-key cache (promise 6), against the emulator's KMS."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from kayisu import crypto
from local.emulator import Emulator


class CountingKms:
    def __init__(self, url: str) -> None:
        self.kms = boto3.client("kms", region_name="us-east-1", endpoint_url=url)
        self.key_id = self.kms.create_key()["KeyMetadata"]["KeyId"]
        self.decrypts = 0

    def generate_data_key(self, **kwargs: Any) -> Any:
        return self.kms.generate_data_key(**kwargs)

    def decrypt(self, **kwargs: Any) -> Any:
        self.decrypts += 1
        return self.kms.decrypt(**kwargs)


@pytest.fixture
def kms(monkeypatch: pytest.MonkeyPatch, emulator: Emulator) -> CountingKms:
    counting = CountingKms(emulator.url)
    monkeypatch.setattr(crypto, "client", lambda service: counting)
    monkeypatch.setattr(crypto, "get_settings", lambda: type("S", (), {"kms_key_id": counting.key_id})())
    return counting


def test_a_sealed_code_opens_only_with_its_own_identity() -> None:
    key = bytes(range(32))
    identity = crypto.card_identity("SKU", "b-1", "d" * 64)
    sealed = crypto.seal(key, "GIFT-1234", identity)
    assert b"GIFT-1234" not in sealed
    assert crypto.unseal(key, sealed, identity) == "GIFT-1234"
    assert crypto.seal(key, "GIFT-1234", identity) != sealed  # a fresh nonce each time
    with pytest.raises(crypto.CodeIntegrityError):
        crypto.unseal(key, sealed, crypto.card_identity("SKU", "b-2", "d" * 64))
    with pytest.raises(crypto.CodeIntegrityError):
        crypto.unseal(bytes(32), sealed, identity)


def test_digest_is_keyed_and_normalised() -> None:
    a, b = crypto.CodeDigester(b"k" * 32), crypto.CodeDigester(b"j" * 32)
    assert a.digest("  ABC-1 ") == a.digest("ABC-1")
    assert a.digest("ABC-1") != a.digest("abc-1")  # codes are case-sensitive
    assert a.digest("ABC-1") != b.digest("ABC-1")
    assert a.digest("Å") == a.digest("A\u030a")  # NFC: the same code typed two ways
    with pytest.raises(ValueError, match="32 bytes"):
        crypto.CodeDigester(b"short")


def test_one_kms_call_per_batch_while_cached(kms: CountingKms) -> None:
    data_key = crypto.new_data_key("SKU", "b-1")
    cache = crypto.DataKeyCache(max_keys=2, max_age_seconds=60)
    for _ in range(5):
        assert cache.open(data_key.encrypted, "SKU", "b-1") == data_key.plaintext
    assert kms.decrypts == 1


def test_cache_is_bounded_in_size_and_age(kms: CountingKms) -> None:
    keys = [crypto.new_data_key("SKU", f"b-{i}") for i in range(3)]
    cache = crypto.DataKeyCache(max_keys=2, max_age_seconds=60)
    for i, k in enumerate(keys):
        cache.open(k.encrypted, "SKU", f"b-{i}")
    cache.open(keys[0].encrypted, "SKU", "b-0")  # evicted by the third: KMS again
    assert kms.decrypts == 4
    stale = crypto.DataKeyCache(max_keys=2, max_age_seconds=0)
    stale.open(keys[1].encrypted, "SKU", "b-1")
    stale.open(keys[1].encrypted, "SKU", "b-1")
    assert kms.decrypts == 6


def test_wrong_encryption_context_cannot_open_a_batch_key(kms: CountingKms) -> None:
    data_key = crypto.new_data_key("SKU", "b-1")
    with pytest.raises(kms.kms.exceptions.InvalidCiphertextException):
        crypto.DataKeyCache().open(data_key.encrypted, "OTHER-SKU", "b-1")
