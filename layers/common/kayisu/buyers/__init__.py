"""Buyers: who is behind an order (limits today; blocklist, order lookup later, CONTRACT §12)."""
