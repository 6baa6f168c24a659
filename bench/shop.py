"""What the benchmarks' shoppers do against a local stack: place an order as their own buyer
(email, source IP), pay it as the sandbox provider notifies, read it; and what the stack's call
log and the orders table say afterwards."""

from __future__ import annotations

import json
import math
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests

from kayisu.payments.sandbox import SIGNATURE_HEADER, sign
from tests.integration.conftest import Api, upload_batch
from tests.support import emulator_client

PRICE = 990

_local = threading.local()


def session() -> requests.Session:
    """One HTTP session per thread (a buyer's browser; keeps its connection)."""
    s: requests.Session | None = getattr(_local, "session", None)
    if s is None:
        s = requests.Session()
        _local.session = s
    return s


@dataclass
class Placed:
    order_id: str
    token: str
    payment_id: str
    amount: int
    currency: str
    paid_at: float = 0.0  # client clock (time.time()) when the webhook answered 2xx
    seen_delivered_at: float = 0.0  # client clock of the first poll that saw it delivered


def buyer_email(tag: str, n: int) -> str:
    return f"{tag}-{n}@example.com"


def buyer_ip(n: int) -> str:
    return f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"


def place(api_url: str, sku: str, n: int, tag: str, **extra: Any) -> tuple[int, dict[str, Any]]:
    """One buyer: own email, own source IP (`extra`: more fields of the order, a coupon)."""
    answer = session().post(
        f"{api_url}/v1/orders",
        json={"sku": sku, "quantity": 1, "email": buyer_email(tag, n), "payment_method": "sandbox", **extra},
        headers={"X-Forwarded-For": buyer_ip(n)},
        timeout=60,
    )
    try:
        body: dict[str, Any] = answer.json()
    except ValueError:
        body = {"raw": answer.text[:200]}
    return answer.status_code, body


def placed_of(body: dict[str, Any]) -> Placed:
    return Placed(
        body["order_id"], body["access_token"], body["payment"]["payment_id"], int(body["amount"]), body["currency"]
    )


def pay(api_url: str, secret: str, order: Placed) -> None:
    """The payment provider's notification, signed as the sandbox signs it; records the 2xx time."""
    at = int(time.time())
    body = json.dumps(
        {
            "id": f"evt_{secrets.token_hex(12)}",
            "type": "payment.succeeded",
            "payment_id": order.payment_id,
            "order_id": order.order_id,
            "amount": order.amount,
            "currency": order.currency,
            "transaction_id": f"bench_{secrets.token_hex(12)}",
            "created": at,
        },
        separators=(",", ":"),
    ).encode()
    answer = session().post(
        f"{api_url}/v1/webhooks/sandbox",
        data=body,
        headers={"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, body, at)},
        timeout=60,
    )
    if answer.status_code // 100 != 2:
        raise RuntimeError(f"webhook for {order.order_id}: {answer.status_code} {answer.text[:300]}")
    order.paid_at = time.time()


def read(api_url: str, order: Placed) -> dict[str, Any]:
    answer = session().get(
        f"{api_url}/v1/orders/{order.order_id}", headers={"Authorization": f"Bearer {order.token}"}, timeout=60
    )
    if answer.status_code != 200:
        raise RuntimeError(f"GET order {order.order_id}: {answer.status_code} {answer.text[:300]}")
    body: dict[str, Any] = answer.json()
    return body


CallKey = tuple[str, str, str]  # function, service, operation


def calls(api_url: str) -> Counter[CallKey]:
    items = requests.get(f"{api_url}/_local/calls", timeout=60).json()["items"]
    out: Counter[CallKey] = Counter()
    for item in items:
        out[(item["function"], item["service"], item["operation"])] += int(item.get("count", 1))
    return out


def reset_calls(api_url: str) -> None:
    requests.delete(f"{api_url}/_local/calls", timeout=60).raise_for_status()


def stocked_product(operator: Api, sku: str, cards: int) -> dict[str, Any]:
    made = operator.post("/v1/admin/products", {"sku": sku, "name": f"Bench {sku}", "price": PRICE, "max_per_order": 1})
    if made.status_code != 201:
        raise RuntimeError(f"product {sku}: {made.status_code} {made.text[:300]}")
    codes = [f"{sku}-{secrets.token_hex(10).upper()}" for _ in range(cards)]
    batch = upload_batch(operator, sku, f"{sku}.txt", "\n".join(codes), timeout=300)
    if batch.get("imported") != cards:
        raise RuntimeError(f"batch for {sku}: {batch}")
    return {"codes": codes, "batch": batch}


def stock_level(operator: Api, sku: str) -> dict[str, int]:
    for item in operator.get("/v1/admin/stock").json()["items"]:
        if item["sku"] == sku:
            return {k: int(v) for k, v in item.items() if isinstance(v, int)}
    raise RuntimeError(f"no stock line for {sku}")


def stock_row(stock: dict[str, int]) -> tuple[str, str, str]:
    """The report's row that says whether a SKU's stock balances (available + reserved + sold
    + void = imported)."""
    parts = f"{stock['available']}+{stock['reserved']}+{stock['sold']}+{stock['void']}"
    balanced = sum(stock[k] for k in ("available", "reserved", "sold", "void")) == stock["imported"]
    return "stock a+r+s+v = imported", f"{parts}={stock['imported']}" + (" ok" if balanced else " NO"), "balanced"


def parallel(threads: int, work: Callable[[int], Any], n: int) -> list[Any]:
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(work, range(n)))


def stored_time(value: dict[str, str] | None) -> float | None:
    """A PynamoDB UTCDateTimeAttribute (microseconds) as a Unix time."""
    if not value:
        return None
    return datetime.strptime(value["S"], "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


def scan_orders(state: dict[str, Any], sku: str) -> dict[str, dict[str, Any]]:
    """The SKU's order items, straight from the emulator: reservation and µs timestamps."""
    db = emulator_client(state, "dynamodb")
    kwargs: dict[str, Any] = {
        "TableName": state["resources"]["OrdersTable"],
        "FilterExpression": "#k = :order AND sku = :sku",
        "ExpressionAttributeNames": {"#k": "kind"},
        "ExpressionAttributeValues": {":order": {"S": "order"}, ":sku": {"S": sku}},
    }
    out: dict[str, dict[str, Any]] = {}
    while True:
        page = db.scan(**kwargs)
        for item in page.get("Items", []):
            out[item["order_id"]["S"]] = {
                "status": item["status"]["S"],
                "reservation": {int(k): int(v) for k, v in json.loads(item["reservation"]["S"]).items()},
                "created_at": stored_time(item.get("created_at")),
                "paid_at": stored_time(item.get("paid_at")),
                "delivered_at": stored_time(item.get("delivered_at")),
                "cards": len(item.get("cards", {}).get("L", [])),
                "email": item["email"]["S"],
                "limit_keys": [k["S"] for k in item.get("limit_keys", {}).get("L", [])],
            }
        if "LastEvaluatedKey" not in page:
            return out
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def percentile(values: list[float], p: float) -> float:
    """Nearest rank."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def by_function(counts: Counter[CallKey], functions: tuple[str, ...]) -> Counter[CallKey]:
    return Counter({k: n for k, n in counts.items() if k[0] in functions})


def print_calls(title: str, counts: Counter[CallKey], per: int, per_label: str) -> None:
    print(f"\n{title}")
    print(f"  {'function':<24} {'service':<8} {'operation':<22} {'requests':>8} {per_label:>12}")
    for (function, service, operation), n in sorted(counts.items()):
        print(f"  {function:<24} {service:<8} {operation:<22} {n:>8} {n / max(1, per):>12.3f}")
    total = sum(counts.values())
    print(f"  {'total':<56} {total:>8} {total / max(1, per):>12.3f}")


def ms(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds * 1000:,.0f} ms"
