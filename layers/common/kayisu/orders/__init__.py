"""Orders: checkout, payment, fulfilment, expiry, refunds (CONTRACT §1, §2; docs/orders.md)."""
