"""The branches of applying a payment (kayisu.orders.payment.apply_payment and _not_payable),
run against in-memory fakes of the orders table and the fulfilment queue (tests/fakes/money.py).
Promise 5: a provider transaction pays one order once, and an amount or currency mismatch never
delivers. The same paths end to end, through DynamoDB, are in tests/integration/test_orders.py
and test_orders_chaos.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kayisu.errors import Problem
from kayisu.orders.payment import HELD, apply_payment
from kayisu.orders.status import OrderStatus
from kayisu.payments.provider import NotificationKind, PaymentNotification
from kayisu.store.orders import OrderItem, new_order
from tests.fakes.money import FakeFulfilmentQueue, FakePaymentRecords

PROVIDER = "sandbox"
AT = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def an_order(
    records: FakePaymentRecords, order_id: str = "ord_a", status: str = OrderStatus.PENDING_PAYMENT
) -> OrderItem:
    order = new_order(
        order_id,
        "buyer@example.com",
        AT,
        AT + timedelta(minutes=15),
        status=status,
        sku="GIFT-100",
        quantity=1,
        amount=990,
        currency="CNY",
        token_hashes={"h"},
        payment_method=PROVIDER,
        payment_id=f"sbx_{order_id}",
    )
    records.orders[order_id] = order
    return order


def paid(order_id: str = "ord_a", txn: str = "txn_1", amount: int = 990, currency: str = "CNY") -> PaymentNotification:
    return PaymentNotification(f"evt_{txn}", NotificationKind.PAID, order_id, f"sbx_{order_id}", amount, currency, txn)


@pytest.fixture
def records() -> FakePaymentRecords:
    return FakePaymentRecords()


@pytest.fixture
def queue() -> FakeFulfilmentQueue:
    return FakeFulfilmentQueue()


def code_of(call: object) -> str:
    assert isinstance(call, Problem)
    return call.code


def test_a_matching_payment_pays_the_order_and_asks_for_fulfilment(
    records: FakePaymentRecords, queue: FakeFulfilmentQueue
) -> None:
    order = an_order(records)
    assert apply_payment(PROVIDER, paid(), records, queue) == OrderStatus.PAID
    assert (order.status, order.transaction_id, bool(order.late)) == (OrderStatus.PAID, "txn_1", False)
    assert queue.requested == ["ord_a"]
    assert records.payments[(PROVIDER, "txn_1")].outcome == "paid"


def test_a_repeated_notification_pays_nothing_more_and_asks_for_fulfilment_again(
    records: FakePaymentRecords, queue: FakeFulfilmentQueue
) -> None:
    an_order(records)
    apply_payment(PROVIDER, paid(), records, queue)
    assert apply_payment(PROVIDER, paid(), records, queue) == OrderStatus.PAID
    assert len(records.payments) == 1
    assert queue.requested == ["ord_a", "ord_a"]  # harmless: fulfilment starts from the order's state


def test_a_transaction_that_paid_another_order_is_refused(
    records: FakePaymentRecords, queue: FakeFulfilmentQueue
) -> None:
    an_order(records, "ord_a")
    other = an_order(records, "ord_b")
    apply_payment(PROVIDER, paid("ord_a"), records, queue)
    with pytest.raises(Problem) as refused:
        apply_payment(PROVIDER, paid("ord_b"), records, queue)
    assert (refused.value.status, code_of(refused.value)) == (409, "DUPLICATE_TRANSACTION")
    assert other.status == OrderStatus.PENDING_PAYMENT
    assert queue.requested == ["ord_a"]


@pytest.mark.parametrize(("amount", "currency"), [(1, "CNY"), (990, "USD")])
def test_a_mismatch_holds_the_order_and_never_delivers_even_when_paid_in_full_later(
    records: FakePaymentRecords, queue: FakeFulfilmentQueue, amount: int, currency: str
) -> None:
    order = an_order(records)
    for _repeat in range(2):
        with pytest.raises(Problem) as refused:
            apply_payment(PROVIDER, paid(amount=amount, currency=currency), records, queue)
        assert (refused.value.status, code_of(refused.value)) == (409, "AMOUNT_MISMATCH")
    assert (order.status, order.held) == (OrderStatus.PENDING_PAYMENT, True)
    assert records.payments[(PROVIDER, "txn_1")].outcome == "mismatch"

    assert apply_payment(PROVIDER, paid(txn="txn_2"), records, queue) == HELD
    assert apply_payment(PROVIDER, paid(txn="txn_2"), records, queue) == HELD  # its repeat
    assert order.status == OrderStatus.PENDING_PAYMENT
    assert records.payments[(PROVIDER, "txn_2")].outcome == "held"
    assert queue.requested == []


def test_money_for_an_order_that_does_not_exist_is_kept_for_reconciliation_once(
    records: FakePaymentRecords, queue: FakeFulfilmentQueue
) -> None:
    for _repeat in range(2):
        with pytest.raises(Problem) as refused:
            apply_payment(PROVIDER, paid("ord_none"), records, queue)
        assert code_of(refused.value) == "UNKNOWN_ORDER"
    assert [(p.order_id, p.outcome) for p in records.payments.values()] == [("ord_none", "unmatched")]
    assert queue.requested == []


def test_a_payment_after_expiry_is_a_late_payment_and_is_fulfilled(
    records: FakePaymentRecords, queue: FakeFulfilmentQueue
) -> None:
    order = an_order(records, status=OrderStatus.EXPIRED)
    assert apply_payment(PROVIDER, paid(), records, queue) == OrderStatus.PAID
    assert (order.status, order.late) == (OrderStatus.PAID, True)
    assert records.payments[(PROVIDER, "txn_1")].outcome == "late"
    assert queue.requested == ["ord_a"]


@pytest.mark.parametrize("status", [OrderStatus.PAID, OrderStatus.DELIVERED, OrderStatus.REFUNDED])
def test_a_second_payment_is_recorded_for_an_operator_and_changes_nothing(
    records: FakePaymentRecords, queue: FakeFulfilmentQueue, status: OrderStatus
) -> None:
    order = an_order(records, status=status)
    for _repeat in range(2):
        assert apply_payment(PROVIDER, paid(txn="txn_again"), records, queue) == "duplicate"
    assert order.status == status
    assert not order.held  # a second payment is refunded by an operator; the order itself is fine
    assert records.payments[(PROVIDER, "txn_again")].outcome == "duplicate"
    assert f"while {status}" in str(order.review_reason)
    assert queue.requested == []


def test_a_payment_refunded_at_the_provider_before_it_was_applied_is_never_applied(
    records: FakePaymentRecords, queue: FakeFulfilmentQueue
) -> None:
    order = an_order(records)
    assert records.flag_for_review("ord_a", PROVIDER, "txn_1", 990, "CNY", "refunded there", AT, outcome="refunded")
    assert apply_payment(PROVIDER, paid(), records, queue) == HELD
    assert (order.status, order.held) == (OrderStatus.PENDING_PAYMENT, True)
    assert queue.requested == []


def test_an_order_the_sweeper_expired_meanwhile_is_paid_late(
    records: FakePaymentRecords, queue: FakeFulfilmentQueue
) -> None:
    """The first conditional write fails because the order moved; the rule looks again."""
    order = an_order(records)

    class ExpiredMeanwhile(FakePaymentRecords):
        def record_payment(self, *args: object, **kwargs: object) -> None:
            if order.status == OrderStatus.PENDING_PAYMENT:
                order.status = OrderStatus.EXPIRED  # the sweeper, just before our write
            super().record_payment(*args, **kwargs)  # type: ignore[arg-type]

    racing = ExpiredMeanwhile(records.orders, records.payments)
    assert apply_payment(PROVIDER, paid(), racing, queue) == OrderStatus.PAID
    assert (order.status, order.late) == (OrderStatus.PAID, True)
    assert queue.requested == ["ord_a"]
