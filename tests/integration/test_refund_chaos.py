"""A refund and a redemption never both win (promises 2 and 4): an operator's refund of a
delivered order against a partner redeeming one of its codes while the provider is asked for the
money back, at the same moment, and after the refund died before or after each of its AWS calls,
then finished by whoever handles the order next (the operator's repeat, the sweeper and the
fulfilment it requests, the provider's refund notification). The runs happen in their own
process (tests/integration/refund_every_call.py) against the session's local stack."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.support import run_as_function

FEWEST_CALLS = 5  # cards read, decision + locks, refund recorded, order read, mail (docs/orders.md)
FINISHERS = ("operator", "sweeper", "notification")

Scenario = dict[str, Any]


@pytest.fixture(scope="module")
def scenarios(stack: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> list[Scenario]:
    workdir: Path = tmp_path_factory.mktemp("refund-every-call")
    return run_as_function("tests.integration.refund_every_call", stack, workdir, timeout=900)


def where(s: Scenario) -> str:
    if s["phase"] != "crash":
        return f"{s['phase']} round {s['round']} ({s['order_id']})"
    return (
        f"crash, failure {s['when'] or 'nowhere'} call {s['fail_at']} ({s['injected']}), "
        f"finished by {s['finisher']} ({s['order_id']})"
    )


def refunded(s: Scenario) -> bool:
    """The refund won: money back, every code void, none redeemed, nothing left to do."""
    return (
        s["status"] == "refunded"
        and s["refund_recorded"]
        and s["asked_provider"] >= 1
        and s["open_index"] is None
        and all(c == {"status": "void", "redeemed": False, "locked": False} for c in s["cards"])
    )


def redeemed_kept(s: Scenario) -> bool:
    """The redemption won: no money moved, the order delivered, its codes sold and unlocked."""
    return (
        s["status"] == "delivered"
        and not s["refund_requested"]
        and not s["refund_recorded"]
        and s["asked_provider"] == 0
        and s["open_index"] is None
        and [c["redeemed"] for c in s["cards"]] == [True, False]
        and all(c["status"] == "sold" and not c["locked"] for c in s["cards"])
    )


def test_every_call_of_the_refund_fails_once_before_and_once_after(scenarios: list[Scenario]) -> None:
    crashes = [s for s in scenarios if s["phase"] == "crash"]
    clean = [s for s in crashes if s["fail_at"] == 0]
    assert len(clean) == 1
    calls = int(clean[0]["calls"])
    assert calls >= FEWEST_CALLS, f"a clean refund made {calls} AWS calls"
    for finisher in FINISHERS:
        failing = sorted((s["when"], s["fail_at"]) for s in crashes if s["fail_at"] and s["finisher"] == finisher)
        assert failing == sorted((w, n) for w in ("before", "after") for n in range(1, calls + 1)), finisher
    assert all(s["injected"] for s in crashes if s["fail_at"]), [where(s) for s in crashes if not s["injected"]]


def test_the_money_back_and_a_redeemed_code_never_both(scenarios: list[Scenario]) -> None:
    for s in scenarios:
        assert s["codes_known"], where(s)
        if any(c["redeemed"] for c in s["cards"]):
            assert s["asked_provider"] == 0, where(s)  # no money moved for an order whose code was used
            assert not s["refund_recorded"], where(s)
        assert refunded(s) or redeemed_kept(s), json.dumps(s)


def test_a_partner_redeeming_while_the_provider_is_asked_is_told_the_code_is_void(scenarios: list[Scenario]) -> None:
    during = [s for s in scenarios if s["phase"] == "during"]
    assert during
    for s in during:
        assert (s["verified"], s["redeemed"]) == ("void", "CODE_VOID"), where(s)
        assert s["refund"] == "refunded", where(s)
        assert refunded(s), where(s)
        assert s["asked_provider"] == 1, where(s)


def test_a_refund_and_a_redemption_at_once_have_one_winner(scenarios: list[Scenario]) -> None:
    concurrent = [s for s in scenarios if s["phase"] == "concurrent"]
    assert concurrent
    for s in concurrent:
        if refunded(s):
            assert (s["refund"], s["redeemed"]) == ("refunded", "CODE_VOID"), where(s)
        else:
            assert (s["refund"], s["redeemed"]) == ("CARD_REDEEMED", "redeemed"), where(s)


def test_a_refund_that_died_is_finished_by_whoever_handles_the_order_next(scenarios: list[Scenario]) -> None:
    crashes = [s for s in scenarios if s["phase"] == "crash"]
    outcomes: Counter[str] = Counter()
    for s in crashes:
        decided = s["asked_provider"] >= 1 or s["refund_requested"]
        if decided:
            # The decision was written, so the code stayed locked: the partner was refused ...
            assert s["rival"] == "CODE_VOID", where(s)
            # ... and the order's next handler finished the refund.
            assert refunded(s), where(s)
            if s["finisher"] == "notification" and s["made"] and not s["first"]:
                assert s["finished"] == ["refund_succeeded"], where(s)  # never 503 for ever
            outcomes["refunded"] += 1
        else:
            # It died before deciding: nothing happened, the partner redeemed, and a repeat
            # refuses before any money moves.
            assert s["rival"] == "redeemed", where(s)
            assert redeemed_kept(s), where(s)
            if s["finisher"] == "operator":
                assert s["finished"] == ["CARD_REDEEMED"], where(s)
            outcomes["redeemed"] += 1
    assert outcomes["refunded"], outcomes  # both sides of the decision were hit
    assert outcomes["redeemed"], outcomes
