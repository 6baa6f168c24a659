"""Codes of delivered orders, opened on demand: the cards and their batches' encrypted data
keys in one BatchGetItem, each batch key through the container's cache (one KMS call per batch
per container), each code authenticated against its card's identity."""

from __future__ import annotations

from dataclasses import dataclass

from kayisu.crypto import DATA_KEYS, card_identity, unseal
from kayisu.orders.schemas import DeliveredCard
from kayisu.store import orders as store
from kayisu.store.cards import BATCH_SK, CARD_SK, BatchItem, CardItem, CardsItem, batch_pk, card_pk


@dataclass(frozen=True)
class OpenedCard:
    card: CardItem
    code: str


def opened(order: store.OrderItem) -> list[OpenedCard]:
    refs = order.card_refs()
    if not refs:
        return []
    keys = [(card_pk(digest), CARD_SK) for _, digest in refs]
    keys += [(batch_pk(b), BATCH_SK) for b in dict.fromkeys(batch for batch, _ in refs)]
    cards: dict[str, CardItem] = {}
    batches: dict[str, BatchItem] = {}
    for item in CardsItem.batch_get(keys):
        if isinstance(item, CardItem):
            cards[str(item.digest)] = item
        elif isinstance(item, BatchItem):
            batches[str(item.batch_id)] = item
    out = []
    for batch_id, digest in refs:
        card, batch = cards[digest], batches[batch_id]
        assert batch.data_key is not None
        key = DATA_KEYS.open(bytes(batch.data_key), card.sku, batch_id)
        out.append(OpenedCard(card, unseal(key, bytes(card.sealed), card_identity(card.sku, batch_id, digest))))
    return out


def open_cards(order: store.OrderItem) -> list[DeliveredCard]:
    # A bundle's cards name the component each one is (CONTRACT §8): shoppers tell them apart.
    return [
        DeliveredCard(
            code=o.code,
            serial=o.card.serial,
            expires_at=o.card.expires_at,
            sku=str(o.card.sku) if order.bundle else None,
        )
        for o in opened(order)
    ]


def mask_code(code: str) -> str:
    """Enough for an operator to tell cards apart on a call with a shopper, not enough to use."""
    return "****" + code[-4:] if len(code) >= 12 else "****"
