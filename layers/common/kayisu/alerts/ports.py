"""What the low-stock alert reads and writes, as small Protocols, so that its rule
(kayisu.alerts.stock) runs against in-memory fakes (tests/fakes/stock_alerts.py) as well as
DynamoDB. The defaults are the store modules, which satisfy these structurally:
`kayisu.store.catalog` (products and their stock) and `kayisu.store.alerts` (the alert's state
and the sold-count snapshots); mail, queues and operators' alerts are `kayisu.ports`'.

A fake keeps the port's promise: `fire` is True for one caller per arming (an alert that never
fired is armed), `rearm(sku, n)` only re-arms the alert disarmed by its n-th firing, and what
`fire` and `rearm` did shows in the next `load_product`'s `alert_disarmed_after`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from kayisu.ports import ALERTS, MAIL, STOCK_EVENTS_QUEUE, Alerts, Mailer, Queue
from kayisu.store import alerts as alerts_store
from kayisu.store import catalog as catalog_store

if TYPE_CHECKING:
    from kayisu.store.catalog import ProductWithStock


class StockLevels(Protocol):
    """Products with their summed stock and their alert's state (the catalog table)."""

    def load_product(self, sku: str) -> ProductWithStock | None: ...

    def scan_products(self) -> Iterator[ProductWithStock]: ...


class AlertRecords(Protocol):
    """Each SKU's low-stock alert (armed or fired) and the sold counts kept for 24-hour rates."""

    def fire(self, sku: str, available: int, at: datetime) -> bool: ...

    def rearm(self, sku: str, disarmed_after: int) -> bool: ...

    def snapshot_sold(self, sku: str, sold: int, at: datetime) -> None: ...

    def sold_since(self, sku: str, since: datetime) -> tuple[int, datetime] | None: ...


@dataclass(frozen=True)
class StockAlertPorts:
    """Everything the low-stock alert touches; the defaults are AWS."""

    stock: StockLevels = catalog_store
    records: AlertRecords = alerts_store
    alerts: Alerts = ALERTS
    mail: Mailer = MAIL
    stock_events: Queue = STOCK_EVENTS_QUEUE


AWS = StockAlertPorts()
