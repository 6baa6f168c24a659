"""The dashboard's counter rules (kayisu.dashboard.counters) and the stream's idempotency
(kayisu.dashboard.stream) over an in-memory dashboard table: whatever batches are repeated,
reordered or crash before or after their write, the counters end as the sum of what the items
add as they are."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kayisu.dashboard import counters as c
from kayisu.dashboard import stream
from kayisu.store import dashboard as store
from kayisu.store.orders import ORDER_SK, OrderItem, OrdersItem, PaymentItem, RefundItem, order_pk

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 24, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai: an hour later is the 25th there


def an_order(order_id: str = "ord_1", **fields: Any) -> OrderItem:
    values: dict[str, Any] = {
        "order_id": order_id,
        "status": "pending_payment",
        "sku": "GIFT-50",
        "quantity": 2,
        "amount": 9800,
        "currency": "CNY",
        "email": "Alice+shop@Example.com",
        "token_hashes": {"0" * 64},
        "payment_method": "sandbox",
        "created_at": T0,
        "expires_at": T0 + timedelta(minutes=15),
        "gsi1pk": "x",
        "gsi1sk": "x",
        **fields,
    }
    return OrderItem(order_pk(order_id), ORDER_SK, **values)


def a_payment(txn: str = "t1", order_id: str = "ord_1", at: datetime = T0, **fields: Any) -> PaymentItem:
    values: dict[str, Any] = {"provider": "sandbox", "transaction_id": txn, "order_id": order_id, "amount": 9800}
    values.update({"currency": "CNY", "outcome": "paid", "at": at, "gsi1pk": "x", "gsi1sk": "x", **fields})
    return PaymentItem(f"TXN#sandbox#{txn}", "TXN", **values)


def a_refund(refund_id: str = "r1", order_id: str = "ord_1", status: str | None = "succeeded") -> RefundItem:
    values: dict[str, Any] = {"provider": "sandbox", "refund_id": refund_id, "order_id": order_id, "amount": 9800}
    values.update({"currency": "CNY", "reason": "x", "status": status, "at": T0, "gsi1pk": "x", "gsi1sk": "x"})
    return RefundItem(f"REFUND#sandbox#{refund_id}", "REFUND", **values)


def test_an_order_counts_on_its_business_day_and_hour_and_sells_only_while_paid_and_not_refunded() -> None:
    pending = c.of_order(an_order(), SHANGHAI)
    assert pending == {"DAY#2026-11-24": {"orders": 1, "orders@23": 1, "status|pending_payment": 1}}
    delivered = c.of_order(an_order(status="delivered", paid_at=T0, delivered_at=T0, unit_cost=3000), SHANGHAI)
    day = delivered["DAY#2026-11-24"]
    assert day["funnel|paid"] == day["funnel|delivered"] == 1
    assert (day["sku|GIFT-50|CNY|units"], day["sku|GIFT-50|CNY|amount"], day["sku|GIFT-50|CNY|cost"]) == (2, 9800, 6000)
    assert day["sku|GIFT-50|CNY|costed"] == 9800
    assert day["channel|web|CNY|orders"] == day["method|sandbox|CNY|orders"] == 1
    (buyers,) = [k for k in delivered if k.startswith("BUYERS#2026-11-24#")]
    assert delivered[buyers] == {c.buyer_digest("alice@example.com"): 1}  # one buyer however spelled
    assert "alice" not in json.dumps(delivered).lower()
    refunded = c.of_order(an_order(status="refunded", paid_at=T0, delivered_at=T0), SHANGHAI)["DAY#2026-11-24"]
    assert refunded["funnel|paid"] == 1
    assert "sku|GIFT-50|CNY|units" not in refunded
    assert c.of_order(an_order(status="expired", withdrawn=True), SHANGHAI) == {}


def test_money_counts_as_the_finance_export_counts_it() -> None:
    late_day = T0 + timedelta(hours=1)  # 00:30 on the 25th in Shanghai
    paid = c.of_payment(a_payment(at=late_day, outcome="duplicate"), SHANGHAI)  # any outcome is money in
    assert paid == {"DAY#2026-11-25": {"paid|CNY": 9800, "paid@00|CNY": 9800, "payments|CNY": 1}}
    assert c.of_refund(a_refund(status=None), SHANGHAI) == {"DAY#2026-11-24": {"refunded|CNY": 9800, "refunds|CNY": 1}}
    assert c.of_refund(a_refund(status="pending"), SHANGHAI)["DAY#2026-11-24"]["refunded|CNY"] == 9800
    assert c.of_refund(a_refund(status="failed"), SHANGHAI) == {}  # no money went back


# -- the stream, over an in-memory dashboard table


class Crash(Exception):
    pass


class FakeTable:
    """kayisu.store.dashboard's load_marks and write, in memory, with the same conditions; a write
    can be made to crash just before or just after it commits."""

    def __init__(self) -> None:
        self.marks: dict[str, store.Mark] = {}
        self.counts: c.Counts = {}
        self.crash: str = ""  # "before" | "after", for the next write
        self.writes = 0

    def load_marks(self, groups: list[str]) -> dict[str, store.Mark]:
        out = {}
        for g in groups:
            m = self.marks.get(g)
            out[g] = store.Mark(g, m.version, dict(m.sources)) if m else store.Mark(g)
        return out

    def write(self, marks: list[store.Mark], counts: c.Counts) -> None:
        crash, self.crash = self.crash, ""
        if crash == "before":
            raise Crash("before the write")
        moved = {m.group for m in marks if (self.marks[m.group].version if m.group in self.marks else 0) != m.version}
        if moved:
            raise store.MarksMoved(moved)
        for m in marks:
            self.marks[m.group] = store.Mark(m.group, m.version + 1, dict(m.sources))
        c.merge(self.counts, counts)
        self.writes += 1
        if crash == "after":
            raise Crash("after the write")


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> FakeTable:
    fake = FakeTable()
    monkeypatch.setattr(store, "load_marks", fake.load_marks)
    monkeypatch.setattr(store, "write", fake.write)
    return fake


def records_of(histories: list[list[OrdersItem]]) -> list[dict[str, Any]]:
    """Stream records of each item's successive states, interleaved, with rising sequence numbers."""
    out: list[dict[str, Any]] = []
    before: dict[str, OrdersItem] = {}
    longest = max(len(h) for h in histories)
    for step in range(longest):
        for history in histories:
            if step >= len(history):
                continue
            item = history[step]
            source = f"{item.pk}|{item.sk}"
            old = before.get(source)
            before[source] = item
            data: dict[str, Any] = {
                "Keys": {"pk": {"S": item.pk}, "sk": {"S": item.sk}},
                "SequenceNumber": str(1000 + len(out)),
                "NewImage": item.serialize(),
            }
            if old is not None:
                data["OldImage"] = old.serialize()
            out.append({"eventName": "MODIFY" if old else "INSERT", "dynamodb": data})
    return out


def lifecycle(n: int, path: str) -> list[list[OrdersItem]]:
    """The successive states of order n (and its payment and refund) along `path`."""
    oid, at = f"ord_{n}", T0 + timedelta(minutes=17 * n)
    pending = an_order(oid, created_at=at, sku=f"S{n % 2}", email=f"b{n % 3}@example.com", unit_cost=100)
    paid = an_order(oid, created_at=at, status="paid", paid_at=at, sku=pending.sku, email=pending.email, unit_cost=100)
    done = an_order(oid, created_at=at, status="delivered", paid_at=at, delivered_at=at, sku=pending.sku)
    done.email, done.unit_cost = pending.email, 100
    payment = a_payment(f"t{n}", oid, at)
    if path == "delivered":
        return [[pending, paid, done], [payment]]
    if path == "refunded":
        gone = an_order(oid, created_at=at, status="refunded", paid_at=at, delivered_at=at, sku=pending.sku)
        return [[pending, paid, done, gone], [payment], [a_refund(f"r{n}", oid, "pending"), a_refund(f"r{n}", oid)]]
    if path == "refund_failed":
        return [[pending, paid, done], [payment], [a_refund(f"r{n}", oid, "pending"), a_refund(f"r{n}", oid, "failed")]]
    if path == "expired":
        return [[pending, an_order(oid, created_at=at, status="expired", sku=pending.sku)]]
    if path == "withdrawn_then_placed":
        tomb = an_order(oid, created_at=at, status="expired", withdrawn=True, sku=pending.sku)
        again = an_order(oid, created_at=at + timedelta(hours=9), sku=pending.sku)  # the next business day
        return [[pending, tomb, again]]
    raise AssertionError(path)


PATHS = ["delivered", "refunded", "refund_failed", "expired", "withdrawn_then_placed"]


def expected(histories: list[list[OrdersItem]]) -> c.Counts:
    return c.total(c.of_item(h[-1], SHANGHAI) for h in histories)


@settings(max_examples=150, deadline=None)
@given(
    paths=st.lists(st.sampled_from(PATHS), min_size=1, max_size=4),
    size=st.integers(1, 6),
    data=st.data(),
)
def test_repeated_reordered_and_crashing_batches_count_every_item_as_it_is_once(
    paths: list[str], size: int, data: st.DataObject
) -> None:
    fake = FakeTable()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(store, "load_marks", fake.load_marks)
        patch.setattr(store, "write", fake.write)
        histories = [h for n, path in enumerate(paths) for h in lifecycle(n, path)]
        records = records_of(histories)
        batches = [records[i : i + size] for i in range(0, len(records), size)]
        deliveries = data.draw(st.permutations(batches)) + data.draw(st.lists(st.sampled_from(batches), max_size=4))
        crashes = data.draw(st.lists(st.sampled_from(["", "before", "after"]), min_size=len(deliveries)))
        redo: list[list[dict[str, Any]]] = []
        for batch, crash in zip(deliveries, crashes, strict=False):
            fake.crash = crash
            try:
                stream.apply(data.draw(st.permutations(batch)))  # records within a batch in any order too
            except Crash:
                redo.append(batch)  # Lambda retries it
        fake.crash = ""
        for batch in redo:
            stream.apply(batch)
        assert fake.counts == expected(histories)


def test_a_batch_is_a_few_writes_not_one_per_record(table: FakeTable) -> None:
    histories = [h for n in range(30) for h in lifecycle(n, "delivered")]
    records = records_of(histories)
    outcome = stream.apply(records)
    assert (outcome.records, outcome.transactions, table.writes) == (120, 1, 1)
    assert table.counts == expected(histories)
    again = stream.apply(records)  # redelivered: all skipped, nothing written
    assert (again.changes, again.transactions, table.writes) == (0, 0, 1)


def test_a_race_on_one_order_reads_the_marks_again(table: FakeTable) -> None:
    records = records_of(lifecycle(1, "delivered"))
    real_load = table.load_marks
    raced: list[bool] = []

    def load_then_race(groups: list[str]) -> dict[str, store.Mark]:
        marks = real_load(groups)
        if not raced:  # another invocation applies the same records meanwhile
            raced.append(True)
            stream.apply(records)
        return marks

    store.load_marks = load_then_race  # type: ignore[assignment]  # undone by the fixture's monkeypatch
    outcome = stream.apply(records)
    assert outcome.retries == 1
    assert table.counts == expected(lifecycle(1, "delivered"))
