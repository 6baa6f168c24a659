"""Pricing an order for a shopper: `POST /v1/quotes` and checkout call this (CONTRACT §8)."""

from __future__ import annotations

from kayisu.catalog.service import listing, unknown_sku
from kayisu.errors import FieldError, Problem, validation_error
from kayisu.pricing import quote as pricing
from kayisu.pricing.schemas import Quote, QuoteRequest
from kayisu.store import catalog as catalog_store
from kayisu.store.catalog import ProductItem


def coupon_invalid(reason: str) -> Problem:
    """422 COUPON_INVALID with its `reason` (the quote and the order answer alike)."""
    return Problem(
        422,
        "COUPON_INVALID",
        "Coupon cannot be used",
        f"The coupon cannot be used for this order ({reason}).",
        extra={"reason": reason},
    )


def price(product: ProductItem, quantity: int, coupon: str | None = None) -> pricing.Quote:
    """The quote of `quantity` of `product` as it stands now, with the promotions running and
    the coupon given."""
    if quantity > int(product.max_per_order):
        raise validation_error([FieldError("quantity", f"at most {int(product.max_per_order)} per order")])
    if coupon is not None:
        raise coupon_invalid("unknown")  # no coupons exist before the coupons module lands
    return pricing.quote(listing(product), quantity)


def quote_for(request: QuoteRequest) -> Quote:
    """`POST /v1/quotes`: what the order would cost now; nothing is reserved."""
    entry = catalog_store.load_product(request.sku)
    if entry is None or entry.product.status != "active":
        raise unknown_sku(request.sku)
    return Quote.of(price(entry.product, request.quantity, request.coupon))
