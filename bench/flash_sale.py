"""Flash sale: one SKU, 1,000 cards, 1,500 concurrent buyers from 16 threads; a burst with
promotions running (bench/promoted_sale.py); then steady loads (3 to 10 paid orders per
second) on another SKU.

Measured against a local stack (no demo data) started on free ports in a temporary state dir:
- outcomes: delivered, OUT_OF_STOCK, other answers, duplicate codes, oversold, stock balance;
- AWS requests per delivered order by function and service, from the stack's per-function call
  log (`/_local/calls`), in separate phases: orders (checkout), payments and fulfilment, reads;
- conflict retries: transactions beyond one per successful operation;
- writes to the hottest stock shard per order, from the shards' counters and the orders' own
  reservations and timestamps, and the per-SKU ceiling they give on real DynamoDB;
- pay→delivered, from the webhook's 2xx to the order's own delivered_at (µs, same host clock):
  under the burst (polling 1,000 orders would drown the emulator) and at steady rates; once also
  as a shopper sees it, polling every 50 ms (the polls load the stack too).

The stack is one Python process whose emulator serialises every request, so rates and latencies
here are the emulator's (moto's cost per request; a Query reads only its own partition since
local/queries.py), and a real TransactionConflict never happens: what retries is a condition
that failed because another buyer took the stock or the card first. bench/promoted_sale.py then
runs a burst with a flash sale and coupons running.
"""

from __future__ import annotations

import hashlib
import math
import os
import secrets
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import promoted_sale
from bench.capacity import Heat, capacity, report_heat, reset_capacity
from bench.shop import (
    CallKey,
    Placed,
    buyer_email,
    buyer_ip,
    by_function,
    calls,
    ms,
    parallel,
    pay,
    percentile,
    place,
    placed_of,
    print_calls,
    read,
    reset_calls,
    scan_orders,
    stock_level,
    stock_row,
    stocked_product,
)
from bench.stack import local_stack
from tests.integration.conftest import Api, login
from tests.support import emulator_client, stock_shards

ROOT = Path(__file__).resolve().parent.parent
PARAMETERS = "MaxPendingOrdersPerIp=100000 MaxPendingOrdersPerEmail=100" + (
    f" StockShards={os.environ['BENCH_STOCK_SHARDS']}" if os.environ.get("BENCH_STOCK_SHARDS") else ""
)
CARDS = 1000
BUYERS = 1500
THREADS = 16
ITEM_WRITES_PER_SECOND = 1000  # what DynamoDB gives one item (one partition)
STACK_LOG = ROOT / "test-artifacts" / "flash-sale-stack.log"  # kept for a look after the run
MONEY_PATH = ("CheckoutFunction", "PaymentWebhookFunction", "FulfilFunction")


# -- the stack and its clients


def flash_stack() -> AbstractContextManager[dict[str, Any]]:
    """With pending-order limits that let one machine place 1,500 orders; the stack's log is
    kept in test-artifacts/ for a look after the run."""
    return local_stack(PARAMETERS, keep_log=STACK_LOG)


# -- what the data says


def shards(state: dict[str, Any], sku: str) -> dict[int, dict[str, int]]:
    items = stock_shards(emulator_client(state, "dynamodb"), state["resources"]["CatalogTable"], sku)
    counters = ("imported", "available", "reserved", "sold", "void", "redeemed")
    return {n: {c: int(item.get(c, {}).get("N", "0")) for c in counters} for n, item in items.items()}


def worst_window_share(shard_sequence: list[int], window: int) -> float:
    """The largest share of `window` consecutive reservations that went to one shard."""
    if len(shard_sequence) < window:
        window = len(shard_sequence)
    if window == 0:
        return 0.0
    counts: Counter[int] = Counter(shard_sequence[:window])
    worst = max(counts.values())
    for i in range(window, len(shard_sequence)):
        counts[shard_sequence[i]] += 1
        counts[shard_sequence[i - window]] -= 1
        worst = max(worst, counts[shard_sequence[i]])
    return worst / window


# -- the phases


@dataclass
class FlashResult:
    answers: Counter[str] = field(default_factory=Counter)
    placed: list[Placed] = field(default_factory=list)
    order_seconds: float = 0.0
    pay_seconds: float = 0.0
    deliver_seconds: float = 0.0
    checkout_calls: Counter[CallKey] = field(default_factory=Counter)
    pay_calls: Counter[CallKey] = field(default_factory=Counter)
    read_calls: Counter[CallKey] = field(default_factory=Counter)
    codes: list[str] = field(default_factory=list)
    not_delivered: int = 0
    multi_card_orders: int = 0
    unknown_codes: int = 0
    stock: dict[str, int] = field(default_factory=dict)
    shards: dict[int, dict[str, int]] = field(default_factory=dict)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    buyers: dict[str, int] = field(default_factory=dict)  # order id → the buyer whose 201 it was
    tag: str = ""
    other_email: int = 0  # orders stored with another buyer's email than the one whose 201 they were
    other_ip: int = 0  # ... or counted against another buyer's source IP
    capacity: list[dict[str, Any]] = field(default_factory=list)  # units metered in phases 1 and 2


def flash_sale(state: dict[str, Any], operator: Api, sku: str, imported_codes: list[str]) -> FlashResult:
    api, secret = state["api_url"], state["sandbox_webhook_secret"]
    r = FlashResult()

    # 1. 1,500 buyers at once; only checkout runs.
    r.tag = f"flash-{sku.lower()}"
    reset_calls(api)
    reset_capacity(api)
    started = time.monotonic()
    answers = parallel(THREADS, lambda n: place(api, sku, n, r.tag), BUYERS)
    r.order_seconds = time.monotonic() - started
    r.checkout_calls = calls(api)
    r.capacity.append(capacity(api))
    for n, (status, body) in enumerate(answers):
        r.answers[f"{status} {body.get('code', '')}".strip()] += 1
        if status == 201:
            r.placed.append(placed_of(body))
            r.buyers[body["order_id"]] = n

    # 2. The provider notifies every payment; fulfilment runs behind the queue. Delivery is
    # watched through the admin stock line (another function, so not in the counts).
    reset_calls(api)
    reset_capacity(api)
    started = time.monotonic()
    parallel(THREADS, lambda i: pay(api, secret, r.placed[i]), len(r.placed))
    r.pay_seconds = time.monotonic() - started
    last_sold, last_change = -1, time.monotonic()
    while True:
        sold = stock_level(operator, sku)["sold"]
        if sold != last_sold:
            last_sold, last_change = sold, time.monotonic()
        if sold >= len(r.placed) or time.monotonic() - last_change > 120:
            break
        time.sleep(0.25)
    r.deliver_seconds = time.monotonic() - started
    time.sleep(1.0)  # let the last fulfilment finish its mail and its queue delete
    r.pay_calls = calls(api)
    r.capacity.append(capacity(api))

    # 3. Every buyer reads the order (with its codes): the duplicate and oversold check.
    reset_calls(api)
    seen = parallel(THREADS, lambda i: read(api, r.placed[i]), len(r.placed))
    r.read_calls = calls(api)
    known = set(imported_codes)
    for order in seen:
        if order["status"] != "delivered":
            r.not_delivered += 1
            continue
        codes = [c["code"] for c in order.get("cards") or []]
        r.multi_card_orders += len(codes) != 1
        r.codes += codes
    r.unknown_codes = sum(1 for c in r.codes if c not in known)
    r.stock = stock_level(operator, sku)
    r.shards = shards(state, sku)
    r.orders = scan_orders(state, sku)
    # The local stack runs functions in threads of one process: was each order made from its
    # own buyer's request (email, and the source IP its pending-order limit counts against)?
    for order_id, n in r.buyers.items():
        stored = r.orders.get(order_id)
        if stored is None:
            continue
        r.other_email += stored["email"] != buyer_email(r.tag, n)
        ip_key = "LIMIT#IP#" + hashlib.sha256(buyer_ip(n).encode()).hexdigest()
        r.other_ip += ip_key not in stored["limit_keys"]
    return r


@dataclass(frozen=True)
class SteadyRun:
    label: str
    rate: float  # paid orders per second
    seconds: float
    poll_seconds: float | None = None  # the shopper polls GET /v1/orders/{id}; None: no polling
    preplaced: bool = False  # orders placed beforehand: only payments and fulfilment run at the rate


STEADY_RUNS = (
    SteadyRun("order+pay", 3, 10),
    SteadyRun("order+pay", 5, 10),
    SteadyRun("order+pay", 7, 10),
    SteadyRun("order+pay", 10, 15),
    SteadyRun("pay only", 10, 15, preplaced=True),
    SteadyRun("order+pay, polled", 3, 10, poll_seconds=0.05),
)
STEADY_CARDS = sum(int(r.rate * r.seconds) for r in STEADY_RUNS) + 20


@dataclass
class SteadyResult:
    run: SteadyRun
    orders: list[Placed] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    calls: Counter[CallKey] = field(default_factory=Counter)
    polls: int = 0
    stored: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_delivered(self) -> list[float]:
        """Client time of the webhook's 2xx → the order's delivered_at (µs, same host clock)."""
        return [
            stored["delivered_at"] - o.paid_at
            for o in self.orders
            if (stored := self.stored.get(o.order_id)) and stored["delivered_at"]
        ]

    def seen(self) -> list[float]:
        """The webhook's 2xx → the first poll that saw the order delivered."""
        return [o.seen_delivered_at - o.paid_at for o in self.orders if o.seen_delivered_at]

    def delivered_per_second(self) -> float:
        done = [float(s["delivered_at"]) for s in self.stored.values() if s["delivered_at"]]
        if len(done) < 2 or not self.orders:
            return math.nan
        first_paid = min(o.paid_at for o in self.orders if o.paid_at)
        return len(done) / (max(done) - first_paid)


def steady(state: dict[str, Any], operator: Api, sku: str, run: SteadyRun, tag: str) -> SteadyResult:
    """A shopper every 1/rate s orders (or has ordered) and pays at once, then polls every
    `poll_seconds` until delivered, or does not poll: delivery is read afterwards from the
    orders' own timestamps."""
    api, secret = state["api_url"], state["sandbox_webhook_secret"]
    r = SteadyResult(run)
    lock = threading.Lock()
    total = int(run.rate * run.seconds)
    sold_before = stock_level(operator, sku)["sold"]
    ready: list[Placed] = []
    if run.preplaced:
        answers = parallel(4, lambda n: place(api, sku, n, tag), total)
        ready = [placed_of(body) for status, body in answers if status == 201]

    def shopper(n: int) -> None:
        if run.preplaced:
            order = ready[n]
        else:
            status, body = place(api, sku, n, tag)
            if status != 201:
                with lock:
                    r.failures.append(f"order {status} {body.get('code')}")
                return
            order = placed_of(body)
        try:
            pay(api, secret, order)
        except RuntimeError as exc:
            with lock:
                r.failures.append(str(exc))
            return
        polls = 0
        deadline = time.monotonic() + 120
        while run.poll_seconds is not None and time.monotonic() < deadline:
            time.sleep(run.poll_seconds)
            polls += 1
            if read(api, order)["status"] == "delivered":
                order.seen_delivered_at = time.time()
                break
        with lock:
            r.polls += polls
            r.orders.append(order)

    reset_calls(api)
    started = time.monotonic()
    with ThreadPoolExecutor(64) as pool:
        for n in range(min(total, len(ready)) if run.preplaced else total):
            delay = started + n / run.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(shopper, n)
        r.seconds = time.monotonic() - started  # the span of arrivals; the pool then drains
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and stock_level(operator, sku)["sold"] - sold_before < len(r.orders):
        time.sleep(0.5)  # one cheap Query; a scan of the orders table would load the emulator
    time.sleep(1.0)  # the last fulfilment's mail and queue delete
    r.calls = calls(api)
    mine = {o.order_id for o in r.orders}
    r.stored = {i: o for i, o in scan_orders(state, sku).items() if i in mine}
    r.failures += [f"{i} is {s['status']} after 3 minutes" for i, s in r.stored.items() if s["status"] != "delivered"]
    return r


# -- the report


def report(flash: FlashResult, steadies: list[SteadyResult], shard_count: int, ingest_calls: Counter[CallKey]) -> None:
    delivered = len(flash.codes)
    delivered_orders = len(flash.placed) - flash.not_delivered
    out_of_stock = flash.answers.get("409 OUT_OF_STOCK", 0)
    others = {k: n for k, n in flash.answers.items() if k not in ("201", "409 OUT_OF_STOCK")}
    duplicates = delivered - len(set(flash.codes))
    stock = flash.stock
    oversold = max(0, delivered - CARDS) + max(0, stock["sold"] - stock["imported"])
    oversold += sum(max(0, s["sold"] - s["imported"]) for s in flash.shards.values())

    money = by_function(flash.checkout_calls, MONEY_PATH) + by_function(flash.pay_calls, MONEY_PATH)
    total = sum(money.values())
    rejected_queries = out_of_stock  # each rejected buyer's last look at the stock (1 BatchGetItem)
    per_order = (total - rejected_queries) / max(1, delivered_orders)
    checkout_txn = flash.checkout_calls[("CheckoutFunction", "dynamodb", "TransactWriteItems")]
    fulfil_txn = flash.pay_calls[("FulfilFunction", "dynamodb", "TransactWriteItems")]
    checkout_retries = checkout_txn - len(flash.placed)
    fulfil_retries = fulfil_txn - delivered_orders

    # Hottest item: each order writes its shard twice (reserve, then reserved → sold).
    reserve_writes: Counter[int] = Counter()
    for o in flash.orders.values():
        for shard, _count in o["reservation"].items():
            reserve_writes[shard] += 1
    order_writes = {i: reserve_writes[i] + flash.shards[i]["sold"] for i in flash.shards}
    hottest_shard = max(order_writes, key=lambda i: order_writes[i]) if order_writes else -1
    hottest = order_writes.get(hottest_shard, 0)
    hot_per_order = hottest / max(1, delivered_orders)
    ceiling = ITEM_WRITES_PER_SECOND / hot_per_order if hot_per_order else math.inf
    used = sum(1 for s in flash.shards.values() if s["imported"] > 0)
    spread_hot = 2 * math.ceil(CARDS / shard_count) / CARDS
    spread_ceiling = ITEM_WRITES_PER_SECOND / spread_hot
    sequence = [
        next(iter(o["reservation"]))
        for o in sorted(flash.orders.values(), key=lambda o: o["created_at"] or 0)
        if o["reservation"]
    ]
    window = 100
    worst_share = worst_window_share(sequence, window)
    worst_ceiling = ITEM_WRITES_PER_SECOND / (2 * worst_share) if worst_share else math.inf
    ingest_txn = sum(
        n for (f, s, op), n in ingest_calls.items() if f == "IngestFunction" and op == "TransactWriteItems"
    )

    burst = [
        stored["delivered_at"] - p.paid_at
        for p in flash.placed
        if (stored := flash.orders.get(p.order_id)) and stored["delivered_at"] and p.paid_at
    ]
    burst_server = [
        o["delivered_at"] - o["paid_at"] for o in flash.orders.values() if o["delivered_at"] and o["paid_at"]
    ]
    heat = report_heat(Heat.of(flash.capacity, MONEY_PATH), delivered_orders, BUYERS)
    headline = next(r for r in steadies if r.run.rate == 10 and not r.run.preplaced and r.run.poll_seconds is None)
    pay_only = next(r for r in steadies if r.run.preplaced)

    print(
        f"One SKU, {CARDS:,} cards in {used} of {shard_count} stock shards, {BUYERS:,} buyers from {THREADS} "
        f"threads (emulator-bound: it serialises every request)"
    )
    print(f"\n  {'measure':<46} {'measured':>22} {'target':>12}")
    rows: list[tuple[str, str, str]] = [
        ("delivered orders (cards)", f"{delivered_orders:,} ({delivered:,})", f"{CARDS:,}"),
        ("OUT_OF_STOCK", f"{out_of_stock:,}", f"{BUYERS - CARDS:,}"),
        ("other answers", ", ".join(f"{k}: {n}" for k, n in others.items()) or "0", "0"),
        ("duplicate codes across orders", f"{duplicates}", "0"),
        ("codes not from the batch / orders ≠ 1 card", f"{flash.unknown_codes} / {flash.multi_card_orders}", "0 / 0"),
        ("oversold", f"{oversold}", "0"),
        ("distinct orders among the 201s", f"{len(set(flash.buyers)):,}", f"{len(flash.placed):,}"),
        ("orders with another buyer's email / IP", f"{flash.other_email} / {flash.other_ip}", "0 / 0"),
        stock_row(stock),
        ("AWS requests / delivered order (money path)", f"{per_order:.2f}", "≤ 8"),
        ("  same, rejected buyers' read included", f"{total / max(1, delivered_orders):.2f}", ""),
        ("  same, per buyer", f"{total / BUYERS:.2f}", ""),
        (
            "conflict retries / order (checkout, fulfil)",
            f"{(checkout_retries + fulfil_retries) / max(1, delivered_orders):.3f} "
            f"({checkout_retries}, {fulfil_retries})",
            "< 0.1",
        ),
        ("hottest partition key (WCU as billed)", heat["hot_write_key"], ""),
        ("  its WCU / delivered order", heat["hot_write_per_order"], ""),
        ("per-SKU ceiling, 1,000 WCU/s ÷ that", f"{heat['write_ceiling']} orders/s", "≥ 5,000"),
        ("hottest partition key (RCU as billed)", heat["hot_read_key"], ""),
        ("  its RCU / delivered order", heat["hot_read_per_order"], ""),
        ("  reads' ceiling, 3,000 RCU/s ÷ that", f"{heat['read_ceiling']} orders/s", ""),
        ("writes to the hottest shard / order (count)", f"{hot_per_order:.3f} (shard {hottest_shard:02d})", ""),
        ("  1,000 ÷ that (the old count, 1 per write)", f"{ceiling:,.0f} orders/s", ""),
        (f"  if spread evenly over all {shard_count} shards", f"{spread_ceiling:,.0f} orders/s", ""),
        (f"  worst {window} consecutive orders", f"{worst_ceiling:,.0f} orders/s", ""),
        (
            "burst pay→delivered p50 / p99",
            f"{ms(percentile(burst, 50))} / {ms(percentile(burst, 99))}",
            "reported",
        ),
        (
            "steady 10/s order+pay: pay→delivered p50 / p99",
            f"{ms(percentile(headline.to_delivered(), 50))} / {ms(percentile(headline.to_delivered(), 99))}",
            "p99 < 1 s",
        ),
        (
            "steady 10/s pay only: pay→delivered p50 / p99",
            f"{ms(percentile(pay_only.to_delivered(), 50))} / {ms(percentile(pay_only.to_delivered(), 99))}",
            "p99 < 1 s",
        ),
    ]
    for name, value, target in rows:
        print(f"  {name:<46} {value:>22} {target:>12}")

    print(
        f"\nEmulator rates: {BUYERS / flash.order_seconds:.0f} checkouts/s ({flash.order_seconds:.1f} s); "
        f"{len(flash.placed) / flash.pay_seconds:.0f} webhooks/s ({flash.pay_seconds:.1f} s); "
        f"all delivered {flash.deliver_seconds:.1f} s after the first webhook "
        f"({delivered_orders / flash.deliver_seconds:.0f} orders/s)."
    )
    print(
        "Burst pay→delivered: server delivered_at (µs) minus the client's time of the webhook's 2xx, "
        f"p50 {ms(percentile(burst, 50))}, p90 {ms(percentile(burst, 90))}, p99 {ms(percentile(burst, 99))}, "
        f"max {ms(max(burst, default=math.nan))}; paid_at→delivered_at on the server p50 "
        f"{ms(percentile(burst_server, 50))}, p99 {ms(percentile(burst_server, 99))}. The orders wait in the "
        "fulfilment queue behind the burst's webhooks (4 workers, one emulator)."
    )
    print(
        "\nSteady load, one shopper every 1/rate s: orders (or has ordered: 'pay only') and pays at once. "
        "pay→delivered = the webhook's 2xx (client clock) → the order's delivered_at (server, µs, same host); "
        "'seen' = → the first poll that saw it delivered (polled runs only; the polls load the stack too)."
    )
    print(
        f"  {'run':<18} {'rate/s':>6} {'orders':>6} {'delivered/s':>11} {'p50':>9} {'p90':>9} {'p99':>9} "
        f"{'max':>9} {'seen p50':>9} {'seen p99':>9} {'polls':>6} {'failures':>8}"
    )
    for r in steadies:
        latency = r.to_delivered()
        print(
            f"  {r.run.label:<18} {r.run.rate:>6.0f} {len(r.orders):>6} {r.delivered_per_second():>11.1f} "
            f"{ms(percentile(latency, 50)):>9} {ms(percentile(latency, 90)):>9} {ms(percentile(latency, 99)):>9} "
            f"{ms(max(latency, default=math.nan)):>9} {ms(percentile(r.seen(), 50)):>9} "
            f"{ms(percentile(r.seen(), 99)):>9} {r.polls:>6} {len(r.failures):>8}"
        )
        for failure in r.failures[:3]:
            print(f"    failure: {failure}")

    print(
        f"\nStock shards (writes during the sale = reserve + reserved→sold; ingestion wrote {ingest_txn} chunk "
        "transactions, up to 8 shard writes each, not counted):"
    )
    print(f"  {'shard':<9} {'imported':>8} {'sold':>6} {'reserves':>8} {'writes':>7} {'per order':>9}")
    for i in sorted(flash.shards):
        s = flash.shards[i]
        print(
            f"  {i:>5}    {s['imported']:>8} {s['sold']:>6} {reserve_writes[i]:>8} {order_writes[i]:>7} "
            f"{order_writes[i] / max(1, delivered_orders):>9.3f}"
        )

    checkout_all = by_function(flash.checkout_calls, MONEY_PATH)
    print_calls(
        "Phase 1, orders (all 1,500 buyers), per delivered order:", checkout_all, delivered_orders, "/ delivered"
    )
    print(f"  of which {rejected_queries} BatchGetItem are the rejected buyers' last look at the stock")
    print_calls(
        "Phase 2, payments and fulfilment, per delivered order:",
        by_function(flash.pay_calls, MONEY_PATH),
        delivered_orders,
        "/ delivered",
    )
    services: Counter[str] = Counter()
    for (_f, service, _op), n in money.items():
        services[service] += n
    services["dynamodb"] -= rejected_queries
    print("\nMoney path per delivered order by service (rejected buyers' last read left out):")
    for service, n in sorted(services.items()):
        print(f"  {service:<10} {n / max(1, delivered_orders):.3f}")
    print(f"  {'total':<10} {per_order:.3f}")
    print(
        "  (not counted: Lambda's own SQS ReceiveMessage/DeleteMessageBatch for the fulfilment queue, "
        "batched up to 10 messages)"
    )
    print_calls("Phase 3, each buyer reads the order with its code:", flash.read_calls, delivered_orders, "/ read")
    print_calls(
        f"Steady order+pay at 10/s ({len(headline.orders)} orders, no polling), per order:",
        by_function(headline.calls, MONEY_PATH),
        len(headline.orders),
        "/ order",
    )


def main() -> None:
    with flash_stack() as state:
        operator = Api(state["api_url"], login(state, "operator"))
        run = secrets.token_hex(3).upper()
        flash_sku, steady_sku = f"FLASH-{run}", f"STEADY-{run}"
        reset_calls(state["api_url"])
        flash_stock = stocked_product(operator, flash_sku, CARDS)
        ingest_calls = calls(state["api_url"])
        stocked_product(operator, steady_sku, STEADY_CARDS)
        flash = flash_sale(state, operator, flash_sku, flash_stock["codes"])
        steadies = [
            steady(state, operator, steady_sku, r, f"steady{k}-{run.lower()}") for k, r in enumerate(STEADY_RUNS)
        ]
        # Last, so that the steady runs follow one burst's aftermath (stream consumers still
        # catching up) as they always have, and stay comparable with earlier runs.
        promoted = promoted_sale.promoted_sale(state, operator, f"PROMO-{run}")
        shard_count = int(state.get("parameters", {}).get("StockShards", 32))
    report(flash, steadies, shard_count, ingest_calls)
    promoted_sale.report(promoted)
    print(f"\nThe stack's log: {STACK_LOG.relative_to(ROOT)}")
