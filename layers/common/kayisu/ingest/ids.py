"""Batch ids, apart from the ingestion machinery (the admin API needs only these)."""

from __future__ import annotations

import secrets


def new_batch_id() -> str:
    return "b-" + secrets.token_hex(10)
