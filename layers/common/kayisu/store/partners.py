"""The partners table: partners, the nonces they used, their wrong guesses, their redemptions
and the audit trail of every attempt.

A redemption is one transaction (promise 4): the card `sold → redeemed` conditioned on not
being redeemed nor locked by its order's refund, the redemption record conditioned on not
existing (its id is derived from the partner and its `reference`, so a retry finds its first
result), the stock shard's `redeemed` counter, and the audit record. See docs/partners.md.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any, cast

from pynamodb.attributes import (
    BinaryAttribute,
    DiscriminatorAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.exceptions import UpdateError
from pynamodb.models import Model

from kayisu.config import get_settings
from kayisu.store.cards import CARD_SK, CardItem, card_pk
from kayisu.store.catalog import StockShardItem, product_pk, shard_sk
from kayisu.store.txn import Cancelled, Transaction

PARTNERS_PK = "PARTNERS"  # every partner in one partition: a few hundred at most, listed with one Query
NONCE_SECONDS = 900  # longer than the 300 s window either side: a nonce outlives its timestamp
AUDIT_DAYS = 400


class PartnersItem(Model):
    class Meta:
        table_name = get_settings().partners_table

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = DiscriminatorAttribute()
    ttl = NumberAttribute(null=True)


class PartnerItem(PartnersItem, discriminator="partner"):
    partner_id = UnicodeAttribute()
    name = UnicodeAttribute()
    skus = ListAttribute(of=UnicodeAttribute, null=True)  # None: every SKU
    status = UnicodeAttribute()  # active | disabled
    sealed_secret = BinaryAttribute(legacy_encoding=False)  # KMS ciphertext, context {partner_id}
    previous_sealed_secret = BinaryAttribute(legacy_encoding=False, null=True)
    previous_valid_until = UTCDateTimeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()


class NonceItem(PartnersItem, discriminator="nonce"):
    at = NumberAttribute()


class GuessesItem(PartnersItem, discriminator="guesses"):
    """A partner's recent INVALID_CODE answers (unix seconds) and the lockout they caused."""

    times = ListAttribute(of=NumberAttribute, default=list)
    locked_until = NumberAttribute(null=True)


class RedemptionItem(PartnersItem, discriminator="redemption"):
    redemption_id = UnicodeAttribute()
    partner_id = UnicodeAttribute()
    reference = UnicodeAttribute()
    sku = UnicodeAttribute()
    digest = UnicodeAttribute()  # the code's keyed digest, never the code
    order_id = UnicodeAttribute(null=True)
    redeemed_at = UTCDateTimeAttribute()


class AttemptItem(PartnersItem, discriminator="attempt"):
    """One redemption or verification attempt, for audit: accepted or not, never the code."""

    partner_id = UnicodeAttribute()
    at = UTCDateTimeAttribute()
    action = UnicodeAttribute()  # verify | redeem
    outcome = UnicodeAttribute()  # valid | redeemed | void | invalid | already_redeemed | replayed | …
    digest = UnicodeAttribute(null=True)
    sku = UnicodeAttribute(null=True)
    reference = UnicodeAttribute(null=True)
    redemption_id = UnicodeAttribute(null=True)


def partner_sk(partner_id: str) -> str:
    return f"PARTNER#{partner_id}"


def redemption_pk(redemption_id: str) -> str:
    return f"REDEMPTION#{redemption_id}"


def _epoch(at: datetime) -> int:
    return int(at.timestamp())


# -- partners


def save_new_partner(partner: PartnerItem) -> None:
    partner.save(condition=PartnerItem.pk.does_not_exist())


def load_partner(partner_id: str, consistent: bool = False) -> PartnerItem | None:
    try:
        return PartnerItem.get(PARTNERS_PK, partner_sk(partner_id), consistent_read=consistent)
    except PartnerItem.DoesNotExist:
        return None


def list_partners() -> list[PartnerItem]:
    return list(PartnerItem.query(PARTNERS_PK, PartnerItem.sk.startswith("PARTNER#")))


class PartnerMissing(Exception):
    pass


def update_partner(partner_id: str, **values: object) -> PartnerItem:
    item = PartnerItem(PARTNERS_PK, partner_sk(partner_id))
    actions = []
    for name, value in values.items():
        attr = getattr(PartnerItem, name)
        actions.append(attr.remove() if value is None else attr.set(value))
    try:
        item.update(actions=actions, condition=PartnerItem.pk.exists())
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise PartnerMissing(partner_id) from None
        raise
    return item


# -- admission: a fresh nonce, and no lockout


class NonceReused(Exception):
    pass


class LockedOut(Exception):
    def __init__(self, until: int) -> None:
        super().__init__(until)
        self.until = until


def admit(partner_id: str, nonce: str, at: datetime) -> None:
    """Remembers the nonce (NonceReused if seen) and checks the partner is not locked out
    (LockedOut), in one request."""
    t = Transaction()
    t.check(
        "lock",
        GuessesItem,
        f"PARTNER#{partner_id}",
        "GUESSES",
        GuessesItem.locked_until.does_not_exist() | (GuessesItem.locked_until <= _epoch(at)),
    )
    t.put(
        "nonce",
        NonceItem(f"NONCE#{partner_id}#{nonce}", "NONCE", at=_epoch(at), ttl=_epoch(at) + NONCE_SECONDS),
        condition=NonceItem.pk.does_not_exist(),
    )
    try:
        t.commit()
    except Cancelled as exc:
        if "nonce" in exc.failed:
            raise NonceReused() from None
        guesses = GuessesItem.get(f"PARTNER#{partner_id}", "GUESSES", consistent_read=True)
        raise LockedOut(int(guesses.locked_until or 0)) from None


def count_invalid(partner_id: str, at: datetime, window: int, most: int) -> int | None:
    """Adds a wrong guess; returns when the lockout ends if this one reached `most` within
    `window` seconds, else None."""
    item = GuessesItem(f"PARTNER#{partner_id}", "GUESSES")
    now = _epoch(at)
    item.update(
        actions=[
            GuessesItem.kind.set(GuessesItem),
            GuessesItem.times.set((GuessesItem.times | []).append([now])),
            GuessesItem.ttl.set(now + 2 * window),
        ]
    )
    times = [int(t) for t in cast(list[float], item.times or [])]
    recent = sorted(t for t in times if t > now - window)
    if len(recent) < most:
        if len(times) > 2 * most:  # keep the list short; a race here only loses old entries
            item.update(actions=[GuessesItem.times.set(cast(Any, recent))])
        return None
    until = int(recent[-most] + window)
    item.update(actions=[GuessesItem.locked_until.set(until), GuessesItem.times.set(cast(Any, recent))])
    return until


# -- redemptions


class CardTaken(Exception):
    """The card was redeemed, locked by a refund, or stopped being sold meanwhile."""


class RedemptionExists(Exception):
    pass


def redeem(card: CardItem, redemption: RedemptionItem, attempt: AttemptItem) -> None:
    t = Transaction()
    t.put("redemption", redemption, condition=RedemptionItem.pk.does_not_exist())
    t.put("attempt", attempt)
    t.update(
        "card",
        CardItem(card_pk(str(card.digest)), CARD_SK),
        actions=[
            CardItem.redeemed_at.set(redemption.redeemed_at),
            CardItem.redemption_id.set(redemption.redemption_id),
        ],
        # A card whose order's refund is under way is about to be void: never redeemed meanwhile.
        condition=(CardItem.status == "sold")
        & CardItem.redeemed_at.does_not_exist()
        & CardItem.refund_lock.does_not_exist(),
    )
    t.update(
        "shard",
        StockShardItem(product_pk(str(card.sku)), shard_sk(int(card.shard))),
        actions=[StockShardItem.redeemed.add(1)],
    )
    try:
        t.commit()
    except Cancelled as exc:
        if "redemption" in exc.failed:
            raise RedemptionExists() from None
        raise CardTaken() from None


def load_redemption(redemption_id: str) -> RedemptionItem | None:
    try:
        return RedemptionItem.get(redemption_pk(redemption_id), "REDEMPTION", consistent_read=True)
    except RedemptionItem.DoesNotExist:
        return None


def record_attempt(attempt: AttemptItem) -> None:
    attempt.save()


def new_attempt(
    partner_id: str,
    at: datetime,
    action: str,
    outcome: str,
    *,
    digest: str | None = None,
    sku: str | None = None,
    reference: str | None = None,
    redemption_id: str | None = None,
) -> AttemptItem:
    return AttemptItem(
        f"AUDIT#{partner_id}#{at:%Y-%m-%d}",
        f"{at:%Y-%m-%dT%H:%M:%S.%fZ}#{secrets.token_hex(4)}",
        partner_id=partner_id,
        at=at,
        action=action,
        outcome=outcome,
        digest=digest,
        sku=sku,
        reference=reference,
        redemption_id=redemption_id,
        ttl=_epoch(at + timedelta(days=AUDIT_DAYS)),
    )
