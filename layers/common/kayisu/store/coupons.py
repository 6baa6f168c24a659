"""Coupons in the promotions table (CONTRACT §8; docs/pricing.md, Coupons).

A coupon is one item, `COUPON#<coupon_id>`, in its own partition: its terms, its status and two
counters: `taken`, the uses held by unpaid orders plus the uses kept, and `used`, the uses kept.
A buyer's uses of a coupon with `max_uses_per_email` are counted beside it
(`BUYER#<digest of the buyer>`). The coupon id is derived from its code, so that a shopper's
code is found with one GetItem and a code cannot be issued twice.

Uses move only inside the order's own transactions (kayisu.store.orders), never alone:
- placing the order takes one (`taken < max_uses`, and the buyer's `taken < max_uses_per_email`);
- the order expiring or being withdrawn gives it back (`taken − 1`);
- the order being delivered keeps it (`used + 1`); a refund leaves it as it is (held).
`order.coupon_use` (`held`, `returned`, `kept`) says where the order's use is; it changes in
the same transaction, so each of these happens once per order, whatever is retried.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from pynamodb.attributes import (
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.exceptions import PutError, UpdateError
from pynamodb.expressions.update import Action

from kayisu.aws import client
from kayisu.config import get_settings
from kayisu.store.promotions_table import PromotionsItem
from kayisu.store.txn import Transaction

COUPON_SK = "COUPON"
LIST_PK = "COUPONS"  # the sparse ByList index: every coupon, newest first
ID_CHARS = 20


class CouponItem(PromotionsItem, discriminator="coupon"):
    coupon_id = UnicodeAttribute()
    code = UnicodeAttribute()  # as the operator wrote it (or generated); found by normalise(code)
    coupon_kind = UnicodeAttribute()  # fixed | percent
    value = NumberAttribute()
    min_spend = NumberAttribute(default=0)
    skus = UnicodeSetAttribute(null=True)  # absent: every SKU
    starts_at = UTCDateTimeAttribute(null=True)
    ends_at = UTCDateTimeAttribute(null=True)
    max_uses = NumberAttribute(null=True)
    max_uses_per_email = NumberAttribute(null=True)
    status = UnicodeAttribute()  # active | disabled
    taken = NumberAttribute(default=0)  # held by unpaid orders + kept
    used = NumberAttribute(default=0)  # kept: by delivered orders
    batch_id = UnicodeAttribute(null=True)  # generated together (`count`)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    listpk = UnicodeAttribute()
    listsk = UnicodeAttribute()

    def held(self) -> int:
        return max(0, int(self.taken) - int(self.used))


class CouponBuyerItem(PromotionsItem, discriminator="coupon_buyer"):
    """How many uses of one coupon one buyer holds or kept."""

    taken = NumberAttribute(default=0)


def normalise(code: str) -> str:
    """Codes are looked up case-insensitively (CONTRACT §8)."""
    return code.strip().upper()


def coupon_id_of(code: str) -> str:
    return "cpn_" + hashlib.sha256(f"coupon:{normalise(code)}".encode()).hexdigest()[:ID_CHARS]


def coupon_pk(coupon_id: str) -> str:
    return f"COUPON#{coupon_id}"


def buyer_sk(identity: str) -> str:
    """A buyer (kayisu.buyers.identity), as a digest: the table never holds an address."""
    return "BUYER#" + hashlib.sha256(f"buyer:{identity}".encode()).hexdigest()[:32]


class CouponExists(Exception):
    pass


class UnknownCoupon(Exception):
    pass


def new_coupon(code: str, at: datetime, **fields: Any) -> CouponItem:
    coupon_id = coupon_id_of(code)
    return CouponItem(
        coupon_pk(coupon_id),
        COUPON_SK,
        coupon_id=coupon_id,
        code=code,
        created_at=at,
        updated_at=at,
        listpk=LIST_PK,
        listsk=f"{at.strftime('%Y%m%dT%H%M%S.%f')}#{coupon_id}",
        **fields,
    )


def insert(coupon: CouponItem) -> None:
    try:
        coupon.save(condition=CouponItem.pk.does_not_exist())
    except PutError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise CouponExists(str(coupon.code)) from None
        raise


def load(coupon_id: str) -> CouponItem | None:
    try:
        return CouponItem.get(coupon_pk(coupon_id), COUPON_SK, consistent_read=True)
    except CouponItem.DoesNotExist:
        return None


def load_by_code(code: str) -> CouponItem | None:
    return load(coupon_id_of(code))


def buyer_taken(coupon_id: str, identity: str) -> int:
    try:
        return int(CouponBuyerItem.get(coupon_pk(coupon_id), buyer_sk(identity), consistent_read=True).taken)
    except CouponBuyerItem.DoesNotExist:
        return 0


def change(coupon_id: str, values: dict[str, Any], at: datetime) -> CouponItem:
    """Sets (or, for None, removes) the given terms; the counters are never set here."""
    actions: list[Action] = [CouponItem.updated_at.set(at)]
    for name, value in values.items():
        attribute = getattr(CouponItem, name)
        actions.append(attribute.remove() if value is None else attribute.set(value))
    item = CouponItem(coupon_pk(coupon_id), COUPON_SK)
    try:
        item.update(actions=actions, condition=CouponItem.pk.exists())
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise UnknownCoupon(coupon_id) from None
        raise
    return item


def page(after: str | None, limit: int) -> tuple[list[CouponItem], str | None]:
    """Coupons newest first, after the `listsk` a previous page ended on: (the page, the
    `listsk` to resume after, if there may be more). The index holds keys only."""
    condition, values = "listpk = :p", {":p": {"S": LIST_PK}}
    if after:
        condition += " AND listsk < :a"
        values[":a"] = {"S": after}
    found = client("dynamodb").query(
        TableName=get_settings().promotions_table,
        IndexName="ByList",
        KeyConditionExpression=condition,
        ExpressionAttributeValues=values,
        ScanIndexForward=False,
        Limit=limit,
    )
    keys = [(i["pk"]["S"], i["sk"]["S"], i["listsk"]["S"]) for i in found.get("Items", [])]
    items = {str(c.pk): c for c in CouponItem.batch_get([(pk, sk) for pk, sk, _ in keys])} if keys else {}
    ordered = [items[pk] for pk, _, _ in keys if pk in items]
    more = "LastEvaluatedKey" in found and keys
    return ordered, (keys[-1][2] if more else None)


# -- inside an order's transactions (kayisu.store.orders)


def take_use(t: Transaction, coupon: CouponItem, identity: str | None) -> None:
    """Placing an order takes a use: refused (the part `coupon` or `coupon_buyer` fails) when
    the coupon is used up, disabled meanwhile, or the buyer has had their uses."""
    condition = (CouponItem.status == "active") & CouponItem.pk.exists()
    if coupon.max_uses is not None:
        condition &= CouponItem.taken < int(coupon.max_uses)
    t.update("coupon", CouponItem(coupon.pk, COUPON_SK), actions=[CouponItem.taken.add(1)], condition=condition)
    if coupon.max_uses_per_email is not None and identity is not None:
        t.update(
            "coupon_buyer",
            CouponBuyerItem(coupon.pk, buyer_sk(identity)),
            actions=[CouponBuyerItem.kind.set(CouponBuyerItem), CouponBuyerItem.taken.add(1)],
            condition=CouponBuyerItem.taken.does_not_exist() | (CouponBuyerItem.taken < int(coupon.max_uses_per_email)),
        )


def give_back(t: Transaction, coupon_id: str, buyer: str | None) -> None:
    """The order will never be paid: its use goes back to the coupon (and to its buyer)."""
    t.update(f"coupon:{coupon_id}", CouponItem(coupon_pk(coupon_id), COUPON_SK), actions=[CouponItem.taken.add(-1)])
    if buyer is not None:
        t.update(
            f"coupon_buyer:{coupon_id}",
            CouponBuyerItem(coupon_pk(coupon_id), buyer),
            actions=[CouponBuyerItem.taken.add(-1)],
        )


def keep(t: Transaction, coupon_id: str, already_taken: bool, buyer: str | None) -> None:
    """The order was paid: its use is kept. A late payment (after the order expired and gave
    its use back) takes it again, unconditionally: the money is in."""
    actions: list[Action] = [CouponItem.used.add(1)]
    if not already_taken:
        actions.append(CouponItem.taken.add(1))
        if buyer is not None:
            t.update(
                f"coupon_buyer:{coupon_id}",
                CouponBuyerItem(coupon_pk(coupon_id), buyer),
                actions=[CouponBuyerItem.kind.set(CouponBuyerItem), CouponBuyerItem.taken.add(1)],
            )
    t.update(f"coupon:{coupon_id}", CouponItem(coupon_pk(coupon_id), COUPON_SK), actions=actions)
