"""The dashboard (CONTRACT §14): counters kept from the orders table's change stream, and the
route that reads them. See docs/dashboard.md."""
