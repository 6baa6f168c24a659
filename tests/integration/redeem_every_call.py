"""Run by test_redeem_chaos: a redemption (admission of the signed request, the card lookup, the
redemption transaction) fails once just before, or just after, each of its AWS calls; then the
partner retries with the same reference and a fresh nonce, as the SDK does. Phase `redeem`
starts from a sold code; phase `retry` makes the failing request a repeat of one that already
succeeded. Codes are bought through the API first; the failing runs call the domain in this
process against the session's local stack. Prints one JSON line per scenario with what the
tables hold afterwards.

Usage: python -m tests.integration.redeem_every_call STATE_JSON"""

from __future__ import annotations

import json
import secrets
import sys
from datetime import timedelta
from typing import Any, TextIO

from tests.integration.orders_every_call import Chaos, Injected
from tests.support import become_a_function, scan_items

CODES = 20


def main() -> None:
    out: TextIO = sys.stdout
    sys.stdout = sys.stderr  # Powertools logs and metrics print; only scenario lines go to stdout
    state = become_a_function(sys.argv[1])
    from botocore.client import BaseClient

    from kayisu.clock import now
    from kayisu.crypto import code_digester
    from kayisu.errors import Problem
    from kayisu.partners import lockout, redemption
    from kayisu.partners.auth import settle
    from kayisu.store import partners as store
    from kayisu.web import metrics
    from tests.integration.conftest import Api, login
    from tests.integration.partner import bought_codes, new_partner
    from tests.support import emulator_client

    operator, public = Api(state["api_url"], login(state, "operator")), Api(state["api_url"])
    sku = f"CHAOS-R-{secrets.token_hex(4)}"
    codes = bought_codes(state, public, operator, sku, CODES)
    partner_id = new_partner(state, operator).partner_id
    partner = store.load_partner(partner_id, consistent=True)
    assert partner is not None
    code_digester()  # the digest key is loaded once per container; scenarios count only their own calls

    chaos = Chaos(BaseClient._make_api_call)  # type: ignore[attr-defined]

    def patched(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        return chaos.call(self, operation, params)

    BaseClient._make_api_call = patched  # type: ignore[attr-defined]
    ddb = emulator_client(state, "dynamodb")
    tables = state["resources"]

    def request(code: str, reference: str) -> str:
        """One signed request as the function handles it after the signature: admission (a
        guess slot), the redemption, then the slot settled. The outcome as the partner would see it."""
        admitted: dict[str, Any] = {}
        try:
            admitted["slot"] = lockout.admit(partner_id, secrets.token_hex(16), now())
            made, new = redemption.redeem(partner, admitted["slot"], code, reference)
        except Problem as problem:
            return problem.code
        finally:
            metrics.clear_metrics()
            settle(admitted)
        return f"{201 if new else 200} {made.redemption_id}"

    def guess_slots(of: str) -> tuple[list[str], list[str]]:
        item = ddb.get_item(
            TableName=tables["PartnersTable"],
            Key={"pk": {"S": f"PARTNER#{of}"}, "sk": {"S": "GUESSES"}},
            ConsistentRead=True,
        ).get("Item", {})
        return item.get("slots", {}).get("SS", []), item.get("misses", {}).get("SS", [])

    def observe(code: str) -> dict[str, Any]:
        digest = code_digester().digest(code)
        card = ddb.get_item(TableName=tables["CardsTable"], Key={"pk": {"S": f"CARD#{digest}"}, "sk": {"S": "CARD"}})
        audit = scan_items(
            ddb,
            TableName=tables["PartnersTable"],
            FilterExpression="#k = :a AND digest = :d",
            ExpressionAttributeNames={"#k": "kind"},
            ExpressionAttributeValues={":a": {"S": "attempt"}, ":d": {"S": digest}},
        )
        redemptions = scan_items(
            ddb,
            TableName=tables["PartnersTable"],
            FilterExpression="#k = :r AND digest = :d",
            ExpressionAttributeNames={"#k": "kind"},
            ExpressionAttributeValues={":r": {"S": "redemption"}, ":d": {"S": digest}},
        )
        item = card["Item"]
        slots, misses = guess_slots(partner_id)
        return {
            "slots_held": len(slots),  # a slot still held after the scenario was leaked
            "misses": len(misses),
            "card_status": item["status"]["S"],
            "card_redemption_id": item.get("redemption_id", {}).get("S"),
            "redemptions": [r["redemption_id"]["S"] for r in redemptions],
            "audited_redeemed": sum(1 for a in audit if a["outcome"]["S"] == "redeemed"),
        }

    def scenario(phase: str, code: str, fail_at: int, when: str) -> dict[str, Any]:
        reference = f"chaos-{secrets.token_hex(4)}"
        if phase == "retry":
            first = request(code, reference)
            assert first.startswith("201 "), first
        chaos.arm(fail_at, when)
        try:
            answer = request(code, reference)
            injected = None
        except Injected as exc:
            answer, injected = "", str(exc)
        calls = chaos.n
        chaos.disarm()
        retries = [request(code, reference) for _ in range(2)]  # the partner's retries
        rival = request(code, f"rival-{secrets.token_hex(4)}")
        return {
            "phase": phase,
            "fail_at": fail_at,
            "when": when,
            "injected": injected,
            "calls": calls,
            "answer": answer,
            "retries": retries,
            "rival": rival,
            "expected_id": redemption.redemption_id(partner_id, reference),
            **observe(code),
        }

    unused = iter(codes)
    for phase in ("redeem", "retry"):
        clean = scenario(phase, next(unused), 0, "")
        out.write(json.dumps(clean) + "\n")
        for when in ("before", "after"):
            for n in range(1, int(clean["calls"]) + 1):
                out.write(json.dumps(scenario(phase, next(unused), n, when)) + "\n")

    # A crash just after the admission committed leaks the slot it took. Ten in a row fill the
    # window; the partner is locked out until it passes, and not a moment beyond.
    leaker = new_partner(state, operator).partner_id
    started = now()
    leaked = 0
    for _ in range(lockout.MOST_GUESSES):
        chaos.arm(1, "after")
        try:
            lockout.admit(leaker, secrets.token_hex(16), started)
        except Injected:
            leaked += 1
        chaos.disarm()

    def admission(seconds_later: int) -> str:
        try:
            slot = lockout.admit(leaker, secrets.token_hex(16), started + timedelta(seconds=seconds_later))
        except lockout.LockedOut as locked:
            return f"locked for {round(locked.until - started.timestamp())} s"
        store.release(slot)
        return "admitted"

    slots, misses = guess_slots(leaker)
    out.write(
        json.dumps(
            {
                "phase": "leaks",
                "injected": leaked,
                "slots_held": len(slots),
                "misses": len(misses),
                "after_a_minute": admission(60),  # no request runs that long: these slots leaked
                "after_the_window": admission(601),
                "slots_left": len(guess_slots(leaker)[0]),
            }
        )
        + "\n"
    )
    out.flush()


if __name__ == "__main__":
    main()
