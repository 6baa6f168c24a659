"""An order item as the API shows it: the fields shoppers and operators both see, once."""

from __future__ import annotations

from typing import Any

from kayisu.orders.schemas import Payment, mask_email
from kayisu.pricing.schemas import Discount
from kayisu.store.orders import OrderItem


def summary_fields(item: OrderItem) -> dict[str, Any]:
    """The `OrderSummary` fields of an order (email masked)."""
    return {
        "order_id": item.order_id,
        "status": item.status,
        "sku": item.sku,
        "quantity": int(item.quantity),
        "subtotal": int(item.subtotal) if item.subtotal is not None else int(item.amount),
        "discounts": [Discount.model_validate(d) for d in item.discounts or ()],
        "amount": int(item.amount),
        "currency": item.currency,
        "email": mask_email(item.email),
        "created_at": item.created_at,
        "expires_at": item.expires_at,
        "paid_at": item.paid_at,
        "delivered_at": item.delivered_at,
        "refunded_at": item.refunded_at,
        "payment": Payment(
            method=item.payment_method, payment_id=item.payment_id, pay_url=item.pay_url, qr_code=item.qr_code
        ),
    }
