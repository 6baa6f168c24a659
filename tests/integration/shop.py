"""What shoppers and a payment provider do, for the money-path tests: order, pay (as the
sandbox provider signs it), wait for delivery, and read stock as an operator."""

from __future__ import annotations

import json
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from kayisu.payments.sandbox import sign
from tests.integration.conftest import Api, aws, upload_batch


def stocked_product(operator: Api, sku: str, codes: list[str], price: int = 990, max_per_order: int = 5) -> None:
    made = operator.post(
        "/v1/admin/products", {"sku": sku, "name": f"Test {sku}", "price": price, "max_per_order": max_per_order}
    )
    assert made.status_code == 201, made.text
    if codes:
        batch = upload_batch(operator, sku, "stock.txt", "\n".join(codes))
        assert batch["imported"] == len(codes), batch


def new_codes(n: int, prefix: str = "MP") -> list[str]:
    return [f"{prefix}-{secrets.token_hex(8).upper()}" for _ in range(n)]


def order(
    public: Api,
    sku: str,
    quantity: int = 1,
    email: str | None = None,
    ip: str | None = None,
    coupon: str | None = None,
    **headers: str,
) -> requests.Response:
    send = {"X-Forwarded-For": ip or f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250)}"}
    send.update({k.replace("_", "-"): v for k, v in headers.items()})
    body = {
        "sku": sku,
        "quantity": quantity,
        "email": email or f"buyer-{secrets.token_hex(4)}@example.com",
        "payment_method": "sandbox",
    }
    if coupon is not None:
        body["coupon"] = coupon
    return public.post("/v1/orders", body, headers=send)


def webhook_body(placed: dict[str, Any], **override: Any) -> bytes:
    event = {
        "id": f"evt_{secrets.token_hex(8)}",
        "type": "payment.succeeded",
        "payment_id": placed["payment"]["payment_id"],
        "order_id": placed["order_id"],
        "amount": placed["amount"],
        "currency": placed["currency"],
        "transaction_id": f"txn_{secrets.token_hex(8)}",
        "created": int(time.time()),
    }
    event.update(override)
    return json.dumps(event).encode()


def notify(stack: dict[str, Any], body: bytes, at: int | None = None, secret: str | None = None) -> requests.Response:
    """POST /v1/webhooks/sandbox signed as the sandbox provider signs it."""
    t = int(time.time()) if at is None else at
    signature = sign(secret or stack["sandbox_webhook_secret"], body, t)
    return requests.post(
        stack["api_url"] + "/v1/webhooks/sandbox",
        data=body,
        headers={"Content-Type": "application/json", "Kayisu-Sandbox-Signature": signature},
        timeout=30,
    )


def pay(stack: dict[str, Any], placed: dict[str, Any], **override: Any) -> requests.Response:
    return notify(stack, webhook_body(placed, **override))


def read(public: Api, placed: dict[str, Any], token: str | None = None) -> requests.Response:
    bearer = token or placed["access_token"]
    return public.get(f"/v1/orders/{placed['order_id']}", headers={"Authorization": f"Bearer {bearer}"})


def wait_for(public: Api, placed: dict[str, Any], status: str = "delivered", timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        seen: dict[str, Any] = read(public, placed).json()
        if seen.get("status") == status:
            return seen
        if time.monotonic() > deadline:
            pytest.fail(f"order {placed['order_id']} is {seen.get('status')}, not {status}, after {timeout} s")
        time.sleep(0.2)


def stock(operator: Api, sku: str) -> dict[str, int]:
    items = operator.get("/v1/admin/stock").json()["items"]
    level: dict[str, int] = next(i for i in items if i["sku"] == sku)
    return level


def balanced(level: dict[str, int]) -> bool:
    """Promise 3."""
    return level["available"] + level["reserved"] + level["sold"] + level["void"] == level["imported"]


def run_schedule(stack: dict[str, Any], name: str, at: str | None = None) -> dict[str, Any]:
    body = {"time": at} if at else None
    answer = requests.post(f"{stack['api_url']}/_local/schedules/{name}", json=body, timeout=120)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def outbox(stack: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = requests.get(stack["api_url"] + "/_local/outbox", timeout=30).json()["items"]
    return items


def drain(stack: dict[str, Any], queue: str) -> None:
    """Empties a queue (PurgeQueue may run only once a minute)."""
    sqs = aws(stack, "sqs")
    url = stack["resources"][queue]
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not got:
            return
        for message in got:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def paid_then_crashed(stack: dict[str, Any], placed: dict[str, Any], minutes_ago: int = 5) -> None:
    """What the webhook's transaction leaves when its function dies before requesting
    fulfilment: the order paid (and on the sweeper's PAID index), nothing queued."""
    ddb = aws(stack, "dynamodb")
    key = {"pk": {"S": f"ORDER#{placed['order_id']}"}, "sk": {"S": "ORDER"}}
    table = stack["resources"]["OrdersTable"]
    shard = ddb.get_item(TableName=table, Key=key)["Item"]["gsi2pk"]["S"].split("#")[1]
    when = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    at, index_at = when.strftime("%Y-%m-%dT%H:%M:%S.%f+0000"), when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    ddb.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET #s = :paid, paid_at = :at, transaction_id = :t, gsi2pk = :p, gsi2sk = :index_at",
        ConditionExpression="#s = :pending",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={
            ":paid": {"S": "paid"},
            ":pending": {"S": "pending_payment"},
            ":at": {"S": at},
            ":index_at": {"S": index_at},
            ":t": {"S": f"txn_crashed_{placed['order_id']}"},
            ":p": {"S": f"PAID#{shard}"},
        },
    )


def refund_decided_then_crashed(stack: dict[str, Any], order_id: str, minutes_ago: int = 5) -> None:
    """What an operator's refund of a delivered order leaves when its function dies after deciding
    it (before or after the provider refunded): the intent on the order, on the sweeper's PAID
    index, and each of its cards locked against redemption."""
    ddb = aws(stack, "dynamodb")
    orders, cards = stack["resources"]["OrdersTable"], stack["resources"]["CardsTable"]
    key = {"pk": {"S": f"ORDER#{order_id}"}, "sk": {"S": "ORDER"}}
    item = ddb.get_item(TableName=orders, Key=key, ConsistentRead=True)["Item"]
    index_at = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    ddb.update_item(
        TableName=orders,
        Key=key,
        UpdateExpression="SET refund_requested = :t, refund_reason = :r, gsi2pk = :p, gsi2sk = :at",
        ConditionExpression="#s = :delivered",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={
            ":t": {"BOOL": True},
            ":r": {"S": "operator: crashed"},
            ":p": {"S": "PAID#00"},  # any shard: the sweeper reads all 16
            ":at": {"S": index_at},
            ":delivered": {"S": "delivered"},
        },
    )
    for ref in item["cards"]["L"]:
        digest = ref["S"].split(":", 1)[1]
        ddb.update_item(
            TableName=cards,
            Key={"pk": {"S": f"CARD#{digest}"}, "sk": {"S": "CARD"}},
            UpdateExpression="SET refund_lock = :o",
            ExpressionAttributeValues={":o": {"S": order_id}},
        )
