"""The orders table, and every transaction that moves an order, its stock and its cards.

Each state change of an order is one DynamoDB transaction that also writes what must change
with it (stock shard counters, cards, the pending-order limits, the provider transaction, the
history event), conditioned on the state it starts from. That condition is what makes a
change happen once however often a webhook, a queue message or a sweeper repeats it: the
exactly-once logic of promises 1, 2, 3 and 5 is read here, one module per business line:

- `keys`: every key and index key of the table (nothing else computes them);
- `items`: the PynamoDB models, and the parts each change writes (history event, limits);
- `checkout`: place an order with its reservation, attach its payment, or withdraw it;
- `payment`: a provider transaction recorded once, paying its order or held beside it;
- `fulfilment`: a paid order delivered with exactly its cards;
- `refunds`: a refund decided, finished or held, and an unpaid order expired;
- `lists`: reading orders, what the sweeper must do, operators' lists.

This package's namespace is the store's interface (`from kayisu.store import orders as store`);
see docs/orders.md.
"""

from __future__ import annotations

from kayisu.store.orders.checkout import (
    CouponRefused,
    LimitReached,
    OrderExists,
    SaleShort,
    SaleTake,
    ShardsShort,
    add_token,
    attach_payment,
    new_order,
    place_order,
    withdraw_order,
)
from kayisu.store.orders.fulfilment import CardsTaken, StockGone, claim_mail, deliver, refund_mailed, release_mail
from kayisu.store.orders.items import (
    EventSeenItem,
    LimitItem,
    MoneyItem,
    OrderEventItem,
    OrderItem,
    OrderMoved,
    OrdersItem,
    PaymentItem,
    RefundItem,
    reservation_json,
)
from kayisu.store.orders.keys import (
    INDEX_SHARDS,
    ORDER_SK,
    created_keys,
    created_partition,
    email_keys,
    email_partition,
    limit_key,
    money_keys,
    money_partition,
    open_partition,
    order_pk,
    payment_key,
    pending_keys,
    refund_pk,
    sort_key_at,
)
from kayisu.store.orders.lists import created_page, due, email_page, history, load_order, load_orders
from kayisu.store.orders.payment import (
    HOLDING_OUTCOMES,
    AlreadyRecorded,
    NotPayable,
    event_seen,
    flag_for_review,
    mark_for_review,
    order_of_transaction,
    record_payment,
    record_unmatched,
    remember_event,
)
from kayisu.store.orders.refunds import (
    CardRedeemed,
    RefundedCard,
    RefundPlan,
    RefundUnknown,
    expire,
    hold_refund,
    record_outside_refund,
    refund,
    refund_recorded,
    release_refund,
    request_refund,
    settle_refund,
    sold_cards,
)

__all__ = [
    "HOLDING_OUTCOMES",
    "INDEX_SHARDS",
    "ORDER_SK",
    "AlreadyRecorded",
    "CardRedeemed",
    "CardsTaken",
    "CouponRefused",
    "EventSeenItem",
    "LimitItem",
    "LimitReached",
    "MoneyItem",
    "NotPayable",
    "OrderEventItem",
    "OrderExists",
    "OrderItem",
    "OrderMoved",
    "OrdersItem",
    "PaymentItem",
    "RefundItem",
    "RefundPlan",
    "RefundUnknown",
    "RefundedCard",
    "SaleShort",
    "SaleTake",
    "ShardsShort",
    "StockGone",
    "add_token",
    "attach_payment",
    "claim_mail",
    "created_keys",
    "created_page",
    "created_partition",
    "deliver",
    "due",
    "email_keys",
    "email_page",
    "email_partition",
    "event_seen",
    "expire",
    "flag_for_review",
    "history",
    "hold_refund",
    "limit_key",
    "load_order",
    "load_orders",
    "mark_for_review",
    "money_keys",
    "money_partition",
    "new_order",
    "open_partition",
    "order_of_transaction",
    "order_pk",
    "payment_key",
    "pending_keys",
    "place_order",
    "record_outside_refund",
    "record_payment",
    "record_unmatched",
    "refund",
    "refund_mailed",
    "refund_pk",
    "refund_recorded",
    "release_mail",
    "release_refund",
    "remember_event",
    "request_refund",
    "reservation_json",
    "settle_refund",
    "sold_cards",
    "sort_key_at",
    "withdraw_order",
]
