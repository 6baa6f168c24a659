"""Order access tokens: 256 random bits, of which only the SHA-256 is ever stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from kayisu.store.orders import OrderItem


def new_token() -> tuple[str, str]:
    """(token, its hash)."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def owns(item: OrderItem, token: str) -> bool:
    """Whether `token` is one of the order's access tokens; every stored hash is compared in
    constant time, so timing tells nothing about which (if any) was close."""
    presented = token_hash(token)
    matched = False
    for stored in item.token_hashes or set():
        matched |= hmac.compare_digest(stored, presented)
    return matched
