"""Bundles (折扣套餐, CONTRACT §8): a product with `components` and its own price. Ordering it
reserves every component's stock in one transaction (all or nothing), delivers each
component's cards, and its `available` is the least whole number of bundles the components
allow. Each test tries to break promises 1-3 across the components: concurrency, expiry,
refunds, a component running short."""

from __future__ import annotations

import secrets
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.integration.conftest import Api, aws, wait_for_batch
from tests.integration.shop import balanced, new_codes, order, pay, run_schedule, stock, stocked_product, wait_for
from tests.integration.test_ingestion import find_batch


def parts(operator: Api, cards: dict[str, int]) -> dict[str, list[str]]:
    """Fresh card products with that many cards each: {sku: codes}."""
    made = {}
    for name, count in cards.items():
        sku = f"{name}-{secrets.token_hex(4)}"
        codes = new_codes(count, prefix=name)
        stocked_product(operator, sku, codes, price=1000, max_per_order=10)
        made[sku] = codes
    return made


def bundle(operator: Api, components: dict[str, int], price: int = 1500, **more: Any) -> dict[str, Any]:
    sku = f"SET-{secrets.token_hex(4)}"
    body = {
        "sku": sku,
        "name": f"Set {sku}",
        "price": price,
        "components": [{"sku": s, "quantity": n} for s, n in components.items()],
        **more,
    }
    made = operator.post("/v1/admin/products", body)
    assert made.status_code == 201, made.text
    product: dict[str, Any] = made.json()
    return product


def later(minutes: int) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_bundle_delivers_each_components_cards_and_counts_whole_bundles(
    stack: dict[str, Any], operator: Api, public: Api
) -> None:
    made = parts(operator, {"A": 5, "B": 7})
    a, b = made
    product = bundle(operator, {a: 1, b: 2}, price=2500)
    assert product["components"] == [{"sku": a, "quantity": 1}, {"sku": b, "quantity": 2}]
    shown = public.get(f"/v1/products/{product['sku']}").json()
    assert (shown["available"], shown["price"], shown["stock_status"]) == (
        3,
        2500,
        "low",
    )  # min(5, 7 // 2), threshold 10
    listed = {p["sku"]: p for p in public.get("/v1/products").json()["items"]}
    assert listed[product["sku"]]["available"] == 3

    placed = order(public, product["sku"], 2).json()
    assert (placed["amount"], placed["quantity"], placed["status"]) == (5000, 2, "pending_payment")
    assert (stock(operator, a)["reserved"], stock(operator, b)["reserved"]) == (2, 4)
    assert public.get(f"/v1/products/{product['sku']}").json()["available"] == 1  # A 3, B 3 // 2
    assert pay(stack, placed).status_code == 200
    seen = wait_for(public, placed)
    by_sku = Counter(card["sku"] for card in seen["cards"])
    assert by_sku == {a: 2, b: 4}
    for sku, codes in made.items():
        assert {c["code"] for c in seen["cards"] if c["sku"] == sku} <= set(codes)
        level = stock(operator, sku)
        assert balanced(level), level
    assert (stock(operator, a)["sold"], stock(operator, b)["sold"]) == (2, 4)
    assert product["sku"] not in {i["sku"] for i in operator.get("/v1/admin/stock").json()["items"]}


def test_a_bundle_is_all_or_nothing_also_under_concurrency(operator: Api, public: Api) -> None:
    a, b = parts(operator, {"A": 3, "B": 40})
    product = bundle(operator, {a: 1, b: 2})
    short = order(public, product["sku"], 4)
    assert (short.status_code, short.json()["code"]) == (409, "OUT_OF_STOCK")
    assert stock(operator, b)["reserved"] == 0, "nothing of B is reserved when A is short"
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda _: order(public, product["sku"], 1), range(10)))
    outcomes = Counter((r.status_code, r.json().get("code")) for r in answers)
    assert outcomes == {(201, None): 3, (409, "OUT_OF_STOCK"): 7}, outcomes
    level_a, level_b = stock(operator, a), stock(operator, b)
    assert (level_a["reserved"], level_b["reserved"]) == (3, 6)
    assert balanced(level_a)
    assert balanced(level_b)
    assert public.get(f"/v1/products/{product['sku']}").json()["stock_status"] == "out_of_stock"


def test_expiry_and_refund_give_back_every_components_stock(stack: dict[str, Any], operator: Api, public: Api) -> None:
    a, b = parts(operator, {"A": 4, "B": 4})
    product = bundle(operator, {a: 1, b: 1})
    unpaid = order(public, product["sku"], 2).json()
    paid = order(public, product["sku"], 1).json()
    assert pay(stack, paid).status_code == 200
    wait_for(public, paid)
    run_schedule(stack, "SweeperFunction", later(16))
    assert wait_for(public, unpaid, "expired")["status"] == "expired"
    for sku in (a, b):
        level = stock(operator, sku)
        assert (level["reserved"], level["sold"], level["available"]) == (0, 1, 3), level
    refunded = operator.post(f"/v1/admin/orders/{paid['order_id']}/refund", {"reason": "bundle test"})
    assert refunded.status_code == 200, refunded.text
    for sku in (a, b):
        level = stock(operator, sku)
        assert (level["sold"], level["void"], balanced(level)) == (0, 1, True), level


def test_bundles_are_checked_when_made_and_take_no_cards_of_their_own(operator: Api) -> None:
    (a,) = parts(operator, {"A": 1})
    inner = bundle(operator, {a: 2})
    assert inner["max_per_order"] == 10, "two cards a bundle: the default 10 fits 64 cards"
    big = bundle(operator, {a: 20})
    assert big["max_per_order"] == 3, "the default is lowered to what one order's delivery holds"

    def refused(components: list[dict[str, Any]], **more: Any) -> list[str]:
        body = {"sku": f"SET-{secrets.token_hex(4)}", "name": "x", "price": 100, "components": components, **more}
        answer = operator.post("/v1/admin/products", body)
        assert (answer.status_code, answer.json()["code"]) == (422, "VALIDATION_ERROR"), answer.text
        return [e["field"] for e in answer.json()["errors"]]

    assert refused([{"sku": "NO-SUCH-SKU", "quantity": 1}]) == ["components.0.sku"]
    assert refused([{"sku": a}, {"sku": inner["sku"]}]) == ["components.1.sku"]  # a bundle in a bundle
    assert refused([{"sku": a, "quantity": 20}], max_per_order=4) == ["max_per_order"]
    assert refused([{"sku": a}, {"sku": a}])  # the same component twice
    assert refused([])
    changed = operator.put(f"/v1/admin/products/{big['sku']}", {"components": [{"sku": a, "quantity": 1}]})
    assert (changed.status_code, changed.json()["code"]) == (422, "VALIDATION_ERROR"), "set at creation only"
    too_many = operator.put(f"/v1/admin/products/{big['sku']}", {"max_per_order": 4})
    assert (too_many.status_code, too_many.json()["code"]) == (422, "VALIDATION_ERROR")
    upload = operator.post("/v1/admin/batches", {"sku": inner["sku"], "filename": "x.txt"})
    assert (upload.status_code, upload.json()["code"]) == (422, "VALIDATION_ERROR"), upload.text


def test_a_file_dropped_under_a_bundles_sku_is_rejected(stack: dict[str, Any], operator: Api) -> None:
    (a,) = parts(operator, {"A": 1})
    inner = bundle(operator, {a: 1})
    key = f"incoming/{inner['sku']}/cards.txt"
    aws(stack, "s3").put_object(
        Bucket=stack["resources"]["CardsBucket"], Key=key, Body="\n".join(new_codes(3)).encode()
    )
    batch = wait_for_batch(operator, find_batch(stack, key))
    assert (batch["status"], batch["imported"]) == ("failed", 0), batch
    assert "is a bundle" in batch["error"]
