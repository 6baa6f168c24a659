"""Operator alerts: low stock (CONTRACT §6)."""
