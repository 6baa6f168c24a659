"""Prices (CONTRACT §8): wholesale tiers on products, `POST /v1/quotes`, and an order's amount
equal to its quote, with its subtotal and discounts."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.conftest import Api
from tests.integration.shop import new_codes, order, read, stock, stocked_product

TIERS = [{"min_quantity": 10, "price": 4500}, {"min_quantity": 5, "price": 4800}]


@pytest.fixture
def tiered(operator: Api, new_sku: str) -> str:
    stocked_product(operator, new_sku, new_codes(12), price=5000, max_per_order=20)
    changed = operator.put(f"/v1/admin/products/{new_sku}", {"price_tiers": TIERS})
    assert changed.status_code == 200, changed.text
    return new_sku


def quote(public: Api, sku: str, quantity: int, **more: Any) -> Any:
    return public.post("/v1/quotes", {"sku": sku, "quantity": quantity, **more})


def test_a_products_tiers_are_shown_sorted_and_can_be_replaced(operator: Api, public: Api, tiered: str) -> None:
    shown = public.get(f"/v1/products/{tiered}").json()
    assert shown["price_tiers"] == sorted(TIERS, key=lambda t: t["min_quantity"])
    cleared = operator.put(f"/v1/admin/products/{tiered}", {"price_tiers": []})
    assert cleared.status_code == 200
    assert public.get(f"/v1/products/{tiered}").json()["price_tiers"] == []
    assert cleared.json()["price"] == 5000, "replacing the tiers leaves the price"


@pytest.mark.parametrize(
    ("tiers", "why"),
    [
        ([{"min_quantity": 5, "price": 100}, {"min_quantity": 5, "price": 90}], "once"),
        ([{"min_quantity": 1, "price": 100}], "greater than or equal to 2"),
        ([{"min_quantity": 5, "price": -1}], "greater than or equal to 0"),
        ([{"min_quantity": 5, "price": 100, "extra": 1}], "Extra inputs"),
        ([{"min_quantity": n, "price": 100} for n in range(2, 13)], "at most 10"),
    ],
)
def test_bad_tiers_are_422_and_change_nothing(
    operator: Api, public: Api, tiered: str, tiers: list[dict[str, Any]], why: str
) -> None:
    r = operator.put(f"/v1/admin/products/{tiered}", {"price_tiers": tiers})
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "VALIDATION_ERROR"
    assert why in r.text
    assert public.get(f"/v1/products/{tiered}").json()["price_tiers"] == sorted(TIERS, key=lambda t: t["min_quantity"])


def test_a_quote_takes_the_best_tier_the_quantity_reaches_and_reserves_nothing(
    operator: Api, public: Api, tiered: str
) -> None:
    before = stock(operator, tiered)
    below = quote(public, tiered, 4)
    assert below.status_code == 200, below.text
    assert below.json() == {
        "sku": tiered,
        "quantity": 4,
        "unit_price": 5000,
        "subtotal": 20_000,
        "discounts": [],
        "amount": 20_000,
        "currency": "CNY",
    }
    at_ten = quote(public, tiered, 12).json()
    assert (at_ten["unit_price"], at_ten["subtotal"], at_ten["amount"]) == (4500, 60_000, 54_000)
    assert at_ten["discounts"] == [{"kind": "tier", "id": "min_quantity_10", "amount": 6000}]
    assert quote(public, tiered, 7).json()["unit_price"] == 4800
    assert stock(operator, tiered) == before


def test_quote_errors(operator: Api, public: Api, tiered: str) -> None:
    unknown = quote(public, "NO-SUCH-SKU", 1)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "UNKNOWN_SKU")
    too_many = quote(public, tiered, 21)
    assert (too_many.status_code, too_many.json()["code"]) == (422, "VALIDATION_ERROR")
    assert "at most 20" in too_many.text
    zero = quote(public, tiered, 0)
    assert zero.status_code == 422
    coupon = quote(public, tiered, 1, coupon="NOPE")
    assert coupon.status_code == 422
    assert (coupon.json()["code"], coupon.json()["reason"]) == ("COUPON_INVALID", "unknown")
    assert operator.put(f"/v1/admin/products/{tiered}", {"status": "inactive"}).status_code == 200
    inactive = quote(public, tiered, 1)
    assert (inactive.status_code, inactive.json()["code"]) == (404, "UNKNOWN_SKU")


def test_an_orders_amount_is_its_quote_with_subtotal_and_discounts(public: Api, tiered: str) -> None:
    quoted = quote(public, tiered, 10).json()
    placed = order(public, tiered, 10)
    assert placed.status_code == 201, placed.text
    body = placed.json()
    assert body["amount"] == quoted["amount"] == 45_000
    assert body["subtotal"] == quoted["subtotal"] == 50_000
    assert body["discounts"] == quoted["discounts"] == [{"kind": "tier", "id": "min_quantity_10", "amount": 5000}]
    assert body["subtotal"] - sum(d["amount"] for d in body["discounts"]) == body["amount"]
    shown = read(public, body).json()
    assert (shown["subtotal"], shown["discounts"]) == (body["subtotal"], body["discounts"])


def test_an_order_without_tiers_has_its_subtotal_and_no_discounts(operator: Api, public: Api, new_sku: str) -> None:
    stocked_product(operator, new_sku, new_codes(2), price=990)
    body = order(public, new_sku, 2).json()
    assert (body["amount"], body["subtotal"], body["discounts"]) == (1980, 1980, [])


def test_the_demo_has_the_coupon_demo10_and_a_running_full_reduction(public: Api) -> None:
    # CONTRACT §15: two ¥98 gift cards reach the demo's 满 196 减 10, then DEMO10 takes 10 %.
    q = quote(public, "GIFT-CNY-100", 2, coupon="demo10").json()
    assert [(d["kind"], d["amount"]) for d in q["discounts"]] == [("full_reduction", 1000), ("coupon", 1860)]
    assert q["amount"] == 19_600 - 1000 - 1860
    assert "满 196 减 10 / ¥10 off ¥196" in {p["name"] for p in public.get("/v1/promotions").json()["items"]}
