"""The dashboard (CONTRACT §14, issue 16): counters kept from the orders table's stream by the
stream function as the local stack runs it, read by GET /v1/admin/dashboard.

Orders are made through the stack and then moved to a business day of their own (as the finance
tests do), so that the day holds exactly them: its answer must equal what was made, and its money
the daily finance export's for that day. The stream's own records of a few orders are also
applied again by the stream function's code in another process (dashboard_every_call), repeated,
reordered, concurrently and failing before or after each AWS call: nothing counts twice."""

from __future__ import annotations

import secrets
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from kayisu.store.orders import money_keys
from tests.integration.conftest import Api, aws
from tests.integration.partner import new_partner
from tests.integration.shop import new_codes, order, pay, run_schedule, stocked_product, wait_for
from tests.integration.test_admin_auth import forged
from tests.integration.test_reports import backdate, download, sections
from tests.support import run_as_function

SHANGHAI = ZoneInfo("Asia/Shanghai")
PRICE, COST = 990, 250
# Three units sold at 990 (two orders), 250 each to buy: what both the route and the replays must say.
PROFIT = {"currency": "CNY", "revenue": 2970, "cost": 750, "gross_profit": 2220, "margin": 0.7475}
PROFIT["uncosted_revenue"] = 0


def dashboard(api: Api, first: str, last: str | None = None) -> dict[str, Any]:
    answer = api.get("/v1/admin/dashboard", params={"from": first, "to": last or first})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def eventually(api: Api, first: str, last: str | None, ready: Any, timeout: float = 60) -> dict[str, Any]:
    """The dashboard once `ready(answer)` holds: the stream function counts within seconds."""
    deadline = time.monotonic() + timeout
    while True:
        answer = dashboard(api, first, last)
        if ready(answer):
            return answer
        if time.monotonic() > deadline:
            pytest.fail(f"the dashboard of {first}..{last} never got there; it says {answer}")
        time.sleep(0.5)


def local(day: date, clock: str) -> datetime:
    return datetime.fromisoformat(f"{day.isoformat()}T{clock}").replace(tzinfo=SHANGHAI)


def delivered(stack: dict[str, Any], public: Api, sku: str, quantity: int, email: str) -> dict[str, Any]:
    placed: dict[str, Any] = order(public, sku, quantity=quantity, email=email).json()
    assert pay(stack, placed).status_code == 200
    wait_for(public, placed)
    return placed


def costed_product(operator: Api, sku: str, codes: int) -> None:
    stocked_product(operator, sku, new_codes(codes, "DSH"), price=PRICE)
    assert operator.put(f"/v1/admin/products/{sku}", {"cost": COST}).json()["cost"] == COST


def test_a_days_answer_is_what_its_orders_made(
    stack: dict[str, Any], public: Api, operator: Api, finance: Api, new_sku: str
) -> None:
    day = date(2025, 5, 16)  # nobody else's
    costed_product(operator, new_sku, 5)
    tag = secrets.token_hex(4)
    a = delivered(stack, public, new_sku, 2, f"dash-{tag}@example.com")
    b = delivered(stack, public, new_sku, 1, f"Dash-{tag}+again@Example.com")  # the same buyer, spelled otherwise
    c = delivered(stack, public, new_sku, 1, f"other-{tag}@example.com")
    assert operator.post(f"/v1/admin/orders/{c['order_id']}/refund", {"reason": "dashboard test"}).status_code == 200
    d = order(public, new_sku, email=f"late-{tag}@example.com").json()
    in_16_minutes = (datetime.now(UTC) + timedelta(minutes=16)).strftime("%Y-%m-%dT%H:%M:%SZ")
    run_schedule(stack, "SweeperFunction", in_16_minutes)
    wait_for(public, d, status="expired")
    for placed, clock in ((a, "10:15:00"), (b, "10:40:00"), (c, "13:05:00"), (d, "13:30:00")):
        backdate(stack, placed, local(day, clock))

    seen = eventually(finance, day.isoformat(), None, lambda s: s["funnel"]["created"] == 4 and s["orders"]["expired"])
    assert seen["funnel"] == {"created": 4, "paid": 3, "delivered": 3}
    assert seen["orders"] == {"pending_payment": 0, "paid": 0, "delivered": 2, "expired": 1, "refunded": 1}
    assert seen["currency_totals"] == [
        {"currency": "CNY", "paid": 3960, "refunded": 990, "net": 2970, "payments": 3, "refunds": 1}
    ]
    assert seen["top_products"] == [
        {"sku": new_sku, "name": f"Test {new_sku}", "units": 3, "amount": 2970, "currency": "CNY", "orders": 2}
    ]
    assert seen["channels"] == [{"channel": "web", "orders": 2, "amount": 2970, "currency": "CNY"}]
    assert seen["payment_methods"] == [{"method": "sandbox", "orders": 2, "amount": 2970, "currency": "CNY"}]
    assert seen["buyers"] == {"total": 1, "repeat": 1, "repeat_rate": 1.0}  # the refunded buyer bought nothing
    assert seen["profit"] == [PROFIT]
    hours = {p["hour"]: (p["orders"], p["amount"]) for p in seen["series"] if p["orders"] or p["amount"]}
    assert hours == {10: (2, 2970), 13: (2, 990)}  # the refund is money out, not less paid
    assert [p["at"] for p in seen["series"] if p["hour"] == 10] == ["2025-05-16T02:00:00Z"]
    assert seen["tickets"] == {"open": 0, "overdue": 0}

    # The days around it: a daily series, the same totals; the orders left today's counters.
    around = dashboard(finance, (day - timedelta(days=1)).isoformat(), (day + timedelta(days=1)).isoformat())
    assert [(p["date"], p["orders"], p["amount"]) for p in around["series"]] == [
        ("2025-05-15", 0, 0),
        ("2025-05-16", 4, 3960),
        ("2025-05-17", 0, 0),
    ]
    assert around["currency_totals"] == seen["currency_totals"]
    today = datetime.now(UTC).astimezone(SHANGHAI).date().isoformat()
    assert all(p["sku"] != new_sku for p in dashboard(finance, today)["top_products"])


def refund_item(order_id: str, status: str, at: datetime) -> dict[str, Any]:
    """A refund as the money path records it (kayisu.store.orders.RefundItem), with its status."""
    refund_id = f"rf_{secrets.token_hex(6)}"
    index_pk, index_sk = money_keys(at.astimezone(UTC), refund_id)
    return {
        "pk": {"S": f"REFUND#sandbox#{refund_id}"},
        "sk": {"S": "REFUND"},
        "kind": {"S": "refund"},
        "provider": {"S": "sandbox"},
        "refund_id": {"S": refund_id},
        "order_id": {"S": order_id},
        "amount": {"N": str(PRICE)},
        "currency": {"S": "CNY"},
        "reason": {"S": "dashboard test"},
        "status": {"S": status},
        "at": {"S": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+0000")},
        "gsi1pk": {"S": index_pk},
        "gsi1sk": {"S": index_sk},
    }


def test_a_days_money_equals_the_daily_finance_exports(
    stack: dict[str, Any], public: Api, operator: Api, finance: Api, new_sku: str
) -> None:
    day = date(2025, 5, 17)  # nobody else's
    costed_product(operator, new_sku, 3)
    p1, p2, p3 = (delivered(stack, public, new_sku, 1, f"fin-{secrets.token_hex(3)}@example.com") for _ in range(3))
    assert pay(stack, p2).status_code == 200  # a second payment of it: money in, held for review
    assert operator.post(f"/v1/admin/orders/{p3['order_id']}/refund", {"reason": "dashboard test"}).status_code == 200
    for placed, clock in ((p1, "00:00:00"), (p2, "15:00:00"), (p3, "23:59:59")):
        backdate(stack, placed, local(day, clock))
    # A refund the provider reported failed (no money went back) and one it has not settled yet.
    ddb, table = aws(stack, "dynamodb"), stack["resources"]["OrdersTable"]
    for status in ("failed", "pending"):
        ddb.put_item(TableName=table, Item=refund_item(p1["order_id"], status, local(day, "20:00:00")))
    tomorrow = local(day + timedelta(days=1), "00:10:00").astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    run_schedule(stack, "DailyReport", tomorrow)
    totals = {r["currency"]: r for r in sections(download(finance, f"daily-{day}"))["total"] if r["provider"] == "all"}
    assert set(totals) == {"CNY"}
    export = totals["CNY"]
    assert (export["payments"], export["payment_amount"], export["refunds"], export["refund_amount"]) == (
        "4",
        "3960",
        "2",
        "1980",
    )

    def counted(answer: dict[str, Any]) -> bool:
        return [(t["payments"], t["refunds"]) for t in answer["currency_totals"]] == [(4, 2)]

    seen = eventually(finance, day.isoformat(), None, counted)
    (money,) = seen["currency_totals"]
    assert money == {
        "currency": "CNY",
        "paid": int(export["payment_amount"]),
        "refunded": int(export["refund_amount"]),
        "net": int(export["net_amount"]),
        "payments": int(export["payments"]),
        "refunds": int(export["refunds"]),
    }
    assert sum(p["amount"] for p in seen["series"]) == money["paid"]


def test_repeated_reordered_concurrent_and_crashing_stream_batches_count_nothing_twice(
    stack: dict[str, Any], tmp_path: Path
) -> None:
    scenarios = run_as_function("tests.integration.dashboard_every_call", stack, tmp_path, timeout=600)
    names = [s["scenario"] for s in scenarios]
    assert "in order" in names
    assert {"twice", "reordered", "concurrent", "fail before call 1", "fail after call 2 split"} <= set(names)
    assert len(names) == 4 + 3 * 2 * 2  # in order, twice, reordered, concurrent; 3 calls × before/after × split
    assert scenarios[0]["batches"] > 3, scenarios[0]  # several batches, so that their order matters
    for s in scenarios:
        where = s["scenario"]
        assert s["funnel"] == {"created": 4, "paid": 3, "delivered": 3}, where
        assert s["orders"] == {"delivered": 2, "refunded": 1, "expired": 1}, where
        assert s["currency_totals"] == [
            {"currency": "CNY", "paid": 3960, "refunded": 990, "net": 2970, "payments": 3, "refunds": 1}
        ], where
        ((top),) = s["top"]
        assert (top["units"], top["amount"], top["orders"]) == (3, 2970, 2), where
        assert s["buyers"] == {"total": 1, "repeat": 1, "repeat_rate": 1.0}, where
        assert s["profit"] == [PROFIT], where
        assert s["payment_methods"] == [{"method": "sandbox", "orders": 2, "amount": 2970, "currency": "CNY"}], where
    failures = Counter({s["scenario"]: s["failures"] for s in scenarios})
    assert failures["fail before call 1"] == failures["fail after call 2"] == scenarios[0]["batches"]
    assert failures["fail before call 3"] == 0  # past the last call: the control


def test_finance_reads_the_dashboard_and_shoppers_partners_and_other_groups_do_not(
    stack: dict[str, Any], public: Api, operator: Api, finance: Api
) -> None:
    params = {"from": "2025-05-01", "to": "2025-05-31"}
    assert finance.get("/v1/admin/dashboard", params=params).status_code == 200
    assert operator.get("/v1/admin/dashboard", params=params).status_code == 200
    assert public.get("/v1/admin/dashboard", params=params).status_code == 401  # a shopper has no token
    partner = new_partner(stack, operator, name="Dashboard partner")
    signed = public.get(
        "/v1/admin/dashboard",
        params=params,
        headers={"X-Kayisu-Partner": partner.partner_id, "X-Kayisu-Signature": "00", "X-Kayisu-Nonce": "n" * 16},
    )
    assert signed.status_code == 401
    for groups in ([], ["agents"]):
        other = Api(stack["api_url"], forged(stack, **{"cognito:groups": groups}))
        answer = other.get("/v1/admin/dashboard", params={"from": "garbage"})  # who comes before what
        assert (answer.status_code, answer.json()["code"]) == (403, "FORBIDDEN"), groups


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-11-25", "to": "2026-11-24"}, "from"),
        ({"from": "2025-01-01", "to": "2026-02-05"}, "to"),  # 401 days, both included
        ({"from": "2026-02-30", "to": "2026-03-01"}, "from"),
        ({"from": "24/11/2026", "to": "2026-11-24"}, "from"),
        ({"from": "2026-11-24"}, "to"),
        ({"to": "2026-11-24"}, "from"),
        ({"from": "2026-11-24T00:00:00Z", "to": "2026-11-24"}, "from"),
    ],
    ids=["reversed", "over-400-days", "no-such-day", "not-iso", "no-to", "no-from", "a-time"],
)
def test_bad_ranges_are_422(finance: Api, params: dict[str, str], field: str) -> None:
    answer = finance.get("/v1/admin/dashboard", params=params)
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert body["code"] == "VALIDATION_ERROR"
    assert [e["field"] for e in body["errors"]] == [field]


def test_400_days_both_included_is_fine(finance: Api) -> None:
    seen = dashboard(finance, "2025-01-01", "2026-02-04")
    assert len(seen["series"]) == 400


def test_cost_is_for_operators_only(public: Api, operator: Api, finance: Api, new_sku: str) -> None:
    costed_product(operator, new_sku, 1)
    assert "cost" not in public.get(f"/v1/products/{new_sku}").json()
    assert all("cost" not in p for p in public.get("/v1/products").json()["items"])
    placed = order(public, new_sku).json()
    assert "cost" not in placed
    assert "unit_cost" not in placed
    assert "cost" not in operator.get(f"/v1/admin/orders/{placed['order_id']}").text
    assert next(p for p in operator.get("/v1/admin/products").json()["items"] if p["sku"] == new_sku)["cost"] == COST
    assert finance.get("/v1/admin/products").status_code == 403
    assert operator.put(f"/v1/admin/products/{new_sku}", {"cost": -1}).status_code == 422
