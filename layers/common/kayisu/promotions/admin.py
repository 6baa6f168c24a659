"""Operators create, read and change promotions (`/v1/admin/promotions`); everyone reads the
running ones (`GET /v1/promotions`). CONTRACT §8."""

from __future__ import annotations

import re
from typing import Any

from kayisu.clock import now
from kayisu.config import get_settings
from kayisu.errors import FieldError, Problem, not_found, validation_error
from kayisu.pagination import decode_cursor, encode_cursor
from kayisu.pricing import edits
from kayisu.promotions import rules
from kayisu.promotions.schemas import (
    Promotion,
    PromotionCreate,
    PromotionList,
    PromotionUpdate,
    ReductionTier,
    RunningPromotions,
)
from kayisu.store import promotions as store
from kayisu.store import sales

PAGE = 50
CURSOR_FORM = re.compile(r"^prm_[0-9a-f]{20}$")
NOT_YET = {"group_buy"}  # issue 18: accepted by the contract, built next


def unknown_promotion(promotion_id: str) -> Problem:
    return not_found("UNKNOWN_PROMOTION", f"There is no promotion {promotion_id!r}.")


def view(item: store.PromotionItem) -> Promotion:
    tiers = item.terms.get("tiers") if item.promotion_kind == rules.FULL_REDUCTION else None
    return Promotion(
        promotion_id=str(item.promotion_id),
        kind=str(item.promotion_kind),
        name=str(item.name or ""),
        skus=sorted(item.skus) if item.skus else None,
        starts_at=item.starts_at,
        ends_at=item.ends_at,
        tiers=[ReductionTier.model_validate(t) for t in tiers] if tiers is not None else None,
        price=item.terms.get("price"),
        quantity=item.terms.get("quantity"),
        max_per_email=item.terms.get("max_per_email"),
        status=item.status,
    )


def _with_sold(item: store.PromotionItem) -> Promotion:
    shown = view(item)
    if item.promotion_kind == rules.FLASH_SALE:
        left = sales.left(str(item.promotion_id), int(item.terms["shards"]))
        shown.sold = int(item.terms["quantity"]) - sum(left.values())
    return shown


def create(data: PromotionCreate) -> Promotion:
    if data.kind in NOT_YET:
        raise validation_error([FieldError("kind", f"{data.kind} promotions are not available yet")])
    terms: dict[str, Any] = {"tiers": [t.model_dump() for t in data.tiers or ()]}
    at = now()
    promotion_id = store.new_id(at)
    if data.kind == rules.FLASH_SALE:
        assert data.quantity is not None  # the schema requires it for a flash sale
        shards = sales.create_shards(promotion_id, data.quantity, get_settings().stock_shards)
        terms = {"price": data.price, "quantity": data.quantity, "max_per_email": data.max_per_email, "shards": shards}
    item = store.new_promotion(
        at,
        promotion_id,
        promotion_kind=data.kind,
        name=data.name,
        skus=set(data.skus) if data.skus else None,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        terms=terms,
        status="active",
    )
    store.insert(item)
    return _with_sold(item)


def get(promotion_id: str) -> Promotion:
    item = store.load(promotion_id)
    if item is None:
        raise unknown_promotion(promotion_id)
    return _with_sold(item)


def update(promotion_id: str, change: PromotionUpdate) -> Promotion:
    item = store.load(promotion_id)
    if item is None:
        raise unknown_promotion(promotion_id)
    values: dict[str, Any] = change.model_dump(exclude_unset=True)
    values = edits.checked(
        values, item.starts_at, item.ends_at, required=("name", "starts_at", "ends_at", "tiers", "status")
    )
    if "tiers" in values:
        tiers = sorted(values.pop("tiers"), key=lambda t: t["min_spend"])
        if len({t["min_spend"] for t in tiers}) != len(tiers):
            raise validation_error([FieldError("tiers", "each min_spend may appear once")])
        values["terms"] = {**item.terms, "tiers": tiers}
    try:
        store.change(promotion_id, values, now())
    except store.UnknownPromotion:
        raise unknown_promotion(promotion_id) from None
    return get(promotion_id)


def list_page(cursor: str | None) -> PromotionList:
    after = decode_cursor(cursor, CURSOR_FORM) if cursor else None
    items, last = store.page(after, PAGE)
    return PromotionList(items=[view(i) for i in items], next_cursor=encode_cursor(last) if last else None)


def running_now() -> RunningPromotions:
    return RunningPromotions(items=[view(p) for p in rules.running(store.definitions(), now())])
