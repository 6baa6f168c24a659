"""WeChat Pay, Alipay and Stripe end to end on a local stack of their own (the providers
enabled), against fake provider servers that check our requests the way each provider would
and sign notifications with keys generated here (tests/fakes). For each provider: a valid
notification pays and delivers; forged, stale, misdirected, mismatched, repeated and unknown
ones change nothing; refunds and their notifications; missed callbacks recovered by the
sweeper and by an operator; a late payment without stock refunded through the provider. Last,
every AWS call the provider paths made is allowed by the template, and every provider grant
was used (promise 7)."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.fakes.alipay import FakeAlipay
from tests.fakes.keys import new_key, private_pem, public_pem
from tests.fakes.server import FakeServer, deliver
from tests.fakes.stripe import FakeStripe
from tests.fakes.wechatpay import FakeWechatPay
from tests.integration.conftest import ARTIFACTS, Api, aws, login, running_stack
from tests.integration.iam import FUNCTIONS, denied, grants, stack_parameters, unused, used
from tests.integration.partner import new_partner
from tests.integration.shop import new_codes, run_schedule, stocked_product, wait_for
from tests.integration.test_reports import backdate, download, run_at, sections, shanghai

PARAMETERS = (
    "EnableWechatPay=true EnableAlipay=true EnableStripe=true "
    "IngestSliceSeconds=1 ProviderSecretsMaxAge=1 AlertEmail=ops@example.com"
)
PROVIDERS = ["wechatpay", "alipay", "stripe"]
APIV3_KEY = "Kayisu0APIv3Key0For0Tests0000032"
LOST = "/lost-notifications"  # where a fake sends a notification that must never reach us
NOT_FOUND = {"ACQ.TRADE_NOT_EXIST", "ORDER_NOT_EXIST", "resource_missing"}  # answers to a query, not refusals


@dataclass
class Shop:
    """The providers' stack, its users and the three fake providers."""

    state: dict[str, Any]
    public: Api
    operator: Api
    wechat: FakeWechatPay
    alipay: FakeAlipay
    stripe: FakeStripe
    wechat_secret: dict[str, Any] = field(default_factory=dict)

    def webhook(self, provider: str) -> str:
        return f"{self.state['api_url']}/v1/webhooks/{provider}"

    def put_secret(self, provider: str, value: dict[str, Any]) -> None:
        resource = {"wechatpay": "WechatPaySecret", "alipay": "AlipaySecret", "stripe": "StripeSecret"}[provider]
        secret_id = self.state["resources"][resource]
        aws(self.state, "secretsmanager").put_secret_value(SecretId=secret_id, SecretString=json.dumps(value))


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    merchant, app = (new_key() for _ in range(2))
    wechat = FakeWechatPay(
        mchid="1900000109",
        appid="wx8888888888888888",
        apiv3_key=APIV3_KEY,
        merchant_serial="3775B6A45ACD588826D15E583A95F5DD2C6C4B1A",
        merchant_public_key_pem=public_pem(merchant),
    )
    alipay = FakeAlipay(app_id="2021000122600001", seller_id="2088621954870001", app_public_key_pem=public_pem(app))
    stripe = FakeStripe(secret_key="sk_test_kayisu", webhook_secrets=["whsec_kayisu_current", "whsec_kayisu_old"])
    state_dir = tmp_path_factory.mktemp("kayisu-providers")
    with (
        running_stack(state_dir, ARTIFACTS / "providers-stack.log", PARAMETERS) as state,
        wechat,
        alipay,
        stripe,
    ):
        stripe.webhook_url = f"{state['api_url']}/v1/webhooks/stripe"
        result = Shop(
            state, Api(state["api_url"]), Api(state["api_url"], login(state, "operator")), wechat, alipay, stripe
        )
        result.wechat_secret = {
            "mchid": wechat.mchid,
            "appid": wechat.appid,
            "merchant_serial_no": wechat.merchant_serial,
            "merchant_private_key": private_pem(merchant),
            "apiv3_key": APIV3_KEY,
            "platform_public_keys": dict(wechat.platform_public_keys),
            "api_base": wechat.url,
            "notify_base": state["api_url"],
        }
        result.put_secret("wechatpay", result.wechat_secret)
        result.put_secret(
            "alipay",
            {
                "app_id": alipay.app_id,
                "seller_id": alipay.seller_id,
                "app_private_key": private_pem(app),
                "alipay_public_key": alipay.alipay_public_key_pem,
                "gateway": alipay.gateway_url,
                "notify_base": state["api_url"],
            },
        )
        result.put_secret(
            "stripe",
            {"secret_key": "sk_test_kayisu", "webhook_secrets": stripe.webhook_secrets, "api_base": stripe.url},
        )
        yield result
    for fake in (wechat, alipay, stripe):
        refused = [c for c in fake.calls if c.error and c.path != LOST and c.error not in NOT_FOUND]
        assert not refused, f"{type(fake).__name__} refused our requests: {[(c.target, c.error) for c in refused]}"


def product(shop: Shop, codes: int = 3, price: int = 1990) -> str:
    sku = f"P-{time.monotonic_ns()}"
    stocked_product(shop.operator, sku, new_codes(codes), price=price)
    return sku


def place(shop: Shop, provider: str, sku: str, phone: bool = False) -> dict[str, Any]:
    agent = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Mobile/15E148" if phone else "Mozilla/5.0 (X11)"
    body = {"sku": sku, "quantity": 1, "email": f"buyer-{secrets.token_hex(4)}@example.com", "payment_method": provider}
    ip = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
    placed = shop.public.post("/v1/orders", body, headers={"User-Agent": agent, "X-Forwarded-For": ip})
    assert placed.status_code == 201, placed.text
    answer: dict[str, Any] = placed.json()
    return answer


class Acting:
    """How a test acts as one provider: pays, pays without telling us, forges."""

    name: str
    fake: FakeServer

    def pay(self, placed: dict[str, Any], deliver_to: str | None = None) -> tuple[int, bytes]:
        raise NotImplementedError

    def forgeries(self, placed: dict[str, Any]) -> dict[str, tuple[dict[str, str], bytes]]:
        raise NotImplementedError

    def mismatches(self, placed: dict[str, Any]) -> dict[str, tuple[dict[str, str], bytes]]:
        raise NotImplementedError

    def unknown_order(self) -> tuple[dict[str, str], bytes]:
        raise NotImplementedError

    def settle_refund(self, placed: dict[str, Any], refund_id: str) -> tuple[int, bytes]:
        raise NotImplementedError


class ActingWechat(Acting):
    name = "wechatpay"

    def __init__(self, fake: FakeWechatPay) -> None:
        self.fake = self.wechat = fake

    def pay(self, placed: dict[str, Any], deliver_to: str | None = None) -> tuple[int, bytes]:
        return self.wechat.pay(placed["payment"]["payment_id"], deliver_to=deliver_to)

    def forgeries(self, placed: dict[str, Any]) -> dict[str, tuple[dict[str, str], bytes]]:
        trade = placed["payment"]["payment_id"]
        stranger = new_key()
        note = self.wechat.payment_notification
        return {
            "tampered body": note(trade, tamper=lambda b: b.replace(b'"summary"', b'"Summary"')),
            "unknown serial": note(trade, serial="PUB_KEY_ID_0000000000000000000000000000"),
            "wrong key": note(trade, sign_with=stranger),
            "stale timestamp": note(trade, timestamp=int(time.time()) - 400),
            "probe signature": note(trade, probe=True),
            "wrong APIv3 key": note(trade, apiv3_key="X" * 32),
            "another merchant": note(trade, mchid="1900000999"),
        }

    def mismatches(self, placed: dict[str, Any]) -> dict[str, tuple[dict[str, str], bytes]]:
        trade = placed["payment"]["payment_id"]
        return {
            "amount": self.wechat.payment_notification(trade, amount=placed["amount"] - 1),
            "currency": self.wechat.payment_notification(trade, currency="USD"),
        }

    def unknown_order(self) -> tuple[dict[str, str], bytes]:
        return self.wechat.payment_notification("nosuchorder0000000000000000000000"[:32])

    def settle_refund(self, placed: dict[str, Any], refund_id: str) -> tuple[int, bytes]:
        return self.wechat.settle_refund("rf_" + placed["payment"]["payment_id"])


class ActingAlipay(Acting):
    name = "alipay"

    def __init__(self, fake: FakeAlipay) -> None:
        self.fake = self.alipay = fake

    def pay(self, placed: dict[str, Any], deliver_to: str | None = None) -> tuple[int, bytes]:
        if placed["order_id"] not in self.alipay.trades:
            opened = self.alipay.open(placed["payment"]["pay_url"])  # the shopper's browser
            assert opened[0] == 200, opened
        return self.alipay.pay(placed["order_id"], deliver_to=deliver_to)

    def forgeries(self, placed: dict[str, Any]) -> dict[str, tuple[dict[str, str], bytes]]:
        self.pay_page(placed)
        trade = placed["order_id"]
        stranger = new_key()
        note = self.alipay.payment_notification
        return {
            "tampered amount": note(trade, tamper=lambda b: b.replace(b"total_amount=19.90", b"total_amount=0.01")),
            "blank parameter added": note(trade, tamper=lambda b: b + b"&voucher_detail_list="),
            "wrong sign_type": note(trade, sign_type="RSA"),
            "wrong key": note(trade, sign_with=stranger),
            "another seller": note(trade, seller_id="2088000000000000"),
        }

    def pay_page(self, placed: dict[str, Any]) -> None:
        if placed["order_id"] not in self.alipay.trades:
            assert self.alipay.open(placed["payment"]["pay_url"])[0] == 200

    def mismatches(self, placed: dict[str, Any]) -> dict[str, tuple[dict[str, str], bytes]]:
        self.pay_page(placed)
        trade = placed["order_id"]
        return {
            "amount": self.alipay.payment_notification(trade, total_amount="19.89"),
            "currency": self.alipay.payment_notification(trade, extra={"trans_currency": "USD"}),
        }

    def unknown_order(self) -> tuple[dict[str, str], bytes]:
        return self.alipay.payment_notification("ord_nosuchorder")

    def settle_refund(self, placed: dict[str, Any], refund_id: str) -> tuple[int, bytes]:
        return self.alipay.notify_refund(placed["order_id"], refund_id.split("#", 1)[1])


class ActingStripe(Acting):
    name = "stripe"

    def __init__(self, fake: FakeStripe) -> None:
        self.fake = self.stripe = fake

    def pay(self, placed: dict[str, Any], deliver_to: str | None = None) -> tuple[int, bytes]:
        return self.stripe.pay(placed["payment"]["payment_id"], deliver_to=deliver_to)

    def completed(self, placed: dict[str, Any], **changes: Any) -> dict[str, Any]:
        session = {
            **self.stripe.sessions[placed["payment"]["payment_id"]],
            "payment_status": "paid",
            "status": "complete",
            "payment_intent": "pi_forged",
            **changes,
        }
        return self.stripe.event("checkout.session.completed", session)

    def forgeries(self, placed: dict[str, Any]) -> dict[str, tuple[dict[str, str], bytes]]:
        event = self.completed(placed)
        return {
            "tampered body": self.stripe.signed(event, tamper=lambda b: b.replace(b"1990", b"1991")),
            "wrong secret": self.stripe.signed(event, secrets=["whsec_stranger"]),
            "stale timestamp": self.stripe.signed(event, timestamp=int(time.time()) - 400),
            "several v1, none valid": self.stripe.signed(event, secrets=["whsec_a", "whsec_b"], extra_v1=["00" * 32]),
        }

    def mismatches(self, placed: dict[str, Any]) -> dict[str, tuple[dict[str, str], bytes]]:
        return {
            "amount": self.stripe.signed(self.completed(placed, amount_total=placed["amount"] - 1)),
            "currency": self.stripe.signed(self.completed(placed, currency="usd", payment_intent="pi_forged_2")),
        }

    def unknown_order(self) -> tuple[dict[str, str], bytes]:
        fake_session = {"id": "cs_test_nosuch", "object": "checkout.session", "amount_total": 1990, "currency": "cny"}
        fake_session |= {"payment_status": "paid", "client_reference_id": "ord_nosuch", "payment_intent": "pi_nosuch"}
        return self.stripe.signed(self.stripe.event("checkout.session.completed", fake_session))

    def settle_refund(self, placed: dict[str, Any], refund_id: str) -> tuple[int, bytes]:
        return self.stripe.refund_event(refund_id, "succeeded")


def acting(shop: Shop, provider: str) -> Acting:
    if provider == "wechatpay":
        return ActingWechat(shop.wechat)
    if provider == "alipay":
        return ActingAlipay(shop.alipay)
    return ActingStripe(shop.stripe)


def order_detail(shop: Shop, placed: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = shop.operator.get(f"/v1/admin/orders/{placed['order_id']}").json()
    return answer


def acknowledged(provider: str, status: int, body: bytes) -> bool:
    """What each provider takes as "received": WeChat Pay 200/204, Alipay the text success."""
    if provider == "wechatpay":
        return status in (200, 204)
    if provider == "alipay":
        return status == 200 and body == b"success"
    return 200 <= status < 300


def refused(provider: str, status: int, body: bytes, expected: int, code: str) -> None:
    assert status == expected, body
    if provider == "wechatpay":
        assert json.loads(body)["code"] == "FAIL"
        assert json.loads(body)["message"].startswith(code)
    elif provider == "alipay":
        assert body == b"fail"
    else:
        assert json.loads(body)["code"] == code


# -------------------------------------------------------------------------------- paying


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_valid_notification_pays_and_delivers(shop: Shop, provider: str) -> None:
    sku = product(shop)
    placed = place(shop, provider, sku)
    payment = placed["payment"]
    if provider == "wechatpay":
        assert payment["qr_code"].startswith("weixin://wxpay/bizpayurl?pr=")
    elif provider == "alipay":
        assert payment["pay_url"].startswith(shop.alipay.gateway_url + "?")
    else:
        assert payment["pay_url"].startswith("https://checkout.stripe.com/")
    status, body = acting(shop, provider).pay(placed)
    assert acknowledged(provider, status, body), (status, body)
    delivered = wait_for(shop.public, placed)
    assert len(delivered["cards"]) == 1
    detail = order_detail(shop, placed)
    assert detail["payment"]["method"] == provider
    assert detail["transaction_id"]

    # The provider repeats the same notification: acknowledged, nothing changes.
    last = acting(shop, provider).fake.deliveries[-1]
    again = deliver(last.url, last.headers, last.body)
    assert acknowledged(provider, *again), again
    assert order_detail(shop, placed)["history"] == detail["history"]
    if provider == "stripe":
        assert json.loads(again[1])["status"] == "already_handled"  # de-duplicated on the event id


def test_phones_pay_in_the_browser(shop: Shop) -> None:
    sku = product(shop)
    wechat = place(shop, "wechatpay", sku, phone=True)["payment"]
    assert wechat["pay_url"].startswith("https://wx.tenpay.com/")
    assert wechat.get("qr_code") is None
    assert "redirect_url=" in wechat["pay_url"]
    alipay = place(shop, "alipay", sku, phone=True)
    assert "alipay.trade.wap.pay" in alipay["payment"]["pay_url"]
    assert shop.alipay.open(alipay["payment"]["pay_url"])[0] == 200


def test_a_blank_alipay_parameter_is_signed_like_any_other(shop: Shop) -> None:
    placed = place(shop, "alipay", product(shop))
    ActingAlipay(shop.alipay).pay_page(placed)
    headers, body = shop.alipay.payment_notification(placed["order_id"], extra={"body": "", "passback_params": ""})
    assert deliver(shop.webhook("alipay"), headers, body) == (200, b"success")
    wait_for(shop.public, placed)


def test_several_stripe_v1_signatures_one_valid(shop: Shop) -> None:
    placed = place(shop, "stripe", product(shop))
    status, body = shop.stripe.pay(placed["payment"]["payment_id"], secrets=["whsec_kayisu_old"], extra_v1=["ab" * 32])
    assert status == 200, body
    wait_for(shop.public, placed)


def test_wechat_platform_keys_rotate_without_a_missed_notification(shop: Shop) -> None:
    old = shop.wechat.signing_serial
    new = shop.wechat.add_platform_key(certificate=True)  # WeChat Pay starts signing with a new certificate
    shop.wechat_secret["platform_public_keys"] = {
        old: shop.wechat.platform_public_keys[old],
        new: shop.wechat.platform_certificates[new],  # a certificate works as well as a public key
    }
    shop.put_secret("wechatpay", shop.wechat_secret)
    time.sleep(1.5)  # ProviderSecretsMaxAge=1 here (300 s by default)
    try:
        for serial in (new, old):
            shop.wechat.signing_serial = serial
            placed = place(shop, "wechatpay", product(shop))
            assert acknowledged("wechatpay", *ActingWechat(shop.wechat).pay(placed))
            wait_for(shop.public, placed)
    finally:
        shop.wechat.signing_serial = old


# -------------------------------------------------------------------------------- refusing


@pytest.mark.parametrize("provider", PROVIDERS)
def test_forged_notifications_change_nothing(shop: Shop, provider: str) -> None:
    placed = place(shop, provider, product(shop))
    for case, (headers, body) in acting(shop, provider).forgeries(placed).items():
        status, answer = deliver(shop.webhook(provider), headers, body)
        assert status == 400, (case, status, answer)
        refused(provider, status, answer, 400, "BAD_SIGNATURE")
    detail = order_detail(shop, placed)
    assert (detail["status"], detail["transaction_id"], detail["review_reason"]) == ("pending_payment", None, None)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_amount_or_currency_mismatch_is_held_never_delivered(shop: Shop, provider: str) -> None:
    held: list[dict[str, Any]] = []
    for kind in ("amount", "currency"):
        placed = place(shop, provider, product(shop))
        headers, body = acting(shop, provider).mismatches(placed)[kind]
        status, answer = deliver(shop.webhook(provider), headers, body)
        refused(provider, status, answer, 409, "AMOUNT_MISMATCH")
        detail = order_detail(shop, placed)
        assert detail["status"] == "pending_payment", kind
        assert detail["review_reason"], kind
        held.append(placed)
    # The shopper then pays in full at the provider: recorded for review, never delivered, and
    # the sweeper (which asks the provider) still expires the orders instead of taking them as paid.
    for placed in held:
        status, _ = acting(shop, provider).pay(placed)
        assert status < 300 or status == 409, status  # held (acknowledged), or the mismatch's own transaction
    later = (datetime.now(UTC) + timedelta(minutes=16)).strftime("%Y-%m-%dT%H:%M:%SZ")
    run_schedule(shop.state, "SweeperFunction", later)
    for placed in held:
        detail = order_detail(shop, placed)
        assert detail["status"] == "expired", detail
        assert not detail.get("delivered_at")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_notification_for_an_unknown_order(shop: Shop, provider: str) -> None:
    headers, body = acting(shop, provider).unknown_order()
    status, answer = deliver(shop.webhook(provider), headers, body)
    refused(provider, status, answer, 404, "UNKNOWN_ORDER")


def test_only_enabled_providers_and_their_currencies_are_accepted(shop: Shop) -> None:
    sku = f"P-USD-{time.monotonic_ns()}"
    made = shop.operator.post("/v1/admin/products", {"sku": sku, "name": "usd", "price": 500, "currency": "USD"})
    assert made.status_code == 201, made.text
    stocked = shop.public.get(f"/v1/products/{sku}").json()
    assert set(stocked["payment_methods"]) == {"sandbox", "wechatpay", "alipay", "stripe"}
    body = {"sku": sku, "quantity": 1, "email": "b@example.com", "payment_method": "wechatpay"}
    refusal = shop.public.post("/v1/orders", body)
    assert refusal.status_code in (409, 422), refusal.text  # out of stock or currency: nothing reserved
    body["payment_method"] = "paypal"
    assert shop.public.post("/v1/orders", body).json()["code"] == "VALIDATION_ERROR"


def test_a_provider_refusing_checkout_reserves_nothing(shop: Shop) -> None:
    # WeChat Pay is asked once the order holds its stock and limits; when it fails, the order is
    # withdrawn with both: as many failures as the email's limit (3) leave it free, and a retry
    # with the same Idempotency-Key places the order afresh.
    sku = product(shop, codes=1)
    body = {"sku": sku, "quantity": 1, "email": f"b-{secrets.token_hex(4)}@example.com", "payment_method": "wechatpay"}
    headers = {"X-Forwarded-For": "10.9.9.9", "Idempotency-Key": f"retry-{secrets.token_hex(6)}"}
    for _ in range(3):
        shop.wechat.fail_next("/v3/pay/transactions/native", 500, {"code": "SYSTEM_ERROR", "message": "系统错误"})
        failed = shop.public.post("/v1/orders", body, headers=headers)
        assert (failed.status_code, failed.json()["code"]) == (503, "PAYMENT_UNAVAILABLE")
        assert shop.public.get(f"/v1/products/{sku}").json()["available"] == 1
    shop.wechat.calls[:] = [c for c in shop.wechat.calls if c.error != "SYSTEM_ERROR"]  # the ones we injected
    retried = shop.public.post("/v1/orders", body, headers=headers)  # the shopper tries again
    assert retried.status_code == 201, retried.text
    assert retried.json()["payment"]["qr_code"]
    assert shop.public.get(f"/v1/products/{sku}").json()["available"] == 0


def test_the_limits_are_checked_before_the_provider_is_asked(shop: Shop) -> None:
    sku = product(shop, codes=4)
    body = {
        "sku": sku,
        "quantity": 1,
        "email": f"same-{secrets.token_hex(4)}@example.com",
        "payment_method": "wechatpay",
    }
    for n in range(3):
        assert shop.public.post("/v1/orders", body, headers={"X-Forwarded-For": f"10.7.{n}.1"}).status_code == 201
    asked = len(shop.wechat.calls_to("/v3/pay/transactions/", "POST"))
    refused = shop.public.post("/v1/orders", body, headers={"X-Forwarded-For": "10.7.9.1"})
    assert (refused.status_code, refused.json()["code"]) == (429, "RATE_LIMITED")
    assert len(shop.wechat.calls_to("/v3/pay/transactions/", "POST")) == asked  # WeChat Pay was not asked


@pytest.mark.parametrize("provider", ["wechatpay", "stripe"])
def test_an_order_refused_by_a_limit_costs_the_provider_nothing(shop: Shop, provider: str) -> None:
    # One Gmail mailbox, however spelled (case, plus tags, dots, googlemail.com), holds at most
    # MaxPendingOrdersPerEmail (3) unpaid orders; the order shows the address as typed.
    sku = product(shop, codes=5)
    tag = secrets.token_hex(4)
    spellings = [f"hoard.{tag}@gmail.com", f"Hoard{tag}+2@googlemail.com", f"HOARD.{tag}+shop@Gmail.com"]
    creates = {"wechatpay": "/v3/pay/transactions/", "stripe": "/v1/checkout/sessions"}[provider]
    fake = acting(shop, provider).fake
    placed: list[dict[str, Any]] = []
    for email in spellings:
        body = {"sku": sku, "quantity": 1, "email": email, "payment_method": provider}
        answer = shop.public.post("/v1/orders", body, headers={"X-Forwarded-For": f"10.8.{len(placed)}.1"})
        assert answer.status_code == 201, answer.text
        placed.append(answer.json())
    assert placed[1]["email"] == "H***@googlemail.com"  # as typed (masked), not as compared
    asked = len(fake.calls_to(creates, "POST"))
    for email in (spellings[0], f"h.o.a.r.d{tag}+4@GoogleMail.com"):  # the same spelling, then another
        body = {"sku": sku, "quantity": 1, "email": email, "payment_method": provider}
        refused = shop.public.post("/v1/orders", body, headers={"X-Forwarded-For": "10.8.9.1"})
        assert (refused.status_code, refused.json().get("code")) == (429, "RATE_LIMITED"), email
        assert len(fake.calls_to(creates, "POST")) == asked, email  # the provider was not asked
    assert shop.public.get(f"/v1/products/{sku}").json()["available"] == 2


# -------------------------------------------------------------------------------- refunds


def refund_record(shop: Shop, provider: str, refund_id: str) -> dict[str, Any]:
    item = aws(shop.state, "dynamodb").get_item(
        TableName=shop.state["resources"]["OrdersTable"],
        Key={"pk": {"S": f"REFUND#{provider}#{refund_id}"}, "sk": {"S": "REFUND"}},
        ConsistentRead=True,
    )
    assert "Item" in item, f"no refund {refund_id} recorded"
    return {k: next(iter(v.values())) for k, v in item["Item"].items()}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_operators_refund_goes_through_the_provider_and_its_notification_settles_it(
    shop: Shop, provider: str
) -> None:
    placed = place(shop, provider, product(shop))
    actor = acting(shop, provider)
    actor.pay(placed)
    wait_for(shop.public, placed)
    refunded = shop.operator.post(f"/v1/admin/orders/{placed['order_id']}/refund", {"reason": "shopper asked"})
    assert refunded.status_code == 200, refunded.text
    refund_id = refunded.json()["refund_id"]
    assert refunded.json()["status"] == "refunded"
    if provider == "wechatpay":
        assert refund_id == shop.wechat.refunds["rf_" + placed["payment"]["payment_id"]]["refund_id"]
        assert refund_record(shop, provider, refund_id)["status"] == "pending"  # WeChat: PROCESSING
    elif provider == "stripe":
        assert refund_id in shop.stripe.refunds
    else:
        assert shop.alipay.trades[placed["order_id"]].refunded == placed["amount"]
    # Repeating the operator's refund refunds nothing more at the provider.
    assert shop.operator.post(f"/v1/admin/orders/{placed['order_id']}/refund", {"reason": "again"}).status_code == 200
    status, body = actor.settle_refund(placed, refund_id)
    assert acknowledged(provider, status, body), (status, body)
    assert refund_record(shop, provider, refund_id)["status"] == "succeeded"


def test_a_failed_refund_and_a_refund_made_at_the_provider_alert_operators(shop: Shop) -> None:
    placed = place(shop, "wechatpay", product(shop))
    ActingWechat(shop.wechat).pay(placed)
    wait_for(shop.public, placed)
    refund_id = shop.operator.post(f"/v1/admin/orders/{placed['order_id']}/refund", {"reason": "r"}).json()["refund_id"]
    status, _ = shop.wechat.settle_refund("rf_" + placed["payment"]["payment_id"], "ABNORMAL")
    assert status == 204
    assert refund_record(shop, "wechatpay", refund_id)["status"] == "failed"
    assert "failed" in order_detail(shop, placed)["review_reason"]

    # Stripe: a refund someone made in the dashboard.
    other = place(shop, "stripe", product(shop))
    ActingStripe(shop.stripe).pay(other)
    wait_for(shop.public, other)
    intent = shop.stripe.sessions[other["payment"]["payment_id"]]["payment_intent"]
    outside = {"id": "re_dashboard1", "object": "refund", "amount": other["amount"], "currency": "cny"}
    outside |= {"payment_intent": intent, "status": "succeeded", "metadata": {}}
    headers, body = shop.stripe.signed(shop.stripe.event("refund.created", outside))
    status, answer = deliver(shop.webhook("stripe"), headers, body)
    assert (status, json.loads(answer)["status"]) == (200, "refund_recorded")
    assert refund_record(shop, "stripe", "re_dashboard1")["order_id"] == other["order_id"]
    assert "outside Kayisu" in order_detail(shop, other)["review_reason"]
    sent = shop.public.get("/_local/outbox").json()["items"]
    subjects = [m["subject"] for m in sent if m["channel"] == "sns"]
    assert any("wechatpay refund failed" in s for s in subjects)
    assert any("stripe refund made outside Kayisu" in s for s in subjects)


def sns_about(shop: Shop, order_id: str, subject: str) -> int:
    sent = shop.public.get("/_local/outbox").json()["items"]
    return sum(1 for m in sent if m["channel"] == "sns" and subject in m["subject"] and order_id in m["body"])


def mails_about(shop: Shop, order_id: str, word: str) -> int:
    sent = shop.public.get("/_local/outbox").json()["items"]
    return sum(1 for m in sent if m["channel"] == "email" and order_id in m["subject"] and word in m["subject"])


@pytest.mark.parametrize("provider", ["wechatpay", "stripe"])
def test_a_refund_the_provider_reports_failed_holds_the_order_for_review(shop: Shop, provider: str) -> None:
    """WeChat Pay answers ABNORMAL, Stripe `failed`: no money went back, so the order is not
    refunded, its codes are not voided but stay locked (the shopper is still owed the refund),
    operators are alerted once, and finance does not count it as money out."""
    placed = place(shop, provider, product(shop))
    actor = acting(shop, provider)
    actor.pay(placed)
    (card,) = wait_for(shop.public, placed)["cards"]
    partner = new_partner(shop.state, shop.operator)
    if provider == "wechatpay":
        shop.wechat.refund_status_on_create = "ABNORMAL"
    else:
        shop.stripe.refund_status = "failed"
    try:
        answer = shop.operator.post(f"/v1/admin/orders/{placed['order_id']}/refund", {"reason": "shopper asked"})
        again = shop.operator.post(f"/v1/admin/orders/{placed['order_id']}/refund", {"reason": "shopper asked"})
    finally:
        shop.wechat.refund_status_on_create = None
        shop.stripe.refund_status = "succeeded"
    assert (answer.status_code, answer.json()["code"]) == (409, "REFUND_FAILED"), answer.text
    assert (again.status_code, again.json()["code"]) == (409, "REFUND_FAILED"), again.text  # asked again: same
    detail = order_detail(shop, placed)
    assert detail["status"] == "delivered"
    assert detail["refund_id"] is None
    assert "failed" in detail["review_reason"]
    assert [c["status"] for c in detail["cards"]] == ["sold"]
    assert shop.public.get(f"/v1/orders/{placed['order_id']}", headers=bearer(placed)).json()["status"] == "delivered"
    assert partner.verify(card["code"]).json()["status"] == "void"
    refused_redemption = partner.redeem(card["code"])
    assert (refused_redemption.status_code, refused_redemption.json()["code"]) == (409, "CODE_VOID")
    refunds = [k for k, r in shop.wechat.refunds.items() if r["out_trade_no"] == placed["payment"]["payment_id"]]
    refund_id = (
        shop.wechat.refunds[refunds[0]]["refund_id"]
        if provider == "wechatpay"
        else next(i for i, r in shop.stripe.refunds.items() if r["metadata"]["order_id"] == placed["order_id"])
    )
    assert refund_record(shop, provider, refund_id)["status"] == "failed"
    assert sns_about(shop, placed["order_id"], f"{provider} refund failed") == 1
    assert mails_about(shop, placed["order_id"], "refunded") == 0  # never told "refunded in full"

    # The provider's own news of the failure is acknowledged (never 503) and alerts nobody again.
    if provider == "wechatpay":
        status, body = shop.wechat.settle_refund("rf_" + placed["payment"]["payment_id"], "ABNORMAL")
    else:
        status, body = shop.stripe.refund_event(refund_id, "failed", event_type="refund.failed")
    assert acknowledged(provider, status, body), (status, body)
    assert order_detail(shop, placed)["status"] == "delivered"
    assert sns_about(shop, placed["order_id"], f"{provider} refund failed") == 1

    # Finance: the refund is listed with its status and is not money out.
    backdate(shop.state, placed, shanghai("2026-01-07T12:00:00"))
    run_at(shop.state, "DailyReport", "2026-01-08T00:10:00")
    report = sections(download(shop.operator, "daily-2026-01-07"))
    rows = {r["type"]: r for r in report["movement"] if r["order_id"] == placed["order_id"]}
    assert (rows["refund"]["refund_id"], rows["refund"]["refund_status"]) == (refund_id, "failed")
    assert rows["payment"]["refund_status"] == ""
    totals = next(t for t in report["total"] if t["provider"] == provider)
    assert (totals["refunds"], totals["refund_amount"], totals["net_amount"]) == ("0", "0", str(placed["amount"]))
    assert [(m["kind"], m["refund_id"]) for m in report["mismatch"] if m["order_id"] == placed["order_id"]] == [
        ("refund_failed", refund_id)
    ]


def bearer(placed: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {placed['access_token']}"}


def test_a_refund_alipay_declines_is_undone_and_can_be_asked_again(shop: Shop) -> None:
    placed = place(shop, "alipay", product(shop))
    ActingAlipay(shop.alipay).pay(placed)
    (card,) = wait_for(shop.public, placed)["cards"]
    partner = new_partner(shop.state, shop.operator)
    balance = {"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.SELLER_BALANCE_NOT_ENOUGH"}
    shop.alipay.fail_next("alipay.trade.refund", 200, balance | {"sub_msg": "卖家余额不足"})
    declined = shop.operator.post(f"/v1/admin/orders/{placed['order_id']}/refund", {"reason": "shopper asked"})
    shop.alipay.calls[:] = [c for c in shop.alipay.calls if c.error != "ACQ.SELLER_BALANCE_NOT_ENOUGH"]  # injected
    assert (declined.status_code, declined.json()["code"]) == (502, "REFUND_DECLINED"), declined.text
    detail = order_detail(shop, placed)
    assert (detail["status"], detail["refund_id"], detail["refund_reason"]) == ("delivered", None, None)
    assert partner.verify(card["code"]).json()["status"] == "valid"  # no longer locked: no money moved
    assert shop.alipay.trades[placed["order_id"]].refunded == 0

    refunded = shop.operator.post(f"/v1/admin/orders/{placed['order_id']}/refund", {"reason": "balance topped up"})
    assert refunded.status_code == 200, refunded.text
    assert refunded.json()["status"] == "refunded"
    assert shop.alipay.trades[placed["order_id"]].refunded == placed["amount"]
    assert partner.verify(card["code"]).json()["status"] == "void"


def test_a_refund_whose_answer_was_lost_is_finished_by_its_notification(shop: Shop) -> None:
    """WeChat Pay takes the refund but its answer cannot be trusted (the admin function might as
    well have died): the refund stays decided, the code stays locked, and the refund's
    notification, sent to the notify_url built from the order's API address (no notify_base in
    the secret), finishes it instead of being answered 503 for ever."""
    without_base = {k: v for k, v in shop.wechat_secret.items() if k != "notify_base"}
    shop.put_secret("wechatpay", without_base)
    time.sleep(1.5)  # ProviderSecretsMaxAge=1 here
    try:
        placed = place(shop, "wechatpay", product(shop))
        ActingWechat(shop.wechat).pay(placed)
        (card,) = wait_for(shop.public, placed)["cards"]
        partner = new_partner(shop.state, shop.operator)
        trusted = shop.wechat.signing_serial
        shop.wechat.signing_serial = shop.wechat.add_platform_key()  # a key our secret does not list
        try:
            lost = shop.operator.post(f"/v1/admin/orders/{placed['order_id']}/refund", {"reason": "shopper asked"})
        finally:
            shop.wechat.signing_serial = trusted
        assert (lost.status_code, lost.json()["code"]) == (503, "PAYMENT_UNAVAILABLE"), lost.text
        out_refund_no = "rf_" + placed["payment"]["payment_id"]
        made = shop.wechat.refunds[out_refund_no]  # WeChat Pay did take it
        notify_url = urlsplit(made["notify_url"])  # the API as the order's checkout reached it
        assert (notify_url.port, notify_url.path) == (urlsplit(shop.state["api_url"]).port, "/v1/webhooks/wechatpay")
        assert order_detail(shop, placed)["status"] == "delivered"
        refused_redemption = partner.redeem(card["code"])
        assert (refused_redemption.status_code, refused_redemption.json()["code"]) == (409, "CODE_VOID")

        status, body = shop.wechat.settle_refund(out_refund_no)  # to the refund's own notify_url
        assert status == 204, body
        detail = order_detail(shop, placed)
        assert (detail["status"], detail["refund_id"]) == ("refunded", made["refund_id"])
        assert [c["status"] for c in detail["cards"]] == ["void"]
        assert refund_record(shop, "wechatpay", made["refund_id"])["status"] == "succeeded"
        assert mails_about(shop, placed["order_id"], "refunded") == 1
        assert partner.verify(card["code"]).json()["status"] == "void"
    finally:
        shop.put_secret("wechatpay", shop.wechat_secret)
        time.sleep(1.5)


def test_a_late_payment_whose_automatic_refund_fails_is_held_and_alerted(shop: Shop) -> None:
    sku = product(shop, codes=1)
    late = place(shop, "stripe", sku)
    later = (datetime.now(UTC) + timedelta(minutes=16)).strftime("%Y-%m-%dT%H:%M:%SZ")
    run_schedule(shop.state, "SweeperFunction", later)
    prompt = place(shop, "stripe", sku)
    ActingStripe(shop.stripe).pay(prompt)
    wait_for(shop.public, prompt)
    shop.stripe.refund_status = "failed"
    try:
        ActingStripe(shop.stripe).pay(late)  # paid after expiry, and no stock left: fulfilment refunds it
        deadline = time.monotonic() + 30
        while not order_detail(shop, late).get("review_reason"):
            assert time.monotonic() < deadline, "the failed refund was not held for review"
            time.sleep(0.2)
    finally:
        shop.stripe.refund_status = "succeeded"
    detail = order_detail(shop, late)
    assert (detail["status"], detail["refund_id"]) == ("paid", None)
    assert "failed" in detail["review_reason"]
    assert sns_about(shop, late["order_id"], "stripe refund failed") == 1
    assert mails_about(shop, late["order_id"], "refunded") == 0


# -------------------------------------------------------------------------------- missed callbacks


def silently(shop: Shop, provider: str, placed: dict[str, Any]) -> None:
    """The shopper pays, and the provider's notification never reaches us."""
    acting(shop, provider).pay(placed, deliver_to=f"{acting(shop, provider).fake.url}{LOST}")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_missed_callback_is_found_before_the_order_expires_and_on_request(shop: Shop, provider: str) -> None:
    sku = product(shop)
    by_sweeper, by_operator, unpaid = (place(shop, provider, sku) for _ in range(3))
    silently(shop, provider, by_sweeper)
    silently(shop, provider, by_operator)

    checked = shop.operator.post(f"/v1/admin/orders/{by_operator['order_id']}/payment-check").json()
    assert (checked["provider_status"], checked["applied"]) == ("paid", "paid"), checked
    wait_for(shop.public, by_operator)

    later = (datetime.now(UTC) + timedelta(minutes=16)).strftime("%Y-%m-%dT%H:%M:%SZ")
    run_schedule(shop.state, "SweeperFunction", later)
    wait_for(shop.public, by_sweeper)
    assert order_detail(shop, unpaid)["status"] == "expired"  # asked too, and not paid


def refund_in_dashboard(shop: Shop, provider: str, placed: dict[str, Any]) -> str:
    """Someone refunds the payment at the provider (its dashboard), which tells us nothing;
    returns the provider transaction that was refunded."""
    payment_id = placed["payment"]["payment_id"]
    if provider == "wechatpay":
        shop.wechat.refund_in_dashboard(payment_id)
        return str(shop.wechat.trades[payment_id].transaction_id)
    if provider == "alipay":
        shop.alipay.refund_in_dashboard(placed["order_id"])
        return shop.alipay.trades[placed["order_id"]].trade_no
    shop.stripe.refund_in_dashboard(payment_id)
    return str(shop.stripe.sessions[payment_id]["payment_intent"])


def payment_record(shop: Shop, provider: str, transaction_id: str) -> dict[str, Any]:
    item = aws(shop.state, "dynamodb").get_item(
        TableName=shop.state["resources"]["OrdersTable"],
        Key={"pk": {"S": f"TXN#{provider}#{transaction_id}"}, "sk": {"S": "TXN"}},
        ConsistentRead=True,
    )
    assert "Item" in item, f"no payment {transaction_id} recorded"
    return {k: next(iter(v.values())) for k, v in item["Item"].items()}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_payment_refunded_at_the_provider_is_held_never_delivered(shop: Shop, provider: str) -> None:
    sku = product(shop, codes=2)
    by_sweeper, by_operator = (place(shop, provider, sku) for _ in range(2))
    refunded: dict[str, str] = {}
    for placed in (by_sweeper, by_operator):
        silently(shop, provider, placed)  # paid, and the notification lost
        refunded[placed["order_id"]] = refund_in_dashboard(shop, provider, placed)

    checked = shop.operator.post(f"/v1/admin/orders/{by_operator['order_id']}/payment-check").json()
    assert (checked["provider_status"], checked["applied"]) == ("refunded", "held_for_review"), checked
    later = (datetime.now(UTC) + timedelta(minutes=16)).strftime("%Y-%m-%dT%H:%M:%SZ")
    run_schedule(shop.state, "SweeperFunction", later)
    for placed in (by_sweeper, by_operator):
        detail = order_detail(shop, placed)
        assert detail["status"] == "expired", detail  # held, never paid: it gave its stock back
        assert not detail.get("delivered_at"), detail
        assert not detail.get("cards"), detail
        assert "refunded at" in str(detail["review_reason"]), detail
        recorded = payment_record(shop, provider, refunded[placed["order_id"]])
        assert (recorded["order_id"], recorded["outcome"]) == (placed["order_id"], "refunded")
    assert shop.public.get(f"/v1/products/{sku}").json()["available"] == 2
    # The operator asking again records nothing twice.
    again = shop.operator.post(f"/v1/admin/orders/{by_operator['order_id']}/payment-check").json()
    assert (again["provider_status"], again["applied"]) == ("refunded", "expired"), again


def test_a_provider_down_at_expiry_is_asked_once_per_sweep_and_orders_still_expire(shop: Shop) -> None:
    sku = product(shop)
    placed = [place(shop, "wechatpay", sku) for _ in range(2)]
    shop.wechat.fail_next("/v3/pay/transactions/out-trade-no/", 500, {"code": "SYSTEM_ERROR", "message": "系统错误"})
    later = (datetime.now(UTC) + timedelta(minutes=16)).strftime("%Y-%m-%dT%H:%M:%SZ")
    run_schedule(shop.state, "SweeperFunction", later)
    asked = [
        c
        for p in placed
        for c in shop.wechat.calls_to(f"/v3/pay/transactions/out-trade-no/{p['payment']['payment_id']}")
    ]
    assert len(asked) <= 1, "after one failure the sweep asked WeChat Pay again"
    assert [order_detail(shop, p)["status"] for p in placed] == ["expired", "expired"]
    shop.wechat.calls[:] = [c for c in shop.wechat.calls if c.error != "SYSTEM_ERROR"]  # the one we injected


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_late_payment_without_stock_is_refunded_through_the_provider(shop: Shop, provider: str) -> None:
    sku = product(shop, codes=1)
    late = place(shop, provider, sku)
    later = (datetime.now(UTC) + timedelta(minutes=16)).strftime("%Y-%m-%dT%H:%M:%SZ")
    run_schedule(shop.state, "SweeperFunction", later)
    assert order_detail(shop, late)["status"] == "expired"
    prompt = place(shop, provider, sku)
    acting(shop, provider).pay(prompt)
    wait_for(shop.public, prompt)
    if provider == "alipay":
        ActingAlipay(shop.alipay).pay_page(late)
    acting(shop, provider).pay(late)
    refunded = wait_for(shop.public, late, status="refunded")
    assert refunded["status"] == "refunded"
    assert order_detail(shop, late)["refund_id"]


# -------------------------------------------------------------------------------- least privilege


def test_provider_paths_use_exactly_the_provider_grants(shop: Shop) -> None:
    """Runs last in this module: every call made here is allowed, and every grant that only
    exists with providers enabled was used."""
    parameters = stack_parameters(PARAMETERS)
    calls = shop.public.get("/_local/calls").json()["items"]
    physical_to_logical = {str(v): k for k, v in shop.state["resources"].items()}
    for function in FUNCTIONS:
        with_providers, without = grants(function, parameters), grants(function)
        made = used(calls, function, physical_to_logical, parameters)
        assert denied(made, with_providers) == set(), f"{function} makes calls its policy does not allow"
        assert unused(with_providers - without, made) == set(), f"{function}: a provider grant was never used"
