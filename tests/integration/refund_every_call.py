"""Run by test_refund_chaos: an operator's refund of a delivered order (2 codes) against a partner
redeeming one of its codes, and the refund failing once just before, or just after, each of its
AWS calls (the function dies). Prints one JSON line per scenario with what the tables hold
afterwards and what each side was told.

Phases:
- `during`: the partner redeems (and verifies) a code of the order while the provider is being
  asked for the money back: the window the refund's decision must close.
- `concurrent`: the refund and the redemption start at the same moment, in two threads.
- `crash`, one scenario per AWS call of the refund and side (before/after) and per finisher: the
  refund dies there, a partner then tries to redeem a code, and the order is handled next by
  `operator` (the refund repeated), `sweeper` (its re-request, a few minutes on, and the
  fulfilment it asks for) or `notification` (the provider's news of the refund; when it died before
  the provider was asked there is no news, and the sweeper comes next).

Usage: python -m tests.integration.refund_every_call STATE_JSON"""

from __future__ import annotations

import json
import secrets
import sys
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TextIO

from tests.integration.orders_every_call import Chaos, Injected
from tests.support import become_a_function

QUANTITY = 2
CONCURRENT_ROUNDS = 4
DURING_ROUNDS = 2
FINISHERS = ("operator", "sweeper", "notification")


def main() -> None:
    out: TextIO = sys.stdout
    sys.stdout = sys.stderr  # Powertools logs and metrics print; only scenario lines go to stdout
    state = become_a_function(sys.argv[1])
    from botocore.client import BaseClient

    from kayisu.clock import now
    from kayisu.crypto import code_digester
    from kayisu.errors import Problem
    from kayisu.orders import fulfilment, payment, sweeper
    from kayisu.partners import lockout, redemption
    from kayisu.partners.auth import settle
    from kayisu.payments import registry
    from kayisu.payments.provider import NotificationKind, PaymentNotification, RefundStatus
    from kayisu.store import orders as store
    from kayisu.store import partners as partners_store
    from kayisu.store.cards import CARD_SK, CardItem, card_pk
    from kayisu.web import metrics
    from tests.integration.conftest import Api, login
    from tests.integration.partner import new_partner
    from tests.integration.shop import new_codes, order, pay, stocked_product, wait_for

    operator, public = Api(state["api_url"], login(state, "operator")), Api(state["api_url"])
    crash_calls_guess = 8
    wanted = DURING_ROUNDS + CONCURRENT_ROUNDS + 1 + 2 * crash_calls_guess * len(FINISHERS) + 8
    sku = f"CHAOS-RF-{secrets.token_hex(4)}"
    codes = new_codes(QUANTITY * wanted, prefix="RFD")
    stocked_product(operator, sku, codes, max_per_order=QUANTITY)
    digester = code_digester()
    by_digest = {digester.digest(c): c for c in codes}
    partner_id = new_partner(state, operator).partner_id
    partner = partners_store.load_partner(partner_id, consistent=True)
    assert partner is not None

    def delivered_order() -> tuple[str, list[str]]:
        """A new order of QUANTITY codes, paid and delivered through the stack: (id, its codes)."""
        placed = order(public, sku, quantity=QUANTITY).json()
        assert pay(state, placed).status_code == 200
        cards = wait_for(public, placed)["cards"]
        return str(placed["order_id"]), sorted(str(c["code"]) for c in cards)

    sandbox = registry.provider("sandbox")
    original_refund = sandbox.refund
    asked: list[str] = []  # each order the provider was asked to refund (money moves at the first)
    during_provider: list[Callable[[], None]] = []

    def refund_at_provider(*args: Any, **kwargs: Any) -> Any:
        asked.append(str(args[0]))
        for hook in list(during_provider):
            hook()
        return original_refund(*args, **kwargs)

    sandbox.refund = refund_at_provider  # type: ignore[method-assign]

    chaos = Chaos(BaseClient._make_api_call)  # type: ignore[attr-defined]

    def patched(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        return chaos.call(self, operation, params)

    BaseClient._make_api_call = patched  # type: ignore[attr-defined]

    def redeem(code: str) -> str:
        """A partner's signed request, as the function handles it after the signature."""
        admitted: dict[str, Any] = {}
        try:
            admitted["slot"] = lockout.admit(partner_id, secrets.token_hex(16), now())
            _, new = redemption.redeem(partner, admitted["slot"], code, f"ref-{secrets.token_hex(6)}")
        except Problem as problem:
            return problem.code
        finally:
            metrics.clear_metrics()
            settle(admitted)
        return "redeemed" if new else "replayed"

    def verify(code: str) -> str:
        admitted: dict[str, Any] = {}
        try:
            admitted["slot"] = lockout.admit(partner_id, secrets.token_hex(16), now())
            return redemption.verify(partner, admitted["slot"], code).status
        except Problem as problem:
            return problem.code
        finally:
            settle(admitted)

    def refund(order_id: str) -> str:
        """The operator's refund (the admin function's call into the domain)."""
        item = store.load_order(order_id)
        assert item is not None
        try:
            done = fulfilment.refund_order(item, "operator: chaos", "operator")
        except store.CardRedeemed:
            return "CARD_REDEEMED"
        except store.OrderMoved:
            return "NOT_REFUNDABLE"
        finally:
            metrics.clear_metrics()
        return str(done.status)

    def notification(order_id: str) -> str:
        """The provider's news of this order's refund (the sandbox's refund id is the order's)."""
        item = store.load_order(order_id)
        assert item is not None
        made = original_refund(order_id, "", "", 0, item.currency, "")
        news = PaymentNotification(
            event_id=f"evt_{secrets.token_hex(6)}",
            kind=NotificationKind.REFUND,
            order_id=order_id,
            payment_id=str(item.payment_id),
            amount=int(item.amount),
            currency=item.currency,
            transaction_id=str(item.transaction_id or ""),
            refund_id=made.refund_id,
            refund_status=RefundStatus.SUCCEEDED,
        )
        try:
            return payment.handle("sandbox", news)
        except Problem as problem:
            return f"{problem.status} {problem.code}"
        finally:
            metrics.clear_metrics()

    def observe(order_id: str, order_codes: list[str]) -> dict[str, Any]:
        item = store.load_order(order_id)
        assert item is not None
        cards = [CardItem.get(card_pk(digester.digest(c)), CARD_SK, consistent_read=True) for c in order_codes]
        refund_id = original_refund(order_id, "", "", 0, item.currency, "").refund_id
        try:
            store.RefundItem.get(store.refund_pk("sandbox", refund_id), "REFUND", consistent_read=True)
            recorded = True
        except store.RefundItem.DoesNotExist:
            recorded = False
        return {
            "order_id": order_id,
            "status": item.status,
            "refund_requested": bool(item.refund_requested),
            "open_index": item.gsi2pk,
            "refund_recorded": recorded,
            "asked_provider": asked.count(order_id),
            "cards": [
                {
                    "status": c.status,
                    "redeemed": c.redeemed_at is not None,
                    "locked": bool(getattr(c, "refund_lock", None)),  # getattr: also runs before the fix
                }
                for c in cards
            ],
            "codes_known": all(c in by_digest.values() for c in order_codes),
        }

    def emit(line: dict[str, Any]) -> None:
        print(json.dumps(line), file=out, flush=True)

    # -- a partner redeems while the provider is asked for the money back
    for round_no in range(DURING_ROUNDS):
        order_id, order_codes = delivered_order()
        seen: dict[str, str] = {}

        def partner_meanwhile(code: str = order_codes[0], seen: dict[str, str] = seen) -> None:
            seen["verified"] = verify(code)
            seen["redeemed"] = redeem(code)

        during_provider.append(partner_meanwhile)
        try:
            refunded = refund(order_id)
        finally:
            during_provider.clear()
        emit({"phase": "during", "round": round_no, "refund": refunded, **seen, **observe(order_id, order_codes)})

    # -- both at once
    for round_no in range(CONCURRENT_ROUNDS):
        order_id, order_codes = delivered_order()
        start = threading.Barrier(2)
        answers: dict[str, str] = {}

        def run(
            name: str, act: Callable[[], str], answers: dict[str, str] = answers, start: threading.Barrier = start
        ) -> None:
            start.wait()
            try:
                answers[name] = act()
            except Exception as exc:  # reported in the line, judged by the test
                answers[name] = f"error: {exc!r}"

        threads = [
            threading.Thread(target=run, args=("refund", lambda o=order_id: refund(o))),
            threading.Thread(target=run, args=("redeemed", lambda c=order_codes[0]: redeem(c))),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        emit({"phase": "concurrent", "round": round_no, **answers, **observe(order_id, order_codes)})

    # -- the refund dies before or after each of its calls; a partner tries; someone finishes
    def crash(fail_at: int, when: str, finisher: str) -> dict[str, Any]:
        order_id, order_codes = delivered_order()
        chaos.arm(fail_at, when)
        injected = None
        try:
            first = refund(order_id)
        except Injected as exc:
            first, injected = "", str(exc)
        finally:
            calls = chaos.n
            chaos.disarm()
        rival = redeem(order_codes[0])
        made = order_id in asked  # the refund was made at the provider before the function died
        finished: list[str] = []
        if finisher == "operator":
            finished.append(refund(order_id))
        elif finisher == "notification" and made:
            finished.append(notification(order_id))
        else:  # the sweeper (also next when no refund was made, so no news will come)
            sent_before = len(chaos.sent)
            sweeper.requeue_stuck(now() + timedelta(minutes=3))
            if order_id in chaos.sent[sent_before:]:
                finished.append(str(fulfilment.fulfil(order_id)))
        return {
            "phase": "crash",
            "finisher": finisher,
            "fail_at": fail_at,
            "when": when,
            "injected": injected,
            "calls": calls,
            "first": first,
            "rival": rival,
            "made": made,
            "finished": finished,
            **observe(order_id, order_codes),
        }

    clean = crash(0, "", "operator")
    emit(clean)
    for finisher in FINISHERS:
        for when in ("before", "after"):
            for n in range(1, int(clean["calls"]) + 1):
                emit(crash(n, when, finisher))


if __name__ == "__main__":
    main()
