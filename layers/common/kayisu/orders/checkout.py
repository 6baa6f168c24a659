"""Checkout and the shopper's view of an order (CONTRACT §1).

An order and its reservation are created by one transaction (kayisu.store.orders.place_order):
the order exists if and only if its stock was reserved. The access token is random (256 bits)
and only its SHA-256 is stored; a repeat with the same Idempotency-Key gets the same order and a
new token of its own, since the first one cannot be read back.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from datetime import timedelta

from aws_lambda_powertools import Logger

from kayisu.alerts.stock import crossed, report_crossing, seen_above
from kayisu.catalog.service import unknown_sku
from kayisu.clock import now
from kayisu.config import get_settings
from kayisu.errors import FieldError, Problem, validation_error
from kayisu.orders.problems import out_of_stock, provider_unavailable, rate_limited, unknown_order
from kayisu.orders.reservation import choose_shards
from kayisu.orders.schemas import DeliveredCard, Order, OrderCreate
from kayisu.orders.tokens import new_token, owns
from kayisu.orders.views import summary_fields
from kayisu.payments.provider import PaymentInstructions, PaymentProvider, PaymentRequest, ProviderError
from kayisu.payments.registry import enabled_methods, provider
from kayisu.store import catalog as catalog_store
from kayisu.store import orders as store
from kayisu.store.txn import back_off
from kayisu.web import metrics

logger = Logger()
PLACE_ATTEMPTS = 8
MAX_TOKENS = 20  # access tokens one order holds: its own, repeats', the delivery mail's


def _order_id(idempotency_key: str | None) -> str:
    # One order per key, whoever sends it (CONTRACT §1: the same key with another body, another
    # email included, is 422). A repeat gets a token only with the whole body the same, so the
    # key alone opens nobody's order.
    raw = (
        hashlib.sha256(f"idempotency:{idempotency_key}".encode()).digest()
        if idempotency_key
        else secrets.token_bytes(20)
    )
    return "ord_" + base64.b32encode(raw[:20]).decode().lower().rstrip("=")[:32]


def _return_url(order_id: str, api_base: str) -> str:
    """Where a provider sends the shopper back: the storefront's order page (its token is on
    the device that placed the order)."""
    return f"{get_settings().storefront_url or api_base}/orders/{order_id}"


def _create_payment(gateway: PaymentProvider, request: PaymentRequest) -> PaymentInstructions:
    try:
        return gateway.create_payment(request)
    except ProviderError as exc:  # nothing is reserved yet: the shopper can retry or choose another method
        logger.error("the provider refused or failed a payment", extra={"provider": gateway.name, "why": str(exc)})
        metrics.add_metric(name="PaymentCreateFailed", unit="Count", value=1)
        raise provider_unavailable(gateway.name) from None


def _request_digest(data: OrderCreate) -> str:
    canonical = json.dumps(data.model_dump(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def place(
    data: OrderCreate, source_ip: str, idempotency_key: str | None, api_base: str, mobile: bool = False
) -> tuple[Order, bool]:
    """(the order with its access token, whether it was created now)."""
    settings = get_settings()
    if data.payment_method not in enabled_methods():
        methods = ", ".join(enabled_methods()) or "none"
        raise validation_error([FieldError("payment_method", f"is not an enabled payment method ({methods})")])
    gateway = provider(data.payment_method)
    order_id = _order_id(idempotency_key)
    digest = _request_digest(data) if idempotency_key else None
    instructions: PaymentInstructions | None = None
    asked: tuple[int, str] | None = None  # the amount and currency the payment was created for
    for _attempt in range(1, PLACE_ATTEMPTS + 1):
        entry = catalog_store.load_shards(data.sku)
        if entry is None or entry.product.status != "active":
            raise unknown_sku(data.sku)
        product = entry.product
        if data.quantity > int(product.max_per_order):
            raise validation_error([FieldError("quantity", f"at most {int(product.max_per_order)} per order")])
        before, threshold = sum(entry.shards.values()), int(product.alert_threshold)
        if before > threshold:
            seen_above(data.sku, entry.alert_disarmed_after)  # restocked since the alert fired: arm it again
        reservation = choose_shards(entry.shards, data.quantity)
        if reservation is None:
            if idempotency_key:
                repeat = _repeat(order_id, digest)
                if repeat is not None:
                    return repeat, False
            raise out_of_stock(data.sku)
        at = now()
        expires = at + timedelta(minutes=settings.order_ttl_minutes)
        amount = int(product.price) * data.quantity
        token, hashed = new_token()
        if gateway.currencies is not None and product.currency not in gateway.currencies:
            raise validation_error([FieldError("payment_method", f"does not take {product.currency}")])
        request = PaymentRequest(
            order_id,
            amount,
            product.currency,
            f"{product.name} x{data.quantity}",
            api_base,
            expires_at=expires,
            client_ip=source_ip,
            mobile=mobile,
            return_url=_return_url(order_id, api_base),
        )
        if instructions is None or asked != (amount, product.currency):  # once, unless the price changed
            instructions, asked = _create_payment(gateway, request), (amount, product.currency)
        limits = {
            store.limit_key("EMAIL", data.email.lower()): settings.max_pending_orders_per_email,
            store.limit_key("IP", source_ip): settings.max_pending_orders_per_ip,
        }
        gsi1pk, gsi1sk = store.created_keys(order_id, at)
        gsi2pk, gsi2sk = store.pending_keys(order_id, expires)
        item = store.OrderItem(
            store.order_pk(order_id),
            store.ORDER_SK,
            order_id=order_id,
            status="pending_payment",
            sku=data.sku,
            quantity=data.quantity,
            amount=amount,
            currency=product.currency,
            email=data.email,
            limit_keys=list(limits),
            holds_limit=True,
            token_hashes={hashed},
            request_digest=digest,
            reservation=json.dumps({str(k): v for k, v in reservation.items()}),
            payment_method=data.payment_method,
            payment_id=instructions.payment_id,
            pay_url=instructions.pay_url,
            qr_code=instructions.qr_code,
            api_base=api_base or None,
            created_at=at,
            expires_at=expires,
            gsi1pk=gsi1pk,
            gsi1sk=gsi1sk,
            gsi2pk=gsi2pk,
            gsi2sk=gsi2sk,
        )
        try:
            store.place_order(item, reservation, limits)
        except store.OrderExists:
            repeat = _repeat(order_id, digest)
            if repeat is None:  # pragma: no cover - the order was there a moment ago
                raise
            return repeat, False
        except store.ShardsShort:
            metrics.add_metric(name="ReservationRetries", unit="Count", value=1)
            back_off(_attempt)
            continue  # someone took that stock first: look again
        except store.LimitReached:
            raise rate_limited() from None
        metrics.add_metric(name="OrdersCreated", unit="Count", value=1)
        if crossed(before, before - data.quantity, threshold):
            report_crossing(data.sku)  # this reservation took the SKU to its alert threshold
        return as_order(item, token=token), True
    # Stock was there each time but others kept taking it first: not out of stock, just busy.
    raise Problem(503, "TRY_AGAIN", "Try again", "Many shoppers are buying this right now; please try again.")


def _repeat(order_id: str, digest: str | None) -> Order | None:
    """The order an Idempotency-Key made before, with a new access token; None if none."""
    existing = store.load_order(order_id)
    if existing is None:
        return None
    if digest is None or existing.request_digest is None or not hmac.compare_digest(existing.request_digest, digest):
        raise Problem(
            422,
            "IDEMPOTENCY_KEY_REUSED",
            "Idempotency key reused",
            "This Idempotency-Key was used with a different request body.",
        )
    if len(existing.token_hashes or ()) >= MAX_TOKENS:
        return as_order(existing)  # enough tokens handed out: the order, without another
    token, hashed = new_token()
    store.add_token(order_id, hashed)
    return as_order(existing, token=token)


def as_order(item: store.OrderItem, token: str | None = None, with_cards: bool = False) -> Order:
    return Order(
        **summary_fields(item),
        access_token=token,
        cards=_codes(item) if with_cards and item.status == "delivered" else None,
    )


def _codes(item: store.OrderItem) -> list[DeliveredCard]:
    # Imported on first use: a container that only takes orders never loads the crypto.
    from kayisu.orders.delivery import open_cards

    return open_cards(item)


def view(order_id: str, token: str | None) -> Order:
    """The order for its owner, with its codes once delivered. A wrong or missing token is
    the same 404 as an order that does not exist."""
    if not token or len(token) > 256:
        raise unknown_order()
    item = store.load_order(order_id) if order_id.startswith("ord_") and len(order_id) <= 64 else None
    if item is None or not owns(item, token):
        raise unknown_order()
    return as_order(item, with_cards=True)
