"""The branches of fulfilment (kayisu.orders.fulfilment.fulfil, and refund_order where fulfilment
refunds), run against in-memory fakes of the orders, cards and catalog tables, the provider's
refunds, mail and operators' alerts (tests/fakes/fulfilment.py, tests/fakes/messages.py).
Promise 1: a card is sold to at most one order; promise 2: a paid order ends with exactly
`quantity` cards delivered, or refunded, never twice; promise 3: the counters add up; promise
10: the shopper is told at least once. The same paths end to end, through DynamoDB and with an
exception injected at every AWS call, are in tests/integration/test_orders.py,
test_orders_chaos.py and test_refund_chaos.py."""

from __future__ import annotations

import re

import pytest

from kayisu.orders.fulfilment import FulfilmentPorts, PoolShort, RefundDeclined, fulfil, refund_order
from kayisu.orders.status import OrderStatus
from kayisu.orders.tokens import owns
from kayisu.payments.provider import RefundStatus
from kayisu.store.cards import CardRef
from kayisu.store.orders import OrderItem
from tests.fakes.fulfilment import AT, FakeRefunds, FakeShop
from tests.fakes.messages import FakeAlerts, FakeMailer, Unreachable

SKU = "GIFT-100"


@pytest.fixture
def shop() -> FakeShop:
    shop = FakeShop()
    shop.stock(SKU, 0, 5)
    return shop


@pytest.fixture
def mail() -> FakeMailer:
    return FakeMailer()


@pytest.fixture
def alerts() -> FakeAlerts:
    return FakeAlerts()


@pytest.fixture
def refunds() -> FakeRefunds:
    return FakeRefunds()


@pytest.fixture
def ports(shop: FakeShop, mail: FakeMailer, alerts: FakeAlerts, refunds: FakeRefunds) -> FulfilmentPorts:
    return FulfilmentPorts(shop, shop, shop, providers=lambda _name: refunds, mail=mail, alerts=alerts)


def token_in(body: str) -> str:
    found = re.search(r"#token=([\w-]+)", body)
    assert found is not None, body
    return found.group(1)


def opens(shop: FakeShop, order_id: str, body: str) -> bool:
    """Whether the link in a mail opens the order (its token is one the order accepts)."""
    stored: OrderItem = shop.orders[order_id]
    return owns(stored, token_in(body))


def test_a_paid_order_gets_exactly_its_cards_from_its_reservation_and_a_mail_that_opens_it(
    shop: FakeShop, ports: FulfilmentPorts, mail: FakeMailer
) -> None:
    shop.paid_order("ord_a", quantity=2)
    assert fulfil("ord_a", ports) == "delivered"
    order = shop.orders["ord_a"]
    assert order.status == OrderStatus.DELIVERED
    sold = shop.sold_to("ord_a")
    assert len(sold) == 2
    assert sorted(d for _, d in order.card_refs()) == sorted(c.digest for c in sold)
    assert shop.counters(SKU, 0) == {"imported": 5, "available": 3, "reserved": 0, "sold": 2, "void": 0}
    assert [m.to for m in mail.sent] == ["ord_a@example.com"]
    assert "ord_a" in mail.sent[0].subject
    assert opens(shop, "ord_a", mail.sent[0].body)


def test_a_repeat_never_allocates_again_and_mails_once_more_at_most(
    shop: FakeShop, ports: FulfilmentPorts, mail: FakeMailer
) -> None:
    """The first attempt may have died before its mail: one repeat sends it again, no more."""
    shop.paid_order("ord_a", quantity=2)
    fulfil("ord_a", ports)
    cards = [c.digest for c in shop.sold_to("ord_a")]
    for _repeat in range(3):
        assert fulfil("ord_a", ports) == "skipped"
    assert [c.digest for c in shop.sold_to("ord_a")] == cards
    assert shop.counters(SKU, 0)["sold"] == 2
    assert len(mail.sent) == 2
    assert all(opens(shop, "ord_a", m.body) for m in mail.sent)


def test_a_mail_that_fails_after_the_cards_were_sold_is_sent_by_the_retry_with_the_same_cards(
    shop: FakeShop, ports: FulfilmentPorts, mail: FakeMailer
) -> None:
    shop.paid_order("ord_a")
    mail.fail_next = 1
    with pytest.raises(Unreachable):
        fulfil("ord_a", ports)  # the queue redelivers the message
    assert shop.orders["ord_a"].status == OrderStatus.DELIVERED
    cards = [c.digest for c in shop.sold_to("ord_a")]
    assert len(cards) == 1
    assert mail.sent == []

    assert fulfil("ord_a", ports) == "skipped"
    assert [c.digest for c in shop.sold_to("ord_a")] == cards
    assert len(mail.sent) == 1
    assert opens(shop, "ord_a", mail.sent[0].body)


def test_a_failed_re_send_gives_its_claim_back_for_the_next_repeat(
    shop: FakeShop, ports: FulfilmentPorts, mail: FakeMailer
) -> None:
    shop.paid_order("ord_a")
    mail.fail_next = 2  # the delivery's mail, then the first repeat's
    for _attempt in range(2):
        with pytest.raises(Unreachable):
            fulfil("ord_a", ports)
    assert shop.orders["ord_a"].mailed_at is None
    assert fulfil("ord_a", ports) == "skipped"
    assert len(mail.sent) == 1
    assert shop.orders["ord_a"].mailed_at is not None


def test_cards_another_order_took_meanwhile_are_swapped_for_others(
    shop: FakeShop, ports: FulfilmentPorts, mail: FakeMailer
) -> None:
    shop.paid_order("ord_a", quantity=2)
    shop.paid_order("ord_b", quantity=2)

    def b_takes_the_cards_a_chose(chosen: list[CardRef]) -> None:
        b = shop.load_order("ord_b")
        assert b is not None
        shop.deliver(b, chosen, True, "hash_b", AT)

    shop.meanwhile.append(b_takes_the_cards_a_chose)
    assert fulfil("ord_a", ports) == "delivered"
    a, b = {c.digest for c in shop.sold_to("ord_a")}, {c.digest for c in shop.sold_to("ord_b")}
    assert len(a) == len(b) == 2
    assert not a & b
    assert shop.counters(SKU, 0) == {"imported": 5, "available": 1, "reserved": 0, "sold": 4, "void": 0}
    assert [m.to for m in mail.sent] == ["ord_a@example.com"]


def test_a_second_worker_on_the_same_order_finds_it_delivered(
    shop: FakeShop, ports: FulfilmentPorts, mail: FakeMailer
) -> None:
    shop.paid_order("ord_a")
    first_worker: list[str] = []
    shop.meanwhile.append(lambda _cards: first_worker.append(fulfil("ord_a", ports)))
    assert fulfil("ord_a", ports) == "skipped"  # its transaction fails on the order: it looks again
    assert first_worker == ["delivered"]
    assert len(shop.sold_to("ord_a")) == 1
    assert shop.counters(SKU, 0)["sold"] == 1
    assert len(mail.sent) == 2  # the first worker's mail, and this one's re-send (it cannot tell)


def test_a_pool_behind_its_counters_is_retried_later_not_refunded(shop: FakeShop, ports: FulfilmentPorts) -> None:
    shop.paid_order("ord_a", quantity=2)
    for card in list(shop.cards.values())[:4]:
        card.status = "sold"  # the pool index lags the counters, which still promise the cards
    with pytest.raises(PoolShort):
        fulfil("ord_a", ports)
    assert shop.orders["ord_a"].status == OrderStatus.PAID
    assert shop.sold_to("ord_a") == []


def test_an_order_paid_after_it_expired_takes_what_is_available(
    shop: FakeShop, ports: FulfilmentPorts, mail: FakeMailer
) -> None:
    shop.paid_order("ord_a", quantity=2, reserved_in=None, late=True)
    assert fulfil("ord_a", ports) == "delivered"
    assert len(shop.sold_to("ord_a")) == 2
    assert shop.counters(SKU, 0) == {"imported": 5, "available": 3, "reserved": 0, "sold": 2, "void": 0}
    assert len(mail.sent) == 1


def test_an_order_paid_after_it_expired_with_no_stock_left_is_refunded_once_and_told(
    shop: FakeShop, ports: FulfilmentPorts, mail: FakeMailer, refunds: FakeRefunds
) -> None:
    shop.paid_order("ord_b", quantity=5)  # reserves all there is
    shop.paid_order("ord_a", quantity=2, reserved_in=None, late=True)
    assert fulfil("ord_a", ports) == "refunded"
    for _repeat in range(2):
        assert fulfil("ord_a", ports) == "skipped"
    order = shop.orders["ord_a"]
    assert (order.status, order.refund_id) == (OrderStatus.REFUNDED, "re_ord_a")
    assert shop.refunds == {("sandbox", "re_ord_a"): "succeeded"}
    assert refunds.asked == ["ord_a"]
    assert shop.sold_to("ord_a") == []
    assert [m.subject for m in mail.to("ord_a@example.com")] == ["您的订单已退款 / Your order ord_a was refunded"]
    assert shop.counters(SKU, 0) == {"imported": 5, "available": 0, "reserved": 5, "sold": 0, "void": 0}


def test_an_order_paid_after_its_product_vanished_is_refunded(ports: FulfilmentPorts, shop: FakeShop) -> None:
    shop.paid_order("ord_a", sku="GONE", reserved_in=None, late=True)
    assert fulfil("ord_a", ports) == "refunded"
    assert shop.orders["ord_a"].status == OrderStatus.REFUNDED


@pytest.mark.parametrize("status", [OrderStatus.PENDING_PAYMENT, OrderStatus.EXPIRED])
def test_an_order_not_paid_is_left_alone(
    shop: FakeShop, ports: FulfilmentPorts, mail: FakeMailer, status: OrderStatus
) -> None:
    shop.paid_order("ord_a", status=status)
    assert fulfil("ord_a", ports) == "skipped"
    assert shop.orders["ord_a"].status == status
    assert shop.sold_to("ord_a") == []
    assert mail.sent == []
    assert shop.counters(SKU, 0)["reserved"] == 1


def test_an_unknown_order_is_skipped(ports: FulfilmentPorts, mail: FakeMailer) -> None:
    assert fulfil("ord_none", ports) == "skipped"
    assert mail.sent == []


def test_a_held_order_is_never_delivered(shop: FakeShop, ports: FulfilmentPorts, mail: FakeMailer) -> None:
    """A mismatch holds an order before it is paid, so it never reaches fulfilment as paid."""
    shop.paid_order("ord_a", status=OrderStatus.PENDING_PAYMENT, held=True)
    assert fulfil("ord_a", ports) == "skipped"
    assert shop.sold_to("ord_a") == []
    assert mail.sent == []


def test_a_refunded_order_whose_mail_is_owed_is_mailed_once(
    shop: FakeShop, ports: FulfilmentPorts, mail: FakeMailer
) -> None:
    shop.paid_order("ord_a", status=OrderStatus.REFUNDED, refund_mail_owed=True)
    for _repeat in range(2):
        assert fulfil("ord_a", ports) == "skipped"
    assert [m.subject for m in mail.sent] == ["您的订单已退款 / Your order ord_a was refunded"]
    assert shop.orders["ord_a"].refund_mail_owed is None


def test_a_refund_decided_and_not_finished_is_finished_by_fulfilment_not_delivered(
    shop: FakeShop, ports: FulfilmentPorts, mail: FakeMailer, refunds: FakeRefunds
) -> None:
    """The function that decided the refund died before the provider was asked."""
    shop.paid_order("ord_a", refund_requested=True, refund_reason="operator: changed mind")
    assert fulfil("ord_a", ports) == "refunded"
    order = shop.orders["ord_a"]
    assert (order.status, order.refund_reason) == (OrderStatus.REFUNDED, "operator: changed mind")
    assert shop.sold_to("ord_a") == []
    assert refunds.asked == ["ord_a"]
    assert shop.counters(SKU, 0) == {"imported": 5, "available": 5, "reserved": 0, "sold": 0, "void": 0}
    assert [m.to for m in mail.sent] == ["ord_a@example.com"]


def test_a_delivered_order_refunded_voids_its_cards(shop: FakeShop, ports: FulfilmentPorts) -> None:
    shop.paid_order("ord_a", quantity=2)
    fulfil("ord_a", ports)
    order = shop.load_order("ord_a")
    assert order is not None
    refund_order(order, "operator: wrong codes", "operator", ports=ports)
    assert shop.orders["ord_a"].status == OrderStatus.REFUNDED
    assert [c.status for c in shop.cards.values() if c.order_id == "ord_a"] == ["void", "void"]
    assert shop.counters(SKU, 0) == {"imported": 5, "available": 3, "reserved": 0, "sold": 0, "void": 2}


def test_a_refund_the_provider_reports_failed_holds_the_order_and_alerts_operators_once(
    shop: FakeShop, ports: FulfilmentPorts, alerts: FakeAlerts, refunds: FakeRefunds, mail: FakeMailer
) -> None:
    refunds.status = RefundStatus.FAILED
    shop.paid_order("ord_b", quantity=5)
    shop.paid_order("ord_a", reserved_in=None, late=True)
    assert fulfil("ord_a", ports) == "skipped"  # held for an operator
    for _repeat in range(2):
        assert fulfil("ord_a", ports) == "skipped"
    order = shop.orders["ord_a"]
    assert (order.status, order.refund_requested, order.refund_failed) == (OrderStatus.PAID, True, True)
    assert "pay back by hand" in str(order.review_reason)
    assert shop.refunds == {("sandbox", "re_ord_a"): "failed"}
    assert [a.subject for a in alerts.published] == ["Kayisu dev: sandbox refund failed"]
    assert refunds.asked == ["ord_a"]
    assert mail.sent == []
    assert shop.sold_to("ord_a") == []


def test_a_refund_the_provider_declines_is_undone_and_the_order_kept(
    shop: FakeShop, ports: FulfilmentPorts, refunds: FakeRefunds
) -> None:
    refunds.declines = True
    shop.paid_order("ord_b", quantity=5)
    shop.paid_order("ord_a", reserved_in=None, late=True)
    for _attempt in range(2):  # the queue retries (then dead-letters): each attempt asks again
        with pytest.raises(RefundDeclined):
            fulfil("ord_a", ports)
        order = shop.orders["ord_a"]
        assert order.status == OrderStatus.PAID
        assert not order.refund_requested
    assert refunds.asked == ["ord_a", "ord_a"]
    assert shop.refunds == {}


def test_stock_counters_add_up_after_every_branch(shop: FakeShop, ports: FulfilmentPorts) -> None:
    shop.paid_order("ord_a", quantity=2)
    shop.paid_order("ord_b", reserved_in=None, late=True)
    shop.paid_order("ord_c", quantity=3, reserved_in=None, late=True)
    outcomes = [fulfil(order_id, ports) for order_id in ("ord_a", "ord_b", "ord_c", "ord_a")]
    assert outcomes == ["delivered", "delivered", "refunded", "skipped"]
    assert shop.kept(SKU)
    assert len({c.digest for c in shop.cards.values() if c.order_id}) == 3


def test_a_crash_before_the_delivery_is_written_leaves_the_order_paid_and_the_retry_delivers(
    shop: FakeShop, ports: FulfilmentPorts, mail: FakeMailer
) -> None:
    shop.paid_order("ord_a", quantity=2)

    def dies(_cards: list[CardRef]) -> None:
        raise Unreachable("DynamoDB did not take the transaction")

    shop.meanwhile.append(dies)
    with pytest.raises(Unreachable):
        fulfil("ord_a", ports)
    assert shop.orders["ord_a"].status == OrderStatus.PAID
    assert shop.sold_to("ord_a") == []
    assert shop.counters(SKU, 0)["reserved"] == 2
    assert mail.sent == []
    assert fulfil("ord_a", ports) == "delivered"
    assert len(shop.sold_to("ord_a")) == 2
    assert len(mail.sent) == 1
