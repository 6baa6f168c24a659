"""Flash sale with promotions (issue 18's benchmark; run by `make bench BENCH=flash-sale`).

A SKU with 400 cards and a running flash sale of 300 units at 590 (list price 990); a batch of
500 single-use coupons of 50 off (docs/pricing.md: one shared coupon's counter is one item, so
a burst's coupon is a batch of codes); 500 buyers at once, each with its own code. Measured as
the plain flash sale is: the outcomes (300 at 540, 200 `FLASH_SALE_SOLD_OUT`, no duplicate
code, nothing sold at the sale price beyond its quantity, stock and the sale balanced), AWS
requests per delivered order on the money path (target ≤ 9), the WCU on the hottest
partition key and item per delivered order as DynamoDB bills them, and the per-SKU ceiling
they give.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.capacity import PARTITION_WCU, Heat, capacity, report_heat, reset_capacity
from bench.shop import (
    PRICE,
    CallKey,
    Placed,
    by_function,
    calls,
    parallel,
    pay,
    place,
    placed_of,
    print_calls,
    read,
    reset_calls,
    stock_level,
    stock_row,
    stocked_product,
)
from tests.integration.conftest import Api

CARDS = 400
SALE_UNITS = 300
SALE_PRICE = 590
COUPON_OFF = 50
BUYERS = 500
THREADS = 16
MONEY_PATH = ("CheckoutFunction", "PaymentWebhookFunction", "FulfilFunction")


@dataclass
class PromotedResult:
    answers: Counter[str] = field(default_factory=Counter)
    placed: list[Placed] = field(default_factory=list)
    amounts: Counter[int] = field(default_factory=Counter)
    checkout_calls: Counter[CallKey] = field(default_factory=Counter)
    pay_calls: Counter[CallKey] = field(default_factory=Counter)
    capacity: list[dict[str, Any]] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    not_delivered: int = 0
    unknown_codes: int = 0
    stock: dict[str, int] = field(default_factory=dict)
    sale_sold: int = 0
    coupons_used: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def _at(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def _created(answer: Any, what: str) -> dict[str, Any]:
    if answer.status_code != 201:
        raise RuntimeError(f"{what}: {answer.status_code} {answer.text[:300]}")
    body: dict[str, Any] = answer.json()
    return body


def promoted_sale(state: dict[str, Any], operator: Api, sku: str) -> PromotedResult:
    api, secret = state["api_url"], state["sandbox_webhook_secret"]
    r = PromotedResult()
    imported = set(stocked_product(operator, sku, CARDS)["codes"])
    sale = _created(
        operator.post(
            "/v1/admin/promotions",
            {
                "kind": "flash_sale",
                "skus": [sku],
                "price": SALE_PRICE,
                "quantity": SALE_UNITS,
                "starts_at": _at(timedelta(minutes=-1)),
                "ends_at": _at(timedelta(hours=2)),
            },
        ),
        "flash sale",
    )
    coupons = _created(
        operator.post("/v1/admin/coupons", {"kind": "fixed", "value": COUPON_OFF, "count": BUYERS}), "coupons"
    )
    codes = [c["code"] for c in coupons["items"]]
    tag = f"promo-{sku.lower()}"

    reset_calls(api)
    reset_capacity(api)
    started = time.monotonic()
    answers = parallel(THREADS, lambda n: place(api, sku, n, tag, coupon=codes[n]), BUYERS)
    r.seconds["orders"] = time.monotonic() - started
    r.checkout_calls = calls(api)
    r.capacity.append(capacity(api))
    for status, body in answers:
        r.answers[f"{status} {body.get('code', '')}".strip()] += 1
        if status == 201:
            r.placed.append(placed_of(body))
            r.amounts[int(body["amount"])] += 1

    reset_calls(api)
    reset_capacity(api)
    started = time.monotonic()
    parallel(THREADS, lambda i: pay(api, secret, r.placed[i]), len(r.placed))
    deadline = time.monotonic() + 300
    while stock_level(operator, sku)["sold"] < len(r.placed) and time.monotonic() < deadline:
        time.sleep(0.25)
    r.seconds["paid and delivered"] = time.monotonic() - started
    time.sleep(1.0)  # the last fulfilment's mail and queue delete
    r.pay_calls = calls(api)
    r.capacity.append(capacity(api))

    for order in parallel(THREADS, lambda i: read(api, r.placed[i]), len(r.placed)):
        if order["status"] != "delivered":
            r.not_delivered += 1
        r.codes += [c["code"] for c in order.get("cards") or []]
    r.unknown_codes = sum(1 for c in r.codes if c not in imported)
    r.stock = stock_level(operator, sku)
    r.sale_sold = int(operator.get(f"/v1/admin/promotions/{sale['promotion_id']}").json()["sold"])
    r.coupons_used = sum(
        int(operator.get(f"/v1/admin/coupons/{c['coupon_id']}").json()["used"]) for c in coupons["items"]
    )
    return r


def report(r: PromotedResult) -> None:
    delivered = len(r.placed) - r.not_delivered
    money = by_function(r.checkout_calls, MONEY_PATH) + by_function(r.pay_calls, MONEY_PATH)
    sold_out = r.answers.get("409 FLASH_SALE_SOLD_OUT", 0)
    others = {k: n for k, n in r.answers.items() if k not in ("201", "409 FLASH_SALE_SOLD_OUT")}
    stock = r.stock
    print(
        f"\nThe same with promotions: {CARDS} cards, a flash sale of {SALE_UNITS} units at {SALE_PRICE} "
        f"(list {PRICE}), {BUYERS} buyers at once from {THREADS} threads, each with its own single-use "
        f"coupon of {COUPON_OFF} off"
    )
    heat = Heat.of(r.capacity, MONEY_PATH)
    summary = report_heat(heat, delivered, BUYERS)
    # The sale's counters and the coupons: are the promotions' own keys hot?
    promotions = [(k, n) for k, n in heat.wcu.most_common() if k[0].startswith("promotions")]
    (_, promo_pk), promo_wcu = promotions[0] if promotions else (("", "none"), 0)
    promo_per_order = promo_wcu / max(1, delivered)
    total = sum(money.values())
    rows = [
        ("delivered orders", f"{delivered:,}", f"{SALE_UNITS:,}"),
        ("FLASH_SALE_SOLD_OUT", f"{sold_out:,}", f"{BUYERS - SALE_UNITS:,}"),
        ("other answers", ", ".join(f"{k}: {n}" for k, n in others.items()) or "0", "0"),
        (
            "amounts charged",
            ", ".join(f"{n} × {a}" for a, n in sorted(r.amounts.items())),
            f"all {SALE_PRICE - COUPON_OFF}",
        ),
        (
            "cards / duplicates / not from the batch",
            f"{len(r.codes)} / {len(r.codes) - len(set(r.codes))} / {r.unknown_codes}",
            f"{SALE_UNITS} / 0 / 0",
        ),
        ("the sale's sold / coupons used", f"{r.sale_sold} / {r.coupons_used}", f"{SALE_UNITS} / {SALE_UNITS}"),
        stock_row(stock),
        # A sold-out buyer's one read, left out as the plain flash sale leaves out OUT_OF_STOCK's.
        ("AWS requests / delivered order (money path)", f"{(total - sold_out) / max(1, delivered):.2f}", "≤ 9"),
        ("  same, sold-out buyers' read included", f"{total / max(1, delivered):.2f}", ""),
        ("hottest partition key (WCU as billed)", summary["hot_write_key"], ""),
        ("  its WCU / delivered order", summary["hot_write_per_order"], ""),
        ("per-SKU ceiling, 1,000 WCU/s ÷ that", f"{summary['write_ceiling']} orders/s", "≥ 5,000"),
        ("hottest key of the promotions table", promo_pk if len(promo_pk) <= 22 else f"…{promo_pk[-21:]}", ""),
        (
            "  its WCU / delivered order (ceiling)",
            f"{promo_per_order:.3f} ({PARTITION_WCU / promo_per_order if promo_per_order else math.inf:,.0f}/s)",
            "",
        ),
        ("orders; payments and deliveries (s)", " ; ".join(f"{v:.1f}" for v in r.seconds.values()), ""),
    ]
    print(f"\n  {'measure':<46} {'measured':>22} {'target':>12}")
    for name, value, target in rows:
        print(f"  {name:<46} {value:>22} {target:>12}")
    print_calls(
        "Promoted orders (all buyers), per delivered order:",
        by_function(r.checkout_calls, MONEY_PATH),
        delivered,
        "/ delivered",
    )
    print_calls(
        "Their payments and fulfilment, per delivered order:",
        by_function(r.pay_calls, MONEY_PATH),
        delivered,
        "/ delivered",
    )
