"""The sandbox provider's signature scheme (CONTRACT §2), checked the way a forger would try it."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from kayisu.payments.provider import BadSignature, NotificationKind
from kayisu.payments.sandbox import SandboxProvider, event_body, sign, verify

SECRET = "whsec_unit"


def body() -> bytes:
    return event_body("payment.succeeded", "sbx_ord_x", "ord_x", 1990, "CNY", int(time.time()))


def headers(value: str) -> dict[str, str]:
    return {"kayisu-sandbox-signature": value}


def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    raw, t = body(), 1_800_000_000
    expected = hmac.new(SECRET.encode(), f"{t}.".encode() + raw, hashlib.sha256).hexdigest()
    assert sign(SECRET, raw, t) == f"t={t},v1={expected}"


def test_a_good_signature_gives_the_event() -> None:
    raw = body()
    event = verify(SECRET, headers(sign(SECRET, raw, int(time.time()))), raw)
    assert event["order_id"] == "ord_x"


@pytest.mark.parametrize("skew", [-301, 301, -10_000])
def test_stale_or_future_timestamps_fail(skew: int) -> None:
    raw = body()
    with pytest.raises(BadSignature):
        verify(SECRET, headers(sign(SECRET, raw, int(time.time()) + skew)), raw)


def test_within_the_window_passes() -> None:
    raw = body()
    verify(SECRET, headers(sign(SECRET, raw, int(time.time()) - 299)), raw)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "t=1",
        "v1=abc",
        "t=abc,v1=00",
        "t=1800000000;v1=00",
        "garbage",
        "t=" + "9" * 400 + ",v1=00",
        "t=" + "9" * 5000 + ",v1=00",
        "t=\u00b2,v1=00",
        "t=-5,v1=00",
    ],
)
def test_malformed_headers_fail(value: str) -> None:
    with pytest.raises(BadSignature):
        verify(SECRET, headers(value), body())


def test_any_of_several_v1_values_may_match_as_in_a_secret_rotation() -> None:
    raw, t = body(), int(time.time())
    good = sign(SECRET, raw, t).split("v1=")[1]
    verify(SECRET, headers(f"t={t},v1={'0' * 64},v1={good}"), raw)
    with pytest.raises(BadSignature):
        verify(SECRET, headers(f"t={t},v1={'0' * 64},v1={'1' * 64}"), raw)


def test_tampered_body_or_wrong_secret_fails() -> None:
    raw, t = body(), int(time.time())
    with pytest.raises(BadSignature):
        verify(SECRET, headers(sign(SECRET, raw, t)), raw.replace(b"1990", b"1"))
    with pytest.raises(BadSignature):
        verify(SECRET, headers(sign("whsec_other", raw, t)), raw)


def test_the_provider_reads_only_well_formed_events() -> None:
    provider = SandboxProvider(lambda: SECRET)
    raw = body()
    notification = provider.verify_notification(headers(sign(SECRET, raw, int(time.time()))), raw)
    assert (notification.kind, notification.amount, notification.currency) == (NotificationKind.PAID, 1990, "CNY")
    for broken in ({"amount": "1990"}, {"amount": 19.9}, {"type": "payment.maybe"}, {"order_id": None} | {"id": None}):
        event = {**json.loads(raw), **broken}
        if "id" in broken:
            del event["id"]
        signed = json.dumps(event).encode()
        with pytest.raises(BadSignature):
            provider.verify_notification(headers(sign(SECRET, signed, int(time.time()))), signed)


def test_refunds_are_idempotent_per_order() -> None:
    provider = SandboxProvider(lambda: SECRET)
    first = provider.refund("ord_a", "sbx_ord_a", "t", 100, "CNY", "x")
    assert provider.refund("ord_a", "sbx_ord_a", "t", 100, "CNY", "again") == first
    assert provider.refund("ord_b", "sbx_ord_b", "t", 100, "CNY", "x").refund_id != first.refund_id


def test_checkout_never_needs_the_secret() -> None:
    def no_secret() -> str:
        raise AssertionError("read the secret")

    from kayisu.payments.provider import PaymentRequest

    made = SandboxProvider(no_secret).create_payment(PaymentRequest("ord_a", 1, "CNY", "x", "https://api.example"))
    assert made.pay_url == "https://api.example/v1/sandbox/pay/sbx_ord_a"
