"""Our WeChat Pay, Alipay and Stripe signing and verification, cross-checked with each
provider's own SDK (test-only dependencies): what we sign, the SDK signs identically or
verifies; what the SDK (acting as the provider) signs, we accept; and every way a notification
can be forged, replayed or misdirected is refused."""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Mapping
from typing import Any
from unittest import mock
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import stripe
import wechatpayv3.utils as wechat_sdk
from alipay import AliPay
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kayisu.payments import alipay as ali
from kayisu.payments import stripe as stp
from kayisu.payments import wechatpay as wx
from kayisu.payments.provider import BadSignature, NotificationKind, PaymentRequest, ProviderError, RefundStatus
from tests.fakes.keys import new_key, private_pem, public_pem

MERCHANT, PLATFORM, OTHER = new_key(), new_key(), new_key()
APIV3_KEY = "0123456789abcdef0123456789ABCDEF"
PUB_KEY_ID = "PUB_KEY_ID_0114232134912410000000000000"
CERT_SERIAL = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"


# -------------------------------------------------------------------------------- WeChat Pay


def wechat_secret(**changes: Any) -> dict[str, Any]:
    return {
        "mchid": "1900000001",
        "appid": "wxd678efh567hg6787",
        "merchant_serial_no": "444F4864EA9B34415",
        "merchant_private_key": private_pem(MERCHANT),
        "apiv3_key": APIV3_KEY,
        "platform_public_keys": {PUB_KEY_ID: public_pem(PLATFORM), CERT_SERIAL: public_pem(OTHER)},
        **changes,
    }


@pytest.fixture
def wechat() -> wx.WechatPay:
    return wx.WechatPay(lambda: wechat_secret())


def wechat_notification(
    transaction: Mapping[str, Any],
    *,
    key: rsa.RSAPrivateKey = PLATFORM,
    serial: str = PUB_KEY_ID,
    at: int | None = None,
    apiv3_key: str = APIV3_KEY,
    event_type: str = "TRANSACTION.SUCCESS",
) -> tuple[dict[str, str], bytes]:
    """As WeChat Pay sends it: the resource sealed with AES-256-GCM, signed by the SDK's rsa_sign."""
    nonce = secrets.token_hex(6)
    sealed = AESGCM(apiv3_key.encode()).encrypt(nonce.encode(), json.dumps(transaction).encode(), b"transaction")
    body = json.dumps(
        {
            "id": "EV-" + secrets.token_hex(8),
            "create_time": "2026-11-24T10:00:00+08:00",
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": "支付成功",
            "resource": {
                "original_type": "transaction",
                "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": base64.b64encode(sealed).decode(),
                "associated_data": "transaction",
                "nonce": nonce,
            },
        },
        ensure_ascii=False,
    )
    ts, sign_nonce = str(int(time.time()) if at is None else at), secrets.token_hex(16)
    signature = wechat_sdk.rsa_sign(key, f"{ts}\n{sign_nonce}\n{body}\n")
    headers = {
        "Wechatpay-Timestamp": ts,
        "Wechatpay-Nonce": sign_nonce,
        "Wechatpay-Signature": signature,
        "Wechatpay-Serial": serial,
    }
    return headers, body.encode()


def transaction(**changes: Any) -> dict[str, Any]:
    return {
        "mchid": "1900000001",
        "appid": "wxd678efh567hg6787",
        "out_trade_no": "abcdefghijklmnopqrstuvwxyz234567",
        "transaction_id": "4200000000202611240000000001",
        "trade_type": "NATIVE",
        "trade_state": "SUCCESS",
        "trade_state_desc": "支付成功",
        "success_time": "2026-11-24T10:00:00+08:00",
        "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
        "amount": {"total": 1990, "payer_total": 1990, "currency": "CNY", "payer_currency": "CNY"},
        **changes,
    }


def test_our_wechat_authorization_is_the_sdks() -> None:
    merchant = wx.merchant(wechat_secret())
    body = json.dumps({"mchid": "1900000001"})
    with mock.patch("time.time", return_value=1_790_000_000):
        theirs = wechat_sdk.build_authorization(
            "/v3/pay/transactions/native", "POST", "1900000001", "444F4864EA9B34415", MERCHANT, body, "NONCE1"
        )
    ours = wx.authorization(merchant, "POST", "/v3/pay/transactions/native", body, at=1_790_000_000, nonce="NONCE1")
    assert ours == theirs


def test_a_wechat_notification_signed_and_sealed_as_the_sdk_does_pays(wechat: wx.WechatPay) -> None:
    headers, body = wechat_notification(transaction())
    paid = wechat.verify_notification(headers, body)
    assert paid.kind is NotificationKind.PAID
    assert (paid.order_id, paid.payment_id) == ("ord_abcdefghijklmnopqrstuvwxyz234567", transaction()["out_trade_no"])
    assert (paid.amount, paid.currency, paid.transaction_id) == (1990, "CNY", "4200000000202611240000000001")
    # The SDK agrees about the very same bytes.
    resource = json.loads(body)["resource"]
    assert wechat_sdk.rsa_verify(
        headers["Wechatpay-Timestamp"],
        headers["Wechatpay-Nonce"],
        body.decode(),
        headers["Wechatpay-Signature"],
        PLATFORM.public_key(),
    )
    opened = wechat_sdk.aes_decrypt(resource["nonce"], resource["ciphertext"], "transaction", APIV3_KEY)
    assert json.loads(opened) == transaction()


def test_a_platform_certificate_serial_works_alongside_the_public_key_id(wechat: wx.WechatPay) -> None:
    headers, body = wechat_notification(transaction(), key=OTHER, serial=CERT_SERIAL)
    assert wechat.verify_notification(headers, body).kind is NotificationKind.PAID


@pytest.mark.parametrize(
    "forgery",
    [
        "tampered body",
        "unknown serial",
        "key of another serial",
        "stale",
        "future",
        "probe",
        "wrong APIv3 key",
        "missing header",
        "another merchant",
        "another app",
    ],
)
def test_wechat_forgeries_are_refused(wechat: wx.WechatPay, forgery: str) -> None:
    kwargs: dict[str, Any] = {}
    paid = transaction()
    if forgery == "unknown serial":
        kwargs["serial"] = "PUB_KEY_ID_0000000000000000000000000000"
    elif forgery == "key of another serial":
        kwargs["key"] = OTHER  # signed by one key, claiming the other's id
    elif forgery == "stale":
        kwargs["at"] = int(time.time()) - 301
    elif forgery == "future":
        kwargs["at"] = int(time.time()) + 330  # well past the 300 s window, even on a slow machine
    elif forgery == "wrong APIv3 key":
        kwargs["apiv3_key"] = "X" * 32
    elif forgery == "another merchant":
        paid["mchid"] = "1900000002"
    elif forgery == "another app":
        paid["appid"] = "wx0000000000000000"
    headers, body = wechat_notification(paid, **kwargs)
    if forgery == "tampered body":
        body = body.replace(b'"id": "EV-', b'"id": "EX-')
    elif forgery == "probe":
        headers["Wechatpay-Signature"] = "WECHATPAY/SIGNTEST/" + headers["Wechatpay-Signature"]
    elif forgery == "missing header":
        del headers["Wechatpay-Nonce"]
    with pytest.raises(BadSignature):
        wechat.verify_notification(headers, body)


def test_wechat_states_other_than_success_change_nothing(wechat: wx.WechatPay) -> None:
    headers, body = wechat_notification(transaction(trade_state="CLOSED"))
    assert wechat.verify_notification(headers, body).kind is NotificationKind.IGNORED


def test_a_wechat_refund_notification(wechat: wx.WechatPay) -> None:
    refund = {
        "mchid": "1900000001",
        "out_trade_no": "abcdefghijklmnopqrstuvwxyz234567",
        "transaction_id": "4200000000202611240000000001",
        "out_refund_no": "rf_abcdefghijklmnopqrstuvwxyz234567",
        "refund_id": "50000000382019052709732678859",
        "refund_status": "SUCCESS",
        "amount": {"total": 1990, "refund": 1990, "payer_total": 1990, "payer_refund": 1990},
    }
    headers, body = wechat_notification(refund, event_type="REFUND.SUCCESS")
    news = wechat.verify_notification(headers, body)
    assert (news.kind, news.refund_id, news.refund_status) == (
        NotificationKind.REFUND,
        "50000000382019052709732678859",
        RefundStatus.SUCCEEDED,
    )
    headers, body = wechat_notification({**refund, "refund_status": "ABNORMAL"}, event_type="REFUND.ABNORMAL")
    assert wechat.verify_notification(headers, body).refund_status is RefundStatus.FAILED


def test_wechat_answers_as_wechat_expects(wechat: wx.WechatPay) -> None:
    assert wechat.acknowledge("paid").status == 204
    failed = wechat.reject(400, "BAD_SIGNATURE", "stale")
    assert failed.status == 400
    assert json.loads(failed.body) == {"code": "FAIL", "message": "BAD_SIGNATURE: stale"}


def test_a_secret_without_keys_says_what_is_missing() -> None:
    with pytest.raises(ProviderError, match="mchid"):
        wx.WechatPay(lambda: wechat_secret(mchid="")).merchant()


# -------------------------------------------------------------------------------- Alipay

APP, ALIPAY = new_key(), new_key()


def alipay_secret() -> dict[str, Any]:
    return {
        "app_id": "2021000000000001",
        "seller_id": "2088000000000001",
        "app_private_key": private_pem(APP),
        "alipay_public_key": public_pem(ALIPAY),
        "gateway": "https://openapi.alipay.test/gateway.do",
    }


@pytest.fixture
def alipay() -> ali.Alipay:
    return ali.Alipay(alipay_secret)


def alipay_sdk(private: rsa.RSAPrivateKey, public: rsa.RSAPrivateKey) -> AliPay:
    return AliPay(
        appid="2021000000000001",
        app_notify_url=None,
        app_private_key_string=private_pem(private),
        alipay_public_key_string=public_pem(public),
        sign_type="RSA2",
    )


def test_our_alipay_pay_url_is_signed_as_the_sdk_signs(alipay: ali.Alipay) -> None:
    request = PaymentRequest("ord_x1", 1990, "CNY", "Steam ¥20 x1", "https://api.test", return_url="https://shop/o")
    url = alipay.create_payment(request).pay_url
    assert url is not None
    assert url.startswith("https://openapi.alipay.test/gateway.do?")
    params = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    assert params["method"] == "alipay.trade.page.pay"
    assert params["notify_url"] == "https://api.test/v1/webhooks/alipay"
    biz = json.loads(params["biz_content"])
    assert (biz["out_trade_no"], biz["total_amount"], biz["product_code"]) == (
        "ord_x1",
        "19.90",
        "FAST_INSTANT_TRADE_PAY",
    )
    # The SDK signs the same parameters (sign_type included, as Alipay's request rule says) identically.
    ours = params.pop("sign")
    theirs = dict(parse_qsl(alipay_sdk(APP, ALIPAY).sign_data(dict(params)), keep_blank_values=True))["sign"]
    assert ours == theirs


def test_a_phone_gets_alipay_wap_pay(alipay: ali.Alipay) -> None:
    request = PaymentRequest("ord_x2", 100, "CNY", "x", "https://api.test", mobile=True)
    url = alipay.create_payment(request).pay_url or ""
    params = dict(parse_qsl(urlsplit(url).query))
    assert params["method"] == "alipay.trade.wap.pay"
    assert json.loads(params["biz_content"])["product_code"] == "QUICK_WAP_WAY"


def alipay_notification(**changes: str) -> dict[str, str]:
    params = {
        "notify_time": "2026-11-24 10:00:00",
        "notify_type": "trade_status_sync",
        "notify_id": "ac05099524730693a8b330c5ecf72da9786",
        "app_id": "2021000000000001",
        "charset": "utf-8",
        "version": "1.0",
        "sign_type": "RSA2",
        "trade_no": "2026112422001400000000000001",
        "out_trade_no": "ord_x1",
        "buyer_id": "2088102122524333",
        "seller_id": "2088000000000001",
        "trade_status": "TRADE_SUCCESS",
        "total_amount": "19.90",
        "receipt_amount": "19.90",
        "subject": "Steam ¥20",
        "body": "",  # blank values are part of what Alipay signs
        "gmt_payment": "2026-11-24 09:59:58",
        "fund_bill_list": '[{"amount":"19.90","fundChannel":"ALIPAYACCOUNT"}]',
        **changes,
    }
    content = ali.sign_content(params, keep_blank=True, drop=("sign", "sign_type"))
    params["sign"] = base64.b64encode(ALIPAY.sign(content, padding.PKCS1v15(), hashes.SHA256())).decode()
    return params


def test_an_alipay_notification_pays_and_the_sdk_agrees(alipay: ali.Alipay) -> None:
    params = alipay_notification()
    paid = alipay.verify_notification({}, urlencode(params).encode())
    assert (paid.kind, paid.order_id, paid.amount, paid.transaction_id) == (
        NotificationKind.PAID,
        "ord_x1",
        1990,
        "2026112422001400000000000001",
    )
    data = dict(params)
    signature = data.pop("sign")
    assert alipay_sdk(APP, ALIPAY).verify(data, signature)  # the SDK's rule: blank values kept


@pytest.mark.parametrize(
    "forgery",
    [
        "tampered amount",
        "blank added",
        "blank dropped",
        "sign_type RSA",
        "other app",
        "other seller",
    ],
)
def test_alipay_forgeries_are_refused(alipay: ali.Alipay, forgery: str) -> None:
    params = alipay_notification(
        **({"app_id": "2021000000000009"} if forgery == "other app" else {}),
        **({"seller_id": "2088000000000009"} if forgery == "other seller" else {}),
    )
    if forgery == "tampered amount":
        params["total_amount"] = "0.01"
    elif forgery == "blank added":
        params["extra"] = ""
    elif forgery == "blank dropped":
        del params["body"]
    elif forgery == "sign_type RSA":
        params["sign_type"] = "RSA"
    with pytest.raises(BadSignature):
        alipay.verify_notification({}, urlencode(params).encode())


def test_alipay_amounts_are_yuan_to_the_fen() -> None:
    assert [ali.fen(t) for t in ("19.90", "19.9", "0.01", "100")] == [1990, 1990, 1, 10000]
    for bad in ("19.901", "-1.00", "1e3", " 1.00", "1,00", ""):
        with pytest.raises(BadSignature):
            ali.fen(bad)
    assert [ali.yuan(f) for f in (1990, 1, 10000)] == ["19.90", "0.01", "100.00"]


def test_alipay_answer_text_is_what_its_signature_covers() -> None:
    inner = '{"code":"10000","msg":"Success","trade_status":"TRADE_SUCCESS","note":"{not a brace}"}'
    raw = '{"alipay_trade_query_response":' + inner + ',"sign":"abc"}'
    answer, text = ali.response_object(raw, "alipay_trade_query_response")
    assert text == inner
    assert answer["trade_status"] == "TRADE_SUCCESS"


def test_alipay_waiting_or_closed_trades_change_nothing(alipay: ali.Alipay) -> None:
    for state in ("WAIT_BUYER_PAY", "TRADE_CLOSED"):
        body = urlencode(alipay_notification(trade_status=state)).encode()
        assert alipay.verify_notification({}, body).kind is NotificationKind.IGNORED


def test_an_alipay_refund_notification(alipay: ali.Alipay) -> None:
    params = alipay_notification(trade_status="TRADE_CLOSED", refund_fee="19.90", out_biz_no="rf_ord_x1")
    news = alipay.verify_notification({}, urlencode(params).encode())
    assert (news.kind, news.amount, news.refund_id) == (
        NotificationKind.REFUND,
        1990,
        "2026112422001400000000000001#rf_ord_x1",
    )


def test_alipay_answers_success_as_text(alipay: ali.Alipay) -> None:
    assert (alipay.acknowledge("paid").body, alipay.reject(400, "BAD_SIGNATURE", "x").body) == ("success", "fail")


# -------------------------------------------------------------------------------- Stripe

WHSEC, OLD_WHSEC = "whsec_" + secrets.token_hex(16), "whsec_" + secrets.token_hex(16)


@pytest.fixture
def stripe_provider() -> stp.Stripe:
    return stp.Stripe(lambda: {"secret_key": "sk_test_x", "webhook_secrets": [WHSEC, OLD_WHSEC]})


def stripe_event(kind: str = "checkout.session.completed", **session: Any) -> bytes:
    obj = {
        "id": "cs_test_a1",
        "object": "checkout.session",
        "amount_total": 1990,
        "currency": "cny",
        "payment_status": "paid",
        "status": "complete",
        "client_reference_id": "ord_x1",
        "metadata": {"order_id": "ord_x1"},
        "payment_intent": "pi_123",
        **session,
    }
    event = {"id": "evt_" + secrets.token_hex(8), "object": "event", "type": kind, "data": {"object": obj}}
    return json.dumps(event).encode()


def stripe_header(body: bytes, *secrets_: str, at: int | None = None) -> dict[str, str]:
    ts = int(time.time()) if at is None else at
    payload = f"{ts}.{body.decode()}"
    v1 = ",".join(f"v1={stripe.WebhookSignature._compute_signature(payload, s)}" for s in secrets_)
    return {"Stripe-Signature": f"t={ts},{v1}"}


def test_our_stripe_signature_is_the_sdks() -> None:
    body, at = stripe_event(), int(time.time())
    header = f"t={at},v1={stp.signature(WHSEC, body, at)}"
    assert stripe.WebhookSignature.verify_header(body.decode(), header, WHSEC, tolerance=300)


def test_a_stripe_completed_session_pays(stripe_provider: stp.Stripe) -> None:
    body = stripe_event()
    paid = stripe_provider.verify_notification(stripe_header(body, WHSEC), body)
    assert (paid.kind, paid.order_id, paid.payment_id, paid.amount, paid.currency, paid.transaction_id) == (
        NotificationKind.PAID,
        "ord_x1",
        "cs_test_a1",
        1990,
        "CNY",
        "pi_123",
    )
    assert stripe.Webhook.construct_event(body.decode(), stripe_header(body, WHSEC)["Stripe-Signature"], WHSEC)


def test_every_v1_is_tried_against_every_secret(stripe_provider: stp.Stripe) -> None:
    body = stripe_event()
    rolled = stripe_header(body, "whsec_unknown", OLD_WHSEC)  # several v1 while a secret is rolled
    assert stripe_provider.verify_notification(rolled, body).kind is NotificationKind.PAID


@pytest.mark.parametrize("forgery", ["tampered", "wrong secret", "stale", "no v1", "no t", "garbage"])
def test_stripe_forgeries_are_refused(stripe_provider: stp.Stripe, forgery: str) -> None:
    body = stripe_event()
    headers = stripe_header(body, "whsec_wrong" if forgery == "wrong secret" else WHSEC)
    if forgery == "tampered":
        body = body.replace(b"1990", b"1")
    elif forgery == "stale":
        headers = stripe_header(body, WHSEC, at=int(time.time()) - 301)
    elif forgery == "no v1":
        headers["Stripe-Signature"] = headers["Stripe-Signature"].split(",")[0]
    elif forgery == "no t":
        headers["Stripe-Signature"] = headers["Stripe-Signature"].split(",", 1)[1]
    elif forgery == "garbage":
        headers["Stripe-Signature"] = "t=abc,v1=zz"
    with pytest.raises(BadSignature):
        stripe_provider.verify_notification(headers, body)


def test_unpaid_sessions_and_other_events_change_nothing(stripe_provider: stp.Stripe) -> None:
    for body in (stripe_event(payment_status="unpaid"), stripe_event("payment_intent.created")):
        assert stripe_provider.verify_notification(stripe_header(body, WHSEC), body).kind is NotificationKind.IGNORED


def test_a_stripe_refund_event(stripe_provider: stp.Stripe) -> None:
    refund = {"id": "re_1", "object": "refund", "status": "failed", "amount": 1990, "currency": "cny"}
    body = json.dumps(
        {"id": "evt_r", "type": "refund.updated", "data": {"object": {**refund, "payment_intent": "pi_123"}}}
    ).encode()
    news = stripe_provider.verify_notification(stripe_header(body, WHSEC), body)
    assert (news.kind, news.refund_id, news.refund_status, news.transaction_id) == (
        NotificationKind.REFUND,
        "re_1",
        RefundStatus.FAILED,
        "pi_123",
    )
