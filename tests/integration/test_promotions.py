"""Promotions (CONTRACT §8): full reductions (满减) running in a window, per SKU or shop-wide,
applied by the one pricing function to quotes and orders alike; operators manage them.

Every promotion here is scoped to the test's own SKU, or (shop-wide) needs a spend no other
test's order reaches, and is disabled afterwards: the session's other orders keep their prices."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration.conftest import Api
from tests.integration.shop import new_codes, order, stocked_product


def at(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def reduction(operator: Api, skus: list[str] | None, tiers: list[dict[str, int]], **more: Any) -> dict[str, Any]:
    body = {
        "kind": "full_reduction",
        "name": "满减",
        "starts_at": at(timedelta(minutes=-1)),
        "ends_at": at(timedelta(hours=1)),
        "tiers": tiers,
        **more,
    }
    if skus is not None:
        body["skus"] = skus
    made = operator.post("/v1/admin/promotions", body)
    assert made.status_code == 201, made.text
    promotion: dict[str, Any] = made.json()
    return promotion


@pytest.fixture
def product(operator: Api, new_sku: str) -> str:
    stocked_product(operator, new_sku, new_codes(10), price=5000, max_per_order=10)
    return new_sku


def quote(public: Api, sku: str, quantity: int, **more: Any) -> dict[str, Any]:
    answer = public.post("/v1/quotes", {"sku": sku, "quantity": quantity, **more})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_a_running_reduction_applies_its_best_tier_to_quotes_and_orders(
    operator: Api, public: Api, product: str
) -> None:
    promotion = reduction(operator, [product], [{"min_spend": 10_000, "off": 1500}, {"min_spend": 20_000, "off": 4000}])
    assert promotion["promotion_id"].startswith("prm_")
    assert promotion["tiers"] == [{"min_spend": 10_000, "off": 1500}, {"min_spend": 20_000, "off": 4000}]
    running = public.get("/v1/promotions").json()["items"]
    assert promotion["promotion_id"] in {p["promotion_id"] for p in running}
    assert quote(public, product, 1)["discounts"] == []  # 5,000 reaches no tier
    assert quote(public, product, 2)["discounts"] == [
        {"kind": "full_reduction", "id": promotion["promotion_id"], "amount": 1500}
    ]
    assert quote(public, product, 5)["amount"] == 25_000 - 4000
    placed = order(public, product, 4)
    assert placed.status_code == 201, placed.text
    assert (placed.json()["subtotal"], placed.json()["amount"]) == (20_000, 16_000)


def test_tier_then_reduction_then_coupon_each_on_what_the_step_before_left(
    operator: Api, public: Api, product: str
) -> None:
    assert operator.put(f"/v1/admin/products/{product}", {"price_tiers": [{"min_quantity": 4, "price": 4000}]}).ok
    promotion = reduction(operator, [product], [{"min_spend": 20_000, "off": 3000}])
    # 4 × 5,000 = 20,000 at list price, but the tier leaves 16,000: the reduction's 20,000 is not reached.
    assert [d["kind"] for d in quote(public, product, 4)["discounts"]] == ["tier"]
    # 5 at 4,000 = 20,000 reaches it: 17,000; a 10 % coupon then takes 1,700.
    code = f"P{secrets.token_hex(5).upper()}"
    assert operator.post("/v1/admin/coupons", {"code": code, "kind": "percent", "value": 10}).status_code == 201
    q = quote(public, product, 5, coupon=code)
    assert [(d["kind"], d["amount"]) for d in q["discounts"]] == [
        ("tier", 5000),
        ("full_reduction", 3000),
        ("coupon", 1700),
    ]
    assert (q["subtotal"], q["amount"]) == (25_000, 15_300)
    assert q["discounts"][1]["id"] == promotion["promotion_id"]


def test_the_best_of_two_running_reductions_applies_and_only_one(operator: Api, public: Api, product: str) -> None:
    small = reduction(operator, [product], [{"min_spend": 5000, "off": 500}])
    big = reduction(operator, [product], [{"min_spend": 5000, "off": 900}])
    q = quote(public, product, 1)
    assert q["discounts"] == [{"kind": "full_reduction", "id": big["promotion_id"], "amount": 900}]
    assert operator.put(f"/v1/admin/promotions/{big['promotion_id']}", {"status": "disabled"}).status_code == 200
    assert quote(public, product, 1)["discounts"][0]["id"] == small["promotion_id"]


def test_outside_its_window_or_scope_a_reduction_does_nothing(operator: Api, public: Api, product: str) -> None:
    later = reduction(
        operator,
        [product],
        [{"min_spend": 0, "off": 100}],
        starts_at=at(timedelta(hours=1)),
        ends_at=at(timedelta(hours=2)),
    )
    ended = reduction(
        operator,
        [product],
        [{"min_spend": 0, "off": 100}],
        starts_at=at(timedelta(hours=-2)),
        ends_at=at(timedelta(seconds=-1)),
    )
    elsewhere = reduction(operator, ["SOME-OTHER-SKU"], [{"min_spend": 0, "off": 100}])
    assert quote(public, product, 1)["discounts"] == []
    running = {p["promotion_id"] for p in public.get("/v1/promotions").json()["items"]}
    assert {later["promotion_id"], ended["promotion_id"]}.isdisjoint(running)
    assert elsewhere["promotion_id"] in running  # running, for its own SKUs


def test_a_shop_wide_reduction_applies_to_every_sku(operator: Api, public: Api, product: str, new_sku: str) -> None:
    other = f"{new_sku}-B"
    stocked_product(operator, other, new_codes(1), price=600_000_000, max_per_order=2)
    shop_wide = reduction(operator, None, [{"min_spend": 1_000_000_000, "off": 7}])  # no other test spends this
    try:
        assert shop_wide["skus"] is None
        assert quote(public, other, 2)["discounts"] == [
            {"kind": "full_reduction", "id": shop_wide["promotion_id"], "amount": 7}
        ]
        assert quote(public, product, 1)["discounts"] == []  # below its min_spend
    finally:
        operator.put(f"/v1/admin/promotions/{shop_wide['promotion_id']}", {"status": "disabled"})


def test_operators_manage_promotions(operator: Api, finance: Api, product: str) -> None:
    made = reduction(operator, [product], [{"min_spend": 100, "off": 10}])
    pid = made["promotion_id"]
    assert operator.get(f"/v1/admin/promotions/{pid}").json() == made
    changed = operator.put(f"/v1/admin/promotions/{pid}", {"tiers": [{"min_spend": 200, "off": 20}], "name": "新"})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["tiers"], changed.json()["name"]) == ([{"min_spend": 200, "off": 20}], "新")
    listed: list[str] = []
    cursor = None
    while True:
        page = operator.get("/v1/admin/promotions", params={"cursor": cursor} if cursor else None).json()
        listed += [p["promotion_id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert pid in listed
    assert len(listed) == len(set(listed))
    missing = operator.get("/v1/admin/promotions/prm_00000000000000000000")
    assert (missing.status_code, missing.json()["code"]) == (404, "UNKNOWN_PROMOTION")
    assert finance.get("/v1/admin/promotions").status_code == 403
    bad = operator.put(f"/v1/admin/promotions/{pid}", {"ends_at": "2020-01-01T00:00:00Z"})
    assert bad.status_code == 422


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"tiers": []}, "at least 1"),
        ({"tiers": [{"min_spend": 100, "off": 1}, {"min_spend": 100, "off": 2}]}, "once"),
        ({"tiers": [{"min_spend": 100, "off": 0}]}, "greater than or equal to 1"),
        ({"ends_at": "2020-01-01T00:00:00Z"}, "after starts_at"),
        ({"kind": "group_buy"}, "not available yet"),
        ({"kind": "bogus"}, "kind"),
    ],
)
def test_bad_promotions_are_422(operator: Api, change: dict[str, Any], why: str) -> None:
    body = {
        "kind": "full_reduction",
        "starts_at": at(timedelta(0)),
        "ends_at": at(timedelta(hours=1)),
        "tiers": [{"min_spend": 100, "off": 10}],
        "skus": ["X"],
        **change,
    }
    answer = operator.post("/v1/admin/promotions", body)
    assert answer.status_code == 422, answer.text
    assert why in answer.text
