"""WeChat Pay API v3 (微信支付): Native (a `code_url` shown as a QR code) and H5 on phones,
refunds, order queries, and notifications verified to the letter of the v3 spec:

- requests carry `Authorization: WECHATPAY2-SHA256-RSA2048 mchid=…,nonce_str=…,signature=…,
  timestamp=…,serial_no=…`, SHA256withRSA by the merchant key over `METHOD\\nURL\\nts\\nnonce\\nbody\\n`;
- answers and notifications are signed by WeChat Pay over `ts\\nnonce\\nbody\\n` with the key the
  `Wechatpay-Serial` header names: a platform certificate's serial or a WeChat Pay public-key id
  (`PUB_KEY_ID_…`); the secret lists every key in use, so keys rotate without downtime;
- timestamps more than 300 s off and `WECHATPAY/SIGNTEST/` probes are refused;
- the notification's resource is AEAD_AES_256_GCM under the APIv3 key, and what it says
  (`mchid`, `appid`, `out_trade_no`, `trade_state`, `amount.total` in fen) is checked.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from kayisu.payments.http import (
    Parsed,
    Reply,
    call,
    header,
    private_key,
    public_key,
    refused,
    required,
    rsa_sign,
    rsa_verify,
)
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
from kayisu.payments.signature import check_fresh

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

NAME = "wechatpay"
API_BASE = "https://api.mch.weixin.qq.com"
PROBE_PREFIX = "WECHATPAY/SIGNTEST/"
ORDER_PREFIX = "ord_"  # out_trade_no is 6–32 characters: our order ids without their prefix
_DIGITS = re.compile(r"[0-9]{1,10}")
_CHINA = timezone(timedelta(hours=8))
_REFUND_STATES = {"SUCCESS": RefundStatus.SUCCEEDED, "ABNORMAL": RefundStatus.FAILED, "CLOSED": RefundStatus.FAILED}


def out_trade_no(order_id: str) -> str:
    return order_id.removeprefix(ORDER_PREFIX)


def order_id_of(trade_no: str) -> str:
    return ORDER_PREFIX + trade_no


@dataclass(frozen=True)
class Merchant:
    mchid: str
    appid: str
    serial_no: str
    key: RSAPrivateKey
    apiv3_key: bytes
    platform_keys: dict[str, RSAPublicKey]  # Wechatpay-Serial → key: certificates' serials and PUB_KEY_ID_…
    api_base: str
    notify_base: str


def merchant(secret: Mapping[str, Any]) -> Merchant:
    mchid, appid, serial_no, key_pem, apiv3_key = required(
        NAME, secret, "mchid", "appid", "merchant_serial_no", "merchant_private_key", "apiv3_key"
    )
    if len(apiv3_key.encode()) != 32:
        raise ProviderError(NAME, "NOT_CONFIGURED", "the APIv3 key must be 32 bytes")
    keys = secret.get("platform_public_keys")
    if not isinstance(keys, dict) or not keys:
        raise ProviderError(NAME, "NOT_CONFIGURED", "the secret lists no platform_public_keys")
    return Merchant(
        mchid=mchid,
        appid=appid,
        serial_no=serial_no,
        key=private_key(NAME, key_pem),
        apiv3_key=apiv3_key.encode(),
        platform_keys={str(serial): public_key(NAME, str(pem)) for serial, pem in keys.items()},
        api_base=str(secret.get("api_base") or API_BASE).rstrip("/"),
        notify_base=str(secret.get("notify_base") or "").rstrip("/"),
    )


def authorization(m: Merchant, method: str, url_path: str, body: str, at: int | None = None, nonce: str = "") -> str:
    """The v3 `Authorization` header of one request (url_path: the path with its query)."""
    at = int(time.time()) if at is None else at
    nonce = nonce or secrets.token_hex(16).upper()
    signature = rsa_sign(m.key, f"{method}\n{url_path}\n{at}\n{nonce}\n{body}\n".encode())
    return (
        f'WECHATPAY2-SHA256-RSA2048 mchid="{m.mchid}",nonce_str="{nonce}",signature="{signature}",'
        f'timestamp="{at}",serial_no="{m.serial_no}"'
    )


def verify_signed(m: Merchant, headers: Mapping[str, str], body: bytes, now: float | None = None) -> None:
    """Raises BadSignature unless WeChat Pay signed these bytes just now with a key we list."""
    timestamp = header(headers, "Wechatpay-Timestamp")
    nonce = header(headers, "Wechatpay-Nonce")
    signature = header(headers, "Wechatpay-Signature")
    serial = header(headers, "Wechatpay-Serial")
    if not (_DIGITS.fullmatch(timestamp) and nonce and signature and serial):
        raise BadSignature("missing WeChat Pay signature headers")
    if signature.startswith(PROBE_PREFIX):
        raise BadSignature("a WeChat Pay signature probe")  # WeChat checks that we refuse these
    check_fresh(int(timestamp), now)
    key = m.platform_keys.get(serial)
    if key is None:
        raise BadSignature("unknown Wechatpay-Serial")
    if not rsa_verify(key, timestamp.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n", signature):
        raise BadSignature("signature does not match")


def decrypt(m: Merchant, resource: Mapping[str, Any]) -> dict[str, Any]:
    """The AEAD_AES_256_GCM resource of a notification, opened with the APIv3 key."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if resource.get("algorithm") != "AEAD_AES_256_GCM":
        raise BadSignature("unsupported resource algorithm")
    try:
        plain = AESGCM(m.apiv3_key).decrypt(
            str(resource["nonce"]).encode(),
            base64.b64decode(str(resource["ciphertext"])),
            str(resource.get("associated_data") or "").encode(),
        )
        opened = json.loads(plain)
    except (InvalidTag, KeyError, ValueError):
        raise BadSignature("the resource does not open with the APIv3 key") from None
    if not isinstance(opened, dict):
        raise BadSignature("the resource is not an object")
    return opened


def _amount(transaction: Mapping[str, Any]) -> tuple[int, str]:
    amount = transaction.get("amount")
    total = amount.get("total") if isinstance(amount, dict) else None
    if not isinstance(total, int) or isinstance(total, bool):
        raise BadSignature("the transaction has no amount.total in fen")
    currency = amount.get("currency") if isinstance(amount, dict) else None
    return total, str(currency or "CNY")


def _paid(m: Merchant, transaction: Mapping[str, Any], event_id: str) -> PaymentNotification | None:
    """The payment a transaction object reports, after checking it is ours; None unless SUCCESS."""
    if transaction.get("mchid") != m.mchid or transaction.get("appid") != m.appid:
        raise BadSignature("a transaction of another merchant or app")
    trade_no = transaction.get("out_trade_no")
    if not isinstance(trade_no, str) or not trade_no:
        raise BadSignature("the transaction has no out_trade_no")
    if transaction.get("trade_state") != "SUCCESS":
        return None
    total, currency = _amount(transaction)
    return PaymentNotification(
        event_id=event_id,
        kind=NotificationKind.PAID,
        order_id=order_id_of(trade_no),
        payment_id=trade_no,
        amount=total,
        currency=currency,
        transaction_id=str(transaction.get("transaction_id") or ""),
    )


class WechatPay(PaymentProvider):
    name = NAME
    currencies = frozenset({"CNY"})
    remote_create = True

    def __init__(self, secret: Callable[[], Mapping[str, Any]]) -> None:
        self.merchant = Parsed(secret, merchant)

    def _request(self, m: Merchant, method: str, path: str, body: dict[str, Any] | None = None) -> Reply:
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":")) if body is not None else ""
        reply = call(
            NAME,
            method,
            m.api_base + path,
            {
                "Authorization": authorization(m, method, path, text),
                "Accept": "application/json",
                "Content-Type": "application/json",
                "User-Agent": "kayisu",
            },
            text.encode() if body is not None else None,
        )
        if reply.status < 500:
            try:
                verify_signed(m, reply.headers, reply.body)  # an answer not from WeChat Pay is no answer
            except BadSignature as exc:
                raise ProviderError(NAME, "BAD_RESPONSE_SIGNATURE", str(exc), reply.status) from None
        return reply

    def _notify_url(self, m: Merchant, api_base: str) -> str:
        return f"{m.notify_base or api_base}/v1/webhooks/{NAME}"

    def create_payment(self, request: PaymentRequest) -> PaymentInstructions:
        m = self.merchant()
        trade_no = out_trade_no(request.order_id)
        body: dict[str, Any] = {
            "appid": m.appid,
            "mchid": m.mchid,
            "description": request.description[:127],
            "out_trade_no": trade_no,
            "notify_url": self._notify_url(m, request.api_base),
            "amount": {"total": request.amount, "currency": request.currency},
        }
        if request.expires_at is not None:
            body["time_expire"] = request.expires_at.astimezone(_CHINA).isoformat(timespec="seconds")
        if request.mobile:
            body["scene_info"] = {"payer_client_ip": request.client_ip or "127.0.0.1", "h5_info": {"type": "Wap"}}
            reply = self._request(m, "POST", "/v3/pay/transactions/h5", body)
            url = reply.json().get("h5_url") if reply.status == 200 else None
            if not isinstance(url, str):
                raise refused(NAME, reply, "H5 payment")
            if request.return_url:
                url += "&redirect_url=" + quote(request.return_url, safe="")
            return PaymentInstructions(payment_id=trade_no, pay_url=url)
        reply = self._request(m, "POST", "/v3/pay/transactions/native", body)
        code_url = reply.json().get("code_url") if reply.status == 200 else None
        if not isinstance(code_url, str):
            raise refused(NAME, reply, "Native payment")
        return PaymentInstructions(payment_id=trade_no, qr_code=code_url)

    def verify_notification(self, headers: Mapping[str, str], raw_body: bytes) -> PaymentNotification:
        m = self.merchant()
        verify_signed(m, headers, raw_body)
        try:
            event = json.loads(raw_body)
        except ValueError:
            raise BadSignature("signed body is not JSON") from None
        if not isinstance(event, dict) or not isinstance(event.get("resource"), dict):
            raise BadSignature("signed body is not a notification")
        event_id, event_type = str(event.get("id") or ""), str(event.get("event_type") or "")
        resource = decrypt(m, event["resource"])
        if event_type.startswith("REFUND."):
            return self._refund_news(m, event_id, resource)
        paid = _paid(m, resource, event_id)
        if paid is None:  # only TRANSACTION.SUCCESS moves money
            return _ignored(event_id, resource)
        return paid

    def _refund_news(self, m: Merchant, event_id: str, refund: Mapping[str, Any]) -> PaymentNotification:
        if refund.get("mchid") != m.mchid:
            raise BadSignature("a refund of another merchant")
        status = _REFUND_STATES.get(str(refund.get("refund_status")))
        trade_no = refund.get("out_trade_no")
        amount = refund.get("amount")
        refunded = amount.get("refund") if isinstance(amount, dict) else None
        if status is None or not isinstance(trade_no, str) or not isinstance(refunded, int):
            return _ignored(event_id, refund)
        return PaymentNotification(
            event_id=event_id,
            kind=NotificationKind.REFUND,
            order_id=order_id_of(trade_no),
            payment_id=trade_no,
            amount=refunded,
            currency=str(amount.get("currency") or "CNY") if isinstance(amount, dict) else "CNY",
            transaction_id=str(refund.get("transaction_id") or ""),
            refund_id=str(refund.get("refund_id") or ""),
            refund_status=status,
        )

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
        m = self.merchant()
        body: dict[str, Any] = {
            "out_trade_no": payment_id,
            "out_refund_no": "rf_" + payment_id,  # one refund per order: a retry is the same refund
            "reason": reason[:80],
            "amount": {"refund": amount, "total": amount, "currency": currency},
        }
        if m.notify_base or notify_base:  # without one a PROCESSING refund is never settled by its news
            body["notify_url"] = self._notify_url(m, notify_base)
        reply = self._request(m, "POST", "/v3/refund/domestic/refunds", body)
        answer = reply.json()
        if reply.status != 200 or not answer.get("refund_id"):
            raise refused(NAME, reply, "refund")
        status = {"SUCCESS": RefundStatus.SUCCEEDED, "PROCESSING": RefundStatus.PENDING}.get(
            str(answer.get("status")), RefundStatus.FAILED
        )
        return Refund(refund_id=str(answer["refund_id"]), amount=amount, currency=currency, status=status)

    def query_payment(self, order_id: str, payment_id: str) -> PaymentQuery:
        m = self.merchant()
        reply = self._request(m, "GET", f"/v3/pay/transactions/out-trade-no/{quote(payment_id)}?mchid={m.mchid}")
        answer = reply.json()
        if reply.status == 404 or answer.get("code") == "ORDER_NOT_EXIST":
            return PaymentQuery(PaymentStatus.NOT_PAID, detail="ORDER_NOT_EXIST")
        if reply.status != 200:
            raise refused(NAME, reply, "order query")
        state = str(answer.get("trade_state") or "")
        if state == "REFUND":  # 转入退款: paid, then refunded; never a reason to deliver
            refunded = _paid(m, {**answer, "trade_state": "SUCCESS"}, "query")
            return PaymentQuery(PaymentStatus.REFUNDED, refunded, detail=state)
        paid = _paid(m, answer, "query")
        if paid is not None:
            return PaymentQuery(PaymentStatus.PAID, paid, detail=state)
        unknown = state in ("USERPAYING", "ACCEPT")  # still in progress at WeChat Pay
        return PaymentQuery(PaymentStatus.UNKNOWN if unknown else PaymentStatus.NOT_PAID, detail=state)

    def acknowledge(self, status: str) -> Answer:
        return Answer(204, "application/json", "")

    def reject(self, status: int, code: str, detail: str) -> Answer:
        message = json.dumps({"code": "FAIL", "message": f"{code}: {detail}"}, ensure_ascii=False)
        return Answer(status, "application/json", message)


def _ignored(event_id: str, resource: Mapping[str, Any]) -> PaymentNotification:
    return PaymentNotification(
        event_id=event_id,
        kind=NotificationKind.IGNORED,
        order_id=order_id_of(str(resource.get("out_trade_no") or "")),
        payment_id=str(resource.get("out_trade_no") or ""),
        amount=0,
        currency="",
        transaction_id=str(resource.get("transaction_id") or ""),
    )
