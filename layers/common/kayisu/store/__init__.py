"""Data access: PynamoDB models and the transactions that combine them, one module per table."""
