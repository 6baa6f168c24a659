"""Demo data for `make run`, created through the public API as an operator would."""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.request
from typing import Any

import boto3

DEMO_PRODUCTS: list[dict[str, Any]] = [
    {
        "sku": "GIFT-CNY-100",
        "name": "礼品卡 ¥100 / Gift card ¥100",
        "description": "通用礼品卡，面值 100 元。A ¥100 gift card, delivered in seconds.",
        "price": 9800,
        "currency": "CNY",
        "max_per_order": 5,
        "alert_threshold": 5,
        "status": "active",
    },
    {
        "sku": "GAME-POINTS-60",
        "name": "游戏点卡 60 元 / Game points 60",
        "description": "游戏充值点卡。Top-up points for your game account.",
        "price": 5700,
        "currency": "CNY",
        "max_per_order": 10,
        "alert_threshold": 10,
        "status": "active",
    },
    {
        "sku": "VIP-MONTH",
        "name": "会员月卡 / Membership, one month",
        "description": "视频会员一个月。One month of video membership.",
        "price": 1990,
        "currency": "CNY",
        "max_per_order": 3,
        "alert_threshold": 3,
        "status": "active",
    },
]


def id_token(state: dict[str, Any], who: str = "operator") -> str:
    idp = boto3.client("cognito-idp", region_name=state["region"], endpoint_url=state["aws_endpoint_url"])
    auth = idp.initiate_auth(
        ClientId=state["user_pool_client_id"],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": state[who]["username"], "PASSWORD": state[who]["password"]},
    )
    return str(auth["AuthenticationResult"]["IdToken"])


DEMO_CARDS_PER_PRODUCT = 40
# CONTRACT §15: a coupon DEMO10 (10 % off) and a running full reduction.
DEMO_COUPON: dict[str, Any] = {"code": "DEMO10", "kind": "percent", "value": 10}
DEMO_REDUCTION_NAME = "满 196 减 10 / ¥10 off ¥196"
DEMO_REDUCTION: dict[str, Any] = {
    "kind": "full_reduction",
    "name": DEMO_REDUCTION_NAME,
    "skus": ["GIFT-CNY-100"],  # two gift cards reach it
    "tiers": [{"min_spend": 19600, "off": 1000}],
}


def seed_demo(state: dict[str, Any]) -> None:
    token = id_token(state)
    _create_products(state, token)
    # Demo stock goes through the operators' own path: presigned upload, S3 event, ingestion.
    for product in DEMO_PRODUCTS:
        codes = "\n".join(
            f"DEMO-{product['sku']}-{secrets.token_hex(6).upper()}" for _ in range(DEMO_CARDS_PER_PRODUCT)
        )
        upload_batch(state, token, str(product["sku"]), "demo.txt", codes.encode())
    _create_promotions(state, token)


def _create_promotions(state: dict[str, Any], token: str) -> None:
    """DEMO10 and the demo's full reduction, once (a restart on the same state finds them)."""
    try:
        _call(state, token, "POST", "/v1/admin/coupons", DEMO_COUPON)
    except urllib.error.HTTPError as exc:
        if exc.code != 409:  # COUPON_EXISTS: seeded before
            raise RuntimeError(f"seeding the DEMO10 coupon failed: {exc.code} {exc.read()!r}") from exc
    running = _call(state, token, "GET", "/v1/promotions")["items"]
    if any(p["name"] == DEMO_REDUCTION_NAME for p in running):
        return
    now = time.time()
    window = {
        "starts_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 60)),
        "ends_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 365 * 86400)),
    }
    _call(state, token, "POST", "/v1/admin/promotions", {**DEMO_REDUCTION, **window})


def _call(state: dict[str, Any], token: str, method: str, path: str, body: Any = None) -> Any:
    req = urllib.request.Request(  # noqa: S310 - our own local gateway
        f"{state['api_url']}{path}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
        return json.loads(resp.read() or b"null")


def upload_batch(state: dict[str, Any], token: str, sku: str, filename: str, data: bytes, timeout: float = 120) -> Any:
    started = _call(state, token, "POST", "/v1/admin/batches", {"sku": sku, "filename": filename})
    put = urllib.request.Request(started["upload_url"], data=data, method="PUT")  # noqa: S310
    with urllib.request.urlopen(put, timeout=30):  # noqa: S310 - the emulator's presigned URL
        pass
    deadline = time.monotonic() + timeout
    while True:
        batch = _call(state, token, "GET", f"/v1/admin/batches/{started['batch_id']}")
        if batch["status"] in ("completed", "failed"):
            if batch["status"] == "failed":
                raise RuntimeError(f"demo batch for {sku} failed: {batch.get('error')}")
            return batch
        if time.monotonic() > deadline:
            raise RuntimeError(f"demo batch for {sku} did not finish in {timeout} s")
        time.sleep(0.2)


def _create_products(state: dict[str, Any], token: str) -> None:
    for product in DEMO_PRODUCTS:
        req = urllib.request.Request(  # noqa: S310 - our own local gateway
            f"{state['api_url']}/v1/admin/products",
            data=json.dumps(product).encode(),
            method="POST",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=30):  # noqa: S310 - our own local gateway
                pass
        except urllib.error.HTTPError as exc:
            if exc.code != 409:  # already there
                raise RuntimeError(f"seeding {product['sku']} failed: {exc.code} {exc.read()!r}") from exc
