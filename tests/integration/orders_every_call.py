"""Run by test_orders_chaos: for every AWS call that placing an order, recording its payment
(the provider's webhook) and fulfilling it make, a fresh SKU and order whose operation fails
just before, or just after, that call; then the operation is retried as it would be in
production: the shopper repeats the checkout with the same Idempotency-Key, the provider
repeats its notification (and the sweeper re-requests fulfilment of paid orders), SQS
redelivers the fulfilment request. Also two fulfilment workers on one paid order at once.
Prints one JSON line per scenario with what the tables hold afterwards.

Phases (each a clean run, fail_at 0, then a scenario before and after each of its calls):
`checkout`; `webhook` and `late_webhook` (the order expired before it was paid); `fulfil`,
`late_fulfil` (paid after expiry, stock available) and `refund` (paid after expiry, stock gone);
`checkout_repeat`, `webhook_repeat`, `fulfil_repeat` (the failing operation repeats one that
succeeded: a double click, a repeated notification, a redelivered message); then `concurrent`
(no failure, two fulfilment workers on one order at once).

With `--bundle`, each scenario's product is a bundle (CONTRACT §8) of two fresh products, one
card of each per unit: the same phases, each order reserving, selling and giving back the
cards of both in its transactions.

Usage: python -m tests.integration.orders_every_call STATE_JSON [--bundle]"""

from __future__ import annotations

import io
import json
import secrets
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any, TextIO, TypeVar

from tests.support import become_a_function

QUANTITY = 2
CARDS = 6
PRICE = 990
BUNDLE_PARTS = 2  # in bundle mode, each scenario's product is a bundle of one card each of two products
REDELIVERIES = 5  # attempts of a retrier before this script gives up (one is enough when all is well)
CONCURRENT_ROUNDS = 3

T = TypeVar("T")


class Injected(Exception):
    pass


class Chaos:
    """Stands in for botocore's BaseClient._make_api_call: counts the AWS calls made since it
    was armed and fails the `fail_at`-th one, once, just before or just after it is made. Also
    notes each fulfilment request that reached the queue (the order id of each SendMessage)."""

    def __init__(self, original: Callable[..., Any]) -> None:
        self._original = original
        self._lock = threading.Lock()
        self.n = 0
        self.fail_at = 0
        self.when = ""
        self.sent: list[str] = []

    def arm(self, fail_at: int, when: str) -> None:
        with self._lock:
            self.n, self.fail_at, self.when = 0, fail_at, when

    def disarm(self) -> None:
        with self._lock:
            self.fail_at = 0

    def call(self, client: Any, operation: str, params: dict[str, Any]) -> Any:
        with self._lock:
            self.n += 1
            n, fail_at, when = self.n, self.fail_at, self.when
        if n == fail_at and when == "before":
            raise Injected(f"before {operation}")
        result = self._original(client, operation, params)
        if operation == "SendMessage":
            with self._lock:
                self.sent.append(str(json.loads(params["MessageBody"]).get("order_id")))
        if n == fail_at and when == "after":
            raise Injected(f"after {operation}")
        return result


def main() -> None:
    out: TextIO = sys.stdout
    sys.stdout = sys.stderr  # Powertools logs and metrics print; only scenario lines go to stdout
    state = become_a_function(sys.argv[1])
    bundle_mode = "--bundle" in sys.argv[2:]
    components: dict[str, list[str]] = {}  # a bundle's SKU → its components'
    from botocore.client import BaseClient

    from kayisu.buyers.identity import email_identity
    from kayisu.clock import now
    from kayisu.crypto import code_digester
    from kayisu.errors import Problem
    from kayisu.ingest import service
    from kayisu.orders import checkout, fulfilment, payment, sweeper
    from kayisu.orders.schemas import Order, OrderCreate
    from kayisu.payments import sandbox
    from kayisu.payments.registry import provider
    from kayisu.store import cards
    from kayisu.store import coupons as coupons_store
    from kayisu.store import orders as store
    from kayisu.web import metrics
    from tests.support import emulator_client, stage_batch, stock_shards

    chaos = Chaos(BaseClient._make_api_call)  # type: ignore[attr-defined]

    def patched(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        return chaos.call(self, operation, params)

    BaseClient._make_api_call = patched  # type: ignore[attr-defined]

    ddb = emulator_client(state, "dynamodb")
    resources: dict[str, str] = state["resources"]
    api_base: str = state["api_url"]
    secret: str = state["sandbox_webhook_secret"]
    refunds = provider("sandbox")

    # Loaded once per container, not per request: the code digest key, the sandbox's secret.
    digester = code_digester()
    warm = sandbox.event_body("payment.failed", "sbx_ord_warm", "ord_warm", 1, "CNY", int(time.time()))
    payment.receive("sandbox", {sandbox.SIGNATURE_HEADER: sandbox.sign(secret, warm, int(time.time()))}, warm)

    # -- set-up and observation (never armed)

    def new_product(sku: str, **more: dict[str, str]) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000000+0000", time.gmtime())
        ddb.put_item(
            TableName=resources["CatalogTable"],
            Item={
                "pk": {"S": f"PRODUCT#{sku}"},
                "sk": {"S": "PRODUCT"},
                "kind": {"S": "product"},
                "sku": {"S": sku},
                "name": {"S": "chaos card"},
                "description": {"S": ""},
                "price": {"N": str(PRICE)},
                "currency": {"S": "CNY"},
                "max_per_order": {"N": "5"},
                "alert_threshold": {"N": "0"},
                "status": {"S": "active"},
                "created_at": {"S": stamp},
                "updated_at": {"S": stamp},
                **more,
            },
        )

    def stocked_sku(count: int = CARDS) -> tuple[str, list[str]]:
        """A fresh product with `count` cards (in bundle mode, a bundle of one card each of two
        fresh products with `count` cards each): its SKU and its cards' keys."""
        if not bundle_mode:
            return card_sku(count)
        made = [card_sku(count) for _ in range(BUNDLE_PARTS)]
        sku = f"CHAOS-SET-{secrets.token_hex(5)}"
        parts = [{"sku": part, "quantity": 1} for part, _ in made]
        new_product(sku, components={"S": json.dumps(parts)})
        components[sku] = [part for part, _ in made]
        return sku, [digest for _, digests in made for digest in digests]

    def card_sku(count: int) -> tuple[str, list[str]]:
        """A fresh product with `count` cards, ingested in this process as the ingest worker would."""
        sku = f"CHAOS-{secrets.token_hex(5)}"
        new_product(sku)
        codes = [f"CHAOS-{secrets.token_hex(8)}" for _ in range(count)]
        batch_id = stage_batch(state, sku, io.BytesIO("\n".join(codes).encode()), "chaos.txt")
        for _slice in range(10):
            batch = cards.load_batch(batch_id)
            assert batch is not None
            if service.run(batch, lambda: 600_000) is not service.Outcome.CONTINUE:
                break
        return sku, [digester.digest(code) for code in codes]  # the cards' keys

    def shopper(sku: str) -> tuple[OrderCreate, str]:
        """An order body with an email, a source IP (each has a pending limit) and a coupon
        (whose use moves in the order's transactions) of its own."""
        code = f"CHAOS{secrets.token_hex(6)}"
        coupons_store.insert(
            coupons_store.new_coupon(
                code, now(), coupon_kind="percent", value=10, max_uses=5, max_uses_per_email=3, status="active"
            )
        )
        data = OrderCreate(
            sku=sku,
            quantity=QUANTITY,
            email=f"chaos-{secrets.token_hex(6)}@example.com",
            payment_method="sandbox",
            coupon=code,
        )
        ip = "10." + ".".join(str(b) for b in secrets.token_bytes(3))
        return data, ip

    def placed(sku: str) -> tuple[Order, OrderCreate, str]:
        data, ip = shopper(sku)
        order, created = checkout.place(data, ip, None, api_base)
        assert created
        return order, data, ip

    def expired(order: Order) -> None:
        """The order's deadline passed and the sweeper expired it (this order only)."""
        item = store.load_order(order.order_id)
        assert item is not None
        store.expire(item, item.expires_at + timedelta(seconds=1))

    def paid_quietly(order: Order, from_status: str = "pending_payment") -> str:
        """Records the order's payment without a fulfilment request, so that no worker of the
        stack takes it: this script's fulfil calls are the only ones."""
        txn = "sbxtxn_" + secrets.token_hex(12)
        assert order.payment.payment_id is not None
        store.record_payment(
            order.order_id, order.payment.payment_id, "sandbox", txn, order.amount, order.currency, now(), from_status
        )
        return txn

    def number(item: dict[str, Any], name: str) -> int:
        return int(item[name]["N"]) if name in item else 0

    def text(item: dict[str, Any], name: str) -> str | None:
        return str(item[name]["S"]) if name in item else None

    def observe(
        sku: str,
        digests: list[str],
        data: OrderCreate,
        ip: str,
        order_ids: list[str],
        transaction_ids: list[str],
        stocked: int = CARDS,
    ) -> dict[str, Any]:
        """The orders, the provider transactions and refunds they may have, the SKU's stock
        shards and cards, and the pending-order limits of the shopper, read straight from the
        tables by key (the emulator's scans and queries cost time in proportion to everything
        the session stored)."""
        orders: list[dict[str, Any]] = []
        ids = sorted(set(order_ids))
        got_orders = ddb.batch_get_item(
            RequestItems={
                resources["OrdersTable"]: {
                    "Keys": [{"pk": {"S": f"ORDER#{i}"}, "sk": {"S": "ORDER"}} for i in ids],
                    "ConsistentRead": True,
                }
            }
        )
        assert not got_orders.get("UnprocessedKeys")
        for item in sorted(got_orders["Responses"][resources["OrdersTable"]], key=lambda i: str(i["pk"]["S"])):
            orders.append(
                {
                    "order_id": text(item, "order_id"),
                    "status": text(item, "status"),
                    "quantity": number(item, "quantity"),
                    "reservation": json.loads(text(item, "reservation") or "{}"),
                    "cards": [str(c["S"]).split(":", 1)[1] for c in item.get("cards", {}).get("L", [])],
                    "transaction_id": text(item, "transaction_id"),
                    "refund_id": text(item, "refund_id"),
                    "open_index": text(item, "gsi2pk"),
                    "late": bool(item.get("late", {}).get("BOOL", False)),
                    "delivered": "delivered_at" in item,
                    "coupon_id": text(item, "coupon_id"),
                    "coupon_use": text(item, "coupon_use"),
                }
            )
        # The sandbox derives its refund id from the order: any refund of these orders is found.
        money = [("TXN", f"TXN#sandbox#{t}") for t in transaction_ids] + [
            ("REFUND", f"REFUND#sandbox#{refunds.refund(order_id, '', '', 0, 'CNY', '').refund_id}") for order_id in ids
        ]
        payments: list[dict[str, Any]] = []
        for sk, pk in money:
            item = ddb.get_item(
                TableName=resources["OrdersTable"], Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
            ).get("Item")
            if item is not None:
                payments.append(
                    {
                        "pk": pk,
                        "order_id": text(item, "order_id"),
                        "outcome": text(item, "outcome") or "refund",
                        "amount": number(item, "amount"),
                    }
                )
        shards: dict[str, dict[str, int]] = {}
        skus = components.get(sku, [sku])
        for part in skus:
            for n, item in stock_shards(ddb, resources["CatalogTable"], part).items():
                counters = ("imported", "available", "reserved", "sold", "void")
                shards[f"{part}#{n}"] = {name: number(item, name) for name in counters}
        keys = [{"pk": {"S": f"CARD#{digest}"}, "sk": {"S": "CARD"}} for digest in digests]
        found: list[dict[str, Any]] = []
        while keys:
            got = ddb.batch_get_item(
                RequestItems={resources["CardsTable"]: {"Keys": keys[:100], "ConsistentRead": True}}
            )
            found += got["Responses"].get(resources["CardsTable"], [])
            unprocessed = got.get("UnprocessedKeys", {}).get(resources["CardsTable"], {}).get("Keys", [])
            keys = unprocessed + keys[100:]
        card_list = sorted(
            (
                {
                    "digest": item["pk"]["S"].removeprefix("CARD#"),
                    "sku": text(item, "sku"),
                    "shard": number(item, "shard"),
                    "status": text(item, "status"),
                    "order_id": text(item, "order_id"),
                }
                for item in found
            ),
            key=lambda c: str(c["digest"]),
        )
        limits = {}
        for kind, value in (("email", email_identity(data.email)), ("ip", ip)):
            key = store.limit_key(kind.upper(), value)
            got_limit = ddb.get_item(
                TableName=resources["OrdersTable"], Key={"pk": {"S": key}, "sk": {"S": "LIMIT"}}, ConsistentRead=True
            )
            limits[kind] = number(got_limit.get("Item", {}), "pending")
        assert data.coupon is not None
        coupon_id = coupons_store.coupon_id_of(data.coupon)
        coupon_pk = {"S": coupons_store.coupon_pk(coupon_id)}
        coupon = ddb.get_item(
            TableName=resources["PromotionsTable"], Key={"pk": coupon_pk, "sk": {"S": "COUPON"}}, ConsistentRead=True
        )["Item"]
        buyer = ddb.get_item(
            TableName=resources["PromotionsTable"],
            Key={"pk": coupon_pk, "sk": {"S": coupons_store.buyer_sk(email_identity(data.email))}},
            ConsistentRead=True,
        ).get("Item", {})
        return {
            "sku": sku,
            "skus": skus,  # the SKUs whose cards it sells (a bundle's components)
            "units": len(skus),  # cards per unit ordered
            "stocked": stocked * len(skus),
            "coupon": {
                "coupon_id": coupon_id,
                "taken": number(coupon, "taken"),
                "used": number(coupon, "used"),
                "buyer": number(buyer, "taken"),
            },
            "orders": orders,
            "payments": payments,
            "shards": shards,
            "cards": card_list,
            "limits": limits,
        }

    def mails_for(order_id: str) -> int:
        import requests

        items = requests.get(f"{api_base}/_local/outbox", timeout=30).json()["items"]
        return sum(1 for m in items if order_id in str(m.get("subject", "")))

    def retried(operation: Callable[[], T], retryable: tuple[type[Exception], ...] = ()) -> list[str]:
        """Runs `operation` again until it ends without an error, as a retrier does; the
        outcome (or error) of each attempt."""
        outcomes: list[str] = []
        for _attempt in range(REDELIVERIES):
            try:
                outcomes.append(str(operation()))
                return outcomes
            except retryable as exc:
                outcomes.append(f"error: {exc!r}")
        return outcomes

    def first_attempt(operation: Callable[[], T], fail_at: int, when: str) -> tuple[str | None, int]:
        """The operation once, failing at the `fail_at`-th AWS call: (what was injected, calls made)."""
        chaos.arm(fail_at, when)
        injected = None
        try:
            operation()
        except Injected as exc:
            injected = str(exc)
        finally:
            calls = chaos.n
            chaos.disarm()
        return injected, calls

    # -- the phases

    def checkout_scenario(fail_at: int, when: str, repeat: bool = False) -> dict[str, Any]:
        """A checkout with an Idempotency-Key (`repeat`: the failing one repeats a checkout
        that had succeeded, as a shopper's double click or a client's retry does)."""
        sku, digests = stocked_sku()
        data, ip = shopper(sku)
        key = f"chaos-{secrets.token_hex(8)}"
        if repeat:
            checkout.place(data, ip, key, api_base)
        injected, calls = first_attempt(lambda: checkout.place(data, ip, key, api_base), fail_at, when)
        # The shopper saw an error (or a timeout) and sends the same request again, twice.
        retry, retry_created = checkout.place(data, ip, key, api_base)
        again, again_created = checkout.place(data, ip, key, api_base)
        return {
            "retry": {"order_id": retry.order_id, "created": retry_created, "token": retry.access_token is not None},
            "again": {"order_id": again.order_id, "created": again_created, "token": again.access_token is not None},
            "injected": injected,
            "calls": calls,
            **observe(sku, digests, data, ip, [retry.order_id, again.order_id], []),
        }

    def webhook_scenario(fail_at: int, when: str, late: bool = False, repeat: bool = False) -> dict[str, Any]:
        """The provider's notification of a payment (`late`: after the order expired, so its
        stock is taken from what is available then; `repeat`: the failing notification is a
        repeat of one that was recorded and answered)."""
        sku, digests = stocked_sku()
        order, data, ip = placed(sku)
        if late:
            expired(order)
        assert order.payment.payment_id is not None
        at = int(time.time())
        body = sandbox.event_body(
            "payment.succeeded", order.payment.payment_id, order.order_id, order.amount, order.currency, at
        )
        transaction_id = json.loads(body)["transaction_id"]

        def notify() -> str | None:
            headers = {sandbox.SIGNATURE_HEADER: sandbox.sign(secret, body, int(time.time()))}
            answer = json.loads(payment.receive("sandbox", headers, body).body or "{}")
            return str(answer["status"]) if "status" in answer else None

        sent_before = len(chaos.sent)
        if repeat:
            notify()
        injected, calls = first_attempt(notify, fail_at, when)
        requested = order.order_id in chaos.sent[sent_before:]
        before_sweep = store.load_order(order.order_id)
        # The sweeper's schedule, a few minutes on: paid orders not delivered go to the queue
        # again. Run when it is this order's only way to fulfilment (paid, and no request went
        # out): its 16 index queries cost the emulator a second or two.
        sent_before = len(chaos.sent)
        if before_sweep is not None and before_sweep.status == "paid" and not requested:
            sweeper.requeue_stuck(now() + timedelta(minutes=3))
        swept = order.order_id in chaos.sent[sent_before:]
        # The provider repeats the notification until it is answered 2xx, and once more besides.
        acks = retried(notify, (Problem,))
        acks += retried(notify, (Problem,))
        # Fulfilment, standing in for the queue's worker (the stack's own workers may be first).
        fulfilled = retried(lambda: fulfilment.fulfil(order.order_id), (fulfilment.PoolShort,))
        return {
            "order_id": order.order_id,
            "transaction_id": transaction_id,
            "injected": injected,
            "calls": calls,
            "requested": requested,
            "status_before_sweep": before_sweep.status if before_sweep else None,
            "swept": swept,
            "acks": acks,
            "fulfilled": fulfilled,
            **observe(sku, digests, data, ip, [order.order_id], [transaction_id]),
        }

    def fulfil_scenario(fail_at: int, when: str, case: str = "reserved", repeat: bool = False) -> dict[str, Any]:
        """Fulfilment of a paid order: `reserved` (paid in time), `late` (paid after it expired,
        stock available) or `refund` (paid after it expired, and its stock went to another order).
        `repeat`: the failing request is a redelivery of one that was done."""
        stocked = QUANTITY if case == "refund" else CARDS
        sku, digests = stocked_sku(stocked)
        order, data, ip = placed(sku)
        if case != "reserved":
            expired(order)
        others: list[str] = []
        if case == "refund":
            others.append(placed(sku)[0].order_id)  # another shopper takes the stock the expired order gave back
        transaction_id = paid_quietly(order, "pending_payment" if case == "reserved" else "expired")
        if repeat:
            fulfilment.fulfil(order.order_id)
        injected, calls = first_attempt(lambda: fulfilment.fulfil(order.order_id), fail_at, when)
        # SQS redelivers until the worker succeeds, and may deliver once more besides.
        outcomes = retried(lambda: fulfilment.fulfil(order.order_id), (fulfilment.PoolShort,))
        outcomes += retried(lambda: fulfilment.fulfil(order.order_id), (fulfilment.PoolShort,))
        return {
            "order_id": order.order_id,
            "transaction_id": transaction_id,
            "injected": injected,
            "calls": calls,
            "outcomes": outcomes,
            "mails": mails_for(order.order_id),
            **observe(sku, digests, data, ip, [order.order_id, *others], [transaction_id], stocked),
        }

    def concurrent_scenario(round_no: int) -> dict[str, Any]:
        sku, digests = stocked_sku()
        order, data, ip = placed(sku)
        transaction_id = paid_quietly(order)
        start = threading.Barrier(2)
        outcomes: list[str] = []

        def worker() -> None:
            start.wait()
            try:
                outcomes.append(fulfilment.fulfil(order.order_id))
            except Exception as exc:  # reported in the line, judged by the test
                outcomes.append(f"error: {exc!r}")

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        return {
            "round": round_no,
            "order_id": order.order_id,
            "transaction_id": transaction_id,
            "outcomes": sorted(outcomes),
            "mails": mails_for(order.order_id),
            **observe(sku, digests, data, ip, [order.order_id], [transaction_id]),
        }

    def emit(line: dict[str, Any]) -> None:
        print(json.dumps(line), file=out, flush=True)
        metrics.clear_metrics()  # a container's metrics are flushed per invocation

    phases: dict[str, Callable[[int, str], dict[str, Any]]] = {
        "checkout": checkout_scenario,
        "webhook": webhook_scenario,
        "late_webhook": lambda n, when: webhook_scenario(n, when, late=True),
        "fulfil": fulfil_scenario,
        "late_fulfil": lambda n, when: fulfil_scenario(n, when, "late"),
        "refund": lambda n, when: fulfil_scenario(n, when, "refund"),
        "checkout_repeat": lambda n, when: checkout_scenario(n, when, repeat=True),
        "webhook_repeat": lambda n, when: webhook_scenario(n, when, repeat=True),
        "fulfil_repeat": lambda n, when: fulfil_scenario(n, when, repeat=True),
    }

    def timed(make: Callable[[], dict[str, Any]], **fields: Any) -> dict[str, Any]:
        started = time.monotonic()
        line = make()
        return {**fields, "seconds": round(time.monotonic() - started, 2), **line}

    for phase, scenario in phases.items():
        clean = timed(partial(scenario, 0, ""), phase=phase, fail_at=0, when="")
        emit(clean)
        for when in ("before", "after"):
            for n in range(1, int(clean["calls"]) + 1):
                emit(timed(partial(scenario, n, when), phase=phase, fail_at=n, when=when))
    for round_no in range(CONCURRENT_ROUNDS):
        emit(timed(partial(concurrent_scenario, round_no), phase="concurrent"))


if __name__ == "__main__":
    main()
