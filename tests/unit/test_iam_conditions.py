"""The least-privilege check's IAM evaluator: conditions decide, as on AWS, and the KMS calls
that services make with the caller's rights are requests too (issue 24, item 2: the local
emulator evaluates no IAM, so this is what stands between a template and AccessDenied)."""

from __future__ import annotations

import pytest

from tests.integration.iam import Grant, Request, allows, denied, grants, implied_kms, unused

BATCH_KEYS = (
    ("ForAllValues:StringEquals", "kms:EncryptionContextKeys", ("sku", "batch_id")),
    ("Null", "kms:EncryptionContextKeys", ("false",)),
)
VIA_S3 = (("StringEquals", "kms:ViaService", ("s3.us-east-1.amazonaws.com",)),)


def decrypt(context: dict[str, tuple[str, ...]]) -> Request:
    return Request("kms:Decrypt", "CardsKey", tuple(sorted(context.items())))


def test_a_batch_data_key_grant_takes_only_a_batch_context() -> None:
    grant = Grant("kms:Decrypt", "CardsKey", BATCH_KEYS)
    assert allows(grant, decrypt({"kms:EncryptionContextKeys": ("batch_id", "sku")}))
    assert allows(grant, decrypt({"kms:EncryptionContextKeys": ("sku",)}))
    assert not allows(grant, decrypt({"kms:EncryptionContextKeys": ("partner_id",)}))
    assert not allows(grant, decrypt({}))  # no context at all: Null says no
    assert not allows(grant, Request("kms:Decrypt", "OtherKey", (("kms:EncryptionContextKeys", ("sku",)),)))
    assert not allows(grant, Request("kms:Encrypt", "CardsKey", (("kms:EncryptionContextKeys", ("sku",)),)))


def test_reading_a_secret_under_our_key_needs_decrypt_via_secrets_manager_for_that_secret() -> None:
    (request,) = implied_kms("secretsmanager", "GetSecretValue", "CodeDigestKey")
    assert (request.action, request.resource) == ("kms:Decrypt", "CardsKey")
    # What the ingest and redeem roles had: neither their batch/partner context nor S3's fits.
    partner_only = Grant(
        "kms:Decrypt",
        "CardsKey",
        (
            ("ForAllValues:StringEquals", "kms:EncryptionContextKeys", ("partner_id",)),
            ("Null", "kms:EncryptionContextKeys", ("false",)),
        ),
    )
    assert denied({request}, {Grant("kms:Decrypt", "CardsKey", BATCH_KEYS), Grant("kms:Decrypt", "CardsKey", VIA_S3)})
    assert denied({request}, {partner_only})
    this_secret = Grant(
        "kms:Decrypt",
        "CardsKey",
        (
            ("StringEquals", "kms:EncryptionContext:SecretARN", ("<CodeDigestKey>",)),
            ("StringEquals", "kms:ViaService", ("secretsmanager.us-east-1.amazonaws.com",)),
        ),
    )
    assert denied({request}, {this_secret}) == set()
    (other,) = implied_kms("secretsmanager", "GetSecretValue", "SandboxWebhookSecret")
    assert denied({other}, {this_secret}) == {other}  # another secret under the same key: refused


def test_s3_and_sns_use_the_key_on_the_callers_behalf() -> None:
    (put,) = implied_kms("s3", "PutObject", "ReportsBucket")
    assert put.action == "kms:GenerateDataKey"
    assert allows(Grant("kms:GenerateDataKey", put.resource, VIA_S3), put)
    assert not allows(Grant("kms:GenerateDataKey", put.resource, BATCH_KEYS), put)
    published = implied_kms("sns", "Publish", "AlertsTopic")
    assert {r.action for r in published} == {"kms:GenerateDataKey", "kms:Decrypt"}
    assert implied_kms("sqs", "SendMessage", "FulfilmentQueue") == set()


def test_prefix_conditions_and_unused_grants() -> None:
    listing = Grant("s3:ListBucket", "CardsBucket", (("StringLike", "s3:prefix", ("batches/*",)),))
    inside = Request("s3:ListBucket", "CardsBucket", (("s3:prefix", ("batches/b1/",)),))
    outside = Request("s3:ListBucket", "CardsBucket", (("s3:prefix", ("reports/",)),))
    assert denied({inside, outside}, {listing}) == {outside}
    assert unused({listing}, {outside}) == {listing}
    assert unused({listing}, {inside}) == set()


def test_an_operator_it_cannot_evaluate_fails_loudly() -> None:
    grant = Grant("kms:Decrypt", "CardsKey", (("StringNotEquals", "kms:ViaService", ("x",)),))
    with pytest.raises(AssertionError, match="StringNotEquals"):
        allows(grant, decrypt({}))


def test_the_template_grants_the_digest_key_to_its_readers_via_secrets_manager_only() -> None:
    for function in ("IngestFunction", "RedeemFunction"):
        (request,) = implied_kms("secretsmanager", "GetSecretValue", "CodeDigestKey")
        granted = grants(function)
        assert denied({request}, granted) == set(), function
        # The same decrypt asked directly (not through Secrets Manager) stays refused.
        direct = decrypt({"kms:EncryptionContextKeys": ("SecretARN", "SecretVersionId")})
        assert denied({direct}, granted) == {direct}, function
