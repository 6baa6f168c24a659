"""What placing an order reads before its transaction, in one strongly consistent
BatchGetItem over the catalog and promotions tables: the product, its alert and its stock
shards; the coupon the buyer typed; the counter shards of the flash sales running for the SKU.
Read one by one they were three requests (docs/orders.md, AWS requests per order)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from kayisu.store import catalog, coupons, sales
from kayisu.store.batch import batch_get, key
from kayisu.store.catalog import CatalogItem, ProductWithShards
from kayisu.store.coupons import CouponItem
from kayisu.store.promotions_table import PromotionsItem


@dataclass(frozen=True)
class Known:
    """What pricing would otherwise read itself (kayisu.pricing.service.price)."""

    coupon: CouponItem | None = None  # the typed code's coupon; None: there is none
    sales_left: dict[str, dict[int, int]] = field(default_factory=dict)  # sale id → units left per shard


@dataclass(frozen=True)
class CheckoutRead:
    entry: ProductWithShards | None  # None: no such product
    known: Known


def read(sku: str, coupon_code: str | None, running_sales: Sequence[tuple[str, int]]) -> CheckoutRead:
    """`running_sales`: (promotion id, shard count) of each flash sale running for `sku`."""
    catalog_table, promotions_table = str(CatalogItem.Meta.table_name), str(PromotionsItem.Meta.table_name)
    promotion_keys = [k for sale_id, shards in running_sales for k in sales.shard_keys(sale_id, shards)]
    if coupon_code is not None:
        promotion_keys.append((coupons.coupon_pk(coupons.coupon_id_of(coupon_code)), coupons.COUPON_SK))
    wanted = {catalog_table: [key(pk, sk) for pk, sk in catalog.product_keys(sku)]}
    if promotion_keys:
        wanted[promotions_table] = [key(pk, sk) for pk, sk in promotion_keys]
    found = batch_get(wanted, consistent=True)
    entry = catalog.shards_of(CatalogItem.from_raw_data(raw) for raw in found[catalog_table])
    promoted = [PromotionsItem.from_raw_data(raw) for raw in found.get(promotions_table, [])]
    coupon = next((item for item in promoted if isinstance(item, CouponItem)), None)
    left = {sale_id: sales.left_of(sale_id, shards, promoted) for sale_id, shards in running_sales}
    return CheckoutRead(entry, Known(coupon, left))
