"""Promises 1, 2, 3 and 5 with an exception injected before and after every AWS call of the money
path: order creation (checkout), the provider's payment notification (webhook) and fulfilment,
each followed by the retries production makes (the shopper repeats the checkout with the same
Idempotency-Key, the provider repeats its notification and the sweeper re-requests fulfilment of
paid orders, SQS redelivers the fulfilment request). The failing runs happen in their own process
(tests/integration/orders_every_call.py) against the session's local stack, whose own fulfilment
workers take the webhook's requests at the same time: one more concurrent worker, never assumed
absent or present. Each scenario is a fresh SKU with 6 cards and orders of 2; the whole run is
made twice, the second time with each SKU a bundle of two products (CONTRACT §8)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.support import run_as_function

QUANTITY = 2
CARDS = 6
CONCURRENT_ROUNDS = 3
AMOUNT = 990 * QUANTITY - 990 * QUANTITY // 10  # each order uses a 10 % coupon of its own
# The fewest AWS calls each operation can make (architecture.md: checkout 2 and 1 for a coupon,
# webhook 2, fulfil 3 and the mail): a clean run that made fewer would have skipped part of the path.
FEWEST_CALLS = {
    "checkout": 3,  # the coupon, the product's stock, the order's transaction
    "checkout_repeat": 3,
    "webhook": 2,
    "late_webhook": 3,
    "webhook_repeat": 2,
    "fulfil": 4,
    "late_fulfil": 5,
    "fulfil_repeat": 2,
    "refund": 3,
}
CHECKOUT = ("checkout", "checkout_repeat")
WEBHOOK = ("webhook", "late_webhook", "webhook_repeat")
FULFIL = ("fulfil", "late_fulfil", "fulfil_repeat")
DELIVERED = (*WEBHOOK, *FULFIL, "concurrent")

Scenario = dict[str, Any]


@pytest.fixture(scope="module", params=["cards", "bundle"])
def scenarios(
    request: pytest.FixtureRequest, stack: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> list[Scenario]:
    """Every scenario with a product of its own (`bundle`: a bundle of two products, whose
    orders move both products' cards and counters in each transaction)."""
    workdir: Path = tmp_path_factory.mktemp("orders-every-call")
    mode = ["--bundle"] if request.param == "bundle" else []
    return run_as_function("tests.integration.orders_every_call", stack, workdir, *mode, timeout=600)


def at_shard(s: Scenario, key: str) -> tuple[str, int]:
    """(sku, shard) of an order's reservation key (`n`, or a bundle's `{sku}#{n}`) or a shard's."""
    sku, _, shard = key.rpartition("#")
    return sku or s["sku"], int(shard)


def of(scenarios: list[Scenario], *phases: str) -> list[Scenario]:
    found = [s for s in scenarios if s["phase"] in phases]
    assert found, f"no scenario of {phases}"
    return found


def where(s: Scenario) -> str:
    if s["phase"] == "concurrent":
        return f"concurrent round {s['round']} (sku {s['sku']})"
    return (
        f"{s['phase']}: failure {s['when'] or 'nowhere'} call {s['fail_at']} "
        f"({s['injected']}; {s['calls']} calls in all; sku {s['sku']})"
    )


def totals(s: Scenario) -> dict[str, int]:
    names = ("imported", "available", "reserved", "sold", "void")
    return {name: sum(shard[name] for shard in s["shards"].values()) for name in names}


def the_order(s: Scenario) -> dict[str, Any]:
    orders = [o for o in s["orders"] if o["order_id"] == s["order_id"]]
    assert len(orders) == 1, where(s)
    return dict(orders[0])


def test_every_call_of_each_operation_fails_once_before_and_once_after(scenarios: list[Scenario]) -> None:
    phases = Counter(s["phase"] for s in scenarios)
    assert set(phases) == {*FEWEST_CALLS, "concurrent"}
    assert phases["concurrent"] == CONCURRENT_ROUNDS
    for phase, fewest in FEWEST_CALLS.items():
        lines = of(scenarios, phase)
        clean = [s for s in lines if s["fail_at"] == 0]
        assert len(clean) == 1, phase
        calls = int(clean[0]["calls"])
        assert calls >= fewest, f"{phase}: a clean run made {calls} AWS calls"
        failing = [(s["when"], s["fail_at"]) for s in lines if s["fail_at"]]
        assert len(failing) == 2 * calls, phase
        assert sorted(failing) == sorted((w, n) for w in ("before", "after") for n in range(1, calls + 1)), phase
        for s in lines:
            assert s["fail_at"] == 0 or s["when"] == "after" or s["injected"], where(s)
        # "After" a call that itself failed (a transaction cancelled by its condition: a repeat's
        # order or payment exists already, or a late payment's order has expired) never comes.
        quiet = [s for s in lines if s["when"] == "after" and not s["injected"]]
        assert len(quiet) <= 1, [where(s) for s in quiet]


def test_promise_3_every_sku_adds_up(scenarios: list[Scenario]) -> None:
    """available + reserved + sold + void = imported, per shard and per SKU, and the counters
    say where each card of the scenario went."""
    for s in scenarios:
        for shard in s["shards"].values():
            assert shard["available"] + shard["reserved"] + shard["sold"] + shard["void"] == shard["imported"], where(s)
            assert min(shard.values()) >= 0, where(s)
        counts = totals(s)
        assert counts["imported"] == s["stocked"] == len(s["cards"]), where(s)
        by_status = Counter(c["status"] for c in s["cards"])
        assert counts["sold"] == by_status["sold"], where(s)
        assert counts["void"] == by_status["void"] == 0, where(s)
        assert counts["available"] + counts["reserved"] == by_status["available"], where(s)
        cards, units = CARDS * s["units"], QUANTITY * s["units"]
        if s["phase"] in CHECKOUT:
            expected = {"available": cards - units, "reserved": units, "sold": 0}
        elif s["phase"] == "refund":  # the stock went to another, unpaid order
            expected = {"available": 0, "reserved": units, "sold": 0}
        else:
            expected = {"available": cards - units, "reserved": 0, "sold": units}
        assert {k: counts[k] for k in expected} == expected, where(s)


def test_promise_1_a_card_is_sold_to_at_most_one_order(scenarios: list[Scenario]) -> None:
    for s in scenarios:
        listed = Counter(digest for order in s["orders"] for digest in order["cards"])
        assert all(n == 1 for n in listed.values()), where(s)
        cards = {c["digest"]: c for c in s["cards"]}
        assert all(c["sku"] in s["skus"] for c in cards.values()), where(s)
        for order in s["orders"]:
            for digest in order["cards"]:
                assert cards[digest]["status"] == "sold", where(s)
                assert cards[digest]["order_id"] == order["order_id"], where(s)
        sold = {d for d, c in cards.items() if c["status"] == "sold"}
        assert sold == set(listed), where(s)  # no card sold to an order that does not list it


def test_promise_2_a_paid_order_ends_with_exactly_its_cards_or_refunded(scenarios: list[Scenario]) -> None:
    for s in scenarios:
        for order in s["orders"]:  # never partly delivered
            delivered = order["status"] == "delivered"
            assert len(order["cards"]) == (order["quantity"] * s["units"] if delivered else 0), where(s)
    for s in of(scenarios, *DELIVERED):
        order = the_order(s)
        assert order["status"] == "delivered", where(s)
        assert len(set(order["cards"])) == QUANTITY * s["units"], where(s)
        skus = {c["digest"]: c["sku"] for c in s["cards"]}
        assert Counter(skus[d] for d in order["cards"]) == dict.fromkeys(s["skus"], QUANTITY), where(s)
        assert order["open_index"] is None, where(s)  # nothing left for the sweeper to do
        assert s["limits"] == {"email": 0, "ip": 0}, where(s)  # no longer a pending order
        assert not [p for p in s["payments"] if p["outcome"] == "refund"], where(s)
    for s in of(scenarios, *FULFIL):
        assert not str(s["outcomes"][-1]).startswith("error"), where(s)  # the redelivery succeeded
        # Told at least once; a repeat that cannot tell whether the first mail went out sends
        # again, and a repeat that dies after sending but before noting it adds one more.
        assert 1 <= s["mails"] <= (3 if s["phase"] == "fulfil_repeat" else 2), where(s)
    for s in of(scenarios, *WEBHOOK):
        assert not str(s["fulfilled"][-1]).startswith("error"), where(s)
    for s in of(scenarios, "refund"):
        order = the_order(s)
        assert (order["status"], order["cards"], order["open_index"]) == ("refunded", [], None), where(s)
        refunds = [p for p in s["payments"] if p["outcome"] == "refund"]
        assert [(r["order_id"], r["amount"]) for r in refunds] == [(order["order_id"], AMOUNT)], where(s)
        assert not str(s["outcomes"][-1]).startswith("error"), where(s)
        other = [o for o in s["orders"] if o["order_id"] != s["order_id"]]
        held = [(o["status"], sum(o["reservation"].values())) for o in other]
        assert held == [("pending_payment", QUANTITY * s["units"])], where(s)


def test_a_checkout_retried_with_its_idempotency_key_makes_one_order_and_one_reservation(
    scenarios: list[Scenario],
) -> None:
    for s in of(scenarios, *CHECKOUT):
        assert s["retry"]["order_id"] == s["again"]["order_id"], where(s)
        assert s["retry"]["token"], where(s)  # each answer can open the order
        assert s["again"]["token"], where(s)
        assert not s["again"]["created"], where(s)
        assert len(s["orders"]) == 1, where(s)
        order = s["orders"][0]
        assert order["order_id"] == s["retry"]["order_id"], where(s)
        assert order["status"] == "pending_payment", where(s)
        assert str(order["open_index"]).startswith("PENDING#"), where(s)  # the sweeper can expire it
        reserved = {at_shard(s, k): v for k, v in order["reservation"].items()}
        assert sum(reserved.values()) == QUANTITY * s["units"], where(s)
        assert {sku for sku, _ in reserved} == set(s["skus"]), where(s)
        assert {at_shard(s, k): v["reserved"] for k, v in s["shards"].items() if v["reserved"]} == reserved, where(s)
        assert s["limits"] == {"email": 1, "ip": 1}, where(s)  # counted once against each limit
        assert s["payments"] == [], where(s)


def test_promise_5_a_provider_transaction_pays_one_order_once(scenarios: list[Scenario]) -> None:
    for s in of(scenarios, *WEBHOOK, *FULFIL, "refund", "concurrent"):
        order = the_order(s)
        paid = [p for p in s["payments"] if p["outcome"] != "refund"]
        late = s["phase"] in ("late_webhook", "late_fulfil", "refund")
        expected = [(f"TXN#sandbox#{s['transaction_id']}", order["order_id"], "late" if late else "paid")]
        assert [(p["pk"], p["order_id"], p["outcome"]) for p in paid] == expected, where(s)
        assert paid[0]["amount"] == AMOUNT, where(s)
        assert order["transaction_id"] == s["transaction_id"], where(s)
    for s in of(scenarios, *WEBHOOK):
        assert s["acks"][-1] == "paid", where(s)  # the provider's repeats are answered 2xx at last


def test_the_sweeper_requests_fulfilment_when_the_webhook_died_before_it_could(scenarios: list[Scenario]) -> None:
    for phase in ("webhook", "late_webhook"):
        lost = [s for s in of(scenarios, phase) if s["status_before_sweep"] == "paid" and not s["requested"]]
        assert lost, f"{phase}: no scenario left a paid order without a fulfilment request"
        for s in lost:
            assert s["swept"], where(s)


def test_two_workers_on_one_paid_order_allocate_once(scenarios: list[Scenario]) -> None:
    for s in of(scenarios, "concurrent"):
        assert s["outcomes"] == ["delivered", "skipped"], where(s)
        assert 1 <= s["mails"] <= 2, where(s)


def test_a_refunded_shopper_is_told_even_when_the_first_attempt_died_after_the_refund(
    scenarios: list[Scenario],
) -> None:
    for s in of(scenarios, "refund"):
        assert s["mails"] >= 1, where(s)


def coupon_uses(order: dict[str, Any]) -> tuple[int, int]:
    """(taken, used) an order should account for on its coupon (docs/pricing.md, Coupons)."""
    status = order["status"]
    if status == "pending_payment":
        return 1, 0
    if status == "expired":
        return 0, 0  # given back
    if status in ("paid", "refunded") and not order["delivered"]:
        return (0, 0) if order["late"] else (1, 0)  # held; a late payment takes it again once delivered
    return 1, 1  # delivered (and perhaps refunded since): kept


def test_a_coupons_uses_follow_its_orders_whatever_failed_and_was_retried(scenarios: list[Scenario]) -> None:
    """Every scenario's order used a coupon of its own: its counters are what the order's state
    says, exactly, after every failure and retry (promise 1 for the coupon's uses)."""
    for s in scenarios:
        mine = [o for o in s["orders"] if o["coupon_id"] == s["coupon"]["coupon_id"]]
        assert mine, where(s)
        taken = sum(coupon_uses(o)[0] for o in mine)
        used = sum(coupon_uses(o)[1] for o in mine)
        assert (s["coupon"]["taken"], s["coupon"]["used"], s["coupon"]["buyer"]) == (taken, used, taken), (
            where(s),
            mine,
        )
