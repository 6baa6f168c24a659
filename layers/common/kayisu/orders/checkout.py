"""Checkout and the shopper's view of an order (CONTRACT §1).

An order and its reservation are created by one transaction (kayisu.store.orders.checkout,
`place_order`): the order exists if and only if its stock was reserved and it fits the pending
limits. A provider whose payments cost a call (WeChat Pay, Stripe) is asked only after that, so
that a refused order costs it nothing; if it fails, the order is withdrawn (`withdraw_order`),
giving back its stock and limits. The access token is random (256 bits)
and only its SHA-256 is stored; a repeat with the same Idempotency-Key gets the same order and a
new token of its own, since the first one cannot be read back.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import replace
from datetime import timedelta

from kayisu.alerts.stock import crossed, report_crossing, seen_above
from kayisu.buyers.identity import email_identity, network_identity
from kayisu.catalog.service import unknown_sku
from kayisu.clock import now
from kayisu.config import get_settings
from kayisu.coupons.rules import coupon_invalid
from kayisu.errors import FieldError, Problem, validation_error
from kayisu.observability import logger, metrics
from kayisu.orders.problems import out_of_stock, provider_unavailable, rate_limited, try_again, unknown_order
from kayisu.orders.reservation import choose_shards, plan_stock
from kayisu.orders.schemas import DeliveredCard, Order, OrderCreate
from kayisu.orders.status import OrderStatus
from kayisu.orders.tokens import new_token, owns
from kayisu.orders.views import summary_fields
from kayisu.payments.provider import PaymentInstructions, PaymentProvider, PaymentRequest, ProviderError
from kayisu.payments.registry import enabled_methods, provider
from kayisu.pricing.schemas import stored
from kayisu.pricing.service import Priced, flash_sale_sold_out, price, running_sales
from kayisu.store import catalog as catalog_store
from kayisu.store import checkout_read
from kayisu.store import coupons as coupons_store
from kayisu.store import orders as store
from kayisu.store import sales as sales_store
from kayisu.store.catalog import ProductWithShards
from kayisu.store.promotions_table import HELD
from kayisu.store.txn import back_off

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
    except ProviderError as exc:
        logger.error("the provider refused or failed a payment", extra={"provider": gateway.name, "why": str(exc)})
        metrics.add_metric(name="PaymentCreateFailed", unit="Count", value=1)
        raise provider_unavailable(gateway.name) from None


def _pay_for(
    gateway: PaymentProvider, request: PaymentRequest, item: store.OrderItem, placed_now: bool
) -> store.OrderItem:
    """A provider that makes payments over the network is asked once the order holds its stock
    and limits, so that a refused order costs it nothing. If it fails, the order this request
    placed (`placed_now`) is withdrawn: stock and limits back, as before the order was placed
    (a retry, with the same Idempotency-Key too, starts afresh). A repeat only answers 503:
    the order is its first request's to withdraw."""
    try:
        instructions = _create_payment(gateway, request)
    except Exception as exc:  # refused, unreachable, or a fault of ours: give back what the order holds
        if not isinstance(exc, Problem):
            logger.exception("creating the payment failed", extra={"provider": gateway.name})
        if not placed_now or store.withdraw_order(item, now()):
            raise
        instructions = None  # a repeat attached a payment meanwhile: the order stands
    if instructions is not None and store.attach_payment(
        item.order_id, instructions.payment_id, instructions.pay_url, instructions.qr_code
    ):
        item.payment_id, item.pay_url, item.qr_code = (
            instructions.payment_id,
            instructions.pay_url,
            instructions.qr_code,
        )
        return item
    stored = store.load_order(item.order_id)  # attached (or withdrawn) by the other request
    if stored is None or stored.payment_id is None:
        raise provider_unavailable(gateway.name)
    return stored


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
    for _attempt in range(1, PLACE_ATTEMPTS + 1):
        at = now()
        # The product and its shards, the coupon and the running sale's counters: one request.
        read = checkout_read.read(data.sku, data.coupon, running_sales(data.sku, at))
        entry = read.entry
        if entry is None or entry.product.status != "active":
            raise unknown_sku(data.sku)
        product = entry.product
        stocked, units = _stock_of(entry, data.quantity)
        before = {sku: sum(e.shards.values()) for sku, e in stocked.items()}
        for sku, e in stocked.items():
            if before[sku] > int(e.product.alert_threshold):
                seen_above(sku, e.alert_disarmed_after)  # restocked since the alert fired: arm it again
        reservation = plan_stock({sku: e.shards for sku, e in stocked.items()}, units)
        expires = at + timedelta(minutes=settings.order_ttl_minutes)
        # Limits compare one buyer however the address is spelled; the order keeps it as typed.
        buyer = email_identity(data.email)
        request = PaymentRequest(
            order_id,
            0,  # the quote's amount, below
            product.currency,
            f"{product.name} x{data.quantity}",
            api_base,
            expires_at=expires,
            client_ip=source_ip,
            mobile=mobile,
            return_url=_return_url(order_id, api_base),
        )
        try:
            # The order's amount is its quote (CONTRACT §8); the coupon's use and the sale's
            # units are taken in the order's transaction.
            priced = price(product, data.quantity, data.coupon, at=at, known=read.known)
            sale = _sale_take(priced, data.quantity, buyer)
        except Problem:
            repeat = _repeat(order_id, digest, gateway, request) if idempotency_key else None
            if repeat is not None:
                return repeat, False  # the order that took the coupon's last use or the sale's last units
            raise
        amount = priced.quote.amount
        request = replace(request, amount=amount)
        if reservation is None:
            if idempotency_key:
                repeat = _repeat(order_id, digest, gateway, request)
                if repeat is not None:
                    return repeat, False
            raise out_of_stock(data.sku)
        if gateway.currencies is not None and product.currency not in gateway.currencies:
            raise validation_error([FieldError("payment_method", f"does not take {product.currency}")])
        token, hashed = new_token()
        # Made here only when it costs no call to the provider (the sandbox, Alipay's signed
        # URL); otherwise once the order holds its stock and limits (_pay_for).
        instructions = None if gateway.remote_create else _create_payment(gateway, request)
        network = network_identity(source_ip)
        limits = {
            store.limit_key("EMAIL", buyer): settings.max_pending_orders_per_email,
            store.limit_key("IP", network): settings.max_pending_orders_per_ip,
        }
        item = store.new_order(
            order_id,
            data.email,
            at,
            expires,
            status=OrderStatus.PENDING_PAYMENT,
            sku=data.sku,
            quantity=data.quantity,
            amount=amount,
            subtotal=priced.quote.subtotal,
            discounts=stored(priced.quote),
            **_coupon_fields(priced, buyer),
            **_sale_fields(sale),
            currency=product.currency,
            unit_cost=int(product.cost) if product.cost is not None else None,
            limit_keys=list(limits),
            units_limit_key=store.limit_key("IPSKU", f"{network}|{data.sku}"),
            holds_limit=True,
            token_hashes={hashed},
            request_digest=digest,
            reservation=store.reservation_json(data.sku, reservation),
            bundle=product.bundle() or None,
            payment_method=data.payment_method,
            payment_id=instructions.payment_id if instructions else None,
            pay_url=instructions.pay_url if instructions else None,
            qr_code=instructions.qr_code if instructions else None,
            api_base=api_base or None,
        )
        try:
            store.place_order(
                item, reservation, limits, settings.max_pending_units_per_ip_per_sku, priced.coupon, buyer, sale
            )
        except store.OrderExists:
            repeat = _repeat(order_id, digest, gateway, request)
            if repeat is None:  # pragma: no cover - the order was there a moment ago
                raise
            return repeat, False
        except (store.ShardsShort, store.SaleShort):
            metrics.add_metric(name="ReservationRetries", unit="Count", value=1)
            back_off(_attempt)
            continue  # someone took that stock (or the sale's units) first: look again
        except store.LimitReached:
            raise rate_limited() from None
        except store.CouponRefused as refused:
            raise coupon_invalid(refused.reason) from None
        if instructions is None:
            item = _pay_for(gateway, request, item, placed_now=True)
        metrics.add_metric(name="OrdersCreated", unit="Count", value=1)
        for sku, e in stocked.items():
            if crossed(before[sku], before[sku] - units[sku], int(e.product.alert_threshold)):
                _report_crossing(sku)
        return as_order(item, token=token), True
    # Stock was there each time but others kept taking it first: not out of stock, just busy.
    raise try_again("Many shoppers are buying this right now; please try again.")


def _stock_of(entry: ProductWithShards, quantity: int) -> tuple[dict[str, ProductWithShards], dict[str, int]]:
    """The products whose cards the order takes, with their shards, and how many of each: its
    own, or a bundle's components (read in one more request: CONTRACT §8, all or none)."""
    bundle = entry.product.bundle()
    if not bundle:
        return {entry.product.sku: entry}, {entry.product.sku: quantity}
    return catalog_store.load_many(bundle), {sku: units * quantity for sku, units in bundle.items()}


def _coupon_fields(priced: Priced, buyer: str) -> dict[str, str | None]:
    """What the order keeps of the coupon whose use it takes (kayisu.store.coupons)."""
    coupon = priced.coupon
    if coupon is None:
        return {}
    counted = coupon.max_uses_per_email is not None
    return {
        "coupon_id": str(coupon.coupon_id),
        "coupon_buyer": coupons_store.buyer_sk(buyer) if counted else None,
        "coupon_use": HELD,
    }


def _sale_take(priced: Priced, quantity: int, buyer: str) -> store.SaleTake | None:
    """The flash-sale units this order takes, and from which of the sale's shards (409
    FLASH_SALE_SOLD_OUT if they are gone)."""
    if priced.sale is None or priced.sale_left is None:
        return None
    plan = choose_shards(priced.sale_left, quantity)
    if plan is None:
        raise flash_sale_sold_out()
    most = priced.sale.terms.get("max_per_email")
    return store.SaleTake(
        str(priced.sale.promotion_id), plan, sales_store.buyer_key(buyer) if most else None, int(most) if most else None
    )


def _sale_fields(sale: store.SaleTake | None) -> dict[str, object]:
    if sale is None:
        return {}
    return {
        "sale_id": sale.promotion_id,
        "sale_reservation": {str(k): v for k, v in sale.plan.items()},
        "sale_buyer": sale.buyer,
        "sale_use": HELD,
    }


def _report_crossing(sku: str) -> None:
    """This reservation took the SKU to its alert threshold: ask for an alert now. The order is
    committed and its token exists only in this answer, so a failure here must not cost the
    shopper the order: it is logged, and the scheduled stock check (every 5 minutes) alerts."""
    try:
        report_crossing(sku)
    except Exception:  # any failure of the queue: the order stands, the schedule catches the alert
        logger.exception("could not report a low-stock crossing; the scheduled check will", extra={"sku": sku})
        metrics.add_metric(name="StockEventFailed", unit="Count", value=1)


def _repeat(order_id: str, digest: str | None, gateway: PaymentProvider, request: PaymentRequest) -> Order | None:
    """The order an Idempotency-Key made before, with a new access token; None if none. An
    order still without a payment (its first request is asking the provider, or died doing
    so) gets its payment here, once (the providers make one payment per order)."""
    existing = store.load_order(order_id)
    if existing is None or existing.withdrawn:
        return None  # none, or a tombstone the next put replaces
    if digest is None or existing.request_digest is None or not hmac.compare_digest(existing.request_digest, digest):
        raise Problem(
            422,
            "IDEMPOTENCY_KEY_REUSED",
            "Idempotency key reused",
            "This Idempotency-Key was used with a different request body.",
        )
    if existing.payment_id is None and existing.status == OrderStatus.PENDING_PAYMENT:
        paying = replace(
            request, amount=int(existing.amount), currency=existing.currency, expires_at=existing.expires_at
        )
        existing = _pay_for(gateway, paying, existing, placed_now=False)
    if len(existing.token_hashes or ()) >= MAX_TOKENS:
        return as_order(existing)  # enough tokens handed out: the order, without another
    token, hashed = new_token()
    store.add_token(order_id, hashed)
    return as_order(existing, token=token)


def as_order(item: store.OrderItem, token: str | None = None, with_cards: bool = False) -> Order:
    return Order(
        **summary_fields(item),
        access_token=token,
        cards=_codes(item) if with_cards and item.status == OrderStatus.DELIVERED else None,
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
    if item is None or item.withdrawn or not owns(item, token):
        raise unknown_order()
    return as_order(item, with_cards=True)
