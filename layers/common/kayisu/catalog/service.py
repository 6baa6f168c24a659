"""Catalog rules: creating and changing products, and what shoppers may see of them."""

from __future__ import annotations

from collections.abc import Mapping

from kayisu.catalog.schemas import (
    CARDS_PER_ORDER,
    AdminProduct,
    Component,
    PriceTier,
    Product,
    ProductCreate,
    ProductUpdate,
    StockLevel,
    StockStatus,
)
from kayisu.clock import now
from kayisu.errors import FieldError, Problem, conflict, not_found, validation_error
from kayisu.payments.registry import enabled_methods
from kayisu.pricing.quote import Listing
from kayisu.pricing.quote import PriceTier as QuoteTier
from kayisu.store import catalog as store


def stock_status(available: int, alert_threshold: int) -> StockStatus:
    if available <= 0:
        return StockStatus.OUT_OF_STOCK
    if available <= alert_threshold:
        return StockStatus.LOW
    return StockStatus.IN_STOCK


def unknown_sku(sku: str) -> Problem:
    return not_found("UNKNOWN_SKU", f"There is no product with SKU {sku!r}.")


def price_tiers(product: store.ProductItem) -> list[PriceTier]:
    return [PriceTier.model_validate(t) for t in product.price_tiers or ()]


def listing(product: store.ProductItem) -> Listing:
    """What the pricing function reads of a product."""
    tiers = tuple(QuoteTier(t.min_quantity, t.price) for t in price_tiers(product))
    return Listing(product.sku, int(product.price), product.currency, tiers)


def bundle_available(bundle: Mapping[str, int], available: Mapping[str, int]) -> int:
    """How many whole bundles the components' available stock makes (CONTRACT §8)."""
    return min((max(0, available.get(sku, 0)) // units for sku, units in bundle.items()), default=0)


def _components_available(bundle: Mapping[str, int]) -> int:
    parts = store.load_many(bundle)
    return bundle_available(bundle, {sku: sum(e.shards.values()) for sku, e in parts.items()})


def _public(entry: store.ProductWithStock, available: int | None = None) -> Product:
    """`available`: a bundle's, from its components (default: the product's own stock)."""
    p = entry.product
    available = entry.stock.available if available is None else available
    return Product(
        sku=p.sku,
        name=p.name,
        description=p.description,
        price=int(p.price),
        price_tiers=price_tiers(p),
        currency=p.currency,
        available=available,
        stock_status=stock_status(available, int(p.alert_threshold)),
        max_per_order=int(p.max_per_order),
        components=[Component(sku=sku, quantity=n) for sku, n in p.bundle().items()] or None,
        payment_methods=enabled_methods(),
    )


def _admin(entry: store.ProductWithStock, available: int | None = None) -> AdminProduct:
    p = entry.product
    return AdminProduct(
        **_public(entry, available).model_dump(),
        cost=int(p.cost) if p.cost is not None else None,
        alert_threshold=int(p.alert_threshold),
        status=p.status,
        created_at=p.created_at,
        updated_at=p.updated_at,
    )


def _with_bundles(entries: list[store.ProductWithStock]) -> list[tuple[store.ProductWithStock, int | None]]:
    """Each product with a bundle's availability, from the others' stock in the same scan."""
    stock = {e.product.sku: e.stock.available for e in entries}
    return [(e, bundle_available(b, stock) if (b := e.product.bundle()) else None) for e in entries]


def list_active_products() -> list[Product]:
    entries = list(store.scan_products())
    return [_public(e, a) for e, a in _with_bundles(entries) if e.product.status == "active"]


def _with_available(entry: store.ProductWithStock) -> int | None:
    bundle = entry.product.bundle()
    return _components_available(bundle) if bundle else None


def get_active_product(sku: str) -> Product:
    entry = store.load_product(sku)
    if entry is None or entry.product.status != "active":
        raise unknown_sku(sku)
    return _public(entry, _with_available(entry))


def list_all_products() -> list[AdminProduct]:
    return [_admin(e, a) for e, a in _with_bundles(list(store.scan_products()))]


def _check_bundle(data: ProductCreate) -> int:
    """A bundle's components are products with cards of their own, in its currency; its
    `max_per_order` keeps one order's cards within a delivery transaction (lowered from the
    default, refused when asked for). Returns the max_per_order to store."""
    most = int(data.max_per_order)
    if not data.components:
        return most
    parts = store.load_many(c.sku for c in data.components)
    errors: list[FieldError] = []
    for i, c in enumerate(data.components):
        part = parts.get(c.sku)
        if c.sku == data.sku:
            errors.append(FieldError(f"components.{i}.sku", "a bundle cannot contain itself"))
        elif part is None:
            errors.append(FieldError(f"components.{i}.sku", f"there is no product with SKU {c.sku!r}"))
        elif part.product.bundle():
            errors.append(FieldError(f"components.{i}.sku", "is a bundle itself; list its components instead"))
        elif part.product.currency != data.currency:
            errors.append(FieldError(f"components.{i}.sku", f"is sold in {part.product.currency}, not {data.currency}"))
    cards = sum(c.quantity for c in data.components)
    fits = max(1, CARDS_PER_ORDER // cards)
    if "max_per_order" not in data.model_fields_set:
        most = min(most, fits)
    elif most > fits:
        errors.append(FieldError("max_per_order", f"at most {fits}: one order holds {CARDS_PER_ORDER} cards at most"))
    if errors:
        raise validation_error(errors)
    return most


def create_product(data: ProductCreate) -> AdminProduct:
    at = now()
    fields = data.model_dump(exclude={"components"})
    fields["max_per_order"] = _check_bundle(data)
    if data.components:
        fields["components"] = [c.model_dump() for c in data.components]
    item = store.ProductItem(store.product_pk(data.sku), store.PRODUCT_SK, created_at=at, updated_at=at, **fields)
    try:
        store.insert_product(item)
    except store.SkuExists:
        raise conflict("SKU_EXISTS", f"A product with SKU {data.sku!r} already exists.") from None
    entry = store.ProductWithStock(item, store.StockCounts())
    return _admin(entry, _with_available(entry))


def update_product(sku: str, change: ProductUpdate) -> AdminProduct:
    fields = change.model_dump(exclude_none=True)
    if change.max_per_order is not None:
        current = store.load_product(sku)
        cards = sum((current.product.bundle() if current else {}).values())
        if cards and change.max_per_order * cards > CARDS_PER_ORDER:
            fits = max(1, CARDS_PER_ORDER // cards)
            raise validation_error(
                [FieldError("max_per_order", f"at most {fits}: one order holds {CARDS_PER_ORDER} cards at most")]
            )
    try:
        store.change_product(sku, {**fields, "updated_at": now()})
    except store.UnknownProduct:
        raise unknown_sku(sku) from None
    entry = store.load_product(sku)
    if entry is None:
        raise unknown_sku(sku)
    return _admin(entry, _with_available(entry))


def stock_levels() -> list[StockLevel]:
    return [
        StockLevel(
            sku=e.product.sku,
            imported=e.stock.imported,
            available=e.stock.available,
            reserved=e.stock.reserved,
            sold=e.stock.sold,
            redeemed=e.stock.redeemed,
            void=e.stock.void,
            alert_threshold=int(e.product.alert_threshold),
        )
        for e in store.scan_products()
        if not e.product.bundle()  # a bundle has no stock of its own: its components' is listed
    ]
