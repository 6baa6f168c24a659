"""In-memory stand-in for what the low-stock alert reads and writes (kayisu.alerts.ports): the
catalog's products with their stock, each SKU's alert state and the sold-count snapshots. A
fake, not a mock: `fire` is True once per arming, `rearm(sku, n)` re-arms only the alert its
n-th firing disarmed, and both show in the next `load_product`, as kayisu.store.alerts and
kayisu.store.catalog behave."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from kayisu.store.catalog import ProductItem, ProductWithStock, StockCounts, product_pk


@dataclass
class AlertState:
    armed: bool = True
    fired: int = 0


@dataclass
class FakeCatalog:
    products: dict[str, ProductItem] = field(default_factory=dict)
    stock: dict[str, StockCounts] = field(default_factory=dict)
    alerts: dict[str, AlertState] = field(default_factory=dict)
    snapshots: dict[str, list[tuple[datetime, int]]] = field(default_factory=dict)

    def product(self, sku: str, threshold: int = 2, status: str = "active", **counts: int) -> None:
        at = datetime(2026, 11, 1, tzinfo=UTC)
        self.products[sku] = ProductItem(
            product_pk(sku),
            "PRODUCT",
            sku=sku,
            name=f"Gift card {sku}",
            price=990,
            currency="CNY",
            max_per_order=5,
            alert_threshold=threshold,
            status=status,
            created_at=at,
            updated_at=at,
        )
        self.stock[sku] = StockCounts(**counts)

    def set_stock(self, sku: str, **counts: int) -> None:
        self.stock[sku] = StockCounts(**counts)

    def _entry(self, sku: str) -> ProductWithStock:
        state = self.alerts.get(sku)
        disarmed_after = None if state is None or state.armed else state.fired
        return ProductWithStock(self.products[sku], self.stock[sku], disarmed_after)

    # -- StockLevels

    def load_product(self, sku: str) -> ProductWithStock | None:
        return self._entry(sku) if sku in self.products else None

    def scan_products(self) -> Iterator[ProductWithStock]:
        for sku in list(self.products):
            yield self._entry(sku)

    # -- AlertRecords

    def fire(self, sku: str, available: int, at: datetime) -> bool:
        state = self.alerts.setdefault(sku, AlertState())
        if not state.armed:
            return False
        state.armed, state.fired = False, state.fired + 1
        return True

    def rearm(self, sku: str, disarmed_after: int) -> bool:
        state = self.alerts.get(sku)
        if state is None or state.armed or state.fired != disarmed_after:
            return False
        state.armed = True
        return True

    def snapshot_sold(self, sku: str, sold: int, at: datetime) -> None:
        self.snapshots.setdefault(sku, []).append((at, sold))

    def sold_since(self, sku: str, since: datetime) -> tuple[int, datetime] | None:
        taken = sorted(self.snapshots.get(sku, []))
        before = [s for s in taken if s[0] <= since]
        chosen = before[-1] if before else (taken[0] if taken else None)
        return (chosen[1], chosen[0]) if chosen else None
