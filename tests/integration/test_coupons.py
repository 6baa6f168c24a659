"""Coupons (CONTRACT §8): operators issue them; a use is held by an unpaid order, given back
when it expires, kept once it is delivered; exactly once under concurrency."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration.conftest import Api
from tests.integration.shop import balanced, new_codes, order, pay, run_schedule, stock, stocked_product, wait_for


def later(minutes: int) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def new_code() -> str:
    return f"T{secrets.token_hex(6).upper()}"


def issue(operator: Api, **terms: Any) -> dict[str, Any]:
    body = {"code": new_code(), "kind": "fixed", "value": 100, **terms}
    made = operator.post("/v1/admin/coupons", body)
    assert made.status_code == 201, made.text
    coupon: dict[str, Any] = made.json()
    return coupon


def uses(operator: Api, coupon: dict[str, Any]) -> tuple[int, int]:
    got = operator.get(f"/v1/admin/coupons/{coupon['coupon_id']}").json()
    return got["used"], got["held"]


def refusal(answer: Any) -> tuple[int, str, str]:
    body = answer.json()
    return answer.status_code, body.get("code"), body.get("reason")


@pytest.fixture
def product(operator: Api, new_sku: str) -> str:
    stocked_product(operator, new_sku, new_codes(20), price=1000, max_per_order=5)
    return new_sku


def test_operators_issue_read_change_and_disable_a_coupon(operator: Api, finance: Api) -> None:
    code = new_code()
    made = operator.post("/v1/admin/coupons", {"code": code, "kind": "percent", "value": 15, "min_spend": 500})
    assert made.status_code == 201, made.text
    coupon = made.json()
    assert coupon["coupon_id"].startswith("cpn_")
    assert (coupon["code"], coupon["kind"], coupon["value"], coupon["min_spend"]) == (code, "percent", 15, 500)
    assert (coupon["status"], coupon["used"], coupon["held"], coupon["max_uses"]) == ("active", 0, 0, None)
    again = operator.post("/v1/admin/coupons", {"code": code.lower(), "kind": "fixed", "value": 1})
    assert (again.status_code, again.json()["code"]) == (409, "COUPON_EXISTS")  # codes ignore case
    changed = operator.put(f"/v1/admin/coupons/{coupon['coupon_id']}", {"value": 20, "max_uses": 3})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["value"], changed.json()["max_uses"]) == (20, 3)
    disabled = operator.put(f"/v1/admin/coupons/{coupon['coupon_id']}", {"status": "disabled"})
    assert disabled.json()["status"] == "disabled"
    assert operator.get(f"/v1/admin/coupons/{coupon['coupon_id']}").json()["status"] == "disabled"
    missing = operator.get("/v1/admin/coupons/cpn_00000000000000000000")
    assert (missing.status_code, missing.json()["code"]) == (404, "UNKNOWN_COUPON")
    assert operator.get("/v1/admin/coupons/not-an-id").json()["code"] == "UNKNOWN_COUPON"
    forbidden = finance.post("/v1/admin/coupons", {"code": new_code(), "kind": "fixed", "value": 1})
    assert forbidden.status_code == 403


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"kind": "percent", "value": 101}, "1 to 100"),
        ({"kind": "percent", "value": 0}, "1 to 100"),
        ({"kind": "fixed", "value": 0}, "at least 1"),
        ({"kind": "bogus", "value": 5}, "kind"),
        ({"kind": "fixed", "value": 5, "code": "a b"}, "code"),
        ({"kind": "fixed", "value": 5, "count": 3, "code": "ABCDEF"}, "not both"),
        ({"kind": "fixed", "value": 5, "count": 3, "max_uses": 2}, "single-use"),
        ({"kind": "fixed", "value": 5, "count": 501}, "count"),
        (
            {"kind": "fixed", "value": 5, "starts_at": "2026-12-02T00:00:00Z", "ends_at": "2026-12-01T00:00:00Z"},
            "after starts_at",
        ),
        ({"kind": "fixed", "value": 5, "starts_at": "2026-12-02T00:00:00"}, "timezone"),
    ],
)
def test_bad_coupons_are_422(operator: Api, body: dict[str, Any], why: str) -> None:
    answer = operator.post("/v1/admin/coupons", body)
    assert answer.status_code == 422, answer.text
    assert why in answer.text


def test_a_batch_of_single_use_codes_and_the_list_pages(operator: Api) -> None:
    made = operator.post("/v1/admin/coupons", {"kind": "fixed", "value": 50, "count": 5})
    assert made.status_code == 201, made.text
    items = made.json()["items"]
    assert len(items) == 5
    assert len({c["code"] for c in items}) == 5
    assert {c["max_uses"] for c in items} == {1}
    assert len({c["batch_id"] for c in items}) == 1
    assert all(len(c["code"]) == 12 and c["code"].isalnum() for c in items)
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page = operator.get("/v1/admin/coupons", params={"cursor": cursor} if cursor else None).json()
        seen += [c["coupon_id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert {c["coupon_id"] for c in items} <= set(seen)
    assert len(seen) == len(set(seen)), "no coupon twice across pages"
    bad = operator.get("/v1/admin/coupons", params={"cursor": "nope"})
    assert bad.status_code == 422


def test_a_quote_says_why_a_coupon_cannot_be_used(operator: Api, public: Api, product: str) -> None:
    now = datetime.now(UTC)

    def quoted(code: str, quantity: int = 1, email: str | None = None) -> tuple[int, str, str]:
        body: dict[str, Any] = {"sku": product, "quantity": quantity, "coupon": code}
        if email:
            body["email"] = email
        return refusal(public.post("/v1/quotes", body))

    assert quoted("NO-SUCH-CODE") == (422, "COUPON_INVALID", "unknown")
    off = issue(operator)
    operator.put(f"/v1/admin/coupons/{off['coupon_id']}", {"status": "disabled"})
    assert quoted(off["code"]) == (422, "COUPON_INVALID", "disabled")
    assert quoted(issue(operator, starts_at=rfc3339(now + timedelta(days=1)))["code"])[2] == "not_started"
    assert quoted(issue(operator, ends_at=rfc3339(now - timedelta(seconds=1)))["code"])[2] == "expired"
    assert quoted(issue(operator, min_spend=1500)["code"])[2] == "min_spend"
    assert quoted(issue(operator, skus=["OTHER-SKU"])["code"])[2] == "sku_scope"
    ok = issue(operator, kind="percent", value=10, min_spend=1500)
    answer = public.post("/v1/quotes", {"sku": product, "quantity": 2, "coupon": ok["code"].lower()})
    assert answer.status_code == 200, answer.text
    assert answer.json()["discounts"] == [{"kind": "coupon", "id": ok["coupon_id"], "amount": 200}]
    assert answer.json()["amount"] == 1800


def test_ten_concurrent_orders_on_a_single_use_coupon_exactly_one_gets_it(
    operator: Api, public: Api, product: str
) -> None:
    coupon = issue(operator, max_uses=1)
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda _: order(public, product, 1, coupon=coupon["code"]), range(10)))
    created = [a.json() for a in answers if a.status_code == 201]
    assert len(created) == 1, [a.text for a in answers]
    assert [refusal(a) for a in answers if a.status_code != 201] == [(422, "COUPON_INVALID", "used_up")] * 9
    assert created[0]["amount"] == 900
    assert created[0]["discounts"] == [{"kind": "coupon", "id": coupon["coupon_id"], "amount": 100}]
    assert uses(operator, coupon) == (0, 1)
    level = stock(operator, product)
    assert (level["reserved"], balanced(level)) == (1, True), "a refused order reserves nothing"
    assert refusal(public.post("/v1/quotes", {"sku": product, "quantity": 1, "coupon": coupon["code"]}))[2] == "used_up"


def test_one_buyer_however_spelled_gets_max_uses_per_email_under_concurrency(
    operator: Api, public: Api, product: str
) -> None:
    coupon = issue(operator, max_uses_per_email=1)
    spellings = ["j.doe+a@gmail.com", "JDoe@gmail.com", "jdoe+b@googlemail.com", "j.d.o.e@gmail.com"]
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda e: order(public, product, 1, email=e, coupon=coupon["code"]), spellings))
    assert sorted(a.status_code for a in answers) == [201, 422, 422, 422], [a.text for a in answers]
    assert {refusal(a)[2] for a in answers if a.status_code == 422} == {"per_buyer_limit"}
    quoted = public.post(
        "/v1/quotes", {"sku": product, "quantity": 1, "coupon": coupon["code"], "email": "JDOE@gmail.com"}
    )
    assert refusal(quoted)[2] == "per_buyer_limit"
    assert order(public, product, 1, email="someone-else@example.com", coupon=coupon["code"]).status_code == 201


def test_an_expired_order_gives_its_use_back_and_a_delivered_one_keeps_it(
    stack: dict[str, Any], operator: Api, public: Api, product: str
) -> None:
    coupon = issue(operator, max_uses=1, max_uses_per_email=1)
    email = f"coupon-{secrets.token_hex(4)}@example.com"
    first = order(public, product, 1, email=email, coupon=coupon["code"])
    assert first.status_code == 201, first.text
    assert uses(operator, coupon) == (0, 1)
    run_schedule(stack, "SweeperFunction", later(16))
    assert uses(operator, coupon) == (0, 0), "the expired order gave its use back"
    second = order(public, product, 1, email=email, coupon=coupon["code"])
    assert second.status_code == 201, "the buyer's use came back too"
    placed = second.json()
    assert pay(stack, placed).status_code == 200
    wait_for(public, placed)
    assert uses(operator, coupon) == (1, 0)
    run_schedule(stack, "SweeperFunction", later(16))  # nothing pending: nothing changes
    assert uses(operator, coupon) == (1, 0)
    third = order(public, product, 1, coupon=coupon["code"])
    assert refusal(third) == (422, "COUPON_INVALID", "used_up")


def test_a_refund_keeps_the_use_and_the_export_and_order_show_the_discount(
    stack: dict[str, Any], operator: Api, public: Api, product: str
) -> None:
    coupon = issue(operator, kind="percent", value=100)
    placed = order(public, product, 2, coupon=coupon["code"]).json()
    assert (placed["subtotal"], placed["amount"]) == (2000, 1), "a 100 % coupon still charges one minor unit"
    assert pay(stack, placed).status_code == 200
    wait_for(public, placed)
    refunded = operator.post(f"/v1/admin/orders/{placed['order_id']}/refund", {"reason": "test"})
    assert refunded.status_code == 200, refunded.text
    assert uses(operator, coupon) == (1, 0)
    detail = operator.get(f"/v1/admin/orders/{placed['order_id']}").json()
    assert detail["discounts"] == [{"kind": "coupon", "id": coupon["coupon_id"], "amount": 1999}]


def test_a_repeat_of_the_order_that_took_the_last_use_is_that_order(operator: Api, public: Api, product: str) -> None:
    coupon = issue(operator, max_uses=1)
    key = f"coupon-repeat-{secrets.token_hex(6)}"
    email = f"repeat-{secrets.token_hex(4)}@example.com"
    first = order(public, product, 1, email=email, coupon=coupon["code"], Idempotency_Key=key)
    assert first.status_code == 201, first.text
    again = order(public, product, 1, email=email, coupon=coupon["code"], Idempotency_Key=key)
    assert again.status_code == 200, again.text
    assert again.json()["order_id"] == first.json()["order_id"]
    assert uses(operator, coupon) == (0, 1)
    operator.put(f"/v1/admin/coupons/{coupon['coupon_id']}", {"status": "disabled"})
    still = order(public, product, 1, email=email, coupon=coupon["code"], Idempotency_Key=key)
    assert (still.status_code, still.json()["order_id"]) == (200, first.json()["order_id"])
