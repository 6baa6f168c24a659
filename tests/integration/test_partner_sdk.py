"""The partner SDK and its `kayisu-partner` command against the local stack, end to end
(CONTRACT §3): an operator issues a partner, a shopper buys codes, the partner redeems them."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SDK = ROOT / "sdk" / "python"
sys.path.insert(0, str(SDK))  # importable without `pip install`

from kayisu_partner import (  # noqa: E402
    AlreadyRedeemed,
    BadSignature,
    InvalidCode,
    PartnerClient,
    UnknownRedemption,
    new_reference,
)

from tests.integration.conftest import Api  # noqa: E402
from tests.integration.shop import new_codes, order, pay, stocked_product, wait_for  # noqa: E402


def sold_codes(
    stack: dict[str, Any], public: Api, operator: Api, sku: str, bought: int, unsold: int = 0
) -> tuple[list[str], list[str]]:
    """A product with `bought + unsold` known codes, `bought` of them bought, paid and
    delivered: (the delivered codes, the ones still in stock)."""
    codes = new_codes(bought + unsold, prefix="PTN")
    stocked_product(operator, sku, codes)
    placed = order(public, sku, quantity=bought)
    assert placed.status_code == 201, placed.text
    assert pay(stack, placed.json()).status_code == 200
    delivered = wait_for(public, placed.json())
    mine = [card["code"] for card in delivered["cards"]]
    assert len(mine) == bought
    return mine, [c for c in codes if c not in mine]


def new_partner(operator: Api, sku: str) -> tuple[str, str]:
    made = operator.post("/v1/admin/partners", {"name": f"Cinema for {sku}", "skus": [sku]})
    assert made.status_code == 201, made.text
    return made.json()["partner_id"], made.json()["secret"]


def test_the_sdk_verifies_redeems_once_and_replays_by_reference(
    stack: dict[str, Any], public: Api, operator: Api, new_sku: str
) -> None:
    [code], [in_stock] = sold_codes(stack, public, operator, new_sku, bought=1, unsold=1)
    partner_id, secret = new_partner(operator, new_sku)
    with PartnerClient(stack["api_url"], partner_id, secret) as client:
        checked = client.verify(code)
        assert (checked.status, checked.sku, checked.redeemed_at) == ("valid", new_sku, None)

        reference = new_reference()
        first = client.redeem(code, reference)
        assert (first.sku, first.reference, first.replayed) == (new_sku, reference, False)
        assert abs(first.redeemed_at - datetime.now(UTC)) < timedelta(minutes=2)

        again = client.redeem(code, reference)  # what a retry after a lost answer does
        assert again == dataclasses.replace(first, replayed=True)

        with pytest.raises(AlreadyRedeemed) as taken:
            client.redeem(code, new_reference())
        assert (taken.value.status, taken.value.code) == (409, "ALREADY_REDEEMED")
        assert taken.value.redeemed_at == first.redeemed_at
        assert code not in taken.value.detail

        after = client.verify(code)
        assert (after.status, after.redeemed_at) == ("redeemed", first.redeemed_at)
        assert client.get_redemption(first.redemption_id) == first

        with pytest.raises(UnknownRedemption):
            # Shaped like a real id, one character off.
            client.get_redemption(first.redemption_id[:-1] + ("b" if first.redemption_id.endswith("a") else "a"))
        # Unknown and unsold codes get the same answer.
        for not_redeemable in (new_codes(1, prefix="NOPE")[0], in_stock):
            with pytest.raises(InvalidCode) as invalid:
                client.redeem(not_redeemable, new_reference())
            assert (invalid.value.status, invalid.value.code) == (404, "INVALID_CODE")

    with PartnerClient(stack["api_url"], partner_id, secret + "x") as wrong:
        with pytest.raises(BadSignature) as refused:
            wrong.verify(code)
        assert (refused.value.status, refused.value.code) == (401, "BAD_SIGNATURE")


def kayisu_partner(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The installed `kayisu-partner` script when there is one, else the same entry point by
    module from the checkout."""
    script = Path(sys.executable).with_name("kayisu-partner")
    if script.exists():
        command = [str(script), *args]
    else:
        command = [sys.executable, "-m", "kayisu_partner", *args]
        env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(SDK), env.get("PYTHONPATH")]))}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def test_the_command_redeems_end_to_end(stack: dict[str, Any], public: Api, operator: Api, new_sku: str) -> None:
    [code], _ = sold_codes(stack, public, operator, new_sku, bought=1)
    partner_id, secret = new_partner(operator, new_sku)
    env = {
        **os.environ,
        "KAYISU_API_URL": stack["api_url"],
        "KAYISU_PARTNER_ID": partner_id,
        "KAYISU_PARTNER_SECRET": secret,
    }

    checked = kayisu_partner(env, "verify", code)
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout)["status"] == "valid"

    redeemed = kayisu_partner(env, "redeem", code, "--reference", "TILL-7-SALE-1")
    assert redeemed.returncode == 0, redeemed.stderr
    first = json.loads(redeemed.stdout)
    assert (first["sku"], first["reference"], first["replayed"]) == (new_sku, "TILL-7-SALE-1", False)

    repeated = kayisu_partner(env, "redeem", code, "--reference", "TILL-7-SALE-1")
    assert repeated.returncode == 0, repeated.stderr
    assert json.loads(repeated.stdout) == {**first, "replayed": True}

    shown = kayisu_partner(env, "show", first["redemption_id"], "--text")
    assert shown.returncode == 0, shown.stderr
    assert first["redemption_id"] in shown.stdout

    taken = kayisu_partner(env, "redeem", code, "--reference", "TILL-7-SALE-2")
    assert taken.returncode == 1
    assert taken.stderr.startswith("ALREADY_REDEEMED: ")
    assert taken.stdout == ""

    unknown = kayisu_partner(env, "verify", new_codes(1, prefix="NOPE")[0])
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("INVALID_CODE: ")

    for run in (checked, redeemed, repeated, shown, taken, unknown):
        assert secret not in run.stdout + run.stderr
    for run in (taken, unknown):
        assert code not in run.stderr
