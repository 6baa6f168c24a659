"""Webhook events derived from the tables' change streams (issue 23 item 2): one event per state
change, the same id however often the record comes, and nothing secret in a body."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from boto3.dynamodb.types import TypeSerializer

from kayisu.config import get_settings
from kayisu.webhooks.events import alert_skus, event_id, from_stream
from kayisu.webhooks.schemas import EventType

_ser = TypeSerializer()
T = "2026-12-03T10:00:00.000000+0000"
T2 = "2026-12-03T10:00:05.000000+0000"


@pytest.fixture(autouse=True)
def tables(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {"ORDERS_TABLE": "o", "CATALOG_TABLE": "c", "PARTNERS_TABLE": "p"}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()  # the next test reads its own environment


def record(table: str, name: str, new: dict[str, Any] | None, old: dict[str, Any] | None = None) -> dict[str, Any]:
    change: dict[str, Any] = {}
    if new is not None:
        change["NewImage"] = {k: _ser.serialize(v) for k, v in new.items()}
    if old is not None:
        change["OldImage"] = {k: _ser.serialize(v) for k, v in old.items()}
    arn = f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}/stream/2026-12-03T00:00:00.000"
    return {"eventName": name, "eventSourceARN": arn, "dynamodb": change}


def order(status: str, **extra: Any) -> dict[str, Any]:
    return {
        "pk": "ORDER#ord_1",
        "sk": "ORDER",
        "kind": "order",
        "order_id": "ord_1",
        "status": status,
        "sku": "GIFT-100",
        "quantity": 2,
        "amount": 1990,
        "currency": "CNY",
        "email": "a@example.com",
        "payment_method": "sandbox",
        "token_hashes": {"f" * 64},
        "cards": ["b-1:" + "d" * 64],
        "created_at": T,
        **extra,
    }


def test_each_order_status_change_is_one_event_with_a_stable_id() -> None:
    paid = record("o", "MODIFY", order("paid", paid_at=T2), order("pending_payment"))
    again = record("o", "MODIFY", order("paid", paid_at=T2, mailed_at=T2), order("paid", paid_at=T2))
    delivered = record("o", "MODIFY", order("delivered", paid_at=T2, delivered_at=T2), order("paid", paid_at=T2))
    events = from_stream([paid, again, paid, delivered], {})
    assert [e.type for e in events] == [EventType.ORDER_PAID, EventType.ORDER_DELIVERED]
    assert events[0].event_id == event_id(EventType.ORDER_PAID, "ord_1|paid")
    assert from_stream([paid], {})[0].body() == events[0].body()  # a redelivered record: the same bytes
    body = json.loads(events[1].body())
    assert (body["id"], body["type"], body["created"]) == (
        events[1].event_id,
        "order.delivered",
        "2026-12-03T10:00:05Z",
    )
    assert body["data"]["amount"] == 1990
    assert body["data"]["quantity"] == 2


def test_no_code_token_digest_or_card_reference_reaches_a_body() -> None:
    (event,) = from_stream([record("o", "MODIFY", order("refunded", refunded_at=T2), order("delivered"))], {})
    text = event.body()
    assert "f" * 64 not in text
    assert "d" * 64 not in text
    assert "token" not in text
    assert "cards" not in text


def test_pending_expired_and_other_items_are_not_events() -> None:
    made = record("o", "INSERT", order("pending_payment"))
    expired = record("o", "MODIFY", order("expired"), order("pending_payment"))
    history = record("o", "INSERT", {"pk": "ORDER#ord_1", "sk": "EVENT#x", "kind": "event", "to_status": "paid"})
    assert from_stream([made, expired, history], {}) == []


def test_a_low_stock_alert_is_one_event_per_firing() -> None:
    fired = {"pk": "PRODUCT#GIFT-100", "sk": "ALERT", "kind": "alert", "fired": 2, "fired_at": T, "available_then": 3}
    first = record("c", "MODIFY", fired, {**fired, "fired": 1})
    rearmed = record("c", "MODIFY", {**fired, "armed": True}, fired)
    assert alert_skus([first, rearmed]) == {"GIFT-100"}
    (event,) = from_stream([first, rearmed, first], {"GIFT-100": 5})
    assert event.type == EventType.STOCK_LOW
    assert json.loads(event.body())["data"] == {"sku": "GIFT-100", "available": 3, "alert_threshold": 5}
    assert event.event_id == event_id(EventType.STOCK_LOW, "GIFT-100|2")


def test_a_redemption_is_an_event_when_recorded_never_its_digest() -> None:
    redemption = {
        "pk": "REDEMPTION#rdm_1",
        "sk": "REDEMPTION",
        "kind": "redemption",
        "redemption_id": "rdm_1",
        "partner_id": "ptn_1",
        "sku": "GIFT-100",
        "reference": "sale-7",
        "digest": "e" * 64,
        "redeemed_at": T,
    }
    (event,) = from_stream([record("p", "INSERT", redemption), record("p", "MODIFY", redemption, redemption)], {})
    assert event.type == EventType.REDEMPTION_CREATED
    assert "e" * 64 not in event.body()
    assert json.loads(event.body())["data"]["reference"] == "sale-7"
