"""In-memory stand-ins for the money path's ports (kayisu.orders.ports): the orders table's
payment records and the fulfilment queue. Fakes, not mocks: they keep the port's promises (one
record per provider transaction, a payment applied only to the order in the state and for the
amount it names, a held order never paid), so a rule's branches are tested against behaviour,
and the tests assert on the state they leave."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from kayisu.orders.status import OrderStatus
from kayisu.store.orders import HOLDING_OUTCOMES, AlreadyRecorded, NotPayable, OrderItem


@dataclass
class Payment:
    order_id: str
    amount: int
    currency: str
    outcome: str
    reason: str = ""


@dataclass
class FakePaymentRecords:
    orders: dict[str, OrderItem] = field(default_factory=dict)
    payments: dict[tuple[str, str], Payment] = field(default_factory=dict)  # (provider, transaction) → record

    def load_order(self, order_id: str) -> OrderItem | None:
        return self.orders.get(order_id)

    def record_payment(
        self,
        order_id: str,
        payment_id: str,
        provider: str,
        transaction_id: str,
        amount: int,
        currency: str,
        at: datetime,
        from_status: str = OrderStatus.PENDING_PAYMENT,
    ) -> None:
        seen = self.payments.get((provider, transaction_id))
        if seen is not None:
            raise AlreadyRecorded(seen.order_id, seen.outcome)
        order = self.orders.get(order_id)
        if (
            order is None
            or order.status != from_status
            or order.held
            or int(order.amount) != amount
            or order.currency != currency
            or order.payment_method != provider
            or order.payment_id != payment_id
        ):
            raise NotPayable(order_id)
        outcome = "paid" if from_status == OrderStatus.PENDING_PAYMENT else "late"
        self.payments[(provider, transaction_id)] = Payment(order_id, amount, currency, outcome)
        order.status, order.paid_at, order.transaction_id = OrderStatus.PAID, at, transaction_id
        order.late = outcome == "late"

    def record_unmatched(
        self, provider: str, transaction_id: str, order_id: str, amount: int, currency: str, at: datetime
    ) -> None:
        self.payments.setdefault((provider, transaction_id), Payment(order_id, amount, currency, "unmatched"))

    def flag_for_review(
        self,
        order_id: str,
        provider: str,
        transaction_id: str,
        amount: int,
        currency: str,
        reason: str,
        at: datetime,
        outcome: str = "mismatch",
    ) -> bool:
        if (provider, transaction_id) in self.payments:
            return False
        order = self.orders[order_id]  # the real store's transaction requires the order too
        self.payments[(provider, transaction_id)] = Payment(order_id, amount, currency, outcome, reason)
        order.review_reason = reason
        if outcome in HOLDING_OUTCOMES:
            order.held = True
        return True


@dataclass
class FakeFulfilmentQueue:
    requested: list[str] = field(default_factory=list)

    def request_fulfilment(self, order_id: str) -> None:
        self.requested.append(order_id)
