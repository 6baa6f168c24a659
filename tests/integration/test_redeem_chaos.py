"""Promise 4 with an exception injected before and after every AWS call of a redemption
(admission, card lookup, the redemption transaction), each followed by the partner's retries
with the same reference and then a rival partner's attempt (tests/integration/redeem_every_call.py).
Whatever failed, the code ends redeemed exactly once, under the reference's own id, with one
audit record of it, and the rival is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support import run_as_function

FEWEST_CALLS = 3  # admission transaction, card GetItem, redemption transaction (partners.md)

Scenario = dict[str, Any]


@pytest.fixture(scope="module")
def scenarios(stack: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> list[Scenario]:
    workdir: Path = tmp_path_factory.mktemp("redeem-every-call")
    return run_as_function("tests.integration.redeem_every_call", stack, workdir, timeout=300)


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
