"""Seeds a day of paid orders, or exports a day, in this process (run by bench.reports).

Usage: python -m bench.reports_worker STATE_JSON seed ORDERS DAY
       python -m bench.reports_worker STATE_JSON export DAY"""

from __future__ import annotations

import json
import resource
import secrets
import sys
import time
from collections import Counter
from datetime import date, timedelta
from typing import Any

from tests.support import become_a_function


def seed(orders: int, day: str) -> dict[str, Any]:
    """`orders` delivered orders, each with its payment, spread over the business day `day`
    (and one refund in ten), written as the money path writes them."""
    from kayisu.reports.periods import day as business_day
    from kayisu.store.orders import (
        ORDER_SK,
        OrderItem,
        PaymentItem,
        RefundItem,
        created_keys,
        money_keys,
        order_pk,
    )

    start, end = business_day(date.fromisoformat(day)).bounds()
    step = (end - start) / orders
    started = time.monotonic()
    with OrderItem.batch_write() as batch:
        for i in range(orders):
            at = start + step * i
            order_id = f"ord_{secrets.token_hex(16)}"
            txn = f"txn_{secrets.token_hex(8)}"
            refunded = i % 10 == 0
            created_pk, created_sk = created_keys(order_id, at - timedelta(seconds=30))
            batch.save(
                OrderItem(
                    order_pk(order_id),
                    ORDER_SK,
                    order_id=order_id,
                    status="refunded" if refunded else "delivered",
                    sku="BENCH-REPORT",
                    quantity=1,
                    amount=1990,
                    currency="CNY",
                    email="bench@example.com",
                    token_hashes={"0" * 64},
                    payment_method="sandbox",
                    payment_id=f"sbx_{order_id}",
                    transaction_id=txn,
                    created_at=at - timedelta(seconds=30),
                    expires_at=at + timedelta(minutes=15),
                    paid_at=at,
                    delivered_at=at,
                    gsi1pk=created_pk,
                    gsi1sk=created_sk,
                )
            )
            index_pk, index_sk = money_keys(at, txn)
            batch.save(
                PaymentItem(
                    f"TXN#sandbox#{txn}",
                    "TXN",
                    provider="sandbox",
                    transaction_id=txn,
                    order_id=order_id,
                    amount=1990,
                    currency="CNY",
                    outcome="paid",
                    at=at,
                    gsi1pk=index_pk,
                    gsi1sk=index_sk,
                )
            )
            if refunded:
                refund_id = f"sbxrf_{secrets.token_hex(8)}"
                index_pk, index_sk = money_keys(at + timedelta(seconds=1), refund_id)
                batch.save(
                    RefundItem(
                        f"REFUND#sandbox#{refund_id}",
                        "REFUND",
                        provider="sandbox",
                        refund_id=refund_id,
                        order_id=order_id,
                        amount=1990,
                        currency="CNY",
                        reason="bench",
                        at=at + timedelta(seconds=1),
                        gsi1pk=index_pk,
                        gsi1sk=index_sk,
                    )
                )
    return {"seeded": orders, "seconds": time.monotonic() - started}


def export(day: str) -> dict[str, Any]:
    from botocore.client import BaseClient

    from kayisu.reports.export import export as write_report
    from kayisu.reports.periods import day as business_day

    calls: Counter[str] = Counter()
    original = BaseClient._make_api_call  # type: ignore[attr-defined]

    def counting(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        calls[f"{self.meta.service_model.service_name}:{operation}"] += 1
        return original(self, operation, params)

    BaseClient._make_api_call = counting  # type: ignore[attr-defined]
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started, cpu0 = time.monotonic(), time.process_time()
    result = write_report(business_day(date.fromisoformat(day)))
    return {
        "rows": result.rows,
        "mismatches": result.mismatches,
        "size": result.size,
        "seconds": time.monotonic() - started,
        "cpu_seconds": time.process_time() - cpu0,
        "rss_before_mb": baseline,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "calls": dict(calls),
    }


def main() -> None:
    become_a_function(sys.argv[1])
    if sys.argv[2] == "seed":
        print(json.dumps(seed(int(sys.argv[3]), sys.argv[4])))
    else:
        print(json.dumps(export(sys.argv[3])))


if __name__ == "__main__":
    main()
