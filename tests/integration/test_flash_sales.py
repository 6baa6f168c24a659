"""Flash sales (CONTRACT §8 秒杀): in its window a SKU sells at the sale's price for at most
`quantity` units in all, also under a burst; then 409 FLASH_SALE_SOLD_OUT; `max_per_email`
over it is 429; expired orders give their units back."""

from __future__ import annotations

import secrets
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.integration.conftest import Api
from tests.integration.shop import balanced, new_codes, order, run_schedule, stock, stocked_product


def at(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def flash_sale(operator: Api, sku: str, quantity: int, price: int = 100, **more: Any) -> dict[str, Any]:
    body = {
        "kind": "flash_sale",
        "skus": [sku],
        "price": price,
        "quantity": quantity,
        "starts_at": at(timedelta(minutes=-1)),
        "ends_at": at(timedelta(hours=1)),
        **more,
    }
    made = operator.post("/v1/admin/promotions", body)
    assert made.status_code == 201, made.text
    sale: dict[str, Any] = made.json()
    return sale


def sold(operator: Api, sale: dict[str, Any]) -> int:
    return int(operator.get(f"/v1/admin/promotions/{sale['promotion_id']}").json()["sold"])


def test_200_buyers_at_once_for_50_units_exactly_50_get_the_sale_price(
    operator: Api, public: Api, new_sku: str
) -> None:
    stocked_product(operator, new_sku, new_codes(60), price=1000, max_per_order=5)
    sale = flash_sale(operator, new_sku, 50)
    assert (sale["price"], sale["quantity"], sale["sold"]) == (100, 50, 0)
    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(lambda _: order(public, new_sku, 1), range(200)))
    outcomes = Counter((a.status_code, a.json().get("code")) for a in answers)
    assert outcomes == {(201, None): 50, (409, "FLASH_SALE_SOLD_OUT"): 150}, outcomes
    created = [a.json() for a in answers if a.status_code == 201]
    assert {(o["amount"], o["subtotal"]) for o in created} == {(100, 1000)}
    assert {d["kind"] for o in created for d in o["discounts"]} == {"flash_sale"}
    assert sold(operator, sale) == 50
    level = stock(operator, new_sku)
    assert (level["reserved"], balanced(level)) == (50, True), "a refused order reserves nothing"


def test_outside_its_window_the_sku_sells_at_its_price(operator: Api, public: Api, new_sku: str) -> None:
    stocked_product(operator, new_sku, new_codes(3), price=1000)
    later = flash_sale(operator, new_sku, 5, starts_at=at(timedelta(hours=1)), ends_at=at(timedelta(hours=2)))
    ended = flash_sale(operator, new_sku, 5, starts_at=at(timedelta(hours=-2)), ends_at=at(timedelta(seconds=-1)))
    placed = order(public, new_sku, 1).json()
    assert (placed["amount"], placed["discounts"]) == (1000, [])
    assert (sold(operator, later), sold(operator, ended)) == (0, 0)


def test_max_per_email_is_429_and_expired_orders_give_their_units_back(
    stack: dict[str, Any], operator: Api, public: Api, new_sku: str
) -> None:
    stocked_product(operator, new_sku, new_codes(10), price=1000, max_per_order=5)
    sale = flash_sale(operator, new_sku, 3, max_per_email=2)
    email = f"flash-{secrets.token_hex(4)}@example.com"
    assert order(public, new_sku, 2, email=email).status_code == 201
    over = order(public, new_sku, 1, email=email.upper())
    assert (over.status_code, over.json()["code"]) == (429, "RATE_LIMITED")
    assert order(public, new_sku, 1).status_code == 201
    gone = order(public, new_sku, 1)
    assert (gone.status_code, gone.json()["code"]) == (409, "FLASH_SALE_SOLD_OUT")
    quoted = public.post("/v1/quotes", {"sku": new_sku, "quantity": 1})
    assert (quoted.status_code, quoted.json()["code"]) == (409, "FLASH_SALE_SOLD_OUT")
    assert sold(operator, sale) == 3
    later = (datetime.now(UTC) + timedelta(minutes=16)).strftime("%Y-%m-%dT%H:%M:%SZ")
    run_schedule(stack, "SweeperFunction", later)
    assert sold(operator, sale) == 0, "expired orders gave their units back"
    again = order(public, new_sku, 2, email=email)
    assert again.status_code == 201, "the buyer's units came back too"
    assert again.json()["amount"] == 200


def test_a_flash_sale_is_of_one_sku_with_a_price_and_a_quantity(operator: Api) -> None:
    base = {"kind": "flash_sale", "starts_at": at(timedelta(0)), "ends_at": at(timedelta(hours=1))}
    for body, why in (
        ({**base, "skus": ["A", "B"], "price": 1, "quantity": 1}, "one SKU"),
        ({**base, "price": 1, "quantity": 1}, "one SKU"),
        ({**base, "skus": ["A"], "quantity": 1}, "needs both"),
        ({**base, "skus": ["A"], "price": 1, "quantity": 0}, "greater than or equal to 1"),
    ):
        answer = operator.post("/v1/admin/promotions", body)
        assert answer.status_code == 422, answer.text
        assert why in answer.text


def test_a_repeat_of_the_order_that_took_the_last_units_is_that_order(operator: Api, public: Api, new_sku: str) -> None:
    stocked_product(operator, new_sku, new_codes(3), price=1000)
    flash_sale(operator, new_sku, 1)
    key = f"flash-repeat-{secrets.token_hex(6)}"
    email = f"repeat-{secrets.token_hex(4)}@example.com"
    first = order(public, new_sku, 1, email=email, Idempotency_Key=key)
    assert (first.status_code, first.json()["amount"]) == (201, 100)
    again = order(public, new_sku, 1, email=email, Idempotency_Key=key)
    assert (again.status_code, again.json()["order_id"]) == (200, first.json()["order_id"])
    other = order(public, new_sku, 1)
    assert (other.status_code, other.json()["code"]) == (409, "FLASH_SALE_SOLD_OUT")
