"""Outgoing webhooks (CONTRACT §13, promise 10) against a local stack of this module's own, whose
retry schedule is shortened to 1 s and 2 s (WebhookRetrySeconds): a receiver that fails twice
gets one event three times, each signed; one that never answers ends `failed`; each state
change is told once, also when its path was retried after injected failures; rotation signs
with both secrets; targets that are not allowed are refused; no body carries a code, a token
or a secret."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.integration.conftest import ARTIFACTS, Api, aws, login, running_stack
from tests.integration.partner import new_partner
from tests.integration.receiver import Received, Receiver, start_receiver
from tests.integration.shop import new_codes, order, outbox, pay, run_schedule, stocked_product, wait_for
from tests.support import run_as_function

T = TypeVar("T")
ORDER_EVENTS = ["order.paid", "order.delivered", "order.refunded"]
ALL_EVENTS = [
    *ORDER_EVENTS,
    "stock.low",
    "ticket.created",
    "ticket.updated",
    "redemption.created",
    "commission.settled",
]
# What no event body may carry: every code, access token and secret this module's run handled.
SECRETS: set[str] = set()


@pytest.fixture(scope="module")
def wstack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    parameters = "WebhookRetrySeconds=1,2 AlertEmail=ops@example.com"
    state_dir = tmp_path_factory.mktemp("kayisu-webhooks")
    with running_stack(state_dir, ARTIFACTS / "webhooks-stack.log", parameters) as state:
        yield state


@pytest.fixture(scope="module")
def ops(wstack: dict[str, Any]) -> Iterator[Api]:
    api = Api(wstack["api_url"], login(wstack, "operator"))
    yield api
    # The module's endpoints go, and the queue empties (each message of a deleted endpoint ends
    # its delivery `failed` at once), so that the stack stops with no delivery in flight.
    for hook in api.get("/v1/admin/webhooks").json()["items"]:
        api.request("DELETE", f"/v1/admin/webhooks/{hook['webhook_id']}")
    sqs, url = aws(wstack, "sqs"), wstack["resources"]["WebhookDeliveryQueue"]
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]

    def drained() -> bool:
        counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        return all(int(counts[n]) == 0 for n in names)

    poll(drained, "the delivery queue never emptied")


@pytest.fixture(scope="module")
def shop(wstack: dict[str, Any]) -> Api:
    return Api(wstack["api_url"])


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = start_receiver()
    yield r
    r.stop()


def poll(check: Callable[[], T | None], what: str, timeout: float = 60) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"{what} after {timeout} s")
        time.sleep(0.2)


def webhook(ops: Api, url: str, events: list[str], **extra: Any) -> dict[str, Any]:
    made = ops.post("/v1/admin/webhooks", {"url": url, "events": events, **extra})
    assert made.status_code == 201, made.text
    body: dict[str, Any] = made.json()
    assert re.fullmatch(r"whk_[0-9a-f]{20}", body["webhook_id"])
    assert body["secret"].startswith("whsec_")
    SECRETS.add(body["secret"])
    return body


def deliveries(ops: Api, webhook_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = ops.get(f"/v1/admin/webhooks/{webhook_id}/deliveries", params={"cursor": cursor} if cursor else None)
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if not cursor:
            return items


def bought(wstack: dict[str, Any], shop: Api, ops: Api, sku: str, quantity: int = 1, stock: int = 3) -> dict[str, Any]:
    """An order of a new product, paid and delivered; its codes and token noted as secrets."""
    codes = new_codes(stock, prefix="WH")
    SECRETS.update(codes)
    stocked_product(ops, sku, codes)
    placed = order(shop, sku, quantity=quantity).json()
    SECRETS.add(placed["access_token"])
    assert pay(wstack, placed).status_code == 200
    wait_for(shop, placed)
    return dict(placed)


def of_order(got: list[Received], order_id: str, type_: str | None = None) -> list[Received]:
    return [
        r for r in got if r.event["data"].get("order_id") == order_id and (type_ is None or r.event["type"] == type_)
    ]


def failing_alerts(wstack: dict[str, Any], webhook_id: str) -> list[dict[str, Any]]:
    return [m for m in outbox(wstack) if m["channel"] == "sns" and f"webhook {webhook_id} is failing" in m["subject"]]


def test_a_receiver_failing_twice_gets_one_event_three_times_each_validly_signed(
    wstack: dict[str, Any], shop: Api, ops: Api, receiver: Receiver
) -> None:
    sku = f"WH-FLAKY-{time.monotonic_ns()}"
    hook = webhook(ops, receiver.url(f"flaky-{sku}"), ["order.paid"], description="CRM")
    placed = bought(wstack, shop, ops, sku)

    def delivered() -> dict[str, Any] | None:
        return next((d for d in deliveries(ops, hook["webhook_id"]) if d["status"] == "delivered"), None)

    done = poll(delivered, "the delivery never succeeded")
    got = of_order(receiver.at(f"flaky-{sku}"), placed["order_id"])
    assert len(got) == 3, [r.headers for r in got]
    assert {r.event["id"] for r in got} == {done["event_id"]}
    assert {r.headers["Kayisu-Event-Id"] for r in got} == {done["event_id"]}
    assert len({r.body for r in got}) == 1  # the same bytes each time
    assert all(r.signed_by(hook["secret"]) for r in got)
    assert got[0].event["type"] == "order.paid"
    assert got[0].event["data"]["sku"] == sku
    assert (done["attempts"], done["last_status_code"], done["type"]) == (3, 200, "order.paid")
    assert isinstance(done["last_latency_ms"], int)
    assert done["last_response_excerpt"] == "thanks"
    assert len(deliveries(ops, hook["webhook_id"])) == 1
    # Operators heard once that it started failing; it is not failing any more.
    assert len(failing_alerts(wstack, hook["webhook_id"])) == 1
    assert ops.get(f"/v1/admin/webhooks/{hook['webhook_id']}").json()["failing_since"] is None

    # A manual retry sends the same event again (receivers de-duplicate on its id).
    retried = ops.post(f"/v1/admin/webhooks/{hook['webhook_id']}/deliveries/{done['delivery_id']}/retry")
    assert retried.status_code == 202, retried.text
    again = poll(lambda: len(of_order(receiver.at(f"flaky-{sku}"), placed["order_id"])) == 4 or None, "no retry")
    assert again
    last = of_order(receiver.at(f"flaky-{sku}"), placed["order_id"])[-1]
    assert last.event["id"] == done["event_id"]
    assert last.body == got[0].body
    assert last.signed_by(hook["secret"])


def test_a_receiver_that_never_answers_ends_failed_after_the_schedule(
    wstack: dict[str, Any], shop: Api, ops: Api, receiver: Receiver
) -> None:
    sku = f"WH-SILENT-{time.monotonic_ns()}"
    hook = webhook(ops, receiver.url(f"silent-{sku}"), ["order.delivered"])
    placed = bought(wstack, shop, ops, sku)

    def failed() -> dict[str, Any] | None:
        return next((d for d in deliveries(ops, hook["webhook_id"]) if d["status"] == "failed"), None)

    done = poll(failed, "the delivery never failed", timeout=120)  # 3 attempts of 10 s each
    assert (done["attempts"], done["last_status_code"], done["next_attempt_at"]) == (3, None, None)
    assert done["last_response_excerpt"]
    assert len(done["last_response_excerpt"]) <= 200
    got = of_order(receiver.at(f"silent-{sku}"), placed["order_id"])
    assert len(got) == 3
    assert len({r.event["id"] for r in got}) == 1
    assert all(r.signed_by(hook["secret"]) for r in got)
    seen = ops.get(f"/v1/admin/webhooks/{hook['webhook_id']}").json()
    assert seen["status"] == "enabled"
    assert seen["failing_since"] is not None
    assert len(failing_alerts(wstack, hook["webhook_id"])) == 1
    # The sweep finds nothing to re-queue: a failed delivery is not pending.
    assert run_schedule(wstack, "WebhookSweep")["result"]["requeued"] == 0
    # Gone, so that it does not hold the local stack's few delivery workers for 10 s an event.
    assert ops.request("DELETE", f"/v1/admin/webhooks/{hook['webhook_id']}").status_code == 204


def test_rotation_signs_with_both_secrets_during_the_grace_period(
    wstack: dict[str, Any], shop: Api, ops: Api, receiver: Receiver
) -> None:
    sku = f"WH-ROT-{time.monotonic_ns()}"
    hook = webhook(ops, receiver.url(f"ok-rot-{sku}"), ["order.paid"])
    rotated = ops.post(f"/v1/admin/webhooks/{hook['webhook_id']}/secret", {"grace_seconds": 3600})
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["secret"]
    SECRETS.add(new)
    assert new != hook["secret"]
    assert rotated.json()["previous_secret_valid_until"]
    assert "secret" not in ops.get(f"/v1/admin/webhooks/{hook['webhook_id']}").json()
    placed = bought(wstack, shop, ops, sku)
    got = poll(lambda: of_order(receiver.at(f"ok-rot-{sku}"), placed["order_id"]), "no delivery")
    assert len(got[0].signatures()[1]) == 2
    assert got[0].signed_by(new)
    assert got[0].signed_by(hook["secret"])

    # Rotated again without grace: only the newest secret signs.
    newest = ops.post(f"/v1/admin/webhooks/{hook['webhook_id']}/secret", {"grace_seconds": 0}).json()["secret"]
    SECRETS.add(newest)
    second = bought(wstack, shop, ops, f"{sku}-2")
    got = poll(lambda: of_order(receiver.at(f"ok-rot-{sku}"), second["order_id"]), "no delivery")
    assert len(got[0].signatures()[1]) == 1
    assert got[0].signed_by(newest)
    assert not got[0].signed_by(new)


def test_targets_that_are_not_allowed_are_refused(ops: Api, wstack: dict[str, Any], receiver: Receiver) -> None:
    for url in (
        "https://10.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data/",
        "http://example.com/hook",
        "https://[::1]/hook",
        "ftp://127.0.0.1/hook",
        "http://127.0.0.2/hook",  # loopback, but only 127.0.0.1 and localhost are allowed locally
    ):
        answer = ops.post("/v1/admin/webhooks", {"url": url, "events": ["order.paid"]})
        assert answer.status_code == 422, (url, answer.text)
        assert answer.json()["code"] == "BAD_WEBHOOK_URL", url
    hook = webhook(ops, receiver.url("ok-policy"), ["order.paid"])
    moved = ops.put(f"/v1/admin/webhooks/{hook['webhook_id']}", {"url": "https://192.168.1.10/x"})
    assert moved.status_code == 422
    assert moved.json()["code"] == "BAD_WEBHOOK_URL"
    assert ops.post("/v1/admin/webhooks", {"url": receiver.url("x"), "events": ["order.shipped"]}).status_code == 422
    assert ops.get("/v1/admin/webhooks/whk_nope").json()["code"] == "UNKNOWN_WEBHOOK"
    assert ops.get(f"/v1/admin/webhooks/whk_{'0' * 20}").status_code == 404
    unknown = ops.post(f"/v1/admin/webhooks/{hook['webhook_id']}/deliveries/dlv_{'0' * 24}/retry")
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "UNKNOWN_DELIVERY"
    assert Api(wstack["api_url"], login(wstack, "finance")).get("/v1/admin/webhooks").status_code == 403
    assert Api(wstack["api_url"]).get("/v1/admin/webhooks").status_code == 401
    listed = ops.get("/v1/admin/webhooks").json()["items"]
    assert hook["webhook_id"] in {w["webhook_id"] for w in listed}
    assert all("secret" not in w for w in listed)
    assert ops.request("DELETE", f"/v1/admin/webhooks/{hook['webhook_id']}").status_code == 204
    assert ops.get(f"/v1/admin/webhooks/{hook['webhook_id']}").status_code == 404


def test_every_event_type_fires_once_per_state_change(
    wstack: dict[str, Any], shop: Api, ops: Api, receiver: Receiver
) -> None:
    sku = f"WH-ALL-{time.monotonic_ns()}"
    path = f"ok-all-{sku}"
    hook = webhook(ops, receiver.url(path), ALL_EVENTS)
    assert sorted(hook["events"]) == sorted(ALL_EVENTS)
    placed = bought(wstack, shop, ops, sku, quantity=2, stock=4)  # 2 left
    refunded = ops.post(f"/v1/admin/orders/{placed['order_id']}/refund", {"reason": "webhook test"})
    assert refunded.status_code == 200, refunded.text
    assert ops.post(f"/v1/admin/orders/{placed['order_id']}/refund", {"reason": "again"}).status_code in (200, 409)
    # stock.low: the threshold is crossed by an order (the alert fires once).
    assert ops.put(f"/v1/admin/products/{sku}", {"alert_threshold": 1}).status_code == 200
    second = order(shop, sku, quantity=1).json()
    SECRETS.add(second["access_token"])
    assert pay(wstack, second).status_code == 200
    delivered = wait_for(shop, second)
    # redemption.created: a partner redeems, and repeats the same request.
    partner = new_partner(wstack, ops, [sku])
    SECRETS.add(partner.secret)
    code = delivered["cards"][0]["code"]
    assert partner.redeem(code, "wh-1").status_code == 201
    assert partner.redeem(code, "wh-1").status_code == 200  # an idempotent repeat: no second redemption

    def complete() -> list[Received] | None:
        got = [r for r in receiver.at(path) if sku in str(r.event["data"])]
        types = Counter(r.event["type"] for r in got)
        want = {"order.paid": 2, "order.delivered": 2, "order.refunded": 1, "stock.low": 1, "redemption.created": 1}
        return got if all(types[t] >= n for t, n in want.items()) else None

    got = poll(complete, "not every event arrived")
    subjects = Counter(
        (r.event["type"], r.event["data"].get("order_id") or r.event["data"].get("redemption_id") or sku) for r in got
    )
    assert all(n == 1 for n in subjects.values()), subjects
    assert len({r.event["id"] for r in got}) == len(got)  # one attempt each, each its own event
    assert all(r.signed_by(hook["secret"]) for r in got)
    low = next(r.event for r in got if r.event["type"] == "stock.low")
    assert low["data"]["sku"] == sku
    assert low["data"]["alert_threshold"] == 1
    redemption = next(r.event for r in got if r.event["type"] == "redemption.created")
    assert redemption["data"]["partner_id"] == partner.partner_id
    assert redemption["data"]["reference"] == "wh-1"
    for r in got:
        assert set(r.event) == {"id", "type", "created", "data"}
        assert r.event["id"].startswith("evt_")


def test_a_disabled_endpoint_is_told_nothing_and_enabling_it_redelivers_nothing(
    wstack: dict[str, Any], shop: Api, ops: Api, receiver: Receiver
) -> None:
    sku = f"WH-OFF-{time.monotonic_ns()}"
    off = webhook(ops, receiver.url(f"ok-off-{sku}"), ["order.paid"])
    webhook(ops, receiver.url(f"ok-on-{sku}"), ["order.paid"])
    assert ops.put(f"/v1/admin/webhooks/{off['webhook_id']}", {"status": "disabled"}).json()["status"] == "disabled"
    placed = bought(wstack, shop, ops, sku)
    poll(lambda: of_order(receiver.at(f"ok-on-{sku}"), placed["order_id"]), "the enabled endpoint heard nothing")
    assert ops.put(f"/v1/admin/webhooks/{off['webhook_id']}", {"status": "enabled"}).json()["status"] == "enabled"
    second = bought(wstack, shop, ops, f"{sku}-2")
    poll(lambda: of_order(receiver.at(f"ok-off-{sku}"), second["order_id"]), "the re-enabled endpoint heard nothing")
    assert of_order(receiver.at(f"ok-off-{sku}"), placed["order_id"]) == []
    assert [d["type"] for d in deliveries(ops, off["webhook_id"])] == ["order.paid"]


def test_the_sweep_sends_a_delivery_whose_queue_message_was_lost(
    wstack: dict[str, Any], ops: Api, receiver: Receiver
) -> None:
    """What the fan-out leaves when it dies after writing an event and its delivery but before
    queueing it (or when the message went to the dead letters): the scheduled sweep finds the
    overdue delivery on the Pending index and it is sent, once."""
    path = f"ok-sweep-{secrets.token_hex(4)}"
    hook = webhook(ops, receiver.url(path), ["order.paid"])
    ddb, table = aws(wstack, "dynamodb"), wstack["resources"]["WebhooksTable"]
    lost = datetime.now(UTC) - timedelta(minutes=10)
    stamp, index_stamp = lost.strftime("%Y-%m-%dT%H:%M:%S.%f+0000"), lost.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    event_id = f"evt_{secrets.token_hex(16)}"
    body = json.dumps({"id": event_id, "type": "order.paid", "created": "x", "data": {"order_id": "ord_lost"}})
    delivery_id = f"dlv_{int(lost.timestamp() * 1000):012x}{secrets.token_hex(6)}"
    ddb.put_item(
        TableName=table,
        Item={
            "pk": {"S": f"EVENT#{event_id}"},
            "sk": {"S": "EVENT"},
            "kind": {"S": "event"},
            "event_id": {"S": event_id},
            "type": {"S": "order.paid"},
            "body": {"S": body},
            "created_at": {"S": stamp},
        },
    )
    ddb.put_item(
        TableName=table,
        Item={
            "pk": {"S": f"DELIVERIES#{hook['webhook_id']}"},
            "sk": {"S": delivery_id},
            "kind": {"S": "delivery"},
            "delivery_id": {"S": delivery_id},
            "webhook_id": {"S": hook["webhook_id"]},
            "event_id": {"S": event_id},
            "type": {"S": "order.paid"},
            "status": {"S": "pending"},
            "attempts": {"N": "0"},
            "next_attempt_at": {"S": stamp},
            "created_at": {"S": stamp},
            "updated_at": {"S": stamp},
            "pending_pk": {"S": "PENDING"},
            "pending_sk": {"S": f"{index_stamp}#{hook['webhook_id']}#{delivery_id}"},
        },
    )
    assert run_schedule(wstack, "WebhookSweep")["result"]["requeued"] >= 1
    got = poll(lambda: receiver.at(path), "the swept delivery never arrived")
    assert got[0].body == body.encode()
    assert got[0].signed_by(hook["secret"])
    done = poll(
        lambda: next((d for d in deliveries(ops, hook["webhook_id"]) if d["status"] == "delivered"), None),
        "the swept delivery is not delivered",
    )
    assert done["attempts"] == 1
    assert run_schedule(wstack, "WebhookSweep")["result"]["requeued"] == 0  # off the Pending index now
    assert len(receiver.at(path)) == 1


def test_order_events_fire_once_per_change_when_their_paths_were_retried_after_injected_failures(
    wstack: dict[str, Any], ops: Api, receiver: Receiver, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The orders chaos run (an exception before and after every AWS call of checkout, payment
    and fulfilment, each followed by production's retries) against this stack, with an endpoint
    subscribed to the order events: every order ends with one event per state it reached."""
    path = f"ok-chaos-{secrets.token_hex(4)}"
    webhook(ops, receiver.url(path), ORDER_EVENTS)
    workdir: Path = tmp_path_factory.mktemp("webhooks-orders-every-call")
    scenarios = run_as_function("tests.integration.orders_every_call", wstack, workdir, timeout=900)
    skus = {s["sku"] for s in scenarios if s.get("sku")}
    expected: set[tuple[str, str]] = set()
    ddb = aws(wstack, "dynamodb")
    pages = ddb.get_paginator("scan").paginate(
        TableName=wstack["resources"]["OrdersTable"],
        FilterExpression="kind = :o",
        ExpressionAttributeValues={":o": {"S": "order"}},
        ConsistentRead=True,
    )
    for item in (i for page in pages for i in page["Items"]):
        if item["sku"]["S"] not in skus:
            continue
        status = item["status"]["S"]
        if status == "delivered":
            expected |= {("order.paid", item["order_id"]["S"]), ("order.delivered", item["order_id"]["S"])}
        elif status == "refunded":
            expected.add(("order.refunded", item["order_id"]["S"]))
    assert expected, "the chaos run delivered nothing"

    def arrived() -> Counter[tuple[str, str]] | None:
        told = Counter((r.event["type"], str(r.event["data"]["order_id"])) for r in receiver.at(path))
        return told if expected <= set(told) else None

    told = poll(arrived, "some state changes were never told", timeout=120)
    assert {k: n for k, n in told.items() if n != 1} == {}
    assert {k for k in told if k[1] and any(k[1] == e[1] for e in expected)} >= expected


def test_redemption_events_fire_once_when_redemptions_were_retried_after_injected_failures(
    wstack: dict[str, Any], ops: Api, receiver: Receiver, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The redemption chaos run (an exception before and after each AWS call of a redemption, then
    the partner's retry with the same reference) against this stack: one event per redemption."""
    path = f"ok-redeem-chaos-{secrets.token_hex(4)}"
    webhook(ops, receiver.url(path), ["redemption.created"])
    workdir: Path = tmp_path_factory.mktemp("webhooks-redeem-every-call")
    scenarios = run_as_function("tests.integration.redeem_every_call", wstack, workdir, timeout=600)
    made = {r for s in scenarios for r in s.get("redemptions") or []}
    assert made, "the chaos run redeemed nothing"

    def arrived() -> Counter[str] | None:
        told = Counter(str(r.event["data"]["redemption_id"]) for r in receiver.at(path))
        return told if made <= set(told) else None

    told = poll(arrived, "some redemptions were never told", timeout=120)
    assert {k: n for k, n in told.items() if n != 1} == {}
    assert set(told) == made


def test_no_code_token_or_secret_in_any_event_body_of_the_run(receiver: Receiver) -> None:
    bodies = [r.body.decode() for r in receiver.received]
    assert bodies, "no event was delivered"
    leaked = {s for s in SECRETS for body in bodies if s in body}
    assert leaked == set()
    for body in bodies:
        for marker in ("whsec_", "access_token", "token_hashes", "digest", "sealed", "cards"):
            assert marker not in body, marker
