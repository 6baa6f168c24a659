"""The fake providers (tests/fakes) are right: cross-checked with each provider's own SDK.

What the SDKs sign, the fakes accept; what the fakes sign (answers and notifications), the SDKs
verify and decrypt; and the fakes refuse what the providers refuse.
"""

from __future__ import annotations

import json
import secrets
import time
import types
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import alipay as alipay_sdk
import pytest
import requests
import stripe
from alipay import AliPay
from wechatpayv3 import WeChatPay, WeChatPayType
from wechatpayv3 import utils as wechat_sdk

from tests.fakes.alipay import BEIJING, FakeAlipay, beijing_now, notify_sign_content, sign_request
from tests.fakes.keys import new_key, private_pem, public_pem
from tests.fakes.server import Call, FakeServer, Response
from tests.fakes.stripe import FakeStripe, parse_form
from tests.fakes.wechatpay import FakeWechatPay, merchant_authorization

MERCHANT, APP, OTHER = new_key(), new_key(), new_key()
MCHID, APPID, MERCHANT_SERIAL = "1900000109", "wxd678efh567hg6787", "444F4864EA9B34415A1B2C3D4E5F60718293A4B5"
APIV3_KEY = "a12d3924fd499edac8a5efc7b1e2c3d4"
ALIPAY_APP_ID, SELLER_ID = "2021000000000001", "2088102147948060"
STRIPE_KEY = "sk_test_" + "4eC39HqLyjWDarjtT1zdp7dc"
WHSEC = ["whsec_current0000000000000000000000", "whsec_rolling0000000000000000000000"]


def _no() -> str:
    return "K" + secrets.token_hex(10)


class Receiver(FakeServer):
    """Our side's notification endpoint, standing in: records what it is sent, answers `answer`."""

    def __init__(self) -> None:
        super().__init__()
        self.answer = Response(200, b"success", {"Content-Type": "text/plain"})

    def handle(self, call: Call) -> Response:
        return self.answer


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


# ================================================================================ WeChat Pay


@pytest.fixture(scope="module")
def wx() -> Iterator[FakeWechatPay]:
    fake = FakeWechatPay(
        mchid=MCHID,
        appid=APPID,
        apiv3_key=APIV3_KEY,
        merchant_serial=MERCHANT_SERIAL,
        merchant_public_key_pem=public_pem(MERCHANT),
    )
    with fake:
        yield fake


def _wx_sdk(fake: FakeWechatPay, notify_url: str, **kwargs: Any) -> Any:
    client = WeChatPay(
        wechatpay_type=WeChatPayType.NATIVE,
        mchid=MCHID,
        private_key=private_pem(MERCHANT),
        cert_serial_no=MERCHANT_SERIAL,
        appid=APPID,
        apiv3_key=APIV3_KEY,
        notify_url=notify_url,
        **kwargs,
    )
    client._core._gate_way = fake.url
    return client


@pytest.fixture
def wx_sdk(wx: FakeWechatPay, receiver: Receiver) -> Any:
    wx.signing_serial = wx.public_key_id
    return _wx_sdk(
        wx,
        receiver.url + "/wechat/notify",
        public_key=wx.platform_public_keys[wx.public_key_id],
        public_key_id=wx.public_key_id,
    )


def test_wechat_sdk_requests_are_accepted_and_answers_verify(wx: FakeWechatPay, wx_sdk: Any) -> None:
    """The SDK signs, the fake verifies; the fake signs every answer, the SDK verifies (it raises if not)."""
    no = _no()
    code, message = wx_sdk.pay(description="Steam 100", out_trade_no=no, amount={"total": 100})
    assert code == 200, message
    assert json.loads(message)["code_url"].startswith("weixin://wxpay/bizpayurl?pr=")
    assert wx.trades[no].amount == 100
    assert wx.trades[no].kind == "native"
    assert wx.trades[no].state == "NOTPAY"
    assert wx_sdk.pay(description="Steam 100", out_trade_no=no, amount={"total": 100}) == (code, message)

    code, message = wx_sdk.query(out_trade_no=no)
    assert code == 200
    assert json.loads(message)["trade_state"] == "NOTPAY"

    h5 = _no()
    code, message = wx_sdk.pay(
        description="Steam 100",
        out_trade_no=h5,
        amount={"total": 100, "currency": "CNY"},
        pay_type=WeChatPayType.H5,
        scene_info={"payer_client_ip": "203.0.113.9", "h5_info": {"type": "Wap"}},
    )
    assert code == 200
    assert "checkmweb?prepay_id=" in json.loads(message)["h5_url"]

    code, _ = wx_sdk.close(out_trade_no=h5)
    assert code == 204
    assert wx.trades[h5].state == "CLOSED"
    assert all(c.error is None for c in wx.calls[-5:])


def test_wechat_build_authorization_over_plain_http(wx: FakeWechatPay, wx_sdk: Any) -> None:
    """The SDK's own `build_authorization` (URL with its query string, empty GET body) is accepted."""
    no = _no()
    assert wx_sdk.pay(description="d", out_trade_no=no, amount={"total": 1})[0] == 200
    target = f"/v3/pay/transactions/out-trade-no/{no}?mchid={MCHID}"
    auth = wechat_sdk.build_authorization(target, "GET", MCHID, MERCHANT_SERIAL, MERCHANT)
    answer = requests.get(wx.url + target, headers={"Authorization": auth, "Accept": "application/json"}, timeout=10)
    assert answer.status_code == 200, answer.text
    assert wechat_sdk.rsa_verify(
        answer.headers["Wechatpay-Timestamp"],
        answer.headers["Wechatpay-Nonce"],
        answer.text,
        answer.headers["Wechatpay-Signature"],
        wechat_sdk.load_public_key(wx.platform_public_keys[answer.headers["Wechatpay-Serial"]]),
    )
    assert answer.headers["Wechatpay-Serial"].startswith("PUB_KEY_ID_")
    assert len(answer.headers["Wechatpay-Serial"]) == 39

    body = {"mchid": MCHID}
    post_target = f"/v3/pay/transactions/out-trade-no/{no}/close"
    auth = wechat_sdk.build_authorization(post_target, "POST", MCHID, MERCHANT_SERIAL, MERCHANT, data=body)
    answer = requests.post(wx.url + post_target, json=body, headers={"Authorization": auth}, timeout=10)
    assert answer.status_code == 204


@pytest.mark.parametrize("fault", ["tampered body", "wrong key", "wrong serial", "wrong mchid", "stale", "no header"])
def test_wechat_refuses_badly_signed_requests(wx: FakeWechatPay, fault: str) -> None:
    target = "/v3/pay/transactions/native"
    body = json.dumps(
        {
            "appid": APPID,
            "mchid": MCHID,
            "description": "d",
            "out_trade_no": _no(),
            "notify_url": "https://shop.example/notify",
            "amount": {"total": 1},
        }
    )
    kwargs: dict[str, Any] = {"mchid": MCHID, "serial_no": MERCHANT_SERIAL, "private_key": MERCHANT}
    if fault == "wrong key":
        kwargs["private_key"] = OTHER
    if fault == "wrong serial":
        kwargs["serial_no"] = "0" * 40
    if fault == "wrong mchid":
        kwargs["mchid"] = "1900000999"
    if fault == "stale":
        kwargs["timestamp"] = int(time.time()) - 3600
    auth = merchant_authorization("POST", target, body, **kwargs)
    sent = body.replace('"total": 1', '"total": 2') if fault == "tampered body" else body
    headers = {"Content-Type": "application/json"} | ({} if fault == "no header" else {"Authorization": auth})
    answer = requests.post(wx.url + target, data=sent.encode(), headers=headers, timeout=10)
    assert answer.status_code == 401
    assert answer.json()["code"] == "SIGN_ERROR"
    assert wx.calls[-1].error == "SIGN_ERROR"
    assert wechat_sdk.rsa_verify(  # errors are signed too
        answer.headers["Wechatpay-Timestamp"],
        answer.headers["Wechatpay-Nonce"],
        answer.text,
        answer.headers["Wechatpay-Signature"],
        wechat_sdk.load_public_key(wx.platform_public_keys[wx.signing_serial]),
    )


def test_wechat_business_rules(wx: FakeWechatPay, wx_sdk: Any) -> None:
    code, message = wx_sdk.pay(description="d", out_trade_no="bad no", amount={"total": 1})
    assert code == 400
    assert json.loads(message)["code"] == "PARAM_ERROR"
    code, message = wx_sdk.pay(description="d", out_trade_no=_no(), amount={"total": 0})
    assert code == 400
    assert json.loads(message)["code"] == "PARAM_ERROR"
    no = _no()
    assert wx_sdk.pay(description="d", out_trade_no=no, amount={"total": 5})[0] == 200
    code, message = wx_sdk.pay(description="d", out_trade_no=no, amount={"total": 6})
    assert code == 400
    assert json.loads(message)["code"] == "INVALID_REQUEST"
    code, message = wx_sdk.refund(
        out_refund_no=_no(), out_trade_no=no, amount={"refund": 5, "total": 5, "currency": "CNY"}
    )
    assert code == 400
    assert json.loads(message)["code"] == "INVALID_REQUEST"
    code, message = wx_sdk.query(out_trade_no=_no())
    assert code == 404
    assert json.loads(message)["code"] == "ORDER_NOT_EXIST"

    wx.fail_next("/v3/pay/transactions/out-trade-no/", 500, {"code": "SYSTEM_ERROR", "message": "系统异常"})
    code, message = wx_sdk.query(out_trade_no=no)
    assert code == 500
    assert json.loads(message)["code"] == "SYSTEM_ERROR"
    assert wx.calls[-1].error == "SYSTEM_ERROR"
    assert wx_sdk.query(out_trade_no=no)[0] == 200


def test_wechat_pay_notification_and_refund(wx: FakeWechatPay, wx_sdk: Any, receiver: Receiver) -> None:
    no = _no()
    assert wx_sdk.pay(description="Steam 100", out_trade_no=no, amount={"total": 100})[0] == 200
    receiver.answer = Response(204)
    status, _ = wx.pay(no)
    assert status == 204
    assert wx.deliveries[-1].acknowledged
    call = receiver.calls[-1]
    assert call.path == "/wechat/notify"

    callback = wx_sdk.callback(call.headers, call.body)  # verifies the signature, decrypts the resource
    assert callback["event_type"] == "TRANSACTION.SUCCESS"
    assert callback["resource_type"] == "encrypt-resource"
    resource = callback["resource"]
    assert resource["out_trade_no"] == no
    assert resource["trade_state"] == "SUCCESS"
    assert resource["amount"] == {"total": 100, "payer_total": 100, "currency": "CNY", "payer_currency": "CNY"}
    assert len(resource["transaction_id"]) == 28
    assert resource["transaction_id"] == wx.trades[no].transaction_id
    assert resource["success_time"].endswith("+08:00")
    assert resource["trade_type"] == "NATIVE"

    code, message = wx_sdk.query(out_trade_no=no)
    assert json.loads(message)["trade_state"] == "SUCCESS"
    code, message = wx_sdk.close(out_trade_no=no)
    assert code == 400
    assert json.loads(message)["code"] == "ORDERPAID"

    refund_no = _no()
    amount = {"refund": 40, "total": 100, "currency": "CNY"}
    code, message = wx_sdk.refund(out_refund_no=refund_no, out_trade_no=no, amount=amount)
    assert code == 200, message
    assert json.loads(message)["status"] == "PROCESSING"
    assert wx_sdk.refund(out_refund_no=refund_no, out_trade_no=no, amount=amount) == (code, message)
    code, message = wx_sdk.refund(out_refund_no=_no(), out_trade_no=no, amount=amount | {"refund": 61})
    assert code == 400
    assert json.loads(message)["code"] == "INVALID_REQUEST"

    receiver.answer = Response(200)
    assert wx.settle_refund(refund_no)[0] == 200
    refund = wx_sdk.callback(receiver.calls[-1].headers, receiver.calls[-1].body)
    assert refund["event_type"] == "REFUND.SUCCESS"
    assert refund["resource"]["refund_status"] == "SUCCESS"
    assert refund["resource"]["out_refund_no"] == refund_no
    assert refund["resource"]["amount"] == {"total": 100, "refund": 40, "payer_total": 100, "payer_refund": 40}
    code, message = wx_sdk.query_refund(out_refund_no=refund_no)
    assert code == 200
    assert json.loads(message)["status"] == "SUCCESS"


def test_wechat_notification_verifies_and_decrypts_with_the_sdk_functions(wx: FakeWechatPay, wx_sdk: Any) -> None:
    no = _no()
    assert wx_sdk.pay(description="d", out_trade_no=no, amount={"total": 3})[0] == 200
    headers, body = wx.payment_notification(no, amount=3)

    def verifies(h: dict[str, str], b: bytes, serial: str | None = None) -> bool:
        key = wechat_sdk.load_public_key(wx.platform_public_keys[serial or h["Wechatpay-Serial"]])
        return bool(
            wechat_sdk.rsa_verify(
                h["Wechatpay-Timestamp"], h["Wechatpay-Nonce"], b.decode(), h["Wechatpay-Signature"], key
            )
        )

    assert verifies(headers, body)
    resource = json.loads(body)["resource"]
    plain = wechat_sdk.aes_decrypt(resource["nonce"], resource["ciphertext"], resource["associated_data"], APIV3_KEY)
    assert json.loads(plain)["out_trade_no"] == no
    assert len(resource["nonce"]) == 12

    assert not verifies(*wx.payment_notification(no, tamper=lambda b: b.replace(b"TRANSACTION", b"TRANSACTIOM")))
    assert not verifies(*wx.payment_notification(no, sign_with=OTHER))
    probe_headers, probe_body = wx.payment_notification(no, probe=True)
    assert probe_headers["Wechatpay-Signature"].startswith("WECHATPAY/SIGNTEST/")
    assert not verifies(probe_headers, probe_body)
    _, wrong_key_body = wx.payment_notification(no, apiv3_key="0" * 32)
    resource = json.loads(wrong_key_body)["resource"]
    assert wechat_sdk.aes_decrypt(resource["nonce"], resource["ciphertext"], "transaction", APIV3_KEY) is None


def test_wechat_platform_certificate_rotation(wx: FakeWechatPay, receiver: Receiver, tmp_path: Path) -> None:
    """Signing with the platform certificate: the SDK (public-key mode) downloads /v3/certificates
    from the fake to verify, and one configured with the certificate alone verifies notifications."""
    wx.signing_serial = wx.certificate_serial
    assert len(wx.certificate_serial) == 40
    assert wx.certificate_serial == wx.certificate_serial.upper()
    client = _wx_sdk(
        wx,
        receiver.url + "/wechat/notify",
        public_key=wx.platform_public_keys[wx.public_key_id],
        public_key_id=wx.public_key_id,
    )
    no = _no()
    assert client.pay(description="d", out_trade_no=no, amount={"total": 7})[0] == 200
    assert wx.calls_to("/v3/certificates")  # fetched to verify the answer signed by the certificate key

    (tmp_path / f"{wx.certificate_serial}.pem").write_text(wx.platform_certificates[wx.certificate_serial])
    cert_client = _wx_sdk(wx, receiver.url + "/wechat/notify", cert_dir=str(tmp_path))
    headers, body = wx.payment_notification(no)
    assert headers["Wechatpay-Serial"] == wx.certificate_serial
    assert cert_client.callback(headers, body)["resource"]["out_trade_no"] == no

    wx.signing_serial = wx.add_platform_key(certificate=True)  # a new certificate: the SDK downloads it
    assert cert_client.callback(*wx.payment_notification(no))["resource"]["out_trade_no"] == no
    assert cert_client.callback(*wx.payment_notification(no, sign_with=OTHER)) is None
    wx.signing_serial = wx.public_key_id


# ================================================================================ Alipay


@pytest.fixture(scope="module")
def ali() -> Iterator[FakeAlipay]:
    with FakeAlipay(app_id=ALIPAY_APP_ID, seller_id=SELLER_ID, app_public_key_pem=public_pem(APP)) as fake:
        yield fake


@pytest.fixture
def ali_sdk(ali: FakeAlipay, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> Any:
    # The SDK stamps requests with datetime.now() (local time); Alipay wants Beijing time.
    clock = types.SimpleNamespace(now=lambda: datetime.now(BEIJING).replace(tzinfo=None))
    monkeypatch.setattr(alipay_sdk, "datetime", clock)
    client = AliPay(
        appid=ALIPAY_APP_ID,
        app_notify_url=receiver.url + "/alipay/notify",
        app_private_key_string=private_pem(APP),
        alipay_public_key_string=ali.alipay_public_key_pem,
        sign_type="RSA2",
    )
    client._gateway = ali.gateway_url
    return client


def test_alipay_page_pay_url_from_the_sdk_opens_the_cashier(ali: FakeAlipay, ali_sdk: Any) -> None:
    no = _no()
    query = ali_sdk.api_alipay_trade_page_pay(
        subject="Steam 充值卡 100", out_trade_no=no, total_amount="12.30", return_url="https://shop.example/done"
    )
    status, page = ali.open("https://openapi.alipay.com/gateway.do?" + query)
    assert status == 200, page
    assert "收银台" in page
    trade = ali.trades[no]
    assert trade.amount == 1230
    assert trade.state == "WAIT_BUYER_PAY"
    assert str(trade.notify_url).endswith("/alipay/notify")

    tampered = query.replace("12.30", "0.01")
    status, page = ali.open(ali.gateway_url + "?" + tampered)
    assert status == 400
    assert "invalid-signature" in page
    assert ali.calls[-1].error == "invalid-signature"

    # WAP: python-alipay-sdk's default product_code is QUICK_WAP_PAY; Alipay's docs say QUICK_WAP_WAY.
    wap = _no()
    status, page = ali.open("?" + ali_sdk.api_alipay_trade_wap_pay(subject="s", out_trade_no=wap, total_amount="1"))
    assert status == 400
    assert "product_code" in page
    url = ali_sdk.api_alipay_trade_wap_pay(
        subject="s", out_trade_no=wap, total_amount="1", product_code="QUICK_WAP_WAY"
    )
    assert ali.open(url)[0] == 200
    assert ali.trades[wap].amount == 100


def test_alipay_gateway_answers_verify_with_the_sdk(ali: FakeAlipay, ali_sdk: Any, receiver: Receiver) -> None:
    no = _no()
    missing = ali_sdk.api_alipay_trade_query(out_trade_no=no)  # the SDK verifies the sign or raises
    assert missing["code"] == "40004"
    assert missing["sub_code"] == "ACQ.TRADE_NOT_EXIST"
    assert ali.open(ali_sdk.api_alipay_trade_page_pay(subject="s", out_trade_no=no, total_amount="88.88"))[0] == 200
    assert ali_sdk.api_alipay_trade_query(out_trade_no=no)["trade_status"] == "WAIT_BUYER_PAY"

    receiver.answer = Response(200, b"success", {"Content-Type": "text/plain"})
    status, answer = ali.pay(no)
    assert (status, answer) == (200, b"success")
    assert ali.deliveries[-1].acknowledged
    paid = ali_sdk.api_alipay_trade_query(out_trade_no=no)
    assert paid["trade_status"] == "TRADE_SUCCESS"
    assert paid["total_amount"] == "88.88"
    assert paid["send_pay_date"]

    assert ali_sdk.api_alipay_trade_close(out_trade_no=no)["sub_code"] == "ACQ.TRADE_STATUS_ERROR"
    first = ali_sdk.api_alipay_trade_refund(refund_amount="8.88", out_trade_no=no, out_request_no="r1")
    assert first["code"] == "10000"
    assert first["fund_change"] == "Y"
    assert first["refund_fee"] == "8.88"
    again = ali_sdk.api_alipay_trade_refund(refund_amount="8.88", out_trade_no=no, out_request_no="r1")
    assert again["fund_change"] == "N"
    assert again["refund_fee"] == "8.88"
    too_much = ali_sdk.api_alipay_trade_refund(refund_amount="80.01", out_trade_no=no, out_request_no="r2")
    assert too_much["sub_code"] == "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"
    rest = ali_sdk.api_alipay_trade_refund(refund_amount="80.00", out_trade_no=no, out_request_no="r2")
    assert rest["refund_fee"] == "88.88"
    assert ali.trades[no].state == "TRADE_CLOSED"
    queried = ali_sdk.api_alipay_trade_fastpay_refund_query("r1", out_trade_no=no)
    assert queried["refund_status"] == "REFUND_SUCCESS"
    assert queried["refund_amount"] == "8.88"
    assert "refund_status" not in ali_sdk.api_alipay_trade_fastpay_refund_query("r9", out_trade_no=no)

    ali.fail_next("alipay.trade.query", 200, {"code": "20000", "msg": "Service Currently Unavailable"})
    assert ali_sdk.api_alipay_trade_query(out_trade_no=no)["code"] == "20000"


def test_alipay_post_form_and_bad_signature(ali: FakeAlipay, ali_sdk: Any) -> None:
    params = {
        "app_id": ALIPAY_APP_ID,
        "method": "alipay.trade.query",
        "charset": "utf-8",
        "sign_type": "RSA2",
        "timestamp": beijing_now(),
        "version": "1.0",
        "biz_content": json.dumps({"out_trade_no": _no()}),
    }
    answer = requests.post(ali.gateway_url, data=sign_request(params, APP), timeout=10)
    checked = ali_sdk._verify_and_return_sync_response(answer.text, "alipay_trade_query_response")
    assert checked["sub_code"] == "ACQ.TRADE_NOT_EXIST"

    forged = requests.post(ali.gateway_url, data=sign_request(params, OTHER), timeout=10).json()
    assert forged["alipay_trade_query_response"]["sub_code"] == "isv.invalid-signature"
    stale = sign_request(params | {"timestamp": "2020-01-01 00:00:00"}, APP)
    assert (
        requests.post(ali.gateway_url, data=stale, timeout=10).json()["alipay_trade_query_response"]["code"] == "40002"
    )
    other_app = requests.post(ali.gateway_url, data=sign_request(params | {"app_id": "2021"}, APP), timeout=10).json()
    assert other_app["alipay_trade_query_response"]["sub_code"] == "isv.invalid-app-id"
    assert "sign" not in other_app


def _form(body: bytes) -> dict[str, str]:
    return dict(parse_qsl(body.decode(), keep_blank_values=True))


def test_alipay_notifications_verify_with_the_sdk(ali: FakeAlipay, ali_sdk: Any) -> None:
    no = _no()
    assert ali.open(ali_sdk.api_alipay_trade_page_pay(subject="s", out_trade_no=no, total_amount="5"))[0] == 200

    def verifies(body: bytes) -> bool:
        data = _form(body)
        signature = data.pop("sign")
        return bool(ali_sdk.verify(data, signature))

    headers, body = ali.payment_notification(no)
    data = _form(body)
    assert headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert data["notify_type"] == "trade_status_sync"
    assert data["total_amount"] == "5.00"
    assert data["app_id"] == ALIPAY_APP_ID
    assert json.loads(data["fund_bill_list"])[0]["amount"] == "5.00"
    assert verifies(body)
    _, blank = ali.payment_notification(no, extra={"body": "", "passback_params": "a b&c"})
    assert _form(blank)["body"] == ""
    assert verifies(blank)
    assert notify_sign_content(_form(blank)).count("body=&") == 1
    assert not verifies(ali.payment_notification(no, sign_with=OTHER)[1])
    assert not verifies(ali.payment_notification(no, tamper=lambda b: b.replace(b"5.00", b"0.01"))[1])


def test_alipay_records_what_the_merchant_answered(ali: FakeAlipay, ali_sdk: Any, receiver: Receiver) -> None:
    no = _no()
    assert ali.open(ali_sdk.api_alipay_trade_page_pay(subject="s", out_trade_no=no, total_amount="2"))[0] == 200
    receiver.answer = Response(200, b"fail")
    assert ali.pay(no) == (200, b"fail")
    assert not ali.deliveries[-1].acknowledged
    receiver.answer = Response(200, b"success")
    assert ali.pay(no) == (200, b"success")
    assert ali.deliveries[-1].acknowledged
    assert (
        ali_sdk.api_alipay_trade_refund(refund_amount="2.00", out_trade_no=no, out_request_no="all")["code"] == "10000"
    )
    assert ali.notify_refund(no, "all")[0] == 200
    refund = _form(receiver.calls[-1].body)
    assert refund["trade_status"] == "TRADE_CLOSED"
    assert refund["refund_fee"] == "2.00"
    assert refund["out_biz_no"] == "all"
    signature = refund.pop("sign")
    assert ali_sdk.verify(refund, signature)


# ================================================================================ Stripe


@pytest.fixture(scope="module")
def stp() -> Iterator[FakeStripe]:
    with FakeStripe(secret_key=STRIPE_KEY, webhook_secrets=WHSEC) as fake:
        yield fake


@pytest.fixture
def stripe_client(stp: FakeStripe) -> stripe.StripeClient:
    return stripe.StripeClient(STRIPE_KEY, base_addresses={"api": stp.url}, max_network_retries=0)


def test_stripe_event_signatures_pass_the_sdk(stp: FakeStripe) -> None:
    event = stp.event("checkout.session.completed", {"id": "cs_test_x", "object": "checkout.session"})
    headers, body = stp.signed(event)
    assert headers["Stripe-Signature"].count("v1=") == 2
    for secret in WHSEC:
        assert stripe.Webhook.construct_event(body, headers["Stripe-Signature"], secret).type == event["type"]
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, headers["Stripe-Signature"], "whsec_other")
    tampered_headers, tampered = stp.signed(event, tamper=lambda b: b.replace(b"cs_test_x", b"cs_test_y"))
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(tampered, tampered_headers["Stripe-Signature"], WHSEC[0])
    old_headers, old = stp.signed(event, timestamp=int(time.time()) - 3600)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(old, old_headers["Stripe-Signature"], WHSEC[0])
    extra_headers, _ = stp.signed(b"{}", secrets=[], extra_v1=["deadbeef"])
    assert extra_headers["Stripe-Signature"].split(",")[1:] == ["v1=deadbeef"]


def test_stripe_sdk_checkout_retrieve_pay_refund(
    stp: FakeStripe, stripe_client: stripe.StripeClient, receiver: Receiver
) -> None:
    session = stripe_client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "success_url": "https://shop.example/done?session={CHECKOUT_SESSION_ID}",
            "cancel_url": "https://shop.example/cancel",
            "line_items": [
                {
                    "price_data": {"currency": "usd", "unit_amount": 1500, "product_data": {"name": "Steam $15"}},
                    "quantity": 2,
                }
            ],
            "client_reference_id": "order-1",
            "metadata": {"order_id": "order-1"},
            "expires_at": int(time.time()) + 3600,
        }
    )
    assert session.id.startswith("cs_test_")
    assert session.amount_total == 3000
    assert session.currency == "usd"
    assert session.url
    assert session.url.startswith("https://checkout.stripe.com/c/pay/cs_test_")
    assert session.payment_status == "unpaid"
    assert session.status == "open"
    assert session.payment_intent is None
    assert session.metadata is not None
    assert session.metadata["order_id"] == "order-1"
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).client_reference_id == "order-1"

    stp.webhook_url = receiver.url + "/stripe/webhook"
    receiver.answer = Response(200, b"{}")
    assert stp.pay(session.id)[0] == 200
    call = receiver.calls[-1]
    event = stripe.Webhook.construct_event(call.body, call.headers["Stripe-Signature"], WHSEC[1])
    assert event.type == "checkout.session.completed"
    completed = event.data.object
    assert completed["payment_status"] == "paid"
    assert completed["payment_intent"].startswith("pi_")

    retrieved = stripe_client.v1.checkout.sessions.retrieve(session.id)
    assert retrieved.status == "complete"
    assert retrieved.payment_intent == completed["payment_intent"]
    refund = stripe_client.v1.refunds.create(params={"payment_intent": completed["payment_intent"], "amount": 1000})
    assert refund.id.startswith("re_")
    assert refund.status == "succeeded"
    assert refund.amount == 1000
    rest = stripe_client.v1.refunds.create(params={"payment_intent": completed["payment_intent"]})
    assert rest.amount == 2000
    with pytest.raises(stripe.InvalidRequestError) as raised:
        stripe_client.v1.refunds.create(params={"payment_intent": completed["payment_intent"]})
    assert raised.value.code == "charge_already_refunded"
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.refunds.create(params={"payment_intent": "pi_never_paid"})

    assert stp.refund_event(refund.id, "failed")[0] == 200
    updated = json.loads(receiver.calls[-1].body)
    assert updated["type"] == "refund.updated"
    assert updated["data"]["object"]["status"] == "failed"

    # A refunded session still says paid; its expanded charge says how much went back.
    expanded = stripe_client.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["payment_intent.latest_charge"]}
    )
    assert expanded.payment_status == "paid"
    charge = expanded["payment_intent"]["latest_charge"]
    assert (charge["object"], charge["amount_refunded"], charge["refunded"]) == ("charge", 2000, False)
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["customer.invoice"]})


def test_stripe_refuses_bad_auth_and_idempotency_conflicts(stp: FakeStripe) -> None:
    form = {
        "mode": "payment",
        "success_url": "https://shop.example/ok",
        "line_items[0][price_data][currency]": "usd",
        "line_items[0][price_data][unit_amount]": "500",
        "line_items[0][price_data][product_data][name]": "Card",
        "line_items[0][quantity]": "1",
    }
    url = stp.url + "/v1/checkout/sessions"
    bad = requests.post(url, data=form, headers={"Authorization": "Bearer sk_test_wrong"}, timeout=10)
    assert bad.status_code == 401
    assert bad.json()["error"]["type"] == "invalid_request_error"
    assert "Invalid API Key provided" in bad.json()["error"]["message"]
    with pytest.raises(stripe.AuthenticationError):
        stripe.StripeClient("sk_test_wrong", base_addresses={"api": stp.url}).v1.checkout.sessions.retrieve("cs_x")

    auth = {"Authorization": f"Bearer {STRIPE_KEY}", "Idempotency-Key": secrets.token_hex(8)}
    first = requests.post(url, data=form, headers=auth, timeout=10)
    again = requests.post(url, data=form, headers=auth, timeout=10)
    assert first.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    conflict = requests.post(url, data=form | {"line_items[0][quantity]": "2"}, headers=auth, timeout=10)
    assert conflict.status_code == 400
    assert conflict.json()["error"]["type"] == "idempotency_error"

    headers = {"Authorization": f"Bearer {STRIPE_KEY}"}
    soon = requests.post(url, data=form | {"expires_at": str(int(time.time()) + 60)}, headers=headers, timeout=10)
    assert soon.status_code == 400
    assert soon.json()["error"]["param"] == "expires_at"
    unknown = requests.post(url, data=form | {"colour": "red"}, headers=headers, timeout=10)
    assert unknown.json()["error"]["code"] == "parameter_unknown"
    upper = requests.post(url, data=form | {"line_items[0][price_data][currency]": "USD"}, headers=headers, timeout=10)
    assert upper.status_code == 400


def test_stripe_form_parsing_and_injected_failures(stp: FakeStripe, stripe_client: stripe.StripeClient) -> None:
    pairs = [
        ("line_items[0][price_data][currency]", "usd"),
        ("line_items[1][quantity]", "3"),
        ("line_items[0][quantity]", "1"),
        ("metadata[0]", "zero"),
        ("expand[]", "payment_intent"),
        ("expand[]", "line_items"),
    ]
    assert parse_form(pairs) == {
        "line_items": [{"price_data": {"currency": "usd"}, "quantity": "1"}, {"quantity": "3"}],
        "metadata": {"0": "zero"},
        "expand": ["payment_intent", "line_items"],
    }
    stp.fail_next("/v1/checkout/sessions", 500, {"error": {"type": "api_error", "message": "boom"}})
    with pytest.raises(stripe.APIError):
        stripe_client.v1.checkout.sessions.retrieve("cs_test_any")
    assert stp.calls[-1].error == "api_error"


def test_fake_server_records_calls(receiver: Receiver) -> None:
    answer = requests.post(receiver.url + "/x?a=1&b=", data=b"hi", headers={"x-custom": "v"}, timeout=10)
    assert answer.status_code == 200
    call = receiver.calls[-1]
    assert (call.method, call.path, call.query, call.body) == ("POST", "/x", {"a": "1", "b": ""}, b"hi")
    assert call.headers["X-Custom"] == "v"
    assert call.target == "/x?a=1&b="
