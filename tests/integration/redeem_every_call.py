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
from typing import Any, TextIO

from tests.integration.orders_every_call import Chaos, Injected
from tests.support import become_a_function

CODES = 20


def main() -> None:
    out: TextIO = sys.stdout
    sys.stdout = sys.stderr  # Powertools logs and metrics print; only scenario lines go to stdout
    state = become_a_function(sys.argv[1])
    from botocore.client import BaseClient

    from kayisu.clock import now
    from kayisu.crypto import code_digester
    from kayisu.errors import Problem
    from kayisu.partners import redemption
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
        """One signed request as the function handles it after the signature: admission, then
        the redemption. The outcome as the partner would see it."""
        try:
            store.admit(partner_id, secrets.token_hex(16), now())
            made, new = redemption.redeem(partner, code, reference)
        except Problem as problem:
            return problem.code
        finally:
            metrics.clear_metrics()
        return f"{201 if new else 200} {made.redemption_id}"

    def observe(code: str) -> dict[str, Any]:
        digest = code_digester().digest(code)
        card = ddb.get_item(TableName=tables["CardsTable"], Key={"pk": {"S": f"CARD#{digest}"}, "sk": {"S": "CARD"}})
        audit = ddb.scan(
            TableName=tables["PartnersTable"],
            FilterExpression="#k = :a AND digest = :d",
            ExpressionAttributeNames={"#k": "kind"},
            ExpressionAttributeValues={":a": {"S": "attempt"}, ":d": {"S": digest}},
        )["Items"]
        redemptions = ddb.scan(
            TableName=tables["PartnersTable"],
            FilterExpression="#k = :r AND digest = :d",
            ExpressionAttributeNames={"#k": "kind"},
            ExpressionAttributeValues={":r": {"S": "redemption"}, ":d": {"S": digest}},
        )["Items"]
        item = card["Item"]
        return {
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
    out.flush()


if __name__ == "__main__":
    main()
