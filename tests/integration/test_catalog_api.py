"""The catalog as shoppers and operators use it (CONTRACT §1 products, §4 products)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.integration.conftest import Api

PRODUCT_FIELDS = {"sku", "name", "description", "price", "currency", "available", "stock_status", "max_per_order"}


def product(sku: str, **change: Any) -> dict[str, Any]:
    return {
        "sku": sku,
        "name": "测试卡 Test card",
        "description": "for tests",
        "price": 1990,
        "currency": "CNY",
        "max_per_order": 4,
        "alert_threshold": 2,
        "status": "active",
        **change,
    }


def test_demo_catalog_is_served(public: Api) -> None:
    r = public.get("/v1/products")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"items", "next_cursor"}
    demo = {p["sku"]: p for p in body["items"] if p["sku"] in ("GIFT-CNY-100", "GAME-POINTS-60", "VIP-MONTH")}
    assert len(demo) == 3
    # Demo stock went through the operators' own upload path (40 cards each).
    assert all(p["available"] >= 1 for p in demo.values()), demo
    for p in body["items"]:
        assert set(p) >= PRODUCT_FIELDS
        assert isinstance(p["price"], int)


def test_operator_creates_and_shopper_sees_it(operator: Api, public: Api, new_sku: str) -> None:
    r = operator.post("/v1/admin/products", product(new_sku))
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["sku"] == new_sku
    assert created["status"] == "active"
    assert created["created_at"].endswith("Z")

    shown = public.get(f"/v1/products/{new_sku}").json()
    assert shown["price"] == 1990
    assert shown["currency"] == "CNY"
    assert shown["available"] == 0
    assert shown["stock_status"] == "out_of_stock"
    assert "alert_threshold" not in shown  # operators' settings stay private
    assert new_sku in {p["sku"] for p in public.get("/v1/products").json()["items"]}


def test_duplicate_sku_is_409_and_the_first_stays(operator: Api, public: Api, new_sku: str) -> None:
    assert operator.post("/v1/admin/products", product(new_sku)).status_code == 201
    r = operator.post("/v1/admin/products", product(new_sku, price=1))
    assert r.status_code == 409
    assert r.headers["Content-Type"] == "application/problem+json"
    assert r.json()["code"] == "SKU_EXISTS"
    assert public.get(f"/v1/products/{new_sku}").json()["price"] == 1990


def test_concurrent_creates_of_one_sku_have_one_winner(operator: Api, new_sku: str) -> None:
    with ThreadPoolExecutor(8) as pool:
        codes = list(
            pool.map(lambda n: operator.post("/v1/admin/products", product(new_sku, price=n)).status_code, range(8))
        )
    assert sorted(codes) == [201] + [409] * 7


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"price": -1}, "price"),
        ({"price": 19.9}, "price"),
        ({"currency": "XYZ"}, "currency"),
        ({"max_per_order": 0}, "max_per_order"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_product_is_422_with_the_field(
    operator: Api, public: Api, new_sku: str, change: dict[str, Any], field: str
) -> None:
    r = operator.post("/v1/admin/products", product(new_sku, **change))
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert field in {e["field"] for e in body["errors"]}
    assert public.get(f"/v1/products/{new_sku}").status_code == 404


def test_malformed_json_is_400(operator: Api) -> None:
    r = operator.request("POST", "/v1/admin/products", data='{"sku": ', headers={"Content-Type": "application/json"})
    assert (r.status_code, r.json()["code"]) == (400, "MALFORMED_JSON")


def test_update_changes_fields_and_inactive_hides_from_shoppers(operator: Api, public: Api, new_sku: str) -> None:
    operator.post("/v1/admin/products", product(new_sku))
    r = operator.put(f"/v1/admin/products/{new_sku}", {"price": 2500, "status": "inactive"})
    assert r.status_code == 200, r.text
    assert (r.json()["price"], r.json()["status"]) == (2500, "inactive")

    missing = public.get(f"/v1/products/{new_sku}")
    assert (missing.status_code, missing.json()["code"]) == (404, "UNKNOWN_SKU")
    assert new_sku not in {p["sku"] for p in public.get("/v1/products").json()["items"]}
    admin_view = {p["sku"]: p for p in operator.get("/v1/admin/products").json()["items"]}
    assert admin_view[new_sku]["status"] == "inactive"

    operator.put(f"/v1/admin/products/{new_sku}", {"status": "active"})
    assert public.get(f"/v1/products/{new_sku}").json()["price"] == 2500


def test_update_of_unknown_sku_is_404_and_sku_cannot_change(operator: Api, new_sku: str) -> None:
    r = operator.put(f"/v1/admin/products/{new_sku}", {"price": 1})
    assert (r.status_code, r.json()["code"]) == (404, "UNKNOWN_SKU")
    operator.post("/v1/admin/products", product(new_sku))
    r = operator.put(f"/v1/admin/products/{new_sku}", {"sku": "OTHER"})
    assert r.status_code == 422


def test_unknown_sku_is_404(public: Api) -> None:
    r = public.get("/v1/products/NO-SUCH-SKU")
    assert (r.status_code, r.json()["code"]) == (404, "UNKNOWN_SKU")
