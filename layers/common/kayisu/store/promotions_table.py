"""The promotions table's items (coupons, promotions, a flash sale's counters: see
kayisu.store.coupons, .promotions, .sales) and where an order's coupon use or sale units are."""

from __future__ import annotations

from pynamodb.attributes import DiscriminatorAttribute, UnicodeAttribute
from pynamodb.models import Model

from kayisu.config import get_settings

# An order's `coupon_use` and `sale_use`: held by it (unpaid or not yet delivered), given back
# (it expired or was withdrawn), or kept (delivered). A refund leaves it where it is.
HELD, RETURNED, KEPT = "held", "returned", "kept"


class PromotionsItem(Model):
    class Meta:
        table_name = get_settings().promotions_table

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = DiscriminatorAttribute()
