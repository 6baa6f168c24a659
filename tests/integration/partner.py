"""A partner as the contract describes one (CONTRACT §3): every request signed by hand here
with hmac and hashlib, independently of the server's own signing code."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any

import requests

from tests.integration.conftest import Api, aws
from tests.integration.shop import new_codes, order, pay, stocked_product, wait_for


class Partner:
    def __init__(self, base: str, partner_id: str, secret: str) -> None:
        self.base = base
        self.partner_id = partner_id
        self.secret = secret
        self.session = requests.Session()

    def headers(self, method: str, path: str, body: bytes, **override: str) -> dict[str, str]:
        timestamp = override.pop("timestamp", str(int(time.time())))
        nonce = override.pop("nonce", secrets.token_hex(16))
        text = "\n".join([method, path, timestamp, nonce, hashlib.sha256(body).hexdigest()])
        signature = hmac.new(self.secret.encode(), text.encode(), hashlib.sha256).hexdigest()
        out = {
            "X-Kayisu-Partner": self.partner_id,
            "X-Kayisu-Timestamp": timestamp,
            "X-Kayisu-Nonce": nonce,
            "X-Kayisu-Signature": signature,
            "Content-Type": "application/json",
        }
        out.update(override)
        return out

    def send(self, method: str, path: str, payload: Any = None, **override: str) -> requests.Response:
        body = b"" if payload is None else json.dumps(payload).encode()
        return self.session.request(
            method,
            self.base + path,
            data=body or None,
            headers=self.headers(method, path, body, **override),
            timeout=30,
        )

    def verify(self, code: str) -> requests.Response:
        return self.send("POST", "/v1/partner/verifications", {"code": code})

    def redeem(self, code: str, reference: str | None = None) -> requests.Response:
        return self.send(
            "POST", "/v1/partner/redemptions", {"code": code, "reference": reference or secrets.token_hex(8)}
        )


def new_partner(stack: dict[str, Any], operator: Api, skus: list[str] | None = None, name: str = "Cinema") -> Partner:
    made = operator.post("/v1/admin/partners", {"name": name, **({"skus": skus} if skus is not None else {})})
    assert made.status_code == 201, made.text
    body = made.json()
    return Partner(stack["api_url"], body["partner_id"], body["secret"])


def bought_codes(stack: dict[str, Any], public: Api, operator: Api, sku: str, n: int) -> list[str]:
    """`n` codes of a new product `sku`, bought and delivered: ready to redeem."""
    codes = new_codes(n, prefix="RDM")
    stocked_product(operator, sku, codes, max_per_order=max(1, n))
    placed = order(public, sku, quantity=n).json()
    assert pay(stack, placed).status_code == 200
    delivered = wait_for(public, placed)
    got = sorted(card["code"] for card in delivered["cards"])
    assert got == sorted(codes)
    return got


def guess_slots(stack: dict[str, Any], partner_id: str) -> tuple[list[str], list[str]]:
    """The partner's taken guess slots and, of them, those spent on INVALID_CODE answers, as the
    table holds them (`"<unix ms>:<lease>"`, docs/partners.md)."""
    item = (
        aws(stack, "dynamodb")
        .get_item(
            TableName=stack["resources"]["PartnersTable"],
            Key={"pk": {"S": f"PARTNER#{partner_id}"}, "sk": {"S": "GUESSES"}},
            ConsistentRead=True,
        )
        .get("Item", {})
    )
    return sorted(item.get("slots", {}).get("SS", [])), sorted(item.get("misses", {}).get("SS", []))


def age_slots(stack: dict[str, Any], partner_id: str, seconds: int) -> None:
    """Moves every guess slot of the partner `seconds` into the past: the window passing,
    rather than waited for."""
    slots, misses = guess_slots(stack, partner_id)

    def aged(elements: list[str]) -> dict[str, Any]:
        return {"SS": [f"{int(e.split(':')[0]) - seconds * 1000}:{e.split(':')[1]}" for e in elements]}

    values = {":s": aged(slots), **({":m": aged(misses)} if misses else {})}
    aws(stack, "dynamodb").update_item(
        TableName=stack["resources"]["PartnersTable"],
        Key={"pk": {"S": f"PARTNER#{partner_id}"}, "sk": {"S": "GUESSES"}},
        UpdateExpression="SET slots = :s" + (", misses = :m" if misses else ""),
        ExpressionAttributeValues=values,
    )
