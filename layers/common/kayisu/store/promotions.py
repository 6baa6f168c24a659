"""Promotions in the promotions table (CONTRACT §8; docs/pricing.md, Promotions).

Every promotion's definition is an item of one partition (`PROMOTIONS`, sort key
`PROMOTION#<promotion_id>`, the id starting with its creation time so that the partition reads
newest first): a shop runs tens of promotions, not thousands, and checkout reads them all with
one Query, which a container keeps for `PromotionsCacheSeconds` (template parameter; an
operator's change reaches every order within that; a window's start and end are exact, being
times).
"""

from __future__ import annotations

import secrets
import threading
import time
from datetime import datetime
from typing import Any

from pynamodb.attributes import JSONAttribute, UnicodeAttribute, UnicodeSetAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import UpdateError
from pynamodb.expressions.update import Action

from kayisu.config import get_settings
from kayisu.store.promotions_table import PromotionsItem

PROMOTIONS_PK = "PROMOTIONS"


class PromotionItem(PromotionsItem, discriminator="promotion"):
    promotion_id = UnicodeAttribute()
    promotion_kind = UnicodeAttribute()  # full_reduction | flash_sale (group_buy: not yet)
    name = UnicodeAttribute(default="")
    skus = UnicodeSetAttribute(null=True)  # absent: shop-wide
    starts_at = UTCDateTimeAttribute()
    ends_at = UTCDateTimeAttribute()
    # The kind's own terms: {"tiers": [{"min_spend", "off"}]}, or a flash sale's {"price",
    # "quantity", "max_per_email", "shards"} (its counters: kayisu.store.sales).
    terms = JSONAttribute()
    status = UnicodeAttribute()  # active | disabled
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()

    def applies_to(self, sku: str) -> bool:
        return not self.skus or sku in self.skus

    def running(self, at: datetime) -> bool:
        return self.status == "active" and self.starts_at <= at < self.ends_at


class UnknownPromotion(Exception):
    pass


def new_id(at: datetime) -> str:
    """Newest first in the partition: the creation time in ms (hex), then randomness."""
    return f"prm_{int(at.timestamp() * 1000):012x}{secrets.token_hex(4)}"


def promotion_sk(promotion_id: str) -> str:
    return f"PROMOTION#{promotion_id}"


def new_promotion(at: datetime, promotion_id: str, **fields: Any) -> PromotionItem:
    return PromotionItem(
        PROMOTIONS_PK,
        promotion_sk(promotion_id),
        promotion_id=promotion_id,
        created_at=at,
        updated_at=at,
        **fields,
    )


def insert(item: PromotionItem) -> None:
    item.save(condition=PromotionItem.sk.does_not_exist())
    _cache.clear()


def load(promotion_id: str) -> PromotionItem | None:
    try:
        return PromotionItem.get(PROMOTIONS_PK, promotion_sk(promotion_id), consistent_read=True)
    except PromotionItem.DoesNotExist:
        return None


def change(promotion_id: str, values: dict[str, Any], at: datetime) -> None:
    actions: list[Action] = [PromotionItem.updated_at.set(at)]
    for name, value in values.items():
        attribute = getattr(PromotionItem, name)
        actions.append(attribute.remove() if value is None else attribute.set(value))
    try:
        PromotionItem(PROMOTIONS_PK, promotion_sk(promotion_id)).update(
            actions=actions, condition=PromotionItem.sk.exists()
        )
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise UnknownPromotion(promotion_id) from None
        raise
    _cache.clear()


def page(after: str | None, limit: int) -> tuple[list[PromotionItem], str | None]:
    """Newest first, after the promotion id a previous page ended on."""
    condition = PromotionItem.sk < promotion_sk(after) if after else PromotionItem.sk.startswith("PROMOTION#")
    found = list(PromotionItem.query(PROMOTIONS_PK, condition, scan_index_forward=False, limit=limit + 1))
    items = [i for i in found if isinstance(i, PromotionItem)][:limit]
    return items, (str(items[-1].promotion_id) if len(found) > limit else None)


class _Definitions:
    """Every promotion, read with one Query and kept for `promotions_max_age` seconds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[PromotionItem] = []
        self._read_at = -1e9

    def clear(self) -> None:
        with self._lock:
            self._read_at = -1e9

    def get(self) -> list[PromotionItem]:
        with self._lock:
            if time.monotonic() - self._read_at < get_settings().promotions_max_age:
                return self._items
        found = PromotionItem.query(PROMOTIONS_PK, PromotionItem.sk.startswith("PROMOTION#"))
        items = [i for i in found if isinstance(i, PromotionItem)]
        with self._lock:
            self._items, self._read_at = items, time.monotonic()
        return items


_cache = _Definitions()


def definitions() -> list[PromotionItem]:
    return _cache.get()
