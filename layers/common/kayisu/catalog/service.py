"""Catalog rules: creating and changing products, and what shoppers may see of them."""

from __future__ import annotations

from kayisu.catalog.schemas import (
    AdminProduct,
    Product,
    ProductCreate,
    ProductUpdate,
    StockLevel,
    StockStatus,
)
from kayisu.clock import now
from kayisu.errors import Problem, conflict, not_found
from kayisu.payments.registry import enabled_methods
from kayisu.store import catalog as store


def stock_status(available: int, alert_threshold: int) -> StockStatus:
    if available <= 0:
        return StockStatus.OUT_OF_STOCK
    if available <= alert_threshold:
        return StockStatus.LOW
    return StockStatus.IN_STOCK


def unknown_sku(sku: str) -> Problem:
    return not_found("UNKNOWN_SKU", f"There is no product with SKU {sku!r}.")


def _public(entry: store.ProductWithStock) -> Product:
    p = entry.product
    available = entry.stock.available
    return Product(
        sku=p.sku,
        name=p.name,
        description=p.description,
        price=int(p.price),
        currency=p.currency,
        available=available,
        stock_status=stock_status(available, int(p.alert_threshold)),
        max_per_order=int(p.max_per_order),
        payment_methods=enabled_methods(),
    )


def _admin(entry: store.ProductWithStock) -> AdminProduct:
    p = entry.product
    return AdminProduct(
        **_public(entry).model_dump(),
        cost=int(p.cost) if p.cost is not None else None,
        alert_threshold=int(p.alert_threshold),
        status=p.status,
        created_at=p.created_at,
        updated_at=p.updated_at,
    )


def list_active_products() -> list[Product]:
    return [_public(e) for e in store.scan_products() if e.product.status == "active"]


def get_active_product(sku: str) -> Product:
    entry = store.load_product(sku)
    if entry is None or entry.product.status != "active":
        raise unknown_sku(sku)
    return _public(entry)


def list_all_products() -> list[AdminProduct]:
    return [_admin(e) for e in store.scan_products()]


def create_product(data: ProductCreate) -> AdminProduct:
    at = now()
    item = store.ProductItem(
        store.product_pk(data.sku),
        store.PRODUCT_SK,
        created_at=at,
        updated_at=at,
        **data.model_dump(),
    )
    try:
        store.insert_product(item)
    except store.SkuExists:
        raise conflict("SKU_EXISTS", f"A product with SKU {data.sku!r} already exists.") from None
    return _admin(store.ProductWithStock(item, store.StockCounts()))


def update_product(sku: str, change: ProductUpdate) -> AdminProduct:
    try:
        store.change_product(sku, {**change.model_dump(exclude_none=True), "updated_at": now()})
    except store.UnknownProduct:
        raise unknown_sku(sku) from None
    entry = store.load_product(sku)
    if entry is None:
        raise unknown_sku(sku)
    return _admin(entry)


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
    ]
