"""What operators do with partners: issue (the secret shown once), list, change the scope,
disable and enable, rotate the secret with a grace period for the old one."""

from __future__ import annotations

import secrets
from datetime import timedelta

from kayisu.clock import now
from kayisu.errors import FieldError, Problem, not_found, validation_error
from kayisu.partners import keys
from kayisu.partners.schemas import Partner, PartnerCreate, PartnerCreated, PartnerList, PartnerUpdate, SecretRotation
from kayisu.store import partners as store
from kayisu.store.catalog import load_product


def unknown_partner(partner_id: str) -> Problem:
    return not_found("UNKNOWN_PARTNER", f"There is no partner {partner_id!r}.")


def _view(p: store.PartnerItem) -> Partner:
    grace = p.previous_valid_until if p.previous_sealed_secret and p.previous_valid_until else None
    return Partner(
        partner_id=p.partner_id,
        name=p.name,
        skus=list(p.skus) if p.skus is not None else None,
        status=p.status,
        previous_secret_valid_until=grace if grace and grace > now() else None,
        created_at=p.created_at,
        updated_at=p.updated_at,
    )


def _scope(skus: list[str] | None) -> list[str] | None:
    if skus is None:
        return None
    if not skus:
        raise validation_error([FieldError("skus", "give at least one SKU, or leave it out for every SKU")])
    unknown = [s for s in dict.fromkeys(skus) if load_product(s) is None]
    if unknown:
        raise validation_error([FieldError("skus", f"unknown SKU {unknown[0]!r}")])
    return sorted(set(skus))


def create(data: PartnerCreate) -> PartnerCreated:
    partner_id = "ptn_" + secrets.token_hex(10)
    secret = keys.new_secret()
    at = now()
    item = store.PartnerItem(
        store.PARTNERS_PK,
        store.partner_sk(partner_id),
        partner_id=partner_id,
        name=data.name,
        skus=_scope(data.skus),
        status="active",
        sealed_secret=keys.seal(partner_id, secret),
        created_at=at,
        updated_at=at,
    )
    store.save_new_partner(item)
    return PartnerCreated(**_view(item).model_dump(), secret=secret)


def list_all() -> PartnerList:
    return PartnerList(items=[_view(p) for p in sorted(store.list_partners(), key=lambda p: p.created_at)])


def get(partner_id: str) -> Partner:
    found = store.load_partner(partner_id, consistent=True)
    if found is None:
        raise unknown_partner(partner_id)
    return _view(found)


def update(partner_id: str, change: PartnerUpdate) -> Partner:
    values: dict[str, object] = {"updated_at": now()}
    if change.name is not None:
        values["name"] = change.name
    if change.status is not None:
        values["status"] = change.status
    if change.all_skus and change.skus is not None:
        raise validation_error([FieldError("skus", "give skus or all_skus, not both")])
    if change.all_skus:
        values["skus"] = None
    elif change.skus is not None:
        values["skus"] = _scope(change.skus)
    try:
        return _view(store.update_partner(partner_id, **values))
    except store.PartnerMissing:
        raise unknown_partner(partner_id) from None


def rotate(partner_id: str, rotation: SecretRotation) -> PartnerCreated:
    """A new secret, shown once; the old one keeps working for `grace_seconds`."""
    current = store.load_partner(partner_id, consistent=True)
    if current is None:
        raise unknown_partner(partner_id)
    secret = keys.new_secret()
    at = now()
    try:
        item = store.update_partner(
            partner_id,
            sealed_secret=keys.seal(partner_id, secret),
            previous_sealed_secret=current.sealed_secret if rotation.grace_seconds else None,
            previous_valid_until=at + timedelta(seconds=rotation.grace_seconds) if rotation.grace_seconds else None,
            updated_at=at,
        )
    except store.PartnerMissing:
        raise unknown_partner(partner_id) from None
    return PartnerCreated(**_view(item).model_dump(), secret=secret)
