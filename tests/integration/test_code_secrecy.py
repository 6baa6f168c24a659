"""Promise 6 for ingestion and delivery: after a run and a sale, no uploaded code exists in plaintext in any table item,
S3 object, SQS message or log line; a sealed code opens only with its own batch's key context
and its own card identity."""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tests.integration.conftest import Api, aws, upload_batch
from tests.integration.shop import order, outbox, pay, wait_for


@pytest.fixture(scope="module")
def uploaded(stack: dict[str, Any], operator: Api) -> dict[str, Any]:
    sku = f"SECRET-{secrets.token_hex(3)}"
    assert (
        operator.post("/v1/admin/products", {"sku": sku, "name": "secrecy", "price": 1, "max_per_order": 5}).status_code
        == 201
    )
    codes = [f"PLAIN-{secrets.token_hex(10)}" for _ in range(60)]
    bad = f"BADROW-{secrets.token_hex(6)}\x07"
    body = "code,serial\n" + "\n".join(f"{c},SER-{i}" for i, c in enumerate(codes)) + f"\n{bad},x\n"
    batch = upload_batch(operator, sku, "secret.csv", body)
    assert batch["imported"] == 60
    return {"sku": sku, "codes": [*codes, bad.strip("\x07")], "batch": batch}


def everything_stored(stack: dict[str, Any]) -> bytes:
    """Every byte the stack keeps: table items, objects, queue messages, its log."""
    blobs: list[bytes] = []
    ddb = aws(stack, "dynamodb")
    for name in ddb.list_tables()["TableNames"]:
        for page in ddb.get_paginator("scan").paginate(TableName=name):
            blobs.append(repr(page["Items"]).encode())
    s3 = aws(stack, "s3")
    for bucket in s3.list_buckets()["Buckets"]:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"]):
            for obj in page.get("Contents", []):
                blobs.append(s3.get_object(Bucket=bucket["Name"], Key=obj["Key"])["Body"].read())
    sqs = aws(stack, "sqs")
    for url in sqs.list_queues().get("QueueUrls", []):
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
        blobs.extend(m["Body"].encode() for m in got.get("Messages", []))
    with open(stack["log_path"], "rb") as log:
        blobs.append(log.read())
    return b"\n".join(blobs)


def test_no_code_in_plaintext_anywhere(stack: dict[str, Any], uploaded: dict[str, Any], public: Api) -> None:
    placed = order(public, uploaded["sku"], quantity=3).json()
    assert pay(stack, placed).status_code == 200
    delivered = [card["code"] for card in wait_for(public, placed)["cards"]]
    assert set(delivered) <= set(uploaded["codes"])  # the codes did travel, to their owner only
    stored = everything_stored(stack) + json.dumps(outbox(stack), ensure_ascii=False).encode()
    assert len(stored) > 10_000  # the scan really read the stack
    assert b"SER-1" in stored  # serials are not secret: proves item attributes were read
    leaked = [c for c in uploaded["codes"] if c.encode() in stored]
    assert leaked == []


def test_sealed_codes_open_only_with_their_context_and_identity(
    stack: dict[str, Any], uploaded: dict[str, Any]
) -> None:
    ddb, kms = aws(stack, "dynamodb"), aws(stack, "kms")
    batch_id, sku = uploaded["batch"]["batch_id"], uploaded["sku"]
    batch = ddb.get_item(
        TableName=stack["resources"]["CardsTable"], Key={"pk": {"S": f"BATCH#{batch_id}"}, "sk": {"S": "BATCH"}}
    )["Item"]
    encrypted_key = batch["data_key"]["B"]
    with pytest.raises(ClientError) as wrong:
        kms.decrypt(CiphertextBlob=encrypted_key, EncryptionContext={"sku": "OTHER", "batch_id": batch_id})
    assert wrong.value.response["Error"]["Code"] == "InvalidCiphertextException"
    key = kms.decrypt(CiphertextBlob=encrypted_key, EncryptionContext={"sku": sku, "batch_id": batch_id})["Plaintext"]

    pages = ddb.get_paginator("scan").paginate(TableName=stack["resources"]["CardsTable"])
    card = next(i for p in pages for i in p["Items"] if i["sk"]["S"] == "CARD" and i["batch_id"]["S"] == batch_id)
    sealed, digest = card["sealed"]["B"], card["digest"]["S"]
    identity = f"kayisu-card:v1|{sku}|{batch_id}|{digest}".encode()
    code = AESGCM(key).decrypt(sealed[:12], sealed[12:], identity).decode()
    assert code in uploaded["codes"]
    with pytest.raises(InvalidTag):
        AESGCM(key).decrypt(sealed[:12], sealed[12:], identity.replace(digest.encode(), b"0" * 64))
