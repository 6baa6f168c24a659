"""Promise 4 with an exception injected before and after every AWS call of a redemption
(admission, card lookup, giving the guess slot back, the redemption transaction), each followed
by the partner's retries with the same reference and then a rival's attempt
(tests/integration/redeem_every_call.py). Whatever failed, the code ends redeemed exactly once,
under the reference's own id, with one audit record of it, and the rival is refused; no
failure costs the partner a guess slot beyond the window (CONTRACT §3 lockout)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support import run_as_function

FEWEST_CALLS = 4  # admission transaction, card GetItem, slot given back, redemption transaction (partners.md)

Scenario = dict[str, Any]


@pytest.fixture(scope="module")
def lines(stack: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> list[Scenario]:
    workdir: Path = tmp_path_factory.mktemp("redeem-every-call")
    return run_as_function("tests.integration.redeem_every_call", stack, workdir, timeout=300)


@pytest.fixture(scope="module")
def scenarios(lines: list[Scenario]) -> list[Scenario]:
    return [s for s in lines if s["phase"] in ("redeem", "retry")]


def where(s: Scenario) -> str:
    return f"{s['phase']}: failure {s['when'] or 'nowhere'} call {s['fail_at']} ({s['injected']})"


def test_every_call_fails_once_before_and_once_after(scenarios: list[Scenario]) -> None:
    for phase in ("redeem", "retry"):
        lines = [s for s in scenarios if s["phase"] == phase]
        clean = [s for s in lines if s["fail_at"] == 0]
        assert len(clean) == 1
        calls = int(clean[0]["calls"])
        assert calls >= FEWEST_CALLS, f"{phase}: a clean run made {calls} AWS calls"
        failing = sorted((s["when"], s["fail_at"]) for s in lines if s["fail_at"])
        assert failing == sorted((w, n) for w in ("before", "after") for n in range(1, calls + 1))
        assert all(s["injected"] for s in lines if s["fail_at"]), [where(s) for s in lines if not s["injected"]]


def test_promise_4_the_code_is_redeemed_once_under_its_reference(scenarios: list[Scenario]) -> None:
    for s in scenarios:
        rid = s["expected_id"]
        assert s["card_status"] == "sold", where(s)
        assert s["card_redemption_id"] == rid, where(s)
        assert s["redemptions"] == [rid], where(s)
        assert s["audited_redeemed"] == 1, where(s)


def test_retries_get_the_first_result_and_rivals_are_refused(scenarios: list[Scenario]) -> None:
    for s in scenarios:
        rid = s["expected_id"]
        answers = [a for a in [s["answer"], *s["retries"]] if a]
        assert all(a.endswith(rid) for a in answers), where(s)
        created = [a for a in answers if a.startswith("201 ")]
        # Only a request that got as far as the redemption's own commit can have been the 201.
        assert len(created) <= 1, where(s)
        assert s["retries"][-1] == f"200 {rid}", where(s)
        assert s["rival"] == "ALREADY_REDEEMED", where(s)
        if s["phase"] == "retry":
            assert created == [], where(s)  # a repeat of a success is never a second 201


def test_a_failure_leaks_a_guess_slot_only_when_it_comes_after_the_admission(scenarios: list[Scenario]) -> None:
    held = 0
    for s in scenarios:
        # Every other failure is settled: the slot is given back on the way out.
        leaked = 1 if (s["when"], s["fail_at"]) == ("after", 1) else 0
        assert s["slots_held"] == held + leaked, where(s)
        assert s["misses"] == 0, where(s)  # no request here was a wrong guess
        held = s["slots_held"]


def test_leaked_slots_lock_a_partner_out_for_one_window_at_most(lines: list[Scenario]) -> None:
    (leaks,) = [s for s in lines if s["phase"] == "leaks"]
    assert (leaks["injected"], leaks["slots_held"], leaks["misses"]) == (10, 10, 0)
    assert leaks["after_a_minute"] == "locked for 600 s"  # counted as guesses, from their admission
    assert leaks["after_the_window"] == "admitted"
    assert leaks["slots_left"] == 0  # the leaked slots were freed, and the new one given back
