"""Promise 7, least privilege: each function's IAM policy in template.yaml names exactly what its
code uses. A tour drives every function through its routes; the local stack records each AWS
call per function; then every call must be allowed by that function's policy (or it would fail
on AWS) and every grant must have been used (or it is more than the code needs)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from tests.integration.conftest import Api, aws, upload_batch, wait_for_batch
from tests.integration.iam import FUNCTIONS, denied, grants, polled_by_lambda, unused, used
from tests.integration.partner import Partner, bought_codes, new_partner
from tests.integration.receiver import Receiver, start_receiver
from tests.integration.shop import (
    drain,
    new_codes,
    order,
    outbox,
    paid_then_crashed,
    pay,
    refund_decided_then_crashed,
    run_schedule,
    stocked_product,
    wait_for,
)


def test_policies_name_only_our_resources_and_no_wildcards() -> None:
    for function in FUNCTIONS:
        grants(function)  # asserts inside


def test_queue_and_stream_triggered_functions_bring_their_own_role() -> None:
    # Else SAM attaches AWSLambdaSQSQueueExecutionRole (receive and delete on every queue) or
    # AWSLambdaDynamoDBExecutionRole (every stream).
    for function in FUNCTIONS:
        if polled_by_lambda(function):
            assert "Role" in FUNCTIONS[function]["Properties"], function
            assert denied(polled_by_lambda(function), grants(function)) == set(), function


def tour(stack: dict[str, Any], operator: Api, public: Api, sku: str) -> None:
    """Every route of every function, at least once, the way its users call it."""
    receiver = start_receiver()
    try:
        hook = webhooks_before(operator, receiver)
        shop_tour(stack, operator, public, sku)
        webhooks_after(stack, operator, receiver, hook)
    finally:
        receiver.stop()


def shop_tour(stack: dict[str, Any], operator: Api, public: Api, sku: str) -> None:
    assert operator.post("/v1/admin/products", {"sku": sku, "name": "tour", "price": 100}).status_code == 201
    assert operator.put(f"/v1/admin/products/{sku}", {"price": 200}).status_code == 200
    assert operator.get("/v1/admin/products").status_code == 200
    assert public.get("/v1/products").status_code == 200
    assert public.get(f"/v1/products/{sku}").status_code == 200
    batch = upload_batch(operator, sku, "tour.txt", f"{sku}-A\n{sku}-B\n" + "x" * 300 + "\n")
    assert (batch["imported"], batch["rejected"]) == (2, 1)
    assert operator.post(f"/v1/admin/batches/{batch['batch_id']}/void").json()["voided"] == 2
    assert operator.get("/v1/admin/stock").status_code == 200
    money_path(stack, operator, public, sku)
    stock_alerts(stack, operator, public, sku)
    finance_reports(stack, operator)
    partners(stack, operator, public, sku)
    dashboard(operator, f"{sku}-M")


def webhooks_before(operator: Api, receiver: Receiver) -> str:
    """An endpoint on a loopback receiver that fails each event's first attempt, subscribed to
    everything the rest of the tour makes happen (its events come from the tables' streams)."""
    events = ["order.paid", "order.delivered", "order.refunded", "stock.low", "redemption.created"]
    made = operator.post("/v1/admin/webhooks", {"url": receiver.url("once-tour"), "events": events})
    assert made.status_code == 201, made.text
    webhook_id = str(made.json()["webhook_id"])
    assert operator.put(f"/v1/admin/webhooks/{webhook_id}", {"description": "tour"}).status_code == 200
    assert operator.post(f"/v1/admin/webhooks/{webhook_id}/secret", {"grace_seconds": 600}).status_code == 200
    return webhook_id


def webhooks_after(stack: dict[str, Any], operator: Api, receiver: Receiver, webhook_id: str) -> None:
    """Deliveries failed once (operators alerted), retried by hand, delivered; the sweep runs."""
    path = f"/v1/admin/webhooks/{webhook_id}"
    deadline = time.monotonic() + 60
    while not (items := [d for d in operator.get(f"{path}/deliveries").json()["items"] if d["attempts"]]):
        assert time.monotonic() < deadline, "no webhook delivery was attempted"
        time.sleep(0.2)
    assert operator.post(f"{path}/deliveries/{items[0]['delivery_id']}/retry").status_code == 202
    while not [d for d in operator.get(f"{path}/deliveries").json()["items"] if d["status"] == "delivered"]:
        assert time.monotonic() < deadline, "no webhook delivery succeeded"
        time.sleep(0.2)
    assert receiver.at("once-tour")
    assert operator.get("/v1/admin/webhooks").status_code == 200
    assert operator.get(path).status_code == 200
    run_schedule(stack, "WebhookSweep")
    assert operator.request("DELETE", path).status_code == 204


def dashboard(operator: Api, sku: str) -> None:
    """The stream function has counted the money path's orders (it runs on its own, from the
    orders table's stream), and operators read the dashboard."""
    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()
    # The stream function works through the session's earlier modules' changes first (a busy
    # machine makes that minutes, not seconds): a bound on a poll, not a timing assertion.
    deadline = time.monotonic() + 180
    while True:
        answer = operator.get("/v1/admin/dashboard", params={"from": today, "to": today})
        assert answer.status_code == 200, answer.text
        if any(p["sku"] == sku for p in answer.json()["top_products"]):
            return
        assert time.monotonic() < deadline, "the dashboard never counted the tour's orders"
        time.sleep(0.5)


def partners(stack: dict[str, Any], operator: Api, public: Api, sku: str) -> None:
    """Operators issue, scope and rotate a partner; it verifies, redeems, retries, misses, and
    reads its redemption; generated codes are made and sold."""
    product = f"{sku}-P"
    (code,) = bought_codes(stack, public, operator, product, 1)
    partner = new_partner(stack, operator, [product])
    assert operator.get("/v1/admin/partners").status_code == 200
    assert operator.get(f"/v1/admin/partners/{partner.partner_id}").status_code == 200
    assert operator.put(f"/v1/admin/partners/{partner.partner_id}", {"skus": [product]}).status_code == 200
    rotated = operator.post(f"/v1/admin/partners/{partner.partner_id}/secret", {"grace_seconds": 60})
    partner = Partner(stack["api_url"], partner.partner_id, rotated.json()["secret"])
    assert partner.verify(code).status_code == 200
    made = partner.redeem(code, "tour-1").json()
    assert partner.redeem(code, "tour-1").status_code == 200
    assert partner.redeem("NOT-A-CODE").status_code == 404
    assert partner.send("GET", f"/v1/partner/redemptions/{made['redemption_id']}").status_code == 200
    generated = operator.post("/v1/admin/batches/generate", {"sku": product, "count": 3})
    assert wait_for_batch(operator, generated.json()["batch_id"])["imported"] == 3


def finance_reports(stack: dict[str, Any], operator: Api) -> None:
    """Today's exports (the money path's payments and refund are in them), listed and fetched."""
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    ran = run_schedule(stack, "ReportsFunction", tomorrow.strftime("%Y-%m-%dT%H:%M:%SZ"))
    report_id = ran["result"]["reports"][0]["report_id"]
    assert operator.get("/v1/admin/reports").status_code == 200
    report = operator.get(f"/v1/admin/reports/{report_id}").json()
    assert requests.get(report["download_url"], timeout=30).status_code == 200


def stock_alerts(stack: dict[str, Any], operator: Api, public: Api, sku: str) -> None:
    """A reservation crosses a threshold (the immediate path); a restock and the scheduled check."""
    product = f"{sku}-A"
    stocked_product(operator, product, new_codes(3))
    assert operator.put(f"/v1/admin/products/{product}", {"alert_threshold": 1}).status_code == 200
    order(public, product, quantity=2)
    deadline = time.monotonic() + 15
    while not [m for m in outbox(stack) if m["channel"] == "sns" and product in m["subject"]]:
        assert time.monotonic() < deadline, "no low-stock alert"
        time.sleep(0.2)
    # Big enough to outlast a one-second ingest slice: ingestion hands the rest on through its queue.
    upload_batch(operator, product, "restock.txt", "\n".join(new_codes(2000)))
    assert run_schedule(stack, "StockAlertFunction")["result"]["outcomes"][product] == "rearmed"


def money_path(stack: dict[str, Any], operator: Api, public: Api, sku: str) -> None:
    """Order, pay on the sandbox page, deliver, read; admin reads and refunds; the sweeper
    expires an order, re-requests a lost fulfilment and alerts on a dead letter; a late payment."""
    product = f"{sku}-M"
    stocked_product(operator, product, new_codes(5))
    coupon = coupons(operator, public, product)
    placed = order(public, product, quantity=1, coupon=coupon).json()
    assert requests.get(placed["payment"]["pay_url"], timeout=30).status_code == 200
    assert requests.post(placed["payment"]["pay_url"], data={"action": "pay"}, timeout=30).status_code == 200
    # The admin view opens the batch key first: each function must use its own grant.
    deadline = time.monotonic() + 30
    while operator.get(f"/v1/admin/orders/{placed['order_id']}").json()["status"] != "delivered":
        assert time.monotonic() < deadline, "not delivered"
        time.sleep(0.1)
    assert len(wait_for(public, placed)["cards"]) == 1
    assert operator.get("/v1/admin/orders").status_code == 200
    assert operator.get("/v1/admin/orders", params={"email": "tour@example.com"}).status_code == 200
    checked = operator.post(f"/v1/admin/orders/{placed['order_id']}/payment-check")
    assert checked.json()["provider_status"] == "unknown", checked.text  # the sandbox keeps no record
    assert operator.post(f"/v1/admin/orders/{placed['order_id']}/refund", {"reason": "tour"}).status_code == 200

    expiring = order(public, product, quantity=1, coupon=coupon).json()
    aws(stack, "sqs").send_message(QueueUrl=stack["resources"]["FulfilmentDLQ"], MessageBody="{}")
    in_16_minutes = (datetime.now(UTC) + timedelta(minutes=16)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert run_schedule(stack, "SweeperFunction", in_16_minutes)["result"]["expired"] >= 1
    drain(stack, "FulfilmentDLQ")
    assert pay(stack, expiring).status_code == 200  # late: taken from what is available
    wait_for(public, expiring)

    stuck = order(public, product, quantity=1, coupon=coupon).json()
    paid_then_crashed(stack, stuck)
    assert run_schedule(stack, "SweeperFunction")["result"]["requeued"] >= 1
    wait_for(public, stuck)

    # A refund whose function died after deciding it: the sweeper's re-request has fulfilment finish it.
    refund_decided_then_crashed(stack, stuck["order_id"])
    assert run_schedule(stack, "SweeperFunction")["result"]["requeued"] >= 1
    wait_for(public, stuck, status="refunded")


def coupons(operator: Api, public: Api, sku: str) -> str:
    """Operators issue, list, read and change a coupon and a promotion; a shopper sees the
    promotions and quotes with the coupon. The coupon's code."""
    code = f"TOUR{time.monotonic_ns()}"
    made = operator.post("/v1/admin/coupons", {"code": code, "kind": "percent", "value": 10, "max_uses_per_email": 50})
    assert made.status_code == 201, made.text
    coupon_id = made.json()["coupon_id"]
    assert operator.get("/v1/admin/coupons").status_code == 200
    assert operator.get(f"/v1/admin/coupons/{coupon_id}").status_code == 200
    assert operator.put(f"/v1/admin/coupons/{coupon_id}", {"min_spend": 0}).status_code == 200
    soon = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    began = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    reduction = {"kind": "full_reduction", "skus": [sku], "starts_at": began, "ends_at": soon}
    promotion = operator.post("/v1/admin/promotions", {**reduction, "tiers": [{"min_spend": 10_000, "off": 1}]})
    assert promotion.status_code == 201, promotion.text
    promotion_id = promotion.json()["promotion_id"]
    assert operator.get("/v1/admin/promotions").status_code == 200
    assert operator.get(f"/v1/admin/promotions/{promotion_id}").status_code == 200
    assert operator.put(f"/v1/admin/promotions/{promotion_id}", {"name": "tour"}).status_code == 200
    assert public.get("/v1/promotions").status_code == 200
    sale = {"kind": "flash_sale", "skus": [f"{sku}-F"], "starts_at": began, "ends_at": soon, "price": 50}
    flash = operator.post("/v1/admin/promotions", {**sale, "quantity": 5, "max_per_email": 2})
    assert flash.status_code == 201, flash.text
    assert operator.get(f"/v1/admin/promotions/{flash.json()['promotion_id']}").json()["sold"] == 0
    stocked_product(operator, f"{sku}-F", new_codes(1))
    assert public.post("/v1/quotes", {"sku": f"{sku}-F", "quantity": 1}).json()["unit_price"] == 50
    assert order(public, f"{sku}-F", quantity=1).status_code == 201
    quoted = public.post("/v1/quotes", {"sku": sku, "quantity": 1, "coupon": code.lower(), "email": "tour@example.com"})
    assert quoted.status_code == 200, quoted.text
    return code


@pytest.fixture(scope="module")
def calls(stack: dict[str, Any], operator: Api, public: Api) -> list[dict[str, Any]]:
    # Everything since the stack started: some calls happen once per container (loading a key).
    # One tour for all the functions' checks.
    tour(stack, operator, public, f"T-{time.monotonic_ns()}")
    items: list[dict[str, Any]] = public.get("/_local/calls").json()["items"]
    return items


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_each_function_uses_exactly_what_its_policy_grants(
    stack: dict[str, Any], calls: list[dict[str, Any]], function: str
) -> None:
    physical_to_logical = {str(v): k for k, v in stack["resources"].items()}
    granted = grants(function)
    made = used(calls, function, physical_to_logical) | polled_by_lambda(function)
    assert made, f"the tour never ran {function}; add its routes to tour()"
    assert denied(made, granted) == set(), f"{function} makes calls its policy does not allow"
    assert unused(granted, made) == set(), f"{function}'s policy grants what its code never uses"
