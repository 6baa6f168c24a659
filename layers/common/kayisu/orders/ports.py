"""The side effects a money-path rule has, as small Protocols, so that the rule can be run against
in-memory fakes (tests/fakes/money.py) as well as AWS. The defaults are the modules that talk to
AWS, which satisfy these structurally: `kayisu.store.orders` (DynamoDB) and
`kayisu.orders.queue` (SQS), the shape `kayisu.payments.provider` has for providers.

A fake must keep the port's promise, not just its signature: `record_payment` raises
`AlreadyRecorded` for a transaction seen before and `NotPayable` unless the order is in
`from_status` for exactly this amount, currency, provider and payment, and not held."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from kayisu.store.orders import OrderItem


class PaymentRecords(Protocol):
    """What applying a payment reads and writes of the orders table."""

    def load_order(self, order_id: str) -> OrderItem | None: ...

    def record_payment(
        self,
        order_id: str,
        payment_id: str,
        provider: str,
        transaction_id: str,
        amount: int,
        currency: str,
        at: datetime,
        from_status: str = ...,
    ) -> None: ...

    def record_unmatched(
        self, provider: str, transaction_id: str, order_id: str, amount: int, currency: str, at: datetime
    ) -> None: ...

    def flag_for_review(
        self,
        order_id: str,
        provider: str,
        transaction_id: str,
        amount: int,
        currency: str,
        reason: str,
        at: datetime,
        outcome: str = ...,
    ) -> bool: ...


class FulfilmentRequests(Protocol):
    """Asks for a paid order to be fulfilled; asking twice is harmless."""

    def request_fulfilment(self, order_id: str) -> None: ...
