"""Partner secrets: made once, shown once, kept only as KMS ciphertext (context {partner_id}),
opened into a cache that forgets them after a few minutes (kayisu.sealed)."""

from __future__ import annotations

import secrets

from kayisu import sealed


def new_secret() -> str:
    return "kps_" + secrets.token_urlsafe(32)  # 256 bits


def _context(partner_id: str) -> dict[str, str]:
    return {"partner_id": partner_id}


def seal(partner_id: str, secret: str) -> bytes:
    return sealed.seal(_context(partner_id), secret)


def open_secret(partner_id: str, sealed_secret: bytes) -> str:
    return sealed.open_sealed(_context(partner_id), sealed_secret)
