"""Signed outgoing webhooks to the shop's own systems (CONTRACT §13, docs/webhooks.md)."""
