"""A fake WeChat Pay API v3 (direct merchant, Native and H5 payments, refunds).

What it checks, as WeChat Pay does:
- every request carries `Authorization: WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",
  signature="…",timestamp="…",serial_no="…"` whose signature (SHA256withRSA, PKCS#1 v1.5, base64)
  over `METHOD\\nURL\\ntimestamp\\nnonce\\nbody\\n` (URL: path and query as sent; body: the exact
  bytes, empty for GET) verifies with the merchant's public key; mchid and serial_no are the
  merchant's; the timestamp is within 300 s; a User-Agent is present. Else 401 SIGN_ERROR.
- order, close and refund bodies are validated field by field (PARAM_ERROR and the business
  error codes of the v3 documentation).

Every answer (2xx and errors alike) is signed like WeChat signs them: `Wechatpay-Timestamp`,
`Wechatpay-Nonce`, `Wechatpay-Serial` (= `signing_serial`), `Wechatpay-Signature` (SHA256withRSA
over `timestamp\\nnonce\\nbody\\n`), `Wechatpay-Signature-Type`, `Request-ID`.

Notifications are WeChat's: JSON with an AEAD_AES_256_GCM `resource` (key: the APIv3 key, 12-char
nonce, base64 of ciphertext plus tag), signed with the same headers as answers.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import string
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal, TypedDict, Unpack
from urllib.parse import unquote, urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

from tests.fakes.keys import public_pem
from tests.fakes.server import Call, FakeServer, Response, json_bytes

AUTH_SCHEME = "WECHATPAY2-SHA256-RSA2048"
PROBE_PREFIX = "WECHATPAY/SIGNTEST/"
BEIJING = timezone(timedelta(hours=8))
OUT_TRADE_NO = re.compile(r"^[A-Za-z0-9_\-|*]{6,32}$")
OUT_REFUND_NO = re.compile(r"^[A-Za-z0-9_\-|*@]{1,64}$")
H5_TYPES = ("iOS", "Android", "Wap")
TRADE_STATE_DESC = {
    "NOTPAY": "订单未支付",
    "SUCCESS": "支付成功",
    "CLOSED": "订单已关闭",
    "REFUND": "转入退款",
    "PAYERROR": "支付失败",
    "USERPAYING": "用户支付中",
    "REVOKED": "已撤销",
}
REFUND_EVENTS = {
    "SUCCESS": ("REFUND.SUCCESS", "退款成功"),
    "ABNORMAL": ("REFUND.ABNORMAL", "退款异常"),
    "CLOSED": ("REFUND.CLOSED", "退款关闭"),
}


# ---------------------------------------------------------------------------- crypto helpers


def rsa_sign(key: rsa.RSAPrivateKey, message: str) -> str:
    """SHA256withRSA (PKCS#1 v1.5), base64: WeChat's request, answer and notification signature."""
    return base64.b64encode(key.sign(message.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())).decode()


def rsa_verify(key: rsa.RSAPublicKey, message: str, signature: str) -> bool:
    try:
        raw = base64.b64decode(signature, validate=True)
        key.verify(raw, message.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    except (ValueError, InvalidSignature):
        return False
    return True


def aes_gcm_encrypt(apiv3_key: str, nonce: str, associated_data: str, plaintext: str) -> str:
    """AEAD_AES_256_GCM as in notifications: base64(ciphertext || 16-byte tag)."""
    sealed = AESGCM(apiv3_key.encode("utf-8")).encrypt(
        nonce.encode("utf-8"), plaintext.encode("utf-8"), associated_data.encode("utf-8")
    )
    return base64.b64encode(sealed).decode()


def aes_gcm_decrypt(apiv3_key: str, nonce: str, associated_data: str, ciphertext: str) -> str:
    return (
        AESGCM(apiv3_key.encode("utf-8"))
        .decrypt(nonce.encode("utf-8"), base64.b64decode(ciphertext), associated_data.encode("utf-8"))
        .decode("utf-8")
    )


def merchant_authorization(
    method: str,
    target: str,
    body: bytes | str,
    *,
    mchid: str,
    serial_no: str,
    private_key: rsa.RSAPrivateKey,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> str:
    """The Authorization header a merchant sends (for tests that call the fake directly)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_hex(16).upper()
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    signature = rsa_sign(private_key, f"{method}\n{target}\n{ts}\n{nonce}\n{text}\n")
    return (
        f'{AUTH_SCHEME} mchid="{mchid}",nonce_str="{nonce}",signature="{signature}",'
        f'timestamp="{ts}",serial_no="{serial_no}"'
    )


def parse_authorization(value: str) -> dict[str, str] | None:
    scheme, _, rest = value.partition(" ")
    if scheme != AUTH_SCHEME:
        return None
    pairs = re.findall(r'\s*([a-z_]+)="([^"]*)"\s*(?:,|$)', rest)
    fields = dict(pairs)
    if set(fields) != {"mchid", "nonce_str", "signature", "timestamp", "serial_no"}:
        return None
    return fields


def rfc3339(at: float | None = None) -> str:
    """`2024-05-20T13:29:35+08:00`: WeChat's time format."""
    return datetime.fromtimestamp(time.time() if at is None else at, BEIJING).isoformat(timespec="seconds")


def _nonce(length: int = 32) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _digits(n: int) -> str:
    return "".join(secrets.choice(string.digits) for _ in range(n))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# ---------------------------------------------------------------------------- state


@dataclass
class Trade:
    """A trade as WeChat Pay holds it (amounts in fen)."""

    out_trade_no: str
    amount: int
    currency: str
    description: str
    notify_url: str
    kind: Literal["native", "h5"]
    request: dict[str, Any]
    answer: dict[str, Any]
    state: str = "NOTPAY"
    transaction_id: str | None = None
    time_expire: str | None = None
    attach: str | None = None
    success_time: str | None = None
    openid: str = field(default_factory=lambda: "o" + _nonce(27))
    refunded: int = 0

    @property
    def trade_type(self) -> str:
        return "NATIVE" if self.kind == "native" else "MWEB"


class SignKnobs(TypedDict, total=False):
    """How a notification is signed and encrypted (defaults: as WeChat would)."""

    timestamp: int | None
    nonce: str | None
    serial: str | None
    sign_with: rsa.RSAPrivateKey | None
    apiv3_key: str | None
    probe: bool
    tamper: Callable[[bytes], bytes] | None


class PaymentKnobs(SignKnobs, total=False):
    amount: int | None
    currency: str | None
    mchid: str | None
    appid: str | None
    trade_state: str
    transaction_id: str | None


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, detail: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.detail = status, code, message, detail


def _param_error(message: str, field_name: str | None = None) -> ApiError:
    detail = {"location": "body", "field": field_name} if field_name else None
    return ApiError(400, "PARAM_ERROR", message, detail)


# ---------------------------------------------------------------------------- the fake


class FakeWechatPay(FakeServer):
    """WeChat Pay API v3 for one direct merchant (see the module docstring for what it checks).

    Platform keys: `platform_private_keys`/`platform_public_keys` hold a key identified by a
    platform-certificate serial (`certificate_serial`, 40 upper-case hex; its self-signed
    certificate is in `platform_certificates` and served, encrypted, by GET /v3/certificates) and
    one identified by a WeChat Pay public-key id (`public_key_id`, `PUB_KEY_ID_` + 28 digits).
    `signing_serial` chooses which one signs answers and notifications (default: the public key).
    """

    def __init__(
        self, *, mchid: str, appid: str, apiv3_key: str, merchant_serial: str, merchant_public_key_pem: str
    ) -> None:
        super().__init__()
        if len(apiv3_key.encode("utf-8")) != 32:
            raise ValueError("the APIv3 key is 32 bytes")
        self.mchid = mchid
        self.appid = appid
        self.apiv3_key = apiv3_key
        self.merchant_serial = merchant_serial
        loaded = serialization.load_pem_public_key(merchant_public_key_pem.encode())
        if not isinstance(loaded, rsa.RSAPublicKey):
            raise TypeError("the merchant key is RSA")
        self.merchant_public_key: rsa.RSAPublicKey = loaded

        cert_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pub_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        serial_number = secrets.randbits(156) | (1 << 156)  # 157 bits: 40 hex digits, positive
        self.certificate_serial = f"{serial_number:040X}"
        self.public_key_id = "PUB_KEY_ID_" + _digits(28)
        self.platform_private_keys: dict[str, rsa.RSAPrivateKey] = {
            self.certificate_serial: cert_key,
            self.public_key_id: pub_key,
        }
        self.platform_public_keys: dict[str, str] = {k: public_pem(v) for k, v in self.platform_private_keys.items()}
        self.platform_certificates: dict[str, str] = {
            self.certificate_serial: _self_signed(cert_key, serial_number, mchid)
        }
        self.signing_serial: str = self.public_key_id

        self.trades: dict[str, Trade] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.refund_status_on_create: str | None = None  # "SUCCESS": refunds succeed at once
        self.refund_not_enough = False  # True: refunds fail 403 NOT_ENOUGH (merchant balance)
        self.timestamp_tolerance = 300

    def add_platform_key(self, *, certificate: bool = False) -> str:
        """Register a new platform key (a new public-key id, or with `certificate` a new platform
        certificate, also served by /v3/certificates) and return its id; set `signing_serial` to it
        to rotate."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if certificate:
            serial_number = secrets.randbits(156) | (1 << 156)
            key_id = f"{serial_number:040X}"
            self.platform_certificates[key_id] = _self_signed(key, serial_number, self.mchid)
        else:
            key_id = "PUB_KEY_ID_" + _digits(28)
        with self._lock:
            self.platform_private_keys[key_id] = key
            self.platform_public_keys[key_id] = public_pem(key)
        return key_id

    # ------------------------------------------------------------------ answers

    def _sign_headers(self, body: bytes, *, request_id: str | None = None) -> dict[str, str]:
        ts, nonce = str(int(time.time())), _nonce()
        key = self.platform_private_keys[self.signing_serial]
        return {
            "Wechatpay-Timestamp": ts,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Serial": self.signing_serial,
            "Wechatpay-Signature": rsa_sign(key, f"{ts}\n{nonce}\n{body.decode('utf-8')}\n"),
            "Wechatpay-Signature-Type": AUTH_SCHEME,
            "Request-ID": request_id or f"08{secrets.token_hex(20).upper()}-0",
        }

    def _answer(self, status: int, obj: dict[str, Any] | None, error: str | None = None) -> Response:
        body = b"" if obj is None else json_bytes(obj)
        headers = self._sign_headers(body)
        if obj is not None:
            headers["Content-Type"] = "application/json; charset=utf-8"
        return Response(status, body, headers, error)

    def _error(self, err: ApiError) -> Response:
        obj: dict[str, Any] = {"code": err.code, "message": err.message}
        if err.detail:
            obj["detail"] = err.detail
        return self._answer(err.status, obj, err.code)

    def failure_response(self, call: Call, status: int, body: bytes | dict[str, Any]) -> Response:
        """Injected failures are signed too (WeChat signs its error answers)."""
        if isinstance(body, dict):
            return self._answer(status, body, str(body.get("code") or f"injected-{status}"))
        headers = self._sign_headers(body)
        return Response(status, body, headers, f"injected-{status}")

    # ------------------------------------------------------------------ requests

    def handle(self, call: Call) -> Response:
        try:
            self._authenticate(call)
            return self._route(call)
        except ApiError as err:
            return self._error(err)

    def _authenticate(self, call: Call) -> None:
        if not call.headers.get("User-Agent"):
            raise ApiError(400, "INVALID_REQUEST", "HTTP header缺少User-Agent")
        fields = parse_authorization(call.headers.get("Authorization", ""))
        if fields is None:
            raise ApiError(401, "SIGN_ERROR", "Http头Authorization值格式错误，请参考《微信支付商户REST API签名规则》")
        if fields["mchid"] != self.mchid:
            raise ApiError(401, "SIGN_ERROR", "Authorization中的商户号与请求的商户号不一致，或商户号不存在")
        if fields["serial_no"] != self.merchant_serial:
            raise ApiError(401, "SIGN_ERROR", "商户证书序列号有误。请使用签名私钥匹配的证书序列号")
        if not fields["timestamp"].isdigit() or abs(int(fields["timestamp"]) - time.time()) > self.timestamp_tolerance:
            raise ApiError(401, "SIGN_ERROR", "请求的时间戳与当前时间相差过大，请确认时间戳是否正确")
        if not fields["nonce_str"]:
            raise ApiError(401, "SIGN_ERROR", "Authorization中缺少随机串nonce_str")
        try:
            text = call.body.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(400, "PARAM_ERROR", "请求体不是UTF-8编码") from None
        message = f"{call.method}\n{call.target}\n{fields['timestamp']}\n{fields['nonce_str']}\n{text}\n"
        if not rsa_verify(self.merchant_public_key, message, fields["signature"]):
            raise ApiError(401, "SIGN_ERROR", "错误的签名，验签失败")

    def _route(self, call: Call) -> Response:
        parts = [unquote(p) for p in call.path.split("/")[1:]]
        match call.method, parts:
            case "GET", ["v3", "certificates"]:
                return self._answer(200, self._certificates())
            case "POST", ["v3", "pay", "transactions", ("native" | "h5") as kind]:
                return self._create(call, "native" if kind == "native" else "h5")
            case "GET", ["v3", "pay", "transactions", "out-trade-no", out_trade_no]:
                self._check_query_mchid(call)
                return self._answer(200, self.transaction(self._trade(out_trade_no)))
            case "GET", ["v3", "pay", "transactions", "id", transaction_id]:
                self._check_query_mchid(call)
                found = [t for t in self.trades.values() if t.transaction_id == transaction_id]
                if not found:
                    raise ApiError(404, "ORDER_NOT_EXIST", "订单不存在")
                return self._answer(200, self.transaction(found[0]))
            case "POST", ["v3", "pay", "transactions", "out-trade-no", out_trade_no, "close"]:
                return self._close(call, out_trade_no)
            case "POST", ["v3", "refund", "domestic", "refunds"]:
                return self._refund(call)
            case "GET", ["v3", "refund", "domestic", "refunds", out_refund_no]:
                refund = self.refunds.get(out_refund_no)
                if refund is None:
                    raise ApiError(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
                return self._answer(200, _public_refund(refund))
        raise ApiError(404, "RESOURCE_NOT_EXISTS", f"无此接口: {call.method} {call.path}")

    def _body(self, call: Call) -> dict[str, Any]:
        if "json" not in call.headers.get("Content-Type", ""):
            raise ApiError(400, "INVALID_REQUEST", "Content-Type须为application/json")
        try:
            body = json.loads(call.body)
        except ValueError:
            raise ApiError(400, "PARAM_ERROR", "解析JSON失败") from None
        if not isinstance(body, dict):
            raise _param_error("请求体须为JSON对象")
        return body

    def _check_query_mchid(self, call: Call) -> None:
        if "mchid" not in call.query:
            raise ApiError(
                400, "PARAM_ERROR", "输入源“/querystring/mchid”映射到值字段“商户号”字符串规则校验失败，值为空"
            )
        if call.query["mchid"] != self.mchid:
            raise ApiError(400, "PARAM_ERROR", "mchid与Authorization中的商户号不一致")

    def _trade(self, out_trade_no: str) -> Trade:
        trade = self.trades.get(out_trade_no)
        if trade is None:
            raise ApiError(404, "ORDER_NOT_EXIST", "订单不存在")
        return trade

    def _certificates(self) -> dict[str, Any]:
        now = datetime.now(BEIJING)
        data = []
        for serial_no, pem in self.platform_certificates.items():
            nonce = _nonce(12)
            data.append(
                {
                    "serial_no": serial_no,
                    "effective_time": (now - timedelta(days=1)).isoformat(timespec="seconds"),
                    "expire_time": (now + timedelta(days=365 * 5)).isoformat(timespec="seconds"),
                    "encrypt_certificate": {
                        "algorithm": "AEAD_AES_256_GCM",
                        "nonce": nonce,
                        "associated_data": "certificate",
                        "ciphertext": aes_gcm_encrypt(self.apiv3_key, nonce, "certificate", pem),
                    },
                }
            )
        return {"data": data}

    # ------------------------------------------------------------------ orders

    def _validate_order(self, body: dict[str, Any], kind: str) -> None:
        if body.get("mchid") != self.mchid:
            raise _param_error("mchid缺失或与Authorization中的商户号不一致", "mchid")
        if not isinstance(body.get("appid"), str) or not body["appid"]:
            raise _param_error("缺少参数appid", "appid")
        if body["appid"] != self.appid:
            raise ApiError(400, "APPID_MCHID_NOT_MATCH", "AppID和mch_id不匹配")
        description = body.get("description")
        if not isinstance(description, str) or not description.strip() or len(description) > 127:
            raise _param_error("description须为1到127个字符", "description")
        out_trade_no = body.get("out_trade_no")
        if not isinstance(out_trade_no, str) or not OUT_TRADE_NO.match(out_trade_no):
            raise _param_error("out_trade_no须为6到32个字符，只能是数字、大小写字母_-|*", "out_trade_no")
        notify_url = body.get("notify_url")
        if not isinstance(notify_url, str) or not _notify_url_ok(notify_url, 255):
            raise _param_error("notify_url须为http或https的URL，不能携带参数，至多255个字符", "notify_url")
        amount = body.get("amount")
        if not isinstance(amount, dict):
            raise _param_error("缺少参数amount", "amount")
        if not _is_int(amount.get("total")) or amount["total"] <= 0:
            raise _param_error("amount.total须为正整数（单位：分）", "amount.total")
        if amount.get("currency", "CNY") != "CNY":
            raise _param_error("amount.currency仅支持CNY", "amount.currency")
        if "time_expire" in body and not _rfc3339_ok(body["time_expire"]):
            raise _param_error("time_expire须为rfc3339格式，如2018-06-08T10:34:56+08:00", "time_expire")
        if "attach" in body and (not isinstance(body["attach"], str) or len(body["attach"]) > 128):
            raise _param_error("attach至多128个字符", "attach")
        if kind == "h5":
            scene = body.get("scene_info")
            if not isinstance(scene, dict) or not isinstance(scene.get("payer_client_ip"), str):
                raise _param_error("H5下单须有scene_info.payer_client_ip", "scene_info.payer_client_ip")
            h5_info = scene.get("h5_info")
            if not isinstance(h5_info, dict) or h5_info.get("type") not in H5_TYPES:
                raise _param_error("H5下单须有scene_info.h5_info.type（iOS、Android或Wap）", "scene_info.h5_info.type")

    def _create(self, call: Call, kind: Literal["native", "h5"]) -> Response:
        body = self._body(call)
        self._validate_order(body, kind)
        out_trade_no = body["out_trade_no"]
        existing = self.trades.get(out_trade_no)
        if existing is not None:
            if existing.state in ("SUCCESS", "REFUND"):
                raise ApiError(400, "ORDERPAID", "该订单已支付")
            if existing.state == "CLOSED":
                raise ApiError(400, "ORDER_CLOSED", "订单已关闭")
            if existing.kind != kind or existing.request != body:
                raise ApiError(400, "INVALID_REQUEST", "201 商户订单号重复")
            return self._answer(200, existing.answer)
        if kind == "native":
            answer = {"code_url": f"weixin://wxpay/bizpayurl?pr={_nonce(9)}"}
        else:
            prepay_id = f"wx{datetime.now(BEIJING):%d%H%M%S}{secrets.token_hex(13)}"
            answer = {
                "h5_url": f"https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id={prepay_id}"
                f"&package={_digits(10)}"
            }
        self.trades[out_trade_no] = Trade(
            out_trade_no=out_trade_no,
            amount=body["amount"]["total"],
            currency=body["amount"].get("currency", "CNY"),
            description=body["description"],
            notify_url=body["notify_url"],
            kind=kind,
            request=body,
            answer=answer,
            time_expire=body.get("time_expire"),
            attach=body.get("attach"),
        )
        return self._answer(200, answer)

    def _close(self, call: Call, out_trade_no: str) -> Response:
        body = self._body(call)
        if body.get("mchid") != self.mchid:
            raise _param_error("mchid缺失或与Authorization中的商户号不一致", "mchid")
        trade = self._trade(out_trade_no)
        if trade.state in ("SUCCESS", "REFUND"):
            raise ApiError(400, "ORDERPAID", "订单已支付")
        trade.state = "CLOSED"
        return self._answer(204, None)

    def transaction(self, trade: Trade, **overrides: Any) -> dict[str, Any]:
        """The transaction JSON (query answer and notification resource) of a trade."""
        state = overrides.get("trade_state", trade.state)
        paid = state in ("SUCCESS", "REFUND")
        total = overrides.get("amount", trade.amount)
        currency = overrides.get("currency", trade.currency)
        out: dict[str, Any] = {
            "mchid": overrides.get("mchid", self.mchid),
            "appid": overrides.get("appid", self.appid),
            "out_trade_no": trade.out_trade_no,
        }
        transaction_id = overrides.get("transaction_id", trade.transaction_id)
        if transaction_id:
            out["transaction_id"] = transaction_id
        if paid:
            out["trade_type"] = trade.trade_type
        out["trade_state"] = state
        out["trade_state_desc"] = TRADE_STATE_DESC.get(state, state)
        if paid:
            out["bank_type"] = "OTHERS"
        if trade.attach is not None:
            out["attach"] = trade.attach
        if paid:
            out["success_time"] = trade.success_time or rfc3339()
            out["payer"] = {"openid": trade.openid}
            out["amount"] = {"total": total, "payer_total": total, "currency": currency, "payer_currency": currency}
        else:
            out["amount"] = {"total": total, "currency": currency, "payer_currency": currency}
        return out

    # ------------------------------------------------------------------ refunds

    def _refund(self, call: Call) -> Response:
        body = self._body(call)
        out_refund_no = body.get("out_refund_no")
        if not isinstance(out_refund_no, str) or not OUT_REFUND_NO.match(out_refund_no):
            raise _param_error("out_refund_no须为1到64个字符，只能是数字、大小写字母_-|*@", "out_refund_no")
        if "reason" in body and (not isinstance(body["reason"], str) or len(body["reason"]) > 80):
            raise _param_error("reason至多80个字符", "reason")
        if "notify_url" in body and (
            not isinstance(body["notify_url"], str) or not _notify_url_ok(body["notify_url"], 256)
        ):
            raise _param_error("notify_url须为http或https的URL，不能携带参数", "notify_url")
        amount = body.get("amount")
        if not isinstance(amount, dict):
            raise _param_error("缺少参数amount", "amount")
        for key in ("refund", "total"):
            if not _is_int(amount.get(key)) or amount[key] <= 0:
                raise _param_error(f"amount.{key}须为正整数（单位：分）", f"amount.{key}")
        if amount.get("currency") != "CNY":
            raise _param_error("amount.currency必填，目前只支持CNY", "amount.currency")
        trade = self._refund_trade(body)
        existing = self.refunds.get(out_refund_no)
        if existing is not None:
            if existing["out_trade_no"] != trade.out_trade_no or existing["amount"]["refund"] != amount["refund"]:
                raise ApiError(400, "INVALID_REQUEST", "同一退款单号的退款请求参数不一致")
            return self._answer(200, _public_refund(existing))
        if trade.state not in ("SUCCESS", "REFUND") or trade.transaction_id is None:
            raise ApiError(400, "INVALID_REQUEST", "订单未支付，不能发起退款")
        if amount["total"] != trade.amount:
            raise ApiError(400, "INVALID_REQUEST", "订单金额与原订单金额不一致")
        if amount["refund"] > trade.amount - trade.refunded:
            raise ApiError(400, "INVALID_REQUEST", "申请退款金额超过订单可退金额")
        if self.refund_not_enough:
            raise ApiError(403, "NOT_ENOUGH", "基本账户余额不足，请充值后重新发起")
        status = self.refund_status_on_create or "PROCESSING"
        refund: dict[str, Any] = {
            "refund_id": "503" + _digits(26),
            "out_refund_no": out_refund_no,
            "transaction_id": trade.transaction_id,
            "out_trade_no": trade.out_trade_no,
            "channel": "ORIGINAL",
            "user_received_account": "支付用户零钱",
            "create_time": rfc3339(),
            "status": status,
            "funds_account": "AVAILABLE",
            "amount": {
                "total": trade.amount,
                "refund": amount["refund"],
                "from": [],
                "payer_total": trade.amount,
                "payer_refund": amount["refund"],
                "settlement_refund": amount["refund"],
                "settlement_total": trade.amount,
                "discount_refund": 0,
                "currency": "CNY",
                "refund_fee": 0,
            },
            "promotion_detail": [],
        }
        if status == "SUCCESS":
            refund["success_time"] = rfc3339()
        if "notify_url" in body:
            refund["notify_url"] = body["notify_url"]  # kept for delivery; not part of the answer
        self.refunds[out_refund_no] = refund
        trade.refunded += amount["refund"]
        trade.state = "REFUND"
        return self._answer(200, _public_refund(refund))

    def _refund_trade(self, body: dict[str, Any]) -> Trade:
        if "transaction_id" in body:
            found = [t for t in self.trades.values() if t.transaction_id == body["transaction_id"]]
            if not found:
                raise ApiError(404, "RESOURCE_NOT_EXISTS", "订单不存在")
            return found[0]
        if "out_trade_no" in body:
            trade = self.trades.get(body["out_trade_no"])
            if trade is None:
                raise ApiError(404, "RESOURCE_NOT_EXISTS", "订单不存在")
            return trade
        raise _param_error("transaction_id和out_trade_no须二选一", "out_trade_no")

    # ------------------------------------------------------------------ notifications

    def _notification(
        self, event_type: str, summary: str, original_type: str, resource: dict[str, Any], knobs: SignKnobs
    ) -> tuple[dict[str, str], bytes]:
        nonce = _nonce(12)
        key = knobs.get("apiv3_key") or self.apiv3_key
        plaintext = json.dumps(resource, ensure_ascii=False, separators=(",", ":"))
        body = json_bytes(
            {
                "id": str(uuid.uuid4()),
                "create_time": rfc3339(),
                "resource_type": "encrypt-resource",
                "event_type": event_type,
                "summary": summary,
                "resource": {
                    "original_type": original_type,
                    "algorithm": "AEAD_AES_256_GCM",
                    "ciphertext": aes_gcm_encrypt(key, nonce, original_type, plaintext),
                    "associated_data": original_type,
                    "nonce": nonce,
                },
            }
        )
        ts = knobs.get("timestamp")
        timestamp = str(int(time.time()) if ts is None else ts)
        sig_nonce = knobs.get("nonce") or _nonce()
        signer = knobs.get("sign_with") or self.platform_private_keys[self.signing_serial]
        if knobs.get("probe"):
            signature = PROBE_PREFIX + base64.b64encode(secrets.token_bytes(180)).decode()
        else:
            signature = rsa_sign(signer, f"{timestamp}\n{sig_nonce}\n{body.decode('utf-8')}\n")
        headers = {
            "Content-Type": "application/json",
            "Wechatpay-Timestamp": timestamp,
            "Wechatpay-Nonce": sig_nonce,
            "Wechatpay-Serial": knobs.get("serial") or self.signing_serial,
            "Wechatpay-Signature": signature,
            "Wechatpay-Signature-Type": AUTH_SCHEME,
            "Request-ID": f"08{secrets.token_hex(20).upper()}-0",
            "User-Agent": "Mozilla/4.0",
        }
        tamper = knobs.get("tamper")
        return headers, tamper(body) if tamper else body

    def payment_notification(
        self,
        out_trade_no: str,
        *,
        amount: int | None = None,
        currency: str | None = None,
        mchid: str | None = None,
        appid: str | None = None,
        trade_state: str = "SUCCESS",
        transaction_id: str | None = None,
        **knobs: Unpack[SignKnobs],
    ) -> tuple[dict[str, str], bytes]:
        """The TRANSACTION.SUCCESS notification of a trade (an unknown out_trade_no gets a made-up
        native trade of `amount` or 1 fen), with fields overridable for forged notifications."""
        trade = self.trades.get(out_trade_no) or Trade(
            out_trade_no, amount or 1, "CNY", "", "", "native", {}, {}, transaction_id="4200" + _digits(24)
        )
        overrides: dict[str, Any] = {"trade_state": trade_state}
        for name, value in (
            ("amount", amount),
            ("currency", currency),
            ("mchid", mchid),
            ("appid", appid),
            ("transaction_id", transaction_id),
        ):
            if value is not None:
                overrides[name] = value
        if "transaction_id" not in overrides and trade.transaction_id is None:
            overrides["transaction_id"] = "4200" + _digits(24)
        resource = self.transaction(trade, **overrides)
        summary = "支付成功" if trade_state == "SUCCESS" else TRADE_STATE_DESC.get(trade_state, trade_state)
        return self._notification("TRANSACTION.SUCCESS", summary, "transaction", resource, knobs)

    def refund_notification(
        self, out_refund_no: str, *, refund_status: str = "SUCCESS", **knobs: Unpack[SignKnobs]
    ) -> tuple[dict[str, str], bytes]:
        """The REFUND.SUCCESS / REFUND.ABNORMAL / REFUND.CLOSED notification of a refund."""
        refund = self.refunds[out_refund_no]
        resource: dict[str, Any] = {
            "mchid": self.mchid,
            "out_trade_no": refund["out_trade_no"],
            "transaction_id": refund["transaction_id"],
            "out_refund_no": out_refund_no,
            "refund_id": refund["refund_id"],
            "refund_status": refund_status,
            "user_received_account": refund["user_received_account"],
            "amount": {
                "total": refund["amount"]["total"],
                "refund": refund["amount"]["refund"],
                "payer_total": refund["amount"]["payer_total"],
                "payer_refund": refund["amount"]["payer_refund"],
            },
        }
        if refund_status == "SUCCESS":
            resource["success_time"] = refund.get("success_time") or rfc3339()
        event_type, summary = REFUND_EVENTS.get(refund_status, (f"REFUND.{refund_status}", refund_status))
        return self._notification(event_type, summary, "refund", resource, knobs)

    def pay(self, out_trade_no: str, *, deliver_to: str | None = None, **kw: Unpack[PaymentKnobs]) -> tuple[int, bytes]:
        """The payer pays: the trade becomes SUCCESS (with a transaction_id) and its notification is
        delivered to its notify_url (or `deliver_to`). Paying a paid trade re-delivers (WeChat retries);
        a closed trade cannot be paid."""
        with self._lock:
            trade = self.trades[out_trade_no]
            if trade.state == "CLOSED":
                raise RuntimeError(f"trade {out_trade_no} is closed and cannot be paid")
            if trade.state == "NOTPAY":
                trade.state = "SUCCESS"
                trade.transaction_id = "4200" + _digits(24)
                trade.success_time = rfc3339()
            headers, body = self.payment_notification(out_trade_no, **kw)
            url = deliver_to or trade.notify_url
        return self.deliver(url, headers, body)

    def refund_in_dashboard(self, out_trade_no: str) -> None:
        """The merchant refunds a paid trade in full from the merchant platform (商户平台), not
        through the API: the trade turns REFUND, and no notification is sent."""
        with self._lock:
            trade = self.trades[out_trade_no]
            if trade.state not in ("SUCCESS", "REFUND"):
                raise RuntimeError(f"trade {out_trade_no} is not paid and cannot be refunded")
            trade.refunded = trade.amount
            trade.state = "REFUND"

    def settle_refund(
        self, out_refund_no: str, status: str = "SUCCESS", *, deliver_to: str | None = None, **knobs: Unpack[SignKnobs]
    ) -> tuple[int, bytes]:
        """The refund ends in `status` (SUCCESS, ABNORMAL or CLOSED; a closed refund's amount is
        refundable again) and its notification goes to the refund's notify_url, else the trade's."""
        with self._lock:
            refund = self.refunds[out_refund_no]
            trade = self.trades[refund["out_trade_no"]]
            if refund["status"] != status:
                if status == "CLOSED":
                    trade.refunded -= refund["amount"]["refund"]
                refund["status"] = status
                if status == "SUCCESS":
                    refund["success_time"] = rfc3339()
            headers, body = self.refund_notification(out_refund_no, refund_status=status, **knobs)
            url = deliver_to or refund.get("notify_url") or trade.notify_url
        return self.deliver(url, headers, body)

    def acknowledged(self, status: int, body: bytes) -> bool:
        """WeChat Pay takes 200 or 204 as received; anything else is retried."""
        return status in (200, 204)


def _public_refund(refund: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in refund.items() if k != "notify_url"}


def _notify_url_ok(url: str, max_length: int) -> bool:
    split = urlsplit(url)
    return len(url) <= max_length and split.scheme in ("http", "https") and bool(split.netloc) and not split.query


def _rfc3339_ok(value: Any) -> bool:
    if not isinstance(value, str) or not re.match(
        r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:\d{2}|Z)$", value
    ):
        return False
    try:
        return datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


def _self_signed(key: rsa.RSAPrivateKey, serial_number: int, mchid: str) -> str:
    """A platform certificate like WeChat's (self-signed here), with the given serial number."""
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tenpay.com"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Tenpay.com CA Center"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"Tenpay.com Root CA {mchid}"),
        ]
    )
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial_number)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365 * 5))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()
