"""The catalog table: a product, its low-stock alert, and its stock shards, each shard in a
partition of its own.

- `PRODUCT#{sku}` / `PRODUCT`: the product; `PRODUCT#{sku}` / `ALERT`: its low-stock alert
  (kayisu.store.alerts).
- `STOCK#{sku}#{nn}` / `STOCK`: stock shard nn (00 … StockShards−1), its counters
  (kayisu.store.stock).

Stock is split into shards so that one SKU's orders spread over several partitions: DynamoDB
serves one partition key at most 1,000 WCU a second, and each order writes its shard twice in a
transaction (4 WCU). Shards that shared the product's partition key would share its 1,000 too.
A product with its availability is one strongly consistent BatchGetItem: the product, its alert
and every shard. See docs/architecture.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    DiscriminatorAttribute,
    JSONAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.exceptions import PutError, UpdateError
from pynamodb.models import Model

from kayisu.config import get_settings


class CatalogItem(Model):
    class Meta:
        table_name = get_settings().catalog_table

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = DiscriminatorAttribute()


class ProductItem(CatalogItem, discriminator="product"):
    sku = UnicodeAttribute()
    name = UnicodeAttribute()
    description = UnicodeAttribute(default="")
    price = NumberAttribute()
    currency = UnicodeAttribute()
    cost = NumberAttribute(null=True)  # what one unit costs us, minor units (operators only)
    price_tiers = JSONAttribute(null=True)  # [{"min_quantity", "price"}], by min_quantity (CONTRACT §8)
    max_per_order = NumberAttribute()
    alert_threshold = NumberAttribute()
    status = UnicodeAttribute()
    # A bundle (套餐, CONTRACT §8): [{"sku", "quantity"}] of other products; it has no cards of its own.
    components = JSONAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()

    def bundle(self) -> dict[str, int]:
        """{component sku: units per bundle}; {} for a product with cards of its own."""
        return {str(c["sku"]): int(c["quantity"]) for c in self.components or ()}


class StockShardItem(CatalogItem, discriminator="stock"):
    """Counters of one shard. Invariant: available + reserved + sold + void = imported."""

    sku = UnicodeAttribute()
    imported = NumberAttribute(default=0)
    available = NumberAttribute(default=0)
    reserved = NumberAttribute(default=0)
    sold = NumberAttribute(default=0)
    void = NumberAttribute(default=0)
    redeemed = NumberAttribute(default=0)


class AlertItem(CatalogItem, discriminator="alert"):
    """Whether the SKU's low-stock alert is armed, and how many times it has fired (so that
    re-arming names the firing it follows: kayisu.store.alerts)."""

    armed = BooleanAttribute(default=True)
    fired_at = UTCDateTimeAttribute(null=True)
    available_then = NumberAttribute(null=True)
    fired = NumberAttribute(null=True)

    def disarmed_after(self) -> int | None:
        """How many times it fired, if it is disarmed; None if armed."""
        return None if self.armed else int(self.fired or 0)


def product_pk(sku: str) -> str:
    return f"PRODUCT#{sku}"


PRODUCT_SK = "PRODUCT"
ALERT_SK = "ALERT"
SHARD_SK = "STOCK"
_SHARD_PREFIX = "STOCK#"


def shard_pk(sku: str, shard: int) -> str:
    return f"{_SHARD_PREFIX}{sku}#{shard:02d}"


def shard_of(item: StockShardItem) -> int:
    """The shard number in a shard item's key."""
    return int(item.pk.rsplit("#", 1)[1])


def shard_item(sku: str, shard: int) -> StockShardItem:
    """The shard's item, by key only (for an update)."""
    return StockShardItem(shard_pk(sku, shard), SHARD_SK)


def product_keys(sku: str) -> list[tuple[str, str]]:
    """The keys of a product's items: the product, its alert, and every stock shard (the
    template's StockShards: lowering it would hide the stock of the shards above)."""
    shards = [(shard_pk(sku, n), SHARD_SK) for n in range(get_settings().stock_shards)]
    return [(product_pk(sku), PRODUCT_SK), (product_pk(sku), ALERT_SK), *shards]


def _product_items(sku: str) -> Iterator[CatalogItem]:
    """One strongly consistent BatchGetItem (PynamoDB asks again for any unprocessed keys)."""
    yield from CatalogItem.batch_get(product_keys(sku), consistent_read=True)


@dataclass(frozen=True)
class StockCounts:
    imported: int = 0
    available: int = 0
    reserved: int = 0
    sold: int = 0
    void: int = 0
    redeemed: int = 0

    def __add__(self, other: StockCounts) -> StockCounts:
        return StockCounts(
            self.imported + other.imported,
            self.available + other.available,
            self.reserved + other.reserved,
            self.sold + other.sold,
            self.void + other.void,
            self.redeemed + other.redeemed,
        )

    @classmethod
    def of(cls, shard: StockShardItem) -> StockCounts:
        return cls(
            int(shard.imported),
            int(shard.available),
            int(shard.reserved),
            int(shard.sold),
            int(shard.void),
            int(shard.redeemed),
        )


@dataclass(frozen=True)
class ProductWithStock:
    product: ProductItem
    stock: StockCounts
    alert_disarmed_after: int | None = None  # the firings of a disarmed low-stock alert; None: armed


class SkuExists(Exception):
    pass


def insert_product(item: ProductItem) -> None:
    """Creates the product; SkuExists if the SKU was ever created."""
    try:
        item.save(condition=ProductItem.pk.does_not_exist())
    except PutError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise SkuExists(item.sku) from exc
        raise


class UnknownProduct(Exception):
    pass


def change_product(sku: str, fields: dict[str, Any]) -> None:
    """Sets only the given fields, so concurrent changes of different fields both stay."""
    item = ProductItem(product_pk(sku), PRODUCT_SK)
    actions = [getattr(ProductItem, name).set(value) for name, value in fields.items()]
    try:
        item.update(actions=actions, condition=ProductItem.pk.exists())
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise UnknownProduct(sku) from exc
        raise


def load_product(sku: str) -> ProductWithStock | None:
    """The product, its summed stock and its alert's state (one BatchGetItem)."""
    product: ProductItem | None = None
    stock = StockCounts()
    disarmed_after: int | None = None
    for item in _product_items(sku):
        if isinstance(item, ProductItem):
            product = item
        elif isinstance(item, StockShardItem):
            stock = stock + StockCounts.of(item)
        elif isinstance(item, AlertItem):
            disarmed_after = item.disarmed_after()
    return ProductWithStock(product, stock, disarmed_after) if product is not None else None


@dataclass(frozen=True)
class ProductWithShards:
    product: ProductItem
    shards: dict[int, int]  # available per shard
    alert_disarmed_after: int | None = None  # the firings of a disarmed low-stock alert; None: armed


def load_shards(sku: str) -> ProductWithShards | None:
    """The product, what each of its stock shards has available and its alert's state (one
    BatchGetItem)."""
    return shards_of(_product_items(sku))


def shards_of(items: Iterable[CatalogItem]) -> ProductWithShards | None:
    """A product with its shards from its items (those of `product_keys`, which checkout reads
    in one BatchGetItem with the promotions it needs: kayisu.store.checkout_read)."""
    product: ProductItem | None = None
    shards: dict[int, int] = {}
    disarmed_after: int | None = None
    for item in items:
        if isinstance(item, ProductItem):
            product = item
        elif isinstance(item, StockShardItem):
            shards[shard_of(item)] = int(item.available)
        elif isinstance(item, AlertItem):
            disarmed_after = item.disarmed_after()
    return ProductWithShards(product, shards, disarmed_after) if product is not None else None


def _sku_in(pk: str) -> str:
    """The SKU in the key of a product's item (`PRODUCT#{sku}`, `STOCK#{sku}#{nn}`)."""
    if pk.startswith(_SHARD_PREFIX):
        return pk.removeprefix(_SHARD_PREFIX).rsplit("#", 1)[0]
    return pk.removeprefix("PRODUCT#")


def load_many(skus: Iterable[str]) -> dict[str, ProductWithShards]:
    """Several products with their shards (a bundle's components), strongly consistent, in one
    BatchGetItem per 100 keys (a product has 2 + StockShards); a SKU with no product is left out."""
    keys = [k for sku in dict.fromkeys(skus) for k in product_keys(sku)]
    items: dict[str, list[CatalogItem]] = {}
    for item in CatalogItem.batch_get(keys, consistent_read=True):
        items.setdefault(_sku_in(item.pk), []).append(item)
    found = {sku: shards_of(of_sku) for sku, of_sku in items.items()}
    return {sku: entry for sku, entry in found.items() if entry is not None}


def scan_products() -> Iterator[ProductWithStock]:
    """Every product with its stock. A Scan: the catalog table holds only products, their
    alerts and their few shards (each shard names its SKU)."""
    products: dict[str, ProductItem] = {}
    stock: dict[str, StockCounts] = {}
    for item in CatalogItem.scan():
        if isinstance(item, ProductItem):
            products[item.sku] = item
        elif isinstance(item, StockShardItem):
            stock[item.sku] = stock.get(item.sku, StockCounts()) + StockCounts.of(item)
    for sku in sorted(products):
        yield ProductWithStock(products[sku], stock.get(sku, StockCounts()))
