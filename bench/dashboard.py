"""The dashboard (issue 16): 10,000 orders over 30 days as the orders table's stream records,
applied by the stream function's code to the emulator's dashboard table (DynamoDB requests
and writes per 1,000 order changes), then GET /v1/admin/dashboard's domain over 30 days, one
day and 400 days (AWS requests and time). BENCH_DASHBOARD_ORDERS to change the count.

The records are what the money path writes, made here rather than by 10,000 orders through
the stack (which would take the emulator an hour): each order's changes (placed; paid with its
payment; delivered; its mail claimed; for some a refund decided, made with its refund and
mailed; or expired), at realistic times, over 20 SKUs (half with a cost) and up to 6,000
buyers, many buying again. A stream batch holds what arrived within the mapping's batching
window, up to its batch size (both read from template.yaml), so writes per change depend on
traffic; three paces are measured: a backlog or burst (full batches), a steady 10 orders/s,
and the 30 days as they happen (about one change per batch)."""

from __future__ import annotations

import logging
import os
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bench.stack import ROOT
from tests.support import free_port


def _mapping() -> tuple[int, timedelta]:
    """The batch size and batching window of DashboardStreamFunction's stream event (template.yaml)."""
    from local.template import load_template

    event = load_template(ROOT / "template.yaml")["Resources"]["DashboardStreamFunction"]["Properties"]["Events"]
    props = event["OrderChanges"]["Properties"]
    return int(props["BatchSize"]), timedelta(seconds=float(props["MaximumBatchingWindowInSeconds"]))


BATCH_SIZE, WINDOW = _mapping()
SKUS, BUYERS, DAYS = 20, 6000, 30
FIRST_DAY = date(2026, 10, 1)


@dataclass
class Calls:
    """AWS requests made by this process's own code (the emulator serves them in threads)."""

    by_operation: Counter[str] = field(default_factory=Counter)
    transact_items: int = 0
    marks: int = 0  # Put items of the transactions
    counter_updates: Counter[str] = field(default_factory=Counter)  # Update items, by counter item

    def reset(self) -> None:
        self.by_operation.clear()
        self.transact_items = self.marks = 0
        self.counter_updates.clear()

    def note(self, operation: str, params: dict[str, Any]) -> None:
        self.by_operation[operation] += 1
        for item in params.get("TransactItems") or []:
            self.transact_items += 1
            if "Put" in item:
                self.marks += 1
            else:
                self.counter_updates[item["Update"]["Key"]["pk"]["S"]] += 1


CALLS = Calls()


@contextmanager
def emulator() -> Iterator[dict[str, str]]:
    """The local stack's emulator in this process, with template.yaml's resources, and the
    functions' environment set (before kayisu is imported: its models read their tables then)."""
    from botocore.client import BaseClient

    from local.emulator import Emulator
    from local.functions import global_environment
    from local.provision import Provisioner
    from local.template import REGION, Template

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": url,
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }
    )
    emu = Emulator("127.0.0.1", port)
    emu.start()
    original = BaseClient._make_api_call  # type: ignore[attr-defined]

    def counted(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        CALLS.note(operation, params)
        return original(self, operation, params)

    try:
        template = Template.load(ROOT / "template.yaml", {})
        resources = Provisioner(template, url).create_all()
        environment = global_environment(template)
        os.environ.update(environment)
        setattr(BaseClient, "_make_api_call", counted)  # noqa: B010 - counting, not changing
        yield {k: str(v) for k, v in resources.items()}
    finally:
        setattr(BaseClient, "_make_api_call", original)  # noqa: B010
        emu.stop()


# -- the orders' stream records


@dataclass
class Change:
    at: datetime
    image: Any  # an OrdersItem as it is after the change


def _lifecycle(n: int, rng: random.Random, placed: datetime) -> list[Change]:
    from kayisu.store.orders import ORDER_SK, OrderItem, PaymentItem, RefundItem, order_pk

    sku = rng.randrange(SKUS)
    price, quantity = 1000 + 500 * sku, rng.choices([1, 2, 3], [7, 2, 1])[0]
    buyer = int(rng.paretovariate(1.2) * 1000) % BUYERS
    oid = f"ord_bench{n:07d}"
    fields: dict[str, Any] = {
        "order_id": oid,
        "status": "pending_payment",
        "sku": f"BENCH-{sku:02d}",
        "quantity": quantity,
        "amount": price * quantity,
        "currency": "CNY",
        "unit_cost": price * 6 // 10 if sku % 2 == 0 else None,
        "email": f"buyer{buyer}@example.com",
        "token_hashes": {f"{n:064d}"},
        "payment_method": rng.choices(["wechatpay", "alipay", "sandbox"], [5, 4, 1])[0],
        "created_at": placed,
        "expires_at": placed + timedelta(minutes=15),
        "gsi1pk": "CREATED",
        "gsi1sk": oid,
    }

    def state(at: datetime, **more: Any) -> Change:
        fields.update(more)
        return Change(at, OrderItem(order_pk(oid), ORDER_SK, **fields))

    out = [state(placed)]
    fate = rng.choices(["delivered", "refunded", "expired", "pending"], [80, 7, 10, 3])[0]
    if fate == "pending":
        return out
    if fate == "expired":
        return [*out, state(placed + timedelta(minutes=15, seconds=rng.randrange(60)), status="expired")]
    paid = placed + timedelta(seconds=rng.randrange(20, 300))
    txn = f"txn_bench{n:07d}"
    money = {"provider": fields["payment_method"], "order_id": oid, "amount": fields["amount"], "currency": "CNY"}
    out.append(state(paid, status="paid", paid_at=paid, transaction_id=txn))
    pk = f"TXN#{fields['payment_method']}#{txn}"
    out.append(Change(paid, PaymentItem(pk, "TXN", transaction_id=txn, outcome="paid", at=paid, **_index(money))))
    done = paid + timedelta(seconds=1)
    out.append(state(done, status="delivered", delivered_at=done, cards=[f"b-x:{n}"]))
    out.append(state(done + timedelta(seconds=1), mailed_at=done))
    if fate == "refunded":
        asked = done + timedelta(hours=rng.randrange(1, 72))
        out.append(state(asked, refund_requested=True, refund_reason="bench"))
        refund_id = f"rf_bench{n:07d}"
        refunded = asked + timedelta(seconds=1)
        out.append(state(refunded, status="refunded", refunded_at=refunded, refund_id=refund_id))
        pk = f"REFUND#{fields['payment_method']}#{refund_id}"
        settled = {"refund_id": refund_id, "reason": "bench", "status": "succeeded", "at": refunded}
        out.append(Change(refunded, RefundItem(pk, "REFUND", **{**_index(money), **settled})))
        out.append(state(refunded + timedelta(seconds=1), refund_mail_owed=None))
    return out


def _index(money: dict[str, Any]) -> dict[str, Any]:
    return {**money, "gsi1pk": "MONEY", "gsi1sk": str(money["order_id"])}


def changes(orders: int, spread: Callable[[int], datetime]) -> list[Change]:
    """Every order's changes, in time order (as the stream has them)."""
    rng = random.Random(f"dashboard:{orders}")
    out = [c for n in range(orders) for c in _lifecycle(n, rng, spread(n))]
    out.sort(key=lambda c: c.at)
    return out


def records(found: list[Change]) -> list[tuple[datetime, dict[str, Any]]]:
    before: dict[str, Any] = {}
    out = []
    for seq, change in enumerate(found, start=10**20):
        item = change.image
        source = f"{item.pk}|{item.sk}"
        data: dict[str, Any] = {
            "Keys": {"pk": {"S": item.pk}, "sk": {"S": item.sk}},
            "SequenceNumber": str(seq),
            "NewImage": item.serialize(),
        }
        if source in before:
            data["OldImage"] = before[source]
        before[source] = data["NewImage"]
        out.append((change.at, {"eventName": "MODIFY" if "OldImage" in data else "INSERT", "dynamodb": data}))
    return out


def batches(timed: list[tuple[datetime, dict[str, Any]]], window: bool) -> Iterator[list[dict[str, Any]]]:
    """What Lambda hands over: records that arrived within the batching window (`window`; else a
    backlog, read as fast as it goes), up to the batch size."""
    current: list[dict[str, Any]] = []
    opened: datetime | None = None
    for at, record in timed:
        late = window and opened is not None and at - opened > WINDOW
        if current and (len(current) >= BATCH_SIZE or late):
            yield current
            current = []
        if not current:
            opened = at
        current.append(record)
    if current:
        yield current


# -- measuring


def fresh_table(name: str) -> None:
    import boto3

    from kayisu.config import get_settings

    boto3.client("dynamodb").create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in ("pk", "sk")],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        BillingMode="PAY_PER_REQUEST",
    )
    os.environ["DASHBOARD_TABLE"] = name
    get_settings.cache_clear()


def apply(timed: list[tuple[datetime, dict[str, Any]]], pace: str, window: bool = True) -> dict[str, Any]:
    from kayisu.dashboard import stream

    order_changes = sum(1 for _, r in timed if r["dynamodb"]["Keys"]["sk"]["S"] == "ORDER")
    CALLS.reset()
    started, count = time.monotonic(), 0
    for batch in batches(timed, window):
        stream.apply(batch)
        count += 1
    seconds = time.monotonic() - started
    writes = CALLS.by_operation["TransactWriteItems"]
    sizes = item_sizes()
    mark_kb = statistics.mean(kb for pk, kb in sizes.items() if pk.startswith("MARK#"))
    # DynamoDB bills a transactional write 2 WCU per KB of the item (an update: of the larger of
    # before and after; the final size is used here, an upper bound).
    wcu = 2 * (CALLS.marks * mark_kb + sum(n * sizes.get(pk, 1) for pk, n in CALLS.counter_updates.items()))
    return {
        "pace": pace,
        "records": len(timed),
        "order_changes": order_changes,
        "batches": count,
        "writes": writes,
        "writes_per_1000": 1000 * writes / order_changes,
        "items_per_1000": 1000 * CALLS.transact_items / order_changes,
        "reads_per_1000": 1000 * CALLS.by_operation["BatchGetItem"] / order_changes,
        "records_per_s": len(timed) / seconds,
        "wcu_per_1000": 1000 * wcu / order_changes,
        "largest_counter_kb": max(kb for pk, kb in sizes.items() if not pk.startswith("MARK#")),
    }


def item_sizes() -> dict[str, int]:
    """Each item of the dashboard table by pk: its size in KB, rounded up as DynamoDB bills it
    (names and values as UTF-8; numbers as their digits: roughly what DynamoDB counts)."""
    import boto3

    from kayisu.config import get_settings

    out: dict[str, int] = {}
    pages = boto3.client("dynamodb").get_paginator("scan").paginate(TableName=get_settings().dashboard_table)
    for page in pages:
        for item in page["Items"]:
            size = sum(len(k.encode()) + len(str(next(iter(v.values()))).encode()) for k, v in item.items())
            out[item["pk"]["S"]] = -(-size // 1024)
    return out


def seed_catalog() -> None:
    from kayisu.store.catalog import PRODUCT_SK, ProductItem, StockShardItem, product_pk, shard_sk

    at = datetime(2026, 9, 30, tzinfo=UTC)
    for k in range(SKUS):
        sku = f"BENCH-{k:02d}"
        ProductItem(
            product_pk(sku),
            PRODUCT_SK,
            sku=sku,
            name=f"基准商品 {k}",
            price=1000 + 500 * k,
            currency="CNY",
            cost=(1000 + 500 * k) * 6 // 10 if k % 2 == 0 else None,
            max_per_order=10,
            alert_threshold=10,
            status="active",
            created_at=at,
            updated_at=at,
        ).save()
        StockShardItem(product_pk(sku), shard_sk(0), sku=sku, imported=100, available=5 * k).save()


def route(first: date, last: date, runs: int = 5) -> dict[str, Any]:
    from kayisu.dashboard import query

    query.dashboard(first.isoformat(), last.isoformat())  # warm: connections, imports
    times, calls = [], Counter[str]()
    for _ in range(runs):
        CALLS.reset()
        started = time.monotonic()
        answer = query.dashboard(first.isoformat(), last.isoformat())
        times.append(time.monotonic() - started)
        calls = Counter(CALLS.by_operation)
    return {
        "days": (last - first).days + 1,
        "requests": sum(calls.values()),
        "calls": dict(calls),
        "ms": 1000 * statistics.median(times),
        "orders": answer.funnel.created,
        "repeat_rate": answer.buyers.repeat_rate,
    }


def main() -> None:
    orders = int(os.environ.get("BENCH_DASHBOARD_ORDERS", "10000"))
    start = datetime.combine(FIRST_DAY, datetime.min.time(), UTC) - timedelta(hours=8)  # midnight in Shanghai
    month = timedelta(days=DAYS)
    with emulator():
        seed_catalog()
        made = time.monotonic()
        over_30_days = records(changes(orders, lambda n: start + month * (n + random.Random(n).random()) / orders))
        steady = records(changes(orders, lambda n: start + timedelta(seconds=n / 10)))  # 10 orders/s
        print(f"{orders:,} orders: {len(over_30_days):,} records made in {time.monotonic() - made:.0f} s", flush=True)
        results = [apply(over_30_days, "backlog/burst (full batches)", window=False)]
        # The template's table holds the full run (the route reads it); the slower paces, a part
        # of their records each, go to tables of their own.
        real = os.environ["DASHBOARD_TABLE"]
        fresh_table("kayisu-bench-dashboard-steady")
        results.append(apply(steady[:15000], f"steady 10 orders/s ({WINDOW.seconds} s window)"))
        fresh_table("kayisu-bench-dashboard-spread")
        results.append(apply(over_30_days[:1500], f"30 days as they happen ({WINDOW.seconds} s window)"))
        os.environ["DASHBOARD_TABLE"] = real
        from kayisu.config import get_settings

        get_settings.cache_clear()
        last = FIRST_DAY + timedelta(days=DAYS - 1)
        reads = [route(FIRST_DAY, last), route(last, last), route(last - timedelta(days=399), last)]
    print(
        f"\n{'stream pace':<38} {'records':>8} {'order chg':>9} {'batches':>7} {'writes':>6}"
        f" {'writes/1k':>9} {'items/1k':>8} {'~WCU/1k':>8} {'reads/1k':>8} {'rec/s':>6}"
    )
    for r in results:
        print(
            f"{r['pace']:<38} {r['records']:>8,} {r['order_changes']:>9,} {r['batches']:>7,} {r['writes']:>6,}"
            f" {r['writes_per_1000']:>9.1f} {r['items_per_1000']:>8.0f} {r['wcu_per_1000']:>8.0f}"
            f" {r['reads_per_1000']:>8.1f}"
            f" {r['records_per_s']:>6.0f}"
        )
    print("writes: TransactWriteItems requests (target ≤ 50 per 1,000 order changes); items: their marks and counters")
    print(f"~WCU: as DynamoDB would bill them; the largest counter item: {results[0]['largest_counter_kb']} KB")
    print(f"\n{'route range':<12} {'requests':>8} {'ms (median of 5)':>16}  calls")
    for r in reads:
        days, orders_seen = f"{r['days']} days", f"(orders: {r['orders']:,}, repeat rate {r['repeat_rate']:.0%})"
        print(f"{days:<12} {r['requests']:>8} {r['ms']:>16.0f}  {r['calls']}  {orders_seen}")
    print("ms: on the local emulator (moto, one request at a time), not DynamoDB's latency")
