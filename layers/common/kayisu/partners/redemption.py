"""Verifying and redeeming codes (CONTRACT §3, promise 4).

Unknown, unsold and out-of-scope codes get one answer, 404 INVALID_CODE, and spend the guess
slot the request was admitted with (lockout.py: 10 in 10 minutes, then 429 until the window
passes); every other lookup gives its slot back before it writes its outcome. A code whose order
is being refunded is `void` to partners (409 CODE_VOID on redemption): its money is going back,
and the refund's decision locked it in the same transaction. A redemption is one
transaction conditioned on the card being sold and not redeemed, so concurrent redemptions of
one code have exactly one winner. Its id is derived from the partner and the `reference`, so a
retry with the same reference finds the first result instead of redeeming again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from kayisu.clock import now, rfc3339
from kayisu.crypto import code_digester
from kayisu.errors import FieldError, Problem, conflict, not_found, validation_error
from kayisu.observability import metrics
from kayisu.partners import codes
from kayisu.partners.schemas import Redemption, Verification
from kayisu.store import partners as store
from kayisu.store.cards import CARD_SK, CardItem, card_pk

Status = Literal["valid", "redeemed", "void"]


@dataclass(frozen=True)
class Found:
    card: CardItem
    status: Status


def redemption_id(partner_id: str, reference: str) -> str:
    return "rdm_" + hashlib.sha256(f"{partner_id}\n{reference}".encode()).hexdigest()[:32]


def invalid_code() -> Problem:
    return not_found("INVALID_CODE", "This code cannot be redeemed here.")


def _typo_guard(code: str) -> None:
    if codes.looks_generated(code) and not codes.check_ok(code):
        raise validation_error(
            [FieldError("code", "the check character does not match: the code was probably mistyped")]
        )


def _find(partner: store.PartnerItem, digest: str) -> Found | None:
    """The card if this partner may know it exists: sold (now or before a refund), in scope."""
    try:
        card = CardItem.get(card_pk(digest), CARD_SK, consistent_read=True)
    except CardItem.DoesNotExist:
        return None
    if card.order_id is None or card.status not in ("sold", "void"):
        return None  # never sold (available, or voided with its batch)
    if partner.skus is not None and card.sku not in partner.skus:
        return None
    if card.status == "void":
        return Found(card, "void")
    if card.redeemed_at:
        return Found(card, "redeemed")
    # Locked by its order's refund, under way: about to be void, and refused as void already.
    return Found(card, "void" if card.refund_lock else "valid")


def _look_up(partner: store.PartnerItem, slot: store.Slot, action: str, at: datetime, digest: str) -> Found:
    """The card, or INVALID_CODE once the guess is counted: the slot is spent before the answer
    exists, and given back when there is a card (before anything else is written)."""
    found = _find(partner, digest)
    if found is None:
        store.spend(slot)
        store.record_attempt(store.new_attempt(partner.partner_id, at, action, "invalid", digest=digest))
        metrics.add_metric(name="InvalidCodes", unit="Count", value=1)
        raise invalid_code()
    store.release(slot)
    return found


def verify(partner: store.PartnerItem, slot: store.Slot, code: str) -> Verification:
    _typo_guard(code)
    at = now()
    digest = code_digester().digest(code)
    found = _look_up(partner, slot, "verify", at, digest)
    store.record_attempt(
        store.new_attempt(partner.partner_id, at, "verify", found.status, digest=digest, sku=found.card.sku)
    )
    return Verification(status=found.status, sku=str(found.card.sku), redeemed_at=found.card.redeemed_at)


def already_redeemed(at: datetime) -> Problem:
    return Problem(
        409,
        "ALREADY_REDEEMED",
        "Already redeemed",
        "This code was redeemed before.",
        extra={"redeemed_at": rfc3339(at)},
    )


def code_void(refunding: bool = False) -> Problem:
    if refunding:
        return conflict("CODE_VOID", "This code's order is being refunded; it cannot be redeemed.")
    return conflict("CODE_VOID", "This code was voided (its order was refunded); it cannot be redeemed.")


def redeem(partner: store.PartnerItem, slot: store.Slot, code: str, reference: str) -> tuple[Redemption, bool]:
    """The redemption, and whether it was made now (False: a retry got the first result)."""
    _typo_guard(code)
    at = now()
    digest = code_digester().digest(code)
    rid = redemption_id(partner.partner_id, reference)
    found = _look_up(partner, slot, "redeem", at, digest)
    card = found.card
    if found.status != "valid":
        return _settled(partner, card, rid, reference, at, digest)
    record = store.RedemptionItem(
        store.redemption_pk(rid),
        "REDEMPTION",
        redemption_id=rid,
        partner_id=partner.partner_id,
        reference=reference,
        sku=card.sku,
        digest=digest,
        order_id=card.order_id,
        redeemed_at=at,
    )
    audit = store.new_attempt(
        partner.partner_id,
        at,
        "redeem",
        "redeemed",
        digest=digest,
        sku=card.sku,
        reference=reference,
        redemption_id=rid,
    )
    try:
        store.redeem(card, record, audit)
    except store.RedemptionExists:
        first = store.load_redemption(rid)
        if first is not None and first.digest == digest:
            return _view(first.redemption_id, first.sku, first.redeemed_at, reference), False
        _audit(partner, at, "reference_reused", digest, card, reference)
        raise conflict("REFERENCE_REUSED", "This reference was used for another code.") from None
    except store.CardTaken:
        card.refresh(consistent_read=True)
        return _settled(partner, card, rid, reference, at, digest)
    metrics.add_metric(name="CodesRedeemed", unit="Count", value=1)
    return _view(rid, str(card.sku), at, reference), True


def _settled(
    partner: store.PartnerItem, card: CardItem, rid: str, reference: str, at: datetime, digest: str
) -> tuple[Redemption, bool]:
    """The card is redeemed or void: the first result for this reference, or a refusal."""
    if card.redeemed_at is not None and card.redemption_id == rid:
        _audit(partner, at, "replayed", digest, card, reference)
        return _view(rid, str(card.sku), card.redeemed_at, reference), False
    if card.redeemed_at is not None:
        _audit(partner, at, "already_redeemed", digest, card, reference)
        raise already_redeemed(card.redeemed_at)
    _audit(partner, at, "void", digest, card, reference)
    raise code_void(refunding=card.status == "sold" and card.refund_lock is not None)


def _audit(partner: store.PartnerItem, at: datetime, outcome: str, digest: str, card: CardItem, reference: str) -> None:
    store.record_attempt(
        store.new_attempt(partner.partner_id, at, "redeem", outcome, digest=digest, sku=card.sku, reference=reference)
    )


def _view(rid: str, sku: str, at: datetime, reference: str) -> Redemption:
    return Redemption(redemption_id=rid, sku=sku, redeemed_at=at, reference=reference)


def get(partner: store.PartnerItem, rid: str) -> Redemption:
    found = store.load_redemption(rid) if rid.startswith("rdm_") and len(rid) <= 64 else None
    if found is None or found.partner_id != partner.partner_id:
        raise not_found("UNKNOWN_REDEMPTION", "There is no such redemption of yours.")
    return _view(found.redemption_id, found.sku, found.redeemed_at, found.reference)
