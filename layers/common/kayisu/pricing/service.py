"""Pricing an order for a shopper: `POST /v1/quotes` and checkout call this (CONTRACT §8)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kayisu.buyers.identity import email_identity
from kayisu.catalog.service import listing, unknown_sku
from kayisu.clock import now
from kayisu.coupons import rules
from kayisu.errors import FieldError, Problem, conflict, validation_error
from kayisu.pricing import quote as pricing
from kayisu.pricing.schemas import Quote, QuoteRequest
from kayisu.promotions import rules as promotion_rules
from kayisu.store import catalog as catalog_store
from kayisu.store import coupons as coupons_store
from kayisu.store import promotions as promotions_store
from kayisu.store import sales as sales_store
from kayisu.store.catalog import ProductItem
from kayisu.store.checkout_read import Known
from kayisu.store.promotions import PromotionItem


@dataclass(frozen=True)
class Priced:
    quote: pricing.Quote
    coupon: coupons_store.CouponItem | None  # the coupon it uses: the order's transaction takes a use
    sale: PromotionItem | None = None  # the flash sale whose price it has: the transaction takes its units
    sale_left: dict[int, int] | None = None  # the sale's units left per shard, as read


def price(
    product: ProductItem,
    quantity: int,
    coupon: str | None = None,
    email: str | None = None,
    at: datetime | None = None,
    known: Known | None = None,
) -> Priced:
    """The quote of `quantity` of `product` now, with the promotions running and `coupon`.
    With `email`, a buyer who has had their uses of the coupon is told so (checkout leaves
    that to its transaction, which must check it anyway). `known`: the coupon and the running
    sales' counters, already read with the product (checkout); otherwise read here."""
    if quantity > int(product.max_per_order):
        raise validation_error([FieldError("quantity", f"at most {int(product.max_per_order)} per order")])
    item, terms = None, None
    if coupon is not None:
        item = known.coupon if known is not None else coupons_store.load_by_code(coupon)
        if item is None:
            raise rules.coupon_invalid(rules.Reason.UNKNOWN)
        taken = None
        if item.max_uses_per_email is not None and email is not None:
            taken = coupons_store.buyer_taken(str(item.coupon_id), email_identity(email))
        reason = rules.refusal(item, at or now(), taken)
        if reason is not None:
            raise rules.coupon_invalid(reason)
        terms = rules.terms(item)
    at = at or now()
    quotes: list[pricing.Quote] = []
    refused = ""
    definitions = promotions_store.definitions()
    for promotions in promotion_rules.candidates(definitions, product.sku, at):
        try:
            quotes.append(pricing.quote(listing(product), quantity, promotions, terms))
        except pricing.CouponNotApplicable as exc:
            refused = exc.reason
    if not quotes:
        raise rules.coupon_invalid(refused)
    # The best for the buyer; a tie keeps the newest promotion (candidates come newest first).
    best = min(quotes, key=lambda q: q.amount)
    on_sale = best.discount(pricing.DiscountKind.FLASH_SALE)
    sale = promotion_rules.sale_of(definitions, on_sale.id) if on_sale is not None else None
    if sale is None:
        return Priced(best, item)
    left = known.sales_left.get(str(sale.promotion_id)) if known is not None else None
    if left is None:
        left = sales_store.left(str(sale.promotion_id), sale_shards(sale))
    if sum(left.values()) < quantity:
        raise flash_sale_sold_out()
    return Priced(best, item, sale, left)


def sale_shards(sale: PromotionItem) -> int:
    return int(sale.terms["shards"])


def running_sales(sku: str, at: datetime) -> list[tuple[str, int]]:
    """(id, shard count) of the flash sales running for `sku`: checkout reads their counters
    with the product."""
    running = promotion_rules.running(promotions_store.definitions(), at, sku)
    return [(str(p.promotion_id), sale_shards(p)) for p in running if p.promotion_kind == promotion_rules.FLASH_SALE]


def flash_sale_sold_out() -> Problem:
    return conflict("FLASH_SALE_SOLD_OUT", "The flash sale has sold all its units; it ends at its window's end.")


def quote_for(request: QuoteRequest) -> Quote:
    """`POST /v1/quotes`: what the order would cost now; nothing is reserved."""
    entry = catalog_store.load_product(request.sku)
    if entry is None or entry.product.status != "active":
        raise unknown_sku(request.sku)
    return Quote.of(price(entry.product, request.quantity, request.coupon, request.email).quote)
