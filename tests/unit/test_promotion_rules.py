"""Which promotions apply to an order (kayisu.promotions.rules): running now, for its SKU, at
most one of each kind, every combination offered to the pricing function."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from kayisu.pricing.quote import FlashSale, FullReduction, ReductionTier
from kayisu.promotions import rules
from kayisu.store.promotions import PromotionItem

AT = datetime(2026, 12, 12, 12, 0, tzinfo=UTC)


def promotion(pid: str, kind: str, skus: set[str] | None = None, status: str = "active", **terms: Any) -> PromotionItem:
    return PromotionItem(
        "PROMOTIONS",
        f"PROMOTION#{pid}",
        promotion_id=pid,
        promotion_kind=kind,
        skus=skus,
        starts_at=AT - timedelta(hours=1),
        ends_at=AT + timedelta(hours=1),
        terms=terms,
        status=status,
        created_at=AT,
        updated_at=AT,
    )


def test_only_running_active_promotions_for_the_sku_apply() -> None:
    shop_wide = promotion("prm_2", "full_reduction", tiers=[{"min_spend": 100, "off": 10}])
    other_sku = promotion("prm_3", "full_reduction", {"OTHER"}, tiers=[{"min_spend": 1, "off": 1}])
    disabled = promotion("prm_4", "full_reduction", status="disabled", tiers=[{"min_spend": 1, "off": 1}])
    later = promotion("prm_5", "full_reduction", tiers=[{"min_spend": 1, "off": 1}])
    later.starts_at = AT + timedelta(minutes=1)
    ended = promotion("prm_6", "full_reduction", tiers=[{"min_spend": 1, "off": 1}])
    ended.ends_at = AT  # the window ends just before ends_at
    found = rules.running([shop_wide, other_sku, disabled, later, ended], AT, "GIFT")
    assert [p.promotion_id for p in found] == ["prm_2"]
    assert {p.promotion_id for p in rules.running([shop_wide, other_sku], AT)} == {"prm_2", "prm_3"}


def test_every_combination_of_one_sale_and_one_reduction_is_a_candidate_newest_first() -> None:
    sale = promotion("prm_9", "flash_sale", {"GIFT"}, price=100, quantity=5, shards=2)
    a = promotion("prm_1", "full_reduction", tiers=[{"min_spend": 100, "off": 10}])
    b = promotion("prm_2", "full_reduction", {"GIFT"}, tiers=[{"min_spend": 500, "off": 60}])
    offered = rules.candidates([a, sale, b], "GIFT", AT)
    assert [(c.flash_sale, c.full_reduction) for c in offered] == [
        (FlashSale("prm_9", 100), FullReduction("prm_2", (ReductionTier(500, 60),))),
        (FlashSale("prm_9", 100), FullReduction("prm_1", (ReductionTier(100, 10),))),
    ]
    assert [(c.flash_sale, c.full_reduction) for c in rules.candidates([], "GIFT", AT)] == [(None, None)]
    assert rules.sale_of([a, sale], "prm_9") is sale
