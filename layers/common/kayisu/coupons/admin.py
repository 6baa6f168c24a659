"""Operators issue, read and change coupons (`/v1/admin/coupons`, CONTRACT §8)."""

from __future__ import annotations

import re
import secrets
from typing import Any

from kayisu.clock import now
from kayisu.coupons.schemas import Coupon, CouponBatch, CouponCreate, CouponList, CouponUpdate
from kayisu.errors import FieldError, Problem, conflict, not_found, validation_error
from kayisu.pagination import decode_cursor, encode_cursor
from kayisu.pricing import edits
from kayisu.pricing.quote import CouponKind
from kayisu.store import coupons as store

GENERATED_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I: read aloud and typed by people
GENERATED_LENGTH = 12  # 60 bits: a generated code is not guessed
PAGE = 50
CURSOR_FORM = re.compile(r"^\d{8}T\d{6}\.\d{6}#cpn_[0-9a-f]{20}$")


def unknown_coupon(coupon_id: str) -> Problem:
    return not_found("UNKNOWN_COUPON", f"There is no coupon {coupon_id!r}.")


def view(item: store.CouponItem) -> Coupon:
    return Coupon(
        coupon_id=str(item.coupon_id),
        code=str(item.code),
        kind=CouponKind(item.coupon_kind),
        value=int(item.value),
        min_spend=int(item.min_spend or 0),
        skus=sorted(item.skus) if item.skus else None,
        starts_at=item.starts_at,
        ends_at=item.ends_at,
        max_uses=int(item.max_uses) if item.max_uses is not None else None,
        max_uses_per_email=int(item.max_uses_per_email) if item.max_uses_per_email is not None else None,
        status=item.status,
        used=int(item.used),
        held=item.held(),
        batch_id=item.batch_id,
        created_at=item.created_at,
        updated_at=item.updated_at,
    )


def _generated_code() -> str:
    return "".join(secrets.choice(GENERATED_ALPHABET) for _ in range(GENERATED_LENGTH))


def _terms(data: CouponCreate) -> dict[str, Any]:
    return {
        "coupon_kind": str(data.kind),
        "value": data.value,
        "min_spend": data.min_spend,
        "skus": set(data.skus) if data.skus else None,
        "starts_at": data.starts_at,
        "ends_at": data.ends_at,
        "max_uses": 1 if data.count > 1 else data.max_uses,
        "max_uses_per_email": data.max_uses_per_email,
        "status": "active",
    }


def create(data: CouponCreate) -> Coupon | CouponBatch:
    """One coupon (its code given or generated), or `count` single-use coupons of one batch."""
    at, terms = now(), _terms(data)
    if data.count == 1:
        item = store.new_coupon(data.code or _generated_code(), at, **terms)
        try:
            store.insert(item)
        except store.CouponExists:
            raise conflict("COUPON_EXISTS", "A coupon with this code exists (codes ignore case).") from None
        return view(item)
    batch_id = "cpb_" + secrets.token_hex(8)
    made: list[Coupon] = []
    while len(made) < data.count:
        item = store.new_coupon(_generated_code(), at, batch_id=batch_id, **terms)
        try:
            store.insert(item)
        except store.CouponExists:
            continue  # 60 random bits met an existing code: draw again
        made.append(view(item))
    return CouponBatch(items=made)


def get(coupon_id: str) -> Coupon:
    item = store.load(coupon_id)
    if item is None:
        raise unknown_coupon(coupon_id)
    return view(item)


def update(coupon_id: str, change: CouponUpdate) -> Coupon:
    item = store.load(coupon_id)
    if item is None:
        raise unknown_coupon(coupon_id)
    values = change.model_dump(exclude_unset=True)
    if "value" in values:
        kind = CouponKind(item.coupon_kind)
        value = values["value"]
        if value is None or value < 1 or (kind == CouponKind.PERCENT and value > 100):
            raise validation_error([FieldError("value", "1 to 100 for a percent coupon; at least 1 minor unit")])
    values = edits.checked(values, item.starts_at, item.ends_at, required=("value", "min_spend", "status"))
    try:
        store.change(coupon_id, values, now())
    except store.UnknownCoupon:
        raise unknown_coupon(coupon_id) from None
    return get(coupon_id)


def list_page(cursor: str | None) -> CouponList:
    after = decode_cursor(cursor, CURSOR_FORM) if cursor else None
    items, last = store.page(after, PAGE)
    return CouponList(items=[view(i) for i in items], next_cursor=encode_cursor(last) if last else None)
