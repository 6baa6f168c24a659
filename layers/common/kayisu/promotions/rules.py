"""Which promotions apply to an order (CONTRACT §8): running now, for its SKU, the best one of
each kind. The one home of that choice; the pricing function applies what it is given."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from kayisu.pricing import quote as pricing
from kayisu.store.promotions import PromotionItem

FULL_REDUCTION = "full_reduction"


def running(definitions: Iterable[PromotionItem], at: datetime, sku: str | None = None) -> list[PromotionItem]:
    """The promotions running at `at` (for `sku`, if given), newest first."""
    found = [p for p in definitions if p.running(at) and (sku is None or p.applies_to(sku))]
    return sorted(found, key=lambda p: str(p.promotion_id), reverse=True)


def full_reduction(item: PromotionItem) -> pricing.FullReduction:
    tiers = tuple(pricing.ReductionTier(int(t["min_spend"]), int(t["off"])) for t in item.terms.get("tiers", ()))
    return pricing.FullReduction(str(item.promotion_id), tiers)


def candidates(definitions: Iterable[PromotionItem], sku: str, at: datetime) -> list[pricing.Promotions]:
    """Each way the running promotions may combine for `sku` (at most one of each kind): the
    pricing service quotes each and keeps the best for the buyer."""
    reductions = [full_reduction(p) for p in running(definitions, at, sku) if p.promotion_kind == FULL_REDUCTION]
    return [pricing.Promotions(full_reduction=r) for r in reductions] or [pricing.Promotions()]
