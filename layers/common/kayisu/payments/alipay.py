"""Alipay (支付宝) open platform with RSA2 keys: page pay on computers and WAP pay on phones (a
signed redirect URL), refunds, order queries, and notifications verified to the letter:

- a request's signature covers every non-blank parameter but `sign`, sorted, `k=v` joined by
  `&`, SHA256withRSA by the app's private key;
- a notification is form-encoded and parsed keeping blank values; its signature covers every
  parameter but `sign` and `sign_type` (blank ones included), sorted the same way, checked with
  the Alipay public key; only `sign_type=RSA2` is accepted;
- an API answer's signature covers the exact text of its `…_response` object;
- a payment counts only with our `app_id` and `seller_id`, `TRADE_SUCCESS` or `TRADE_FINISHED`,
  and `total_amount` in yuan with at most two decimals (compared with the order's fen).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from kayisu.payments.http import Parsed, call, private_key, public_key, required, rsa_sign, rsa_verify
from kayisu.payments.provider import (
    Answer,
    BadSignature,
    NotificationKind,
    PaymentInstructions,
    PaymentNotification,
    PaymentProvider,
    PaymentQuery,
    PaymentRequest,
    PaymentStatus,
    ProviderError,
    Refund,
    RefundStatus,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

NAME = "alipay"
GATEWAY = "https://openapi.alipay.com/gateway.do"
_CHINA = timezone(timedelta(hours=8))
_YUAN = re.compile(r"(0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?")
PAID_STATES = frozenset({"TRADE_SUCCESS", "TRADE_FINISHED"})


@dataclass(frozen=True)
class App:
    app_id: str
    seller_id: str
    key: RSAPrivateKey
    alipay_key: RSAPublicKey
    gateway: str
    notify_base: str


def app(secret: Mapping[str, Any]) -> App:
    app_id, seller_id, key_pem, alipay_pem = required(
        NAME, secret, "app_id", "seller_id", "app_private_key", "alipay_public_key"
    )
    return App(
        app_id=app_id,
        seller_id=seller_id,
        key=private_key(NAME, key_pem),
        alipay_key=public_key(NAME, alipay_pem),
        gateway=str(secret.get("gateway") or GATEWAY),
        notify_base=str(secret.get("notify_base") or "").rstrip("/"),
    )


def sign_content(params: Mapping[str, str], *, keep_blank: bool, drop: tuple[str, ...]) -> bytes:
    items = sorted((k, v) for k, v in params.items() if k not in drop and (keep_blank or v != ""))
    return "&".join(f"{k}={v}" for k, v in items).encode()


def signed_request(a: App, method: str, biz_content: Mapping[str, Any], **extra: str) -> dict[str, str]:
    """Every parameter of one call, `sign` included."""
    params = {
        "app_id": a.app_id,
        "method": method,
        "format": "JSON",
        "charset": "utf-8",
        "sign_type": "RSA2",
        "timestamp": datetime.now(_CHINA).strftime("%Y-%m-%d %H:%M:%S"),
        "version": "1.0",
        "biz_content": json.dumps(biz_content, ensure_ascii=False, separators=(",", ":")),
        **{k: v for k, v in extra.items() if v},
    }
    params["sign"] = rsa_sign(a.key, sign_content(params, keep_blank=False, drop=("sign",)))
    return params


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def fen(text: str) -> int:
    """Decimal yuan as Alipay writes it ("19.9", "19.90") in fen; BadSignature if malformed."""
    if not _YUAN.fullmatch(text):
        raise BadSignature("total_amount is not an amount in yuan")
    return int(Decimal(text) * 100)


def response_object(raw: str, response_key: str) -> tuple[dict[str, Any], str]:
    """(the answer, its exact text) of a gateway reply: the signature covers that text as sent."""
    decoder = json.JSONDecoder()
    at = raw.find(f'"{response_key}"')
    at = raw.find(":", at) + 1 if at >= 0 else -1
    if at <= 0:
        raise ProviderError(NAME, "BAD_RESPONSE", f"no {response_key} in the answer")
    while raw[at] in " \t\r\n":
        at += 1
    try:
        value, end = decoder.raw_decode(raw, at)
    except ValueError:
        raise ProviderError(NAME, "BAD_RESPONSE", "the answer is not JSON") from None
    if not isinstance(value, dict):
        raise ProviderError(NAME, "BAD_RESPONSE", f"{response_key} is not an object")
    return value, raw[at:end]


# A signed answer with one of these codes says no (20000, service unavailable, does not), unless
# its sub_code asks for a retry with the same request.
_DECLINING_CODES = frozenset({"20001", "40001", "40002", "40004", "40006"})
_RETRY_SUB_CODES = frozenset({"ACQ.SYSTEM_ERROR", "aop.ACQ.SYSTEM_ERROR"})


def _declined(answer: Mapping[str, Any]) -> bool:
    return str(answer.get("code")) in _DECLINING_CODES and str(answer.get("sub_code")) not in _RETRY_SUB_CODES


class Alipay(PaymentProvider):
    name = NAME
    currencies = frozenset({"CNY"})

    def __init__(self, secret: Callable[[], Mapping[str, Any]]) -> None:
        self.app = Parsed(secret, app)

    def _notify_url(self, a: App, api_base: str) -> str:
        return f"{a.notify_base or api_base}/v1/webhooks/{NAME}"

    def create_payment(self, request: PaymentRequest) -> PaymentInstructions:
        a = self.app()
        page = not request.mobile
        biz: dict[str, Any] = {
            "out_trade_no": request.order_id,
            "total_amount": yuan(request.amount),
            "subject": re.sub(r"[/=&]", " ", request.description)[:256],  # Alipay refuses these in a subject
            "product_code": "FAST_INSTANT_TRADE_PAY" if page else "QUICK_WAP_WAY",
        }
        if request.expires_at is not None:
            biz["time_expire"] = request.expires_at.astimezone(_CHINA).strftime("%Y-%m-%d %H:%M:%S")
        params = signed_request(
            a,
            "alipay.trade.page.pay" if page else "alipay.trade.wap.pay",
            biz,
            notify_url=self._notify_url(a, request.api_base),
            return_url=request.return_url,
        )
        return PaymentInstructions(payment_id=request.order_id, pay_url=f"{a.gateway}?{urlencode(params)}")

    def _call(self, a: App, method: str, biz: Mapping[str, Any]) -> dict[str, Any]:
        """One gateway API call; the answer object once its signature checks out."""
        form = urlencode(signed_request(a, method, biz)).encode()
        reply = call(
            NAME,
            "POST",
            f"{a.gateway}?charset=utf-8",
            {"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"},
            form,
        )
        raw = reply.body.decode("utf-8", "replace")
        key = method.replace(".", "_") + "_response"
        if reply.status != 200:
            raise ProviderError(NAME, f"HTTP_{reply.status}", f"{method} failed", reply.status)
        if '"error_response"' in raw and f'"{key}"' not in raw:
            key = "error_response"
        answer, text = response_object(raw, key)
        if key == "error_response":  # the gateway's own refusal (bad app id, bad signature), unsigned
            raise ProviderError(NAME, str(answer.get("sub_code") or answer.get("code")), str(answer.get("sub_msg", "")))
        try:
            signature = json.loads(raw).get("sign")
        except ValueError:
            signature = None
        if not isinstance(signature, str) or not rsa_verify(a.alipay_key, text.encode(), signature):
            raise ProviderError(NAME, "BAD_RESPONSE_SIGNATURE", f"{method}: the answer is not signed by Alipay")
        return answer

    def verify_notification(self, headers: Mapping[str, str], raw_body: bytes) -> PaymentNotification:
        a = self.app()
        try:
            params = dict(parse_qsl(raw_body.decode("utf-8"), keep_blank_values=True, strict_parsing=True))
        except (UnicodeDecodeError, ValueError):
            raise BadSignature("the body is not a form") from None
        if params.get("sign_type") != "RSA2":
            raise BadSignature("sign_type must be RSA2")
        signature = params.get("sign", "")
        content = sign_content(params, keep_blank=True, drop=("sign", "sign_type"))
        if not signature or not rsa_verify(a.alipay_key, content, signature):
            raise BadSignature("signature does not match")
        if params.get("app_id") != a.app_id or params.get("seller_id") != a.seller_id:
            raise BadSignature("a notification for another app or seller")
        trade_no, order_id = params.get("trade_no", ""), params.get("out_trade_no", "")
        event_id, currency = params.get("notify_id", ""), params.get("trans_currency") or "CNY"
        if params.get("refund_fee"):
            return PaymentNotification(
                event_id,
                NotificationKind.REFUND,
                order_id,
                order_id,
                fen(params["refund_fee"]),
                currency,
                trade_no,
                refund_id=f"{trade_no}#{params.get('out_biz_no', '')}",
                refund_status=RefundStatus.SUCCEEDED,
            )
        if params.get("trade_status") not in PAID_STATES:
            return PaymentNotification(event_id, NotificationKind.IGNORED, order_id, order_id, 0, currency, trade_no)
        amount = fen(params.get("total_amount", ""))
        return PaymentNotification(event_id, NotificationKind.PAID, order_id, order_id, amount, currency, trade_no)

    def refund(
        self,
        order_id: str,
        payment_id: str,
        transaction_id: str,
        amount: int,
        currency: str,
        reason: str,
        notify_base: str = "",
    ) -> Refund:
        a = self.app()
        request_no = "rf_" + order_id  # one refund per order: a retry is the same refund
        answer = self._call(
            a,
            "alipay.trade.refund",
            {
                "out_trade_no": payment_id,
                "refund_amount": yuan(amount),
                "out_request_no": request_no,
                "refund_reason": reason[:256],
            },
        )
        if answer.get("code") != "10000":
            raise ProviderError(
                NAME,
                str(answer.get("sub_code") or answer.get("code")),
                str(answer.get("sub_msg", "")),
                declined=_declined(answer),
            )
        trade_no = str(answer.get("trade_no") or transaction_id)
        return Refund(refund_id=f"{trade_no}#{request_no}", amount=amount, currency=currency)

    def query_payment(self, order_id: str, payment_id: str) -> PaymentQuery:
        a = self.app()
        answer = self._call(a, "alipay.trade.query", {"out_trade_no": payment_id})
        if answer.get("code") != "10000":
            if answer.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
                return PaymentQuery(PaymentStatus.NOT_PAID, detail="ACQ.TRADE_NOT_EXIST")
            raise ProviderError(NAME, str(answer.get("sub_code") or answer.get("code")), str(answer.get("sub_msg", "")))
        state = str(answer.get("trade_status") or "")
        if answer.get("out_trade_no") != payment_id:
            raise ProviderError(NAME, "BAD_RESPONSE", "the answer is about another trade")
        # TRADE_CLOSED is both "closed unpaid" and "paid, then refunded in full"; only the
        # latter has a payment date.
        refunded = state == "TRADE_CLOSED" and bool(answer.get("send_pay_date"))
        if state not in PAID_STATES and not refunded:
            return PaymentQuery(PaymentStatus.NOT_PAID, detail=state)
        try:
            amount = fen(str(answer.get("total_amount", "")))
        except BadSignature:
            raise ProviderError(NAME, "BAD_RESPONSE", "no total_amount in the answer") from None
        paid = PaymentNotification(
            event_id="query",
            kind=NotificationKind.PAID,
            order_id=order_id,
            payment_id=payment_id,
            amount=amount,
            currency=str(answer.get("trans_currency") or "CNY"),
            transaction_id=str(answer.get("trade_no") or ""),
        )
        return PaymentQuery(PaymentStatus.REFUNDED if refunded else PaymentStatus.PAID, paid, detail=state)

    def acknowledge(self, status: str) -> Answer:
        return Answer(200, "text/plain; charset=utf-8", "success")

    def reject(self, status: int, code: str, detail: str) -> Answer:
        return Answer(status, "text/plain; charset=utf-8", "fail")


__all__ = ["Alipay", "app", "fen", "response_object", "sign_content", "signed_request", "yuan"]
