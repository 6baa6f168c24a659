"""A fake Stripe API (v1 Checkout Sessions, Refunds, PaymentIntents) and webhook sender.

What it checks, as Stripe does:
- `Authorization: Bearer <secret key>` (else 401 with an invalid_request_error);
- bodies form-encoded with bracket notation (`line_items[0][price_data][currency]=usd`), parsed
  into nested dicts and lists; unknown parameters are refused (parameter_unknown), integers must
  be integers (parameter_invalid_integer), required ones present (parameter_missing);
- `Idempotency-Key` on POSTs: the same key with the same parameters replays the first (2xx)
  answer (header `Idempotent-Replayed: true`); with other parameters or another endpoint,
  400 idempotency_error.

Webhook events are signed like Stripe's: `Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256
(secret, "<t>.<raw body>")>`, one v1 per endpoint secret (Stripe sends several while a secret is
being rolled). Event bodies are pretty-printed JSON, as Stripe sends them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from tests.fakes.server import Call, FakeServer, Response, json_bytes

API_VERSION = "2025-03-31.basil"
MIN_SESSION_TTL, MAX_SESSION_TTL, TTL_LEEWAY = 30 * 60, 24 * 3600, 10
# Stripe's minimum charge per settlement currency (minor units), for the ones we may use.
MIN_AMOUNT = {
    "usd": 50,
    "eur": 50,
    "gbp": 30,
    "cad": 50,
    "aud": 50,
    "nzd": 50,
    "sgd": 50,
    "chf": 50,
    "hkd": 400,
    "jpy": 50,
}
ZERO_DECIMAL = {
    "bif",
    "clp",
    "djf",
    "gnf",
    "jpy",
    "kmf",
    "krw",
    "mga",
    "pyg",
    "rwf",
    "ugx",
    "vnd",
    "vuv",
    "xaf",
    "xof",
    "xpf",
}
SESSION_PARAMS = {
    "mode", "success_url", "cancel_url", "line_items", "client_reference_id", "metadata", "expires_at",
    "customer", "customer_email", "customer_creation", "locale", "payment_method_types", "payment_intent_data",
    "expand", "ui_mode", "return_url", "submit_type", "billing_address_collection", "allow_promotion_codes",
    "automatic_tax", "consent_collection", "currency", "custom_fields", "custom_text", "discounts",
    "invoice_creation", "payment_method_collection", "payment_method_configuration", "payment_method_options",
    "phone_number_collection", "redirect_on_completion", "shipping_address_collection", "shipping_options",
    "tax_id_collection", "after_expiration", "saved_payment_method_options", "customer_update",
}  # fmt: skip
REFUND_PARAMS = {"payment_intent", "charge", "amount", "reason", "metadata", "expand", "instructions_email"}
REFUND_REASONS = {"duplicate", "fraudulent", "requested_by_customer"}


def _id(prefix: str, n: int = 24) -> str:
    alphabet = string.ascii_letters + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(n))


# ---------------------------------------------------------------------------- form decoding


def parse_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's bracket notation into nested dicts and lists: `a[b][0][c]=v` -> {"a": {"b": [{"c": "v"}]}}.
    Indexed keys become lists (indices must run 0..n-1); `a[]=v` appends; `metadata` stays a dict."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        match = re.fullmatch(r"([^\[\]]+)((?:\[[^\[\]]*\])*)", key)
        if match is None:
            raise StripeError(400, "invalid_request_error", f"Invalid parameter name: {key}", code="parameter_unknown")
        path = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node = root
        for i, part in enumerate(path):
            last = i == len(path) - 1
            if part == "":
                part = str(sum(1 for k in node if k.isdigit()))
            if last:
                node[part] = value
            else:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise StripeError(400, "invalid_request_error", f"Invalid parameter: {key}", param=key)
                node = child
    return {k: _listify(v, k) if isinstance(v, dict) else v for k, v in root.items()}


def _listify(node: dict[str, Any], name: str) -> Any:
    out: dict[str, Any] = {k: _listify(v, k) if isinstance(v, dict) else v for k, v in node.items()}
    if name != "metadata" and out and all(k.isdigit() for k in out):
        indices = sorted(int(k) for k in out)
        if indices != list(range(len(indices))):
            raise StripeError(400, "invalid_request_error", f"Invalid array indices for {name}", param=name)
        return [out[str(i)] for i in indices]
    return out


# ---------------------------------------------------------------------------- errors and state


class StripeError(Exception):
    def __init__(
        self, status: int, type_: str, message: str, *, code: str | None = None, param: str | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.type, self.message, self.code, self.param = status, type_, message, code, param

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param:
            error["param"] = self.param
        return {"error": error}


def _invalid(message: str, *, code: str | None = None, param: str | None = None, status: int = 400) -> StripeError:
    return StripeError(status, "invalid_request_error", message, code=code, param=param)


def _missing(param: str) -> StripeError:
    return _invalid(f"Missing required param: {param}.", code="parameter_missing", param=param)


def _integer(params: dict[str, Any], key: str, name: str) -> int:
    value = params.get(key)
    if not isinstance(value, str) or not re.fullmatch(r"-?\d+", value):
        raise _invalid(f"Invalid integer: {value}", code="parameter_invalid_integer", param=name)
    return int(value)


@dataclass
class _Idempotent:
    method: str
    path: str
    params: dict[str, Any]
    response: Response


class FakeStripe(FakeServer):
    """Stripe for one account in test mode (see the module docstring for what it checks).

    State: `sessions` (id -> Checkout Session object), `payment_intents`, `refunds` (id -> object).
    `webhook_url` is where `pay`/`expire`/`refund_event` deliver (set it: Stripe webhooks are
    configured in the dashboard, not per session). `refund_status` is the status new refunds get.
    """

    def __init__(self, *, secret_key: str, webhook_secrets: list[str]) -> None:
        super().__init__()
        self.secret_key = secret_key
        self.webhook_secrets = list(webhook_secrets)
        self.webhook_url: str | None = None
        self.api_version = API_VERSION
        self.refund_status = "succeeded"
        self.sessions: dict[str, dict[str, Any]] = {}
        self.payment_intents: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self._idempotency: dict[str, _Idempotent] = {}
        self._request_version: str | None = None

    # ------------------------------------------------------------------ plumbing

    def _json(self, status: int, obj: dict[str, Any], *, error: str | None = None) -> Response:
        headers = {
            "Content-Type": "application/json",
            "Request-Id": _id("req_", 14),
            "Stripe-Version": self._request_version or self.api_version,
        }
        return Response(status, json_bytes(obj, indent=2), headers, error)

    def failure_response(self, call: Call, status: int, body: bytes | dict[str, Any]) -> Response:
        if isinstance(body, dict):
            inner = body.get("error")
            if not isinstance(inner, dict):
                inner = {}
            return self._json(status, body, error=str(inner.get("code") or inner.get("type") or f"injected-{status}"))
        return Response(status, body, {"Content-Type": "text/plain"}, f"injected-{status}")

    def handle(self, call: Call) -> Response:
        self._request_version = call.headers.get("Stripe-Version")  # answers echo the version asked for
        try:
            self._authenticate(call)
            params = self._params(call)
            key = call.headers.get("Idempotency-Key") if call.method == "POST" else None
            if key:
                seen = self._idempotency.get(key)
                if seen is not None:
                    if seen.method != call.method or seen.path != call.path:
                        raise StripeError(
                            400,
                            "idempotency_error",
                            f"Keys for idempotent requests can only be used for the same endpoint they were first "
                            f"used for ('{seen.method} {seen.path}' vs '{call.method} {call.path}'). Try using a key "
                            f"other than '{key}' if you meant to execute a different request.",
                        )
                    if seen.params != params:
                        raise StripeError(
                            400,
                            "idempotency_error",
                            "Keys for idempotent requests can only be used with the same parameters they were first "
                            f"used with. Try using a key other than '{key}' if you meant to execute a different "
                            "request.",
                        )
                    replay = seen.response
                    return Response(replay.status, replay.body, {**replay.headers, "Idempotent-Replayed": "true"})
            response = self._route(call, params)
            if key and 200 <= response.status < 300:
                self._idempotency[key] = _Idempotent(call.method, call.path, params, response)
            return response
        except StripeError as err:
            return self._json(err.status, err.body(), error=err.code or err.type)

    def _authenticate(self, call: Call) -> None:
        auth = call.headers.get("Authorization", "")
        if not auth:
            raise StripeError(
                401,
                "invalid_request_error",
                "You did not provide an API key. You need to provide your API key in the Authorization header, "
                "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
            )
        scheme, _, token = auth.partition(" ")
        if scheme != "Bearer" or token != self.secret_key:
            shown = token[:8] + "*" * 12 + token[-4:] if len(token) > 12 else token
            raise StripeError(401, "invalid_request_error", f"Invalid API Key provided: {shown}")

    def _params(self, call: Call) -> dict[str, Any]:
        pairs = parse_qsl(urlsplit(call.target).query, keep_blank_values=True)
        if call.body:
            if "application/x-www-form-urlencoded" not in call.headers.get("Content-Type", ""):
                raise _invalid(
                    "Invalid request: the Stripe API v1 expects application/x-www-form-urlencoded request bodies."
                )
            pairs += parse_qsl(call.body.decode("utf-8"), keep_blank_values=True)
        return parse_form(pairs)

    def _route(self, call: Call, params: dict[str, Any]) -> Response:
        parts = [unquote(p) for p in call.path.strip("/").split("/")]
        match call.method, parts:
            case "POST", ["v1", "checkout", "sessions"]:
                return self._json(200, self._create_session(params))
            case "GET", ["v1", "checkout", "sessions"]:
                return self._json(200, self._list_sessions(params))
            case "GET", ["v1", "checkout", "sessions", session_id]:
                return self._json(200, self._expanded(self._session(session_id), params.get("expand", [])))
            case "POST", ["v1", "checkout", "sessions", session_id, "expire"]:
                return self._json(200, self._expire(session_id))
            case "POST", ["v1", "refunds"]:
                return self._json(200, self._create_refund(params))
            case "GET", ["v1", "refunds", refund_id]:
                if refund_id not in self.refunds:
                    raise _invalid(f"No such refund: '{refund_id}'", code="resource_missing", param="id", status=404)
                return self._json(200, self.refunds[refund_id])
            case "GET", ["v1", "payment_intents", intent_id]:
                if intent_id not in self.payment_intents:
                    raise _invalid(
                        f"No such payment_intent: '{intent_id}'", code="resource_missing", param="intent", status=404
                    )
                return self._json(200, self.payment_intents[intent_id])
        raise _invalid(
            f"Unrecognized request URL ({call.method}: {call.path}). Please see https://stripe.com/docs or we can "
            "help at https://support.stripe.com/.",
            status=404,
        )

    # ------------------------------------------------------------------ checkout sessions

    def _session(self, session_id: str) -> dict[str, Any]:
        session = self.sessions.get(session_id)
        if session is None:
            raise _invalid(
                f"No such checkout.session: '{session_id}'", code="resource_missing", param="session", status=404
            )
        return session

    def _charge(self, intent: dict[str, Any]) -> dict[str, Any]:
        """The intent's latest charge as Stripe shows it (the fake keeps refunds on the intent)."""
        return {
            "id": intent["latest_charge"],
            "object": "charge",
            "amount": intent["amount"],
            "amount_captured": intent["amount_received"],
            "amount_refunded": intent["amount_refunded"],
            "captured": True,
            "currency": intent["currency"],
            "paid": True,
            "payment_intent": intent["id"],
            "refunded": intent["amount_refunded"] >= intent["amount_received"],
            "status": "succeeded",
        }

    def _expanded(self, session: dict[str, Any], expand: Any) -> dict[str, Any]:
        """`expand[]=payment_intent` and `expand[]=payment_intent.latest_charge`, as Stripe
        expands them (an id becomes the object); any other path is refused as Stripe does."""
        paths = expand if isinstance(expand, list) else [expand]
        out: dict[str, Any] = json.loads(json.dumps(session))
        for path in paths:
            if path not in ("payment_intent", "payment_intent.latest_charge"):
                raise _invalid(f"This property cannot be expanded ({path}).", param="expand")
            intent_id = session.get("payment_intent")
            if not isinstance(intent_id, str):
                continue  # nothing to expand: Stripe leaves null as null
            intent = json.loads(json.dumps(self.payment_intents[intent_id]))
            if path == "payment_intent.latest_charge":
                intent["latest_charge"] = self._charge(self.payment_intents[intent_id])
            out["payment_intent"] = intent
        return out

    def refund_in_dashboard(self, session_id: str) -> str:
        """The account owner refunds a paid session's payment in full from the Dashboard (no
        event is delivered here); returns the refund id. The session still says `paid`."""
        with self._lock:
            intent = self.sessions[session_id]["payment_intent"]
            return str(self._create_refund({"payment_intent": intent})["id"])

    def _create_session(self, params: dict[str, Any]) -> dict[str, Any]:
        for name in params:
            if name not in SESSION_PARAMS:
                raise _invalid(f"Received unknown parameter: {name}", code="parameter_unknown", param=name)
        mode = params.get("mode")
        if not mode:
            raise _missing("mode")
        if mode != "payment":
            raise _invalid(f"The fake supports mode=payment only, not {mode!r}.", param="mode")
        success_url = params.get("success_url")
        if not success_url:
            raise _missing("success_url")
        for name in ("success_url", "cancel_url"):
            if params.get(name) and urlsplit(str(params[name])).scheme not in ("http", "https"):
                raise _invalid("Not a valid URL", code="url_invalid", param=name)
        items = params.get("line_items")
        if not items:
            raise _missing("line_items")
        if not isinstance(items, list):
            raise _invalid("Invalid array", param="line_items")
        currency, total = self._line_items(items)
        if currency in MIN_AMOUNT and total < MIN_AMOUNT[currency]:
            minimum = str(MIN_AMOUNT[currency]) if currency in ZERO_DECIMAL else f"{MIN_AMOUNT[currency] / 100:.2f}"
            raise _invalid(
                f"The Checkout Session's total amount due must add up to at least {minimum} {currency}",
                code="amount_too_small",
                param="line_items",
            )
        client_reference_id = params.get("client_reference_id")
        if client_reference_id is not None and (
            not isinstance(client_reference_id, str) or len(client_reference_id) > 200
        ):
            raise _invalid("client_reference_id must be at most 200 characters", param="client_reference_id")
        metadata = self._metadata(params)
        now = int(time.time())
        expires_at = now + MAX_SESSION_TTL
        if "expires_at" in params:
            expires_at = _integer(params, "expires_at", "expires_at")
            if expires_at - now < MIN_SESSION_TTL - TTL_LEEWAY:
                raise _invalid(
                    "The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation.",
                    param="expires_at",
                )
            if expires_at - now > MAX_SESSION_TTL + TTL_LEEWAY:
                raise _invalid(
                    "The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.",
                    param="expires_at",
                )
        session_id = _id("cs_test_a1", 56)
        session: dict[str, Any] = {
            "id": session_id,
            "object": "checkout.session",
            "after_expiration": None,
            "allow_promotion_codes": None,
            "amount_subtotal": total,
            "amount_total": total,
            "automatic_tax": {"enabled": False, "liability": None, "status": None},
            "billing_address_collection": None,
            "cancel_url": params.get("cancel_url") or None,
            "client_reference_id": client_reference_id,
            "created": now,
            "currency": currency,
            "customer": None,
            "customer_creation": "if_required",
            "customer_details": None,
            "customer_email": params.get("customer_email"),
            "expires_at": expires_at,
            "livemode": False,
            "locale": params.get("locale"),
            "metadata": metadata,
            "mode": mode,
            "payment_intent": None,
            "payment_link": None,
            "payment_method_collection": "if_required",
            "payment_method_types": params.get("payment_method_types") or ["card"],
            "payment_status": "unpaid",
            "status": "open",
            "submit_type": params.get("submit_type"),
            "success_url": success_url,
            "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            "ui_mode": params.get("ui_mode") or "hosted",
            "url": f"https://checkout.stripe.com/c/pay/{session_id}#fid{_id('', 40)}",
        }
        self.sessions[session_id] = session
        return session

    def _line_items(self, items: list[Any]) -> tuple[str, int]:
        currency: str | None = None
        total = 0
        for i, item in enumerate(items):
            name = f"line_items[{i}]"
            if not isinstance(item, dict):
                raise _invalid("Invalid object", param=name)
            if "price" in item:
                raise _invalid(f"No such price: '{item['price']}'", code="resource_missing", param=f"{name}[price]")
            price_data = item.get("price_data")
            if not isinstance(price_data, dict):
                raise _missing(f"{name}[price_data]")
            item_currency = price_data.get("currency")
            if not item_currency:
                raise _missing(f"{name}[price_data][currency]")
            if not re.fullmatch(r"[a-z]{3}", str(item_currency)):
                raise _invalid(
                    f"Invalid currency: {item_currency}. Stripe currently supports these currencies: usd, eur, ...",
                    param=f"{name}[price_data][currency]",
                )
            if currency is not None and item_currency != currency:
                raise _invalid("All line items must use the same currency.", param=f"{name}[price_data][currency]")
            currency = str(item_currency)
            unit_amount = _integer(price_data, "unit_amount", f"{name}[price_data][unit_amount]")
            if unit_amount < 0:
                raise _invalid(
                    "This value must be greater than or equal to 0.", param=f"{name}[price_data][unit_amount]"
                )
            product_data = price_data.get("product_data")
            if "product" not in price_data and (not isinstance(product_data, dict) or not product_data.get("name")):
                raise _missing(f"{name}[price_data][product_data][name]")
            if "quantity" not in item:
                raise _missing(f"{name}[quantity]")
            quantity = _integer(item, "quantity", f"{name}[quantity]")
            if quantity < 1:
                raise _invalid("This value must be greater than or equal to 1.", param=f"{name}[quantity]")
            total += unit_amount * quantity
        if currency is None:
            raise _missing("line_items")
        return currency, total

    def _metadata(self, params: dict[str, Any]) -> dict[str, str]:
        metadata = params.get("metadata", {})
        if metadata == "":
            return {}
        if not isinstance(metadata, dict):
            raise _invalid("Invalid object", param="metadata")
        if len(metadata) > 50:
            raise _invalid("Metadata can have at most 50 keys.", param="metadata")
        for key, value in metadata.items():
            if len(key) > 40:
                raise _invalid("Metadata keys can be at most 40 characters.", param=f"metadata[{key}]")
            if not isinstance(value, str) or len(value) > 500:
                raise _invalid("Metadata values can be at most 500 characters.", param=f"metadata[{key}]")
        return {k: v for k, v in metadata.items() if v != ""}

    def _list_sessions(self, params: dict[str, Any]) -> dict[str, Any]:
        sessions = list(reversed(self.sessions.values()))
        if params.get("payment_intent"):
            sessions = [s for s in sessions if s["payment_intent"] == params["payment_intent"]]
        limit = _integer(params, "limit", "limit") if "limit" in params else 10
        return {
            "object": "list",
            "data": sessions[:limit],
            "has_more": len(sessions) > limit,
            "url": "/v1/checkout/sessions",
        }

    def _expire(self, session_id: str) -> dict[str, Any]:
        session = self._session(session_id)
        if session["status"] != "open":
            raise _invalid(
                f'Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has a '
                f'status of "{session["status"]}".',
                param="session",
            )
        session.update(status="expired", url=None)
        return session

    # ------------------------------------------------------------------ refunds

    def _create_refund(self, params: dict[str, Any]) -> dict[str, Any]:
        for name in params:
            if name not in REFUND_PARAMS:
                raise _invalid(f"Received unknown parameter: {name}", code="parameter_unknown", param=name)
        if "charge" in params:
            intent = next((p for p in self.payment_intents.values() if p["latest_charge"] == params["charge"]), None)
            if intent is None:
                raise _invalid(f"No such charge: '{params['charge']}'", code="resource_missing", param="charge")
        elif "payment_intent" in params:
            intent = self.payment_intents.get(str(params["payment_intent"]))
            if intent is None:
                raise _invalid(
                    f"No such payment_intent: '{params['payment_intent']}'",
                    code="resource_missing",
                    param="payment_intent",
                )
        else:
            raise _invalid("One of the following params should be provided for this request: payment_intent or charge.")
        if intent["status"] != "succeeded":
            raise _invalid(
                f"This PaymentIntent ({intent['id']}) does not have a successful charge to refund.",
                code="charge_not_refundable",
                param="payment_intent",
            )
        remaining = intent["amount_received"] - intent["amount_refunded"]
        if remaining <= 0:
            raise _invalid(
                f"Charge {intent['latest_charge']} has already been refunded.", code="charge_already_refunded"
            )
        amount = _integer(params, "amount", "amount") if "amount" in params else remaining
        if amount <= 0:
            raise _invalid("Refund amount must be positive.", code="parameter_invalid_integer", param="amount")
        if amount > remaining:
            raise _invalid(
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})",
                code="amount_too_large",
                param="amount",
            )
        reason = params.get("reason")
        if reason is not None and reason not in REFUND_REASONS:
            raise _invalid(f"Invalid reason: must be one of {', '.join(sorted(REFUND_REASONS))}", param="reason")
        refund: dict[str, Any] = {
            "id": _id("re_"),
            "object": "refund",
            "amount": amount,
            "balance_transaction": _id("txn_"),
            "charge": intent["latest_charge"],
            "created": int(time.time()),
            "currency": intent["currency"],
            "destination_details": None,
            "metadata": self._metadata(params),
            "payment_intent": intent["id"],
            "reason": reason,
            "receipt_number": None,
            "source_transfer_reversal": None,
            "status": self.refund_status,
            "transfer_reversal": None,
        }
        if self.refund_status not in ("failed", "canceled"):
            intent["amount_refunded"] += amount
        self.refunds[refund["id"]] = refund
        return refund

    # ------------------------------------------------------------------ events and delivery

    def event(
        self, type: str, obj: dict[str, Any], *, previous_attributes: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A webhook event (snapshot payload) wrapping `obj`."""
        data: dict[str, Any] = {"object": obj}
        if previous_attributes is not None:
            data["previous_attributes"] = previous_attributes
        return {
            "id": _id("evt_"),
            "object": "event",
            "api_version": self.api_version,
            "created": int(time.time()),
            "data": data,
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": type,
        }

    def signed(
        self,
        event_or_bytes: dict[str, Any] | bytes,
        *,
        secrets: list[str] | None = None,
        timestamp: int | None = None,
        extra_v1: list[str] | None = None,
        tamper: Callable[[bytes], bytes] | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """A webhook POST: headers (with `Stripe-Signature`, one v1 per secret, then `extra_v1`) and
        body (an event is pretty-printed as Stripe does); `tamper` changes the body after signing."""
        body = event_or_bytes if isinstance(event_or_bytes, bytes) else json_bytes(event_or_bytes, indent=2)
        ts = int(time.time()) if timestamp is None else timestamp
        signed_payload = f"{ts}.".encode() + body
        signatures = [
            hmac.new(secret.encode("utf-8"), signed_payload, hashlib.sha256).hexdigest()
            for secret in (self.webhook_secrets if secrets is None else secrets)
        ]
        header = ",".join([f"t={ts}", *(f"v1={s}" for s in [*signatures, *(extra_v1 or [])])])
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": header,
        }
        return headers, tamper(body) if tamper else body

    def _deliver_event(
        self,
        event: dict[str, Any],
        deliver_to: str | None,
        secrets: list[str] | None,
        timestamp: int | None,
        extra_v1: list[str] | None,
        tamper: Callable[[bytes], bytes] | None,
    ) -> tuple[int, bytes]:
        url = deliver_to or self.webhook_url
        if not url:
            raise ValueError("set FakeStripe.webhook_url (or pass deliver_to)")
        headers, body = self.signed(event, secrets=secrets, timestamp=timestamp, extra_v1=extra_v1, tamper=tamper)
        return self.deliver(url, headers, body)

    def pay(
        self,
        session_id: str,
        *,
        deliver_to: str | None = None,
        secrets: list[str] | None = None,
        timestamp: int | None = None,
        extra_v1: list[str] | None = None,
        tamper: Callable[[bytes], bytes] | None = None,
    ) -> tuple[int, bytes]:
        """The customer pays: the session completes (payment_status paid, a PaymentIntent
        `pi_…` that succeeded) and `checkout.session.completed` goes to `webhook_url`. Paying a
        completed session re-delivers the event; an expired one cannot be paid."""
        with self._lock:
            session = self.sessions[session_id]
            if session["status"] == "expired":
                raise RuntimeError(f"session {session_id} has expired and cannot be paid")
            if session["status"] == "open":
                intent_id = _id("pi_")
                self.payment_intents[intent_id] = {
                    "id": intent_id,
                    "object": "payment_intent",
                    "amount": session["amount_total"],
                    "amount_received": session["amount_total"],
                    "amount_refunded": 0,
                    "currency": session["currency"],
                    "latest_charge": _id("ch_"),
                    "metadata": {},
                    "status": "succeeded",
                    "created": int(time.time()),
                    "livemode": False,
                }
                session.update(
                    payment_intent=intent_id,
                    payment_status="paid",
                    status="complete",
                    url=None,
                    customer_details={
                        "email": session.get("customer_email") or "buyer@example.com",
                        "name": "Test Buyer",
                        "phone": None,
                        "address": None,
                        "tax_exempt": "none",
                        "tax_ids": [],
                    },
                )
            event = self.event("checkout.session.completed", json.loads(json.dumps(session)))
        return self._deliver_event(event, deliver_to, secrets, timestamp, extra_v1, tamper)

    def expire(
        self,
        session_id: str,
        *,
        deliver_to: str | None = None,
        secrets: list[str] | None = None,
        timestamp: int | None = None,
        extra_v1: list[str] | None = None,
        tamper: Callable[[bytes], bytes] | None = None,
    ) -> tuple[int, bytes]:
        """The session expires (as at expires_at) and `checkout.session.expired` is delivered."""
        with self._lock:
            session = self._expire(session_id)
            event = self.event("checkout.session.expired", json.loads(json.dumps(session)))
        return self._deliver_event(event, deliver_to, secrets, timestamp, extra_v1, tamper)

    def refund_event(
        self,
        refund_id: str,
        status: str = "succeeded",
        *,
        event_type: str = "refund.updated",
        deliver_to: str | None = None,
        secrets: list[str] | None = None,
        timestamp: int | None = None,
        extra_v1: list[str] | None = None,
        tamper: Callable[[bytes], bytes] | None = None,
    ) -> tuple[int, bytes]:
        """The refund moves to `status` (a failed or canceled refund's amount is refundable again)
        and `refund.updated` (or `event_type`, e.g. refund.failed) is delivered with the refund."""
        with self._lock:
            refund = self.refunds[refund_id]
            previous = refund["status"]
            intent = self.payment_intents[refund["payment_intent"]]
            was_counted = previous not in ("failed", "canceled")
            counts = status not in ("failed", "canceled")
            if was_counted and not counts:
                intent["amount_refunded"] -= refund["amount"]
            elif counts and not was_counted:
                intent["amount_refunded"] += refund["amount"]
            refund["status"] = status
            if status == "failed":
                refund["failure_reason"] = "unknown"
            event = self.event(event_type, dict(refund), previous_attributes={"status": previous})
        return self._deliver_event(event, deliver_to, secrets, timestamp, extra_v1, tamper)
