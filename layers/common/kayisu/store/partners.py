"""The partners table: partners, the nonces they used, their wrong guesses, their redemptions
and the audit trail of every attempt.

A redemption is one transaction (promise 4): the card `sold → redeemed` conditioned on not
being redeemed nor locked by its order's refund, the redemption record conditioned on not
existing (its id is derived from the partner and its `reference`, so a retry finds its first
result), the stock shard's `redeemed` counter, and the audit record. See docs/partners.md.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from pynamodb.attributes import (
    BinaryAttribute,
    DiscriminatorAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import size
from pynamodb.expressions.update import Action
from pynamodb.models import Model

from kayisu.config import get_settings
from kayisu.store.cards import CARD_SK, CardItem, card_pk
from kayisu.store.stock import Stock, move_stock
from kayisu.store.txn import MAX_ATTEMPTS, Cancelled, Transaction, back_off

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
    """A partner's guess slots (CONTRACT §3 lockout, docs/partners.md): `slots` holds one element
    `"<admitted at, unix ms>:<lease>"` per admitted request that may still turn out a wrong guess
    (in flight) or did (then the same element is in `misses` too). Sets, so that taking, giving
    back and marking a slot are exact single-element writes that need no read first."""

    slots = UnicodeSetAttribute(null=True)
    misses = UnicodeSetAttribute(null=True)


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


# -- admission: a fresh nonce, and a guess slot


class NonceReused(Exception):
    pass


class WindowFull(Exception):
    """Every guess slot of the partner is taken (by wrong guesses, or requests in flight)."""


@dataclass
class Slot:
    """The guess slot an admitted request holds until its answer is known: given back when it
    is not a wrong guess, spent (kept until the window passes) when it is."""

    partner_id: str
    element: str
    state: str = "held"  # held | released | spent


def _guesses(partner_id: str) -> GuessesItem:
    return GuessesItem(f"PARTNER#{partner_id}", "GUESSES")


def _update_guesses(partner_id: str, actions: list[Action]) -> None:
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            _guesses(partner_id).update(actions=[GuessesItem.kind.set(GuessesItem), *actions])
            return
        except UpdateError as exc:
            # All requests of a partner write this item: on DynamoDB a write meeting another
            # request's admission transaction is refused (nothing written) and may be retried.
            if exc.cause_response_code != "TransactionConflictException" or attempt == MAX_ATTEMPTS:
                raise
            back_off(attempt)


def slot_time_ms(element: str) -> int:
    return int(element.split(":", 1)[0])


def admit(partner_id: str, nonce: str, at: datetime, most: int, keep_seconds: int) -> Slot:
    """Remembers the nonce (NonceReused if seen) and takes one of the partner's `most` guess
    slots (WindowFull if none is free), in one request. The guesses item lives `keep_seconds`
    after its last admission (TTL)."""
    slot = Slot(partner_id, f"{int(at.timestamp() * 1000)}:{secrets.token_hex(6)}")
    t = Transaction()
    t.put(
        "nonce",
        NonceItem(f"NONCE#{partner_id}#{nonce}", "NONCE", at=_epoch(at), ttl=_epoch(at) + NONCE_SECONDS),
        condition=NonceItem.pk.does_not_exist(),
    )
    t.update(
        "slot",
        _guesses(partner_id),
        actions=[
            GuessesItem.kind.set(GuessesItem),
            GuessesItem.slots.add({slot.element}),
            GuessesItem.ttl.set(_epoch(at) + keep_seconds),
        ],
        condition=GuessesItem.slots.does_not_exist() | (size(GuessesItem.slots) < most),  # type: ignore[no-untyped-call]
    )
    try:
        t.commit()
    except Cancelled as exc:
        if "nonce" in exc.failed:
            raise NonceReused() from None
        raise WindowFull() from None
    return slot


def load_slots(partner_id: str) -> tuple[set[str], set[str]]:
    """The partner's taken slots and, of them, those spent on wrong guesses."""
    try:
        item = GuessesItem.get(f"PARTNER#{partner_id}", "GUESSES", consistent_read=True)
    except GuessesItem.DoesNotExist:
        return set(), set()
    return set(item.slots or ()), set(item.misses or ())


def free_slots(partner_id: str, slots: set[str], misses: set[str]) -> None:
    """Drops slots whose window has passed (spent, or leaked by a crashed request): exact
    elements, so a slot taken meanwhile is never touched."""
    actions: list[Action] = [GuessesItem.slots.delete(slots)] if slots else []
    actions += [GuessesItem.misses.delete(misses)] if misses else []
    if actions:
        _update_guesses(partner_id, actions)


def release(slot: Slot) -> None:
    """Gives the slot back: the request was not a wrong guess."""
    if slot.state != "held":
        return
    _update_guesses(slot.partner_id, [GuessesItem.slots.delete({slot.element})])
    slot.state = "released"


def spend(slot: Slot) -> None:
    """Marks the slot as a wrong guess: it stays taken until its window passes. Marked spent
    before the write, so a failure never gives a possibly counted guess back."""
    if slot.state != "held":
        return
    slot.state = "spent"
    _update_guesses(slot.partner_id, [GuessesItem.misses.add({slot.element})])


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
    move_stock(t, str(card.sku), int(card.shard), Stock.SOLD, Stock.REDEEMED, 1, name="shard")
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
