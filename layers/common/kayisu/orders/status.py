"""An order's states (CONTRACT §1; docs/orders.md, States): the one list the store's conditions,
the rules and the API's shapes name.

    pending_payment ──► paid ──► delivered ──► refunded
          │               └──────────────────► refunded
          └──► expired ──► paid (late)
"""

from __future__ import annotations

from enum import StrEnum


class OrderStatus(StrEnum):
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    DELIVERED = "delivered"
    EXPIRED = "expired"
    REFUNDED = "refunded"


ORDER_STATUSES: tuple[str, ...] = tuple(OrderStatus)
REFUNDABLE = frozenset({OrderStatus.PAID, OrderStatus.DELIVERED})  # states a refund starts from
