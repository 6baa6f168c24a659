"""boto3 clients, made once per container and only when first needed (cold start matters)."""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def client(service: Any) -> Any:
    import boto3

    return boto3.client(service)
