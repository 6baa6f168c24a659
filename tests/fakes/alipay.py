"""A fake Alipay open platform gateway (`/gateway.do`, public-key mode, RSA2).

Signing rules it applies (from Alipay's docs, matching python-alipay-sdk and Alipay's own SDKs):
- Requests (the page-pay/WAP-pay URL the shopper's browser opens, and server-to-server API calls):
  the sign content is every parameter except `sign`, with empty values left out, sorted by key,
  `k=v` joined by `&`, values raw (not URL-encoded); `sign_type` IS part of it. RSA2 is
  SHA256withRSA (PKCS#1 v1.5), base64. Verified with the app's public key.
- Notifications (asynchronous `trade_status_sync` POSTs): every parameter except `sign` AND
  `sign_type`, blank values INCLUDED (python-alipay-sdk's `verify` keeps them, as Alipay's
  `rsaCheckV1` does), sorted, `k=v` joined by `&`. Signed with the Alipay private key.
- API answers: `{"<method with dots as underscores>_response":{...},"sign":"..."}`; the sign is
  RSA2 over the exact text of the response object as it appears in the body. Answers that cannot
  be attributed to the app (a missing or unknown app_id) carry no sign, as Alipay's do.

The gateway dispatches on the `method` parameter whatever the HTTP verb (Alipay accepts both;
python-alipay-sdk sends API calls as GET with everything in the query string); POST bodies are
form-encoded and merged with the query string. Checks: app_id, method, charset utf-8, sign_type
RSA2, timestamp `yyyy-MM-dd HH:mm:ss` in Beijing time (UTC+8) within `timestamp_tolerance`
(600 s), version 1.0, the signature, then biz_content field by field.

Note: on Alipay, a page-pay trade only exists once the shopper has opened the cashier; before
that, query and close answer ACQ.TRADE_NOT_EXIST (the fake records the trade when the pay URL
is opened).
"""

from __future__ import annotations

import base64
import html
import json
import re
import secrets
import string
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.fakes.server import Call, FakeServer, Response

BEIJING = timezone(timedelta(hours=8))
GATEWAY = "/gateway.do"
PAGE_METHODS = {"alipay.trade.page.pay": "FAST_INSTANT_TRADE_PAY", "alipay.trade.wap.pay": "QUICK_WAP_WAY"}
API_METHODS = ("alipay.trade.query", "alipay.trade.refund", "alipay.trade.close", "alipay.trade.fastpay.refund.query")
AMOUNT = re.compile(r"^(0|[1-9]\d{0,8})(\.\d{1,2})?$")
OUT_TRADE_NO = re.compile(r"^[A-Za-z0-9_]{1,64}$")
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
MAX_AMOUNT = 100_000_000_00  # fen


# ---------------------------------------------------------------------------- signing helpers


def sign_content(params: Mapping[str, str], *, exclude: tuple[str, ...], skip_empty: bool) -> str:
    """Sorted `k=v` pairs joined by `&` (values raw), leaving out `exclude` (and empty values if asked)."""
    return "&".join(
        f"{k}={params[k]}" for k in sorted(params) if k not in exclude and not (skip_empty and params[k] == "")
    )


def request_sign_content(params: Mapping[str, str]) -> str:
    """What an app signs in a request: all but `sign`, empty values left out (`sign_type` included)."""
    return sign_content(params, exclude=("sign",), skip_empty=True)


def notify_sign_content(params: Mapping[str, str]) -> str:
    """What Alipay signs in a notification: all but `sign` and `sign_type`, blank values included."""
    return sign_content(params, exclude=("sign", "sign_type"), skip_empty=False)


def _hash(sign_type: str) -> hashes.HashAlgorithm:
    return hashes.SHA1() if sign_type == "RSA" else hashes.SHA256()  # noqa: S303 - Alipay's legacy "RSA"


def rsa_sign(key: rsa.RSAPrivateKey, content: str, sign_type: str = "RSA2") -> str:
    return base64.b64encode(key.sign(content.encode("utf-8"), padding.PKCS1v15(), _hash(sign_type))).decode()


def rsa_verify(key: rsa.RSAPublicKey, content: str, signature: str, sign_type: str = "RSA2") -> bool:
    try:
        key.verify(
            base64.b64decode(signature, validate=True), content.encode("utf-8"), padding.PKCS1v15(), _hash(sign_type)
        )
    except (ValueError, InvalidSignature):
        return False
    return True


def sign_request(params: Mapping[str, str], private_key: rsa.RSAPrivateKey) -> dict[str, str]:
    """A request's parameters with their RSA2 `sign` (for tests that call the fake directly)."""
    return {**params, "sign": rsa_sign(private_key, request_sign_content(params))}


def beijing_now() -> str:
    """`yyyy-MM-dd HH:mm:ss` in Beijing time: Alipay's timestamp format."""
    return datetime.now(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def fen_to_yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def yuan_to_fen(value: str) -> int | None:
    """`"12.3"` -> 1230; None if not a decimal string with at most 2 decimals."""
    if not AMOUNT.match(value):
        return None
    return int(Decimal(value) * 100)


def _digits(n: int) -> str:
    return "".join(secrets.choice(string.digits) for _ in range(n))


def _public_key(pem: str) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, rsa.RSAPublicKey):
        raise TypeError("an RSA public key is expected")
    return key


# ---------------------------------------------------------------------------- state


@dataclass
class Trade:
    """A trade as Alipay holds it (amounts in fen; `total_amount` as our side sent it)."""

    out_trade_no: str
    trade_no: str
    amount: int
    total_amount: str
    subject: str
    method: str
    product_code: str
    notify_url: str | None
    return_url: str | None
    biz_content: dict[str, Any]
    state: str = "WAIT_BUYER_PAY"
    gmt_create: str = field(default_factory=beijing_now)
    gmt_payment: str | None = None
    gmt_close: str | None = None
    buyer_id: str = field(default_factory=lambda: "2088" + _digits(12))
    buyer_logon_id: str = "159****5620"
    refunded: int = 0
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)


class GatewayError(Exception):
    def __init__(self, code: str, msg: str, sub_code: str, sub_msg: str, *, signed: bool = True) -> None:
        super().__init__(f"{code} {sub_code}: {sub_msg}")
        self.code, self.msg, self.sub_code, self.sub_msg, self.signed = code, msg, sub_code, sub_msg, signed


def _missing(name: str) -> GatewayError:
    return GatewayError("40001", "Missing Required Arguments", f"isv.missing-{name}", f"缺少{name}参数")


def _invalid(name: str, sub_msg: str, *, signed: bool = True) -> GatewayError:
    return GatewayError("40002", "Invalid Arguments", f"isv.invalid-{name}", sub_msg, signed=signed)


def _business(sub_code: str, sub_msg: str) -> GatewayError:
    return GatewayError("40004", "Business Failed", sub_code, sub_msg)


# ---------------------------------------------------------------------------- the fake


class FakeAlipay(FakeServer):
    """Alipay's open platform gateway for one app (see the module docstring for what it checks).

    It holds the Alipay key pair (`alipay_private_key`, `alipay_public_key_pem`: give our side the
    public one). `gateway_url` is `url + "/gateway.do"`. `trades` maps out_trade_no to Trade.
    """

    def __init__(self, *, app_id: str, seller_id: str, app_public_key_pem: str) -> None:
        super().__init__()
        self.app_id = app_id
        self.seller_id = seller_id
        self.app_public_key = _public_key(app_public_key_pem)
        self.alipay_private_key: rsa.RSAPrivateKey = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.alipay_public_key_pem: str = (
            self.alipay_private_key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )
        self.trades: dict[str, Trade] = {}
        self.timestamp_tolerance = 600

    @property
    def gateway_url(self) -> str:
        return self.url + GATEWAY

    # ------------------------------------------------------------------ the shopper's browser

    def open(self, pay_url: str) -> tuple[int, str]:
        """The shopper's browser opens a page-pay/WAP-pay URL (its query string is sent to this
        fake's gateway whatever host it names) and gets the cashier page or an error page."""
        query = urlsplit(pay_url).query if "?" in pay_url else pay_url
        answer = requests.get(f"{self.gateway_url}?{query}", timeout=30)
        return answer.status_code, answer.text

    # ------------------------------------------------------------------ requests

    def failure_matches(self, call: Call, path_prefix: str) -> bool:
        """Also matches on the `method` parameter, e.g. fail_next("alipay.trade.query", ...)."""
        return call.path.startswith(path_prefix) or self._params(call).get("method", "").startswith(path_prefix)

    def failure_response(self, call: Call, status: int, body: bytes | dict[str, Any]) -> Response:
        """A dict is sent as the response object of the called method, signed."""
        if isinstance(body, dict):
            method = self._params(call).get("method", "")
            response = self._gateway_answer(method, body, signed=True)
            response.status = status
            response.error = str(body.get("sub_code") or body.get("code") or f"injected-{status}")
            return response
        return Response(status, body, {"Content-Type": "text/html;charset=utf-8"}, f"injected-{status}")

    def _params(self, call: Call) -> dict[str, str]:
        params = dict(call.query)
        if call.method == "POST" and call.body:
            params.update(parse_qsl(call.body.decode("utf-8", "replace"), keep_blank_values=True))
        return params

    def handle(self, call: Call) -> Response:
        if call.path != GATEWAY:
            return Response(404, b"Not Found", {"Content-Type": "text/plain"}, "not-found")
        params = self._params(call)
        method = params.get("method", "")
        if method in PAGE_METHODS:
            return self._page(params, method)
        try:
            self._check_common(params, method, API_METHODS)
            biz = self._biz(params)
            match method:
                case "alipay.trade.query":
                    answer = self._query(biz)
                case "alipay.trade.refund":
                    answer = self._refund(biz)
                case "alipay.trade.close":
                    answer = self._close(biz)
                case _:
                    answer = self._refund_query(biz)
        except GatewayError as err:
            obj = {"code": err.code, "msg": err.msg, "sub_code": err.sub_code, "sub_msg": err.sub_msg}
            response = self._gateway_answer(method if method in API_METHODS else "", obj, signed=err.signed)
            response.error = err.sub_code
            return response
        return self._gateway_answer(method, {"code": "10000", "msg": "Success", **answer}, signed=True)

    def _gateway_answer(self, method: str, obj: dict[str, Any], *, signed: bool) -> Response:
        key = method.replace(".", "_") + "_response" if method else "error_response"
        inner = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
        text = f'{{"{key}":{inner}'
        text += f',"sign":"{rsa_sign(self.alipay_private_key, inner)}"}}' if signed else "}"
        return Response(200, text.encode("utf-8"), {"Content-Type": "text/html;charset=utf-8"})

    def _check_common(self, params: dict[str, str], method: str, methods: tuple[str, ...]) -> None:
        if not params.get("app_id"):
            raise GatewayError(
                "40001", "Missing Required Arguments", "isv.missing-app-id", "缺少AppID参数", signed=False
            )
        if params["app_id"] != self.app_id:
            raise _invalid("app-id", "无效的AppID参数", signed=False)
        if not method:
            raise _missing("method")
        if method not in methods:
            raise _invalid("method", "不存在的方法名")
        if not params.get("sign"):
            raise _missing("signature")
        if not params.get("sign_type"):
            raise _missing("signature-type")
        if params["sign_type"] != "RSA2":
            raise _invalid("signature-type", "无效的签名类型（应用配置为RSA2）")
        if params.get("charset", "").lower() != "utf-8":
            raise _invalid("charset", "字符集错误（须为utf-8）")
        stamp = params.get("timestamp")
        if not stamp:
            raise _missing("timestamp")
        if not TIMESTAMP.match(stamp):
            raise _invalid("timestamp", "非法的时间戳参数，格式须为yyyy-MM-dd HH:mm:ss")
        try:
            sent = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
        except ValueError:
            raise _invalid("timestamp", "非法的时间戳参数") from None
        if abs(sent.timestamp() - time.time()) > self.timestamp_tolerance:
            raise _invalid("timestamp", "时间戳与支付宝服务器时间（北京时间）相差过大")
        if params.get("version") != "1.0":
            raise _invalid("version", "版本号须为1.0")
        content = request_sign_content(params)
        if not rsa_verify(self.app_public_key, content, params["sign"]):
            raise _invalid(
                "signature",
                f"验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为：{content}",
            )

    def _biz(self, params: dict[str, str]) -> dict[str, Any]:
        try:
            biz = json.loads(params.get("biz_content") or "")
        except ValueError:
            raise _business("ACQ.INVALID_PARAMETER", "biz_content须为JSON对象") from None
        if not isinstance(biz, dict):
            raise _business("ACQ.INVALID_PARAMETER", "biz_content须为JSON对象")
        return biz

    def _find(self, biz: dict[str, Any]) -> Trade:
        if biz.get("out_trade_no"):
            trade = self.trades.get(str(biz["out_trade_no"]))
        elif biz.get("trade_no"):
            trade = next((t for t in self.trades.values() if t.trade_no == biz["trade_no"]), None)
        else:
            raise _business("ACQ.INVALID_PARAMETER", "out_trade_no和trade_no不能同时为空")
        if trade is None:
            raise _business("ACQ.TRADE_NOT_EXIST", "交易不存在")
        return trade

    # ------------------------------------------------------------------ page and WAP pay

    def _page(self, params: dict[str, str], method: str) -> Response:
        try:
            self._check_common(params, method, tuple(PAGE_METHODS))
            biz = self._biz(params)
            trade = self._open_trade(params, method, biz)
        except GatewayError as err:
            code = err.sub_code.removeprefix("isv.")
            page = (
                "<!DOCTYPE html><html><head><meta charset='utf-8'><title>支付宝 - 网上支付 安全快速！</title></head>"
                f"<body><h1>支付宝</h1><div class='error'><p>错误代码 {html.escape(code)}</p>"
                f"<p>错误原因: {html.escape(err.sub_msg)}</p></div></body></html>"
            )
            return Response(400, page.encode("utf-8"), {"Content-Type": "text/html;charset=utf-8"}, code)
        page = (
            "<!DOCTYPE html><html><head><meta charset='utf-8'><title>支付宝 - 网上支付 安全快速！</title></head>"
            f"<body><h1>收银台</h1><p class='subject'>{html.escape(trade.subject)}</p>"
            f"<p class='amount'>{fen_to_yuan(trade.amount)}</p><p class='trade'>{html.escape(trade.out_trade_no)}</p>"
            "</body></html>"
        )
        return Response(200, page.encode("utf-8"), {"Content-Type": "text/html;charset=utf-8"})

    def _open_trade(self, params: dict[str, str], method: str, biz: dict[str, Any]) -> Trade:
        out_trade_no = biz.get("out_trade_no")
        if not isinstance(out_trade_no, str) or not OUT_TRADE_NO.match(out_trade_no):
            raise _business("ACQ.INVALID_PARAMETER", "out_trade_no须为64个字符以内，仅支持字母、数字、下划线")
        total_amount = biz.get("total_amount")
        fen = yuan_to_fen(total_amount) if isinstance(total_amount, str) else None
        if fen is None or not 1 <= fen <= MAX_AMOUNT:
            raise _business(
                "ACQ.INVALID_PARAMETER", "total_amount须为字符串，单位元，精确到小数点后两位，[0.01,100000000]"
            )
        subject = biz.get("subject")
        if not isinstance(subject, str) or not subject or len(subject) > 256 or any(c in subject for c in "/=&"):
            raise _business("ACQ.INVALID_PARAMETER", "subject须为1到256个字符，不可使用特殊字符，如 /，=，& 等")
        if biz.get("product_code") != PAGE_METHODS[method]:
            raise _business("ACQ.INVALID_PARAMETER", f"product_code须为{PAGE_METHODS[method]}")
        if "time_expire" in biz and not (isinstance(biz["time_expire"], str) and TIMESTAMP.match(biz["time_expire"])):
            raise _business("ACQ.INVALID_PARAMETER", "time_expire格式须为yyyy-MM-dd HH:mm:ss")
        notify_url = params.get("notify_url", "")
        if urlsplit(notify_url).scheme not in ("http", "https"):
            raise _business("ACQ.INVALID_PARAMETER", "缺少notify_url参数或其格式错误（须为http或https的URL）")
        existing = self.trades.get(out_trade_no)
        if existing is not None:
            if existing.state in ("TRADE_SUCCESS", "TRADE_FINISHED"):
                raise _business("ACQ.TRADE_HAS_SUCCESS", "交易已被支付")
            if existing.state == "TRADE_CLOSED":
                raise _business("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
            if existing.amount != fen or existing.subject != subject:
                raise _business("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改（同一订单号的金额或标题与之前不一致）")
            existing.notify_url = notify_url
            return existing
        trade = Trade(
            out_trade_no=out_trade_no,
            trade_no=datetime.now(BEIJING).strftime("%Y%m%d") + "22001" + _digits(15),
            amount=fen,
            total_amount=str(total_amount),
            subject=subject,
            method=method,
            product_code=str(biz["product_code"]),
            notify_url=notify_url,
            return_url=params.get("return_url"),
            biz_content=biz,
        )
        self.trades[out_trade_no] = trade
        return trade

    # ------------------------------------------------------------------ API methods

    def _query(self, biz: dict[str, Any]) -> dict[str, Any]:
        trade = self._find(biz)
        paid = trade.state in ("TRADE_SUCCESS", "TRADE_FINISHED") or (trade.state == "TRADE_CLOSED" and trade.refunded)
        answer: dict[str, Any] = {
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "buyer_logon_id": trade.buyer_logon_id,
            "trade_status": trade.state,
            "total_amount": fen_to_yuan(trade.amount),
            "buyer_pay_amount": fen_to_yuan(trade.amount if paid else 0),
            "point_amount": "0.00",
            "invoice_amount": fen_to_yuan(trade.amount if paid else 0),
            "receipt_amount": fen_to_yuan(trade.amount if paid else 0),
            "buyer_user_id": trade.buyer_id,
        }
        if paid and trade.gmt_payment:
            answer["send_pay_date"] = trade.gmt_payment
            answer["fund_bill_list"] = [{"amount": fen_to_yuan(trade.amount), "fund_channel": "ALIPAYACCOUNT"}]
        return answer

    def _close(self, biz: dict[str, Any]) -> dict[str, Any]:
        trade = self._find(biz)
        if trade.state in ("TRADE_SUCCESS", "TRADE_FINISHED"):
            raise _business("ACQ.TRADE_STATUS_ERROR", "交易状态不合法（交易已支付）")
        if trade.state != "TRADE_CLOSED":
            trade.state = "TRADE_CLOSED"
            trade.gmt_close = beijing_now()
        return {"trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no}

    def _refund(self, biz: dict[str, Any]) -> dict[str, Any]:
        refund_amount = biz.get("refund_amount")
        fen = yuan_to_fen(refund_amount) if isinstance(refund_amount, str) else None
        if fen is None or fen <= 0:
            raise _business("ACQ.INVALID_PARAMETER", "refund_amount须为字符串，单位元，精确到小数点后两位，大于0")
        if "refund_reason" in biz and (not isinstance(biz["refund_reason"], str) or len(biz["refund_reason"]) > 256):
            raise _business("ACQ.INVALID_PARAMETER", "refund_reason至多256个字符")
        trade = self._find(biz)
        out_request_no = str(biz.get("out_request_no") or trade.out_trade_no)
        previous = trade.refunds.get(out_request_no)
        if previous is not None:
            if previous["amount"] != fen:
                raise _business("ACQ.DISCORDANT_REPEAT_REQUEST", "不一致的请求（同一退款请求号的退款金额不同）")
            return self._refund_answer(trade, previous, fund_change="N")
        if trade.state not in ("TRADE_SUCCESS",):
            raise _business("ACQ.TRADE_STATUS_ERROR", "交易状态不合法（未支付、已关闭或已结束的交易不能退款）")
        if fen > trade.amount - trade.refunded:
            raise _business("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限")
        refund = {
            "out_request_no": out_request_no,
            "amount": fen,
            "refund_amount": fen_to_yuan(fen),
            "refund_reason": biz.get("refund_reason", ""),
            "gmt_refund_pay": beijing_now(),
            "gmt_refund": datetime.now(BEIJING).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
        }
        trade.refunds[out_request_no] = refund
        trade.refunded += fen
        if trade.refunded >= trade.amount:
            trade.state = "TRADE_CLOSED"
            trade.gmt_close = beijing_now()
        return self._refund_answer(trade, refund, fund_change="Y")

    def _refund_answer(self, trade: Trade, refund: dict[str, Any], *, fund_change: str) -> dict[str, Any]:
        return {
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "buyer_logon_id": trade.buyer_logon_id,
            "buyer_user_id": trade.buyer_id,
            "fund_change": fund_change,
            "refund_fee": fen_to_yuan(trade.refunded),
            "gmt_refund_pay": refund["gmt_refund_pay"],
            "send_back_fee": refund["refund_amount"],
        }

    def _refund_query(self, biz: dict[str, Any]) -> dict[str, Any]:
        if not biz.get("out_request_no"):
            raise _business("ACQ.INVALID_PARAMETER", "缺少out_request_no")
        trade = self._find(biz)
        answer: dict[str, Any] = {
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "out_request_no": str(biz["out_request_no"]),
        }
        refund = trade.refunds.get(str(biz["out_request_no"]))
        if refund is not None:  # Alipay answers an unknown refund with Success and no refund fields
            answer.update(
                total_amount=fen_to_yuan(trade.amount),
                refund_amount=refund["refund_amount"],
                refund_status="REFUND_SUCCESS",
                gmt_refund_pay=refund["gmt_refund_pay"],
            )
            if refund["refund_reason"]:
                answer["refund_reason"] = refund["refund_reason"]
        return answer

    # ------------------------------------------------------------------ notifications

    def _trade_or_stub(self, out_trade_no: str, total_amount: str | None) -> Trade:
        trade = self.trades.get(out_trade_no)
        if trade is not None:
            return trade
        amount = total_amount or "0.01"
        return Trade(
            out_trade_no=out_trade_no,
            trade_no=datetime.now(BEIJING).strftime("%Y%m%d") + "22001" + _digits(15),
            amount=yuan_to_fen(amount) or 1,
            total_amount=amount,
            subject="商品",
            method="alipay.trade.page.pay",
            product_code="FAST_INSTANT_TRADE_PAY",
            notify_url=None,
            return_url=None,
            biz_content={},
        )

    def _notification_params(
        self, trade: Trade, total_amount: str | None, trade_status: str, app_id: str | None, seller_id: str | None
    ) -> dict[str, str]:
        amount = total_amount or fen_to_yuan(trade.amount)
        gmt_payment = trade.gmt_payment or beijing_now()
        return {
            "gmt_create": trade.gmt_create,
            "charset": "utf-8",
            "subject": trade.subject,
            "buyer_id": trade.buyer_id,
            "invoice_amount": amount,
            "notify_id": "2024" + secrets.token_hex(15),
            "fund_bill_list": json.dumps([{"amount": amount, "fundChannel": "ALIPAYACCOUNT"}], separators=(",", ":")),
            "notify_type": "trade_status_sync",
            "trade_status": trade_status,
            "receipt_amount": amount,
            "buyer_pay_amount": amount,
            "app_id": app_id or self.app_id,
            "auth_app_id": app_id or self.app_id,
            "seller_id": seller_id or self.seller_id,
            "gmt_payment": gmt_payment,
            "notify_time": beijing_now(),
            "version": "1.0",
            "out_trade_no": trade.out_trade_no,
            "total_amount": amount,
            "trade_no": trade.trade_no,
            "buyer_logon_id": trade.buyer_logon_id,
            "point_amount": "0.00",
        }

    def _signed_form(
        self,
        params: dict[str, str],
        extra: dict[str, str] | None,
        sign_type: str,
        sign_with: rsa.RSAPrivateKey | None,
        tamper: Callable[[bytes], bytes] | None,
    ) -> tuple[dict[str, str], bytes]:
        params = {**params, **(extra or {})}
        params["sign_type"] = sign_type
        params["sign"] = rsa_sign(sign_with or self.alipay_private_key, notify_sign_content(params), sign_type)
        body = urlencode(params).encode("utf-8")
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8", "User-Agent": "Mozilla/4.0"}
        return headers, tamper(body) if tamper else body

    def payment_notification(
        self,
        out_trade_no: str,
        *,
        total_amount: str | None = None,
        trade_status: str = "TRADE_SUCCESS",
        app_id: str | None = None,
        seller_id: str | None = None,
        extra: dict[str, str] | None = None,
        sign_type: str = "RSA2",
        sign_with: rsa.RSAPrivateKey | None = None,
        tamper: Callable[[bytes], bytes] | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """The asynchronous notification of a trade (an unknown out_trade_no gets a made-up trade of
        `total_amount` or 0.01). `extra` adds or overrides fields, blank values included (and signed);
        sign_type "RSA" signs SHA1withRSA; `tamper` changes the body after signing."""
        trade = self._trade_or_stub(out_trade_no, total_amount)
        params = self._notification_params(trade, total_amount, trade_status, app_id, seller_id)
        return self._signed_form(params, extra, sign_type, sign_with, tamper)

    def refund_notification(
        self,
        out_trade_no: str,
        out_request_no: str,
        *,
        app_id: str | None = None,
        seller_id: str | None = None,
        extra: dict[str, str] | None = None,
        sign_type: str = "RSA2",
        sign_with: rsa.RSAPrivateKey | None = None,
        tamper: Callable[[bytes], bytes] | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """The notification after a refund: trade_status TRADE_CLOSED once fully refunded (else
        TRADE_SUCCESS), refund_fee (total refunded so far), gmt_refund, out_biz_no = out_request_no."""
        trade = self.trades[out_trade_no]
        refund = trade.refunds[out_request_no]
        status = "TRADE_CLOSED" if trade.refunded >= trade.amount else "TRADE_SUCCESS"
        params = self._notification_params(trade, None, status, app_id, seller_id)
        params.update(
            refund_fee=fen_to_yuan(trade.refunded), gmt_refund=refund["gmt_refund"], out_biz_no=out_request_no
        )
        if trade.gmt_close and status == "TRADE_CLOSED":
            params["gmt_close"] = trade.gmt_close
        return self._signed_form(params, extra, sign_type, sign_with, tamper)

    def pay(
        self,
        out_trade_no: str,
        *,
        deliver_to: str | None = None,
        total_amount: str | None = None,
        app_id: str | None = None,
        seller_id: str | None = None,
        extra: dict[str, str] | None = None,
        sign_type: str = "RSA2",
        sign_with: rsa.RSAPrivateKey | None = None,
        tamper: Callable[[bytes], bytes] | None = None,
    ) -> tuple[int, bytes]:
        """The shopper pays: the trade becomes TRADE_SUCCESS and its notification is delivered to the
        notify_url from the pay URL (or `deliver_to`). Paying a paid trade re-delivers (Alipay
        retries until it gets `success`); a closed trade cannot be paid."""
        with self._lock:
            trade = self.trades[out_trade_no]
            if trade.state == "TRADE_CLOSED":
                raise RuntimeError(f"trade {out_trade_no} is closed and cannot be paid")
            if trade.state == "WAIT_BUYER_PAY":
                trade.state = "TRADE_SUCCESS"
                trade.gmt_payment = beijing_now()
            headers, body = self.payment_notification(
                out_trade_no,
                total_amount=total_amount,
                app_id=app_id,
                seller_id=seller_id,
                extra=extra,
                sign_type=sign_type,
                sign_with=sign_with,
                tamper=tamper,
            )
            url = deliver_to or trade.notify_url
        if not url:
            raise ValueError(f"trade {out_trade_no} has no notify_url")
        return self.deliver(url, headers, body)

    def refund_in_dashboard(self, out_trade_no: str) -> None:
        """The seller refunds a paid trade in full from the Alipay merchant site, not through the
        API: the trade is TRADE_CLOSED (keeping its payment date), and no notification is sent."""
        with self._lock:
            trade = self.trades[out_trade_no]
            if trade.state != "TRADE_SUCCESS":
                raise RuntimeError(f"trade {out_trade_no} is not paid and cannot be refunded")
            request_no = f"dashboard-{len(trade.refunds)}"
            trade.refunds[request_no] = {
                "out_request_no": request_no,
                "amount": trade.amount - trade.refunded,
                "refund_amount": fen_to_yuan(trade.amount - trade.refunded),
                "refund_reason": "",
                "gmt_refund_pay": beijing_now(),
                "gmt_refund": datetime.now(BEIJING).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
            }
            trade.refunded = trade.amount
            trade.state = "TRADE_CLOSED"
            trade.gmt_close = beijing_now()

    def notify_refund(
        self, out_trade_no: str, out_request_no: str, *, deliver_to: str | None = None
    ) -> tuple[int, bytes]:
        """Deliver the refund notification of a refund to the trade's notify_url (or `deliver_to`)."""
        with self._lock:
            headers, body = self.refund_notification(out_trade_no, out_request_no)
            url = deliver_to or self.trades[out_trade_no].notify_url
        if not url:
            raise ValueError(f"trade {out_trade_no} has no notify_url")
        return self.deliver(url, headers, body)

    def acknowledged(self, status: int, body: bytes) -> bool:
        """Alipay stops retrying only when the answer is the plain text `success`."""
        return status == 200 and body.strip() == b"success"
