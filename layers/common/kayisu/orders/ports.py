"""The side effects a money-path rule has, as small Protocols, so that the rule can be run against
in-memory fakes (tests/fakes/money.py, tests/fakes/fulfilment.py) as well as AWS. The defaults
are the modules that talk to AWS, which satisfy these structurally: `kayisu.store.orders`
(DynamoDB), `kayisu.store.catalog` and `kayisu.store.cards` (stock shards, the available pool),
`kayisu.orders.queue` (SQS), the shape `kayisu.payments.provider` has for providers. Mail,
queues and operators' alerts are `kayisu.ports`'.

A fake must keep the port's promise, not just its signature: `record_payment` raises
`AlreadyRecorded` for a transaction seen before and `NotPayable` unless the order is in
`from_status` for exactly this amount, currency, provider and payment, and not held; `deliver`
sells only available cards of the order's SKU (CardsTaken names the others), only to an order
still paid with no refund decided (OrderMoved), and moves the counters it sells from;
`claim_mail` is True for one caller until `release_mail`; `request_refund` decides once."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from kayisu.payments.provider import Refund
    from kayisu.store.cards import CardRef
    from kayisu.store.catalog import ProductWithShards
    from kayisu.store.orders import OrderItem, RefundedCard, RefundPlan


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


class FulfilmentRecords(Protocol):
    """What fulfilment and refunds read and write of the orders table (and the cards they sell,
    lock and void, in the same transactions)."""

    def load_order(self, order_id: str) -> OrderItem | None: ...

    def deliver(
        self, order: OrderItem, cards: list[CardRef], from_reserved: bool, token_hash: str, at: datetime
    ) -> None: ...

    def claim_mail(self, order_id: str, at: datetime) -> bool: ...

    def release_mail(self, order_id: str) -> None: ...

    def add_token(self, order_id: str, token_hash: str) -> None: ...

    def sold_cards(self, order: OrderItem) -> list[RefundedCard]: ...

    def request_refund(self, order: OrderItem, reason: str, cards: list[RefundedCard], at: datetime) -> None: ...

    def release_refund(self, order: OrderItem, cards: list[RefundedCard]) -> None: ...

    def hold_refund(self, order: OrderItem, refund_id: str, reason: str, note: str, at: datetime) -> bool: ...

    def refund(
        self,
        order: OrderItem,
        refund_id: str,
        reason: str,
        actor: str,
        plan: RefundPlan,
        at: datetime,
        status: str = ...,
        recorded: bool = ...,
    ) -> None: ...

    def refund_recorded(self, provider: str, refund_id: str) -> bool: ...

    def refund_mailed(self, order_id: str) -> None: ...


class StockShards(Protocol):
    """What each of a SKU's stock shards has available (the catalog table)."""

    def load_shards(self, sku: str) -> ProductWithShards | None: ...


class CardPool(Protocol):
    """Cards still available in one stock shard of a SKU (the cards table's pool index)."""

    def candidate_cards(self, sku: str, shard: int, limit: int) -> list[CardRef]: ...


class Refunds(Protocol):
    """A provider's refund (kayisu.payments.provider.PaymentProvider.refund)."""

    def refund(
        self,
        order_id: str,
        payment_id: str,
        transaction_id: str,
        amount: int,
        currency: str,
        reason: str,
        notify_base: str = ...,
    ) -> Refund: ...
