"""The per-SKU ceiling on real DynamoDB, from the capacity units the local stack's emulator
metered (`/_local/capacity`, local.capacity): DynamoDB serves one partition at most 1,000 WCU
and 3,000 RCU a second, so the hottest partition key on an order's path decides how many
orders a second one SKU can take: `1,000 WCU/s ÷ WCU per order on that key` (and the same for
reads with 3,000 RCU/s)."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import requests

PARTITION_WCU = 1000  # per second, per partition (DynamoDB developer guide)
PARTITION_RCU = 3000
_STAGE_PREFIX = re.compile(r"^kayisu-[a-z0-9]+-")


def reset_capacity(api_url: str) -> None:
    requests.delete(f"{api_url}/_local/capacity", timeout=60).raise_for_status()


def capacity(api_url: str) -> dict[str, Any]:
    answer: dict[str, Any] = requests.get(f"{api_url}/_local/capacity", timeout=60).json()
    return answer


def short(table: str) -> str:
    return _STAGE_PREFIX.sub("", table)


@dataclass
class Heat:
    """Units by (table, partition key) for the functions on an order's path, and by item."""

    wcu: Counter[tuple[str, str]]
    rcu: defaultdict[tuple[str, str], float]
    cancelled: Counter[tuple[str, str]]
    items: Counter[tuple[str, str, str]]
    others: Counter[tuple[str, str, str]]  # WCU of functions off the path (stream consumers ...)

    @classmethod
    def of(cls, snapshots: list[dict[str, Any]], path: tuple[str, ...]) -> Heat:
        heat = cls(Counter(), defaultdict(float), Counter(), Counter(), Counter())
        for snap in snapshots:
            for row in snap["wcu"]:
                key = (short(row["table"]), row["pk"])
                if row["function"] in path:
                    heat.wcu[key] += int(row["units"])
                else:
                    heat.others[(row["function"] or "(stack)", *key)] += int(row["units"])
            for row in snap["rcu"]:
                if row["function"] in path:
                    heat.rcu[(short(row["table"]), row["pk"])] += float(row["units"])
            for row in snap["cancelled"]:
                if row["function"] in path:
                    heat.cancelled[(short(row["table"]), row["pk"])] += int(row["units"])
            for row in snap["items"]:
                if row["function"] in path:
                    heat.items[(short(row["table"]), row["pk"], row["sk"])] += int(row["units"])
        return heat

    def hottest_write(self) -> tuple[tuple[str, str], int]:
        key = max(self.wcu, key=lambda k: self.wcu[k])
        return key, self.wcu[key]

    def hottest_read(self) -> tuple[tuple[str, str], float]:
        keys = [k for k in self.rcu if k[1] != "(scan)"]
        key = max(keys, key=lambda k: self.rcu[k])
        return key, self.rcu[key]


def ceiling(units_per_order: float, limit: int) -> float:
    return limit / units_per_order if units_per_order else float("inf")


def report_heat(heat: Heat, orders: int, buyers: int, top: int = 8) -> dict[str, str]:
    """Prints the hottest keys; returns the summary rows for the headline table."""
    (_, w_pk), w_units = heat.hottest_write()
    (_, r_pk), r_units = heat.hottest_read()
    w_per_order = w_units / max(1, orders)
    r_per_order = r_units / max(1, orders)
    total_wcu = sum(heat.wcu.values())
    cancelled = sum(heat.cancelled.values())
    print(
        f"\nDynamoDB capacity as billed, checkout + webhook + fulfil ({orders:,} delivered orders, {buyers:,} "
        "buyers): 1 WCU per KB (2 in a transaction), 1 RCU per 4 KB consistent (½ eventual); a partition "
        f"serves {PARTITION_WCU:,} WCU/s and {PARTITION_RCU:,} RCU/s."
    )
    print(
        f"  WCU in all {total_wcu:,} ({total_wcu / max(1, orders):.2f} / order; of which cancelled transactions "
        f"{cancelled:,}), over {len(heat.wcu):,} partition keys"
    )
    print(f"  {'hottest partition keys (writes)':<58} {'WCU':>7} {'/ order':>8} {'ceiling/s':>10}")
    for (table, pk), n in heat.wcu.most_common(top):
        per = n / max(1, orders)
        print(f"  {table + ' ' + pk:<58.58} {n:>7} {per:>8.3f} {ceiling(per, PARTITION_WCU):>10,.0f}")
    print(f"  {'hottest items (writes)':<58} {'WCU':>7} {'/ order':>8}")
    for (table, pk, sk), n in heat.items.most_common(4):
        print(f"  {table + ' ' + pk + ' / ' + sk:<58.58} {n:>7} {n / max(1, orders):>8.3f}")
    print(f"  {'hottest partition keys (reads)':<58} {'RCU':>7} {'/ order':>8} {'ceiling/s':>10}")
    reads = sorted(((k, v) for k, v in heat.rcu.items() if k[1] != "(scan)"), key=lambda kv: -kv[1])
    for (table, pk), v in reads[:top]:
        per = v / max(1, orders)
        print(f"  {table + ' ' + pk:<58.58} {v:>7.1f} {per:>8.3f} {ceiling(per, PARTITION_RCU):>10,.0f}")
    if heat.others:
        print("  off the order path (stream consumers and the like; their writes come per batch, not per order):")
        for (function, table, pk), n in heat.others.most_common(4):
            print(f"    {function + ' ' + table + ' ' + pk:<56.56} {n:>7} {n / max(1, orders):>8.3f}")
    return {
        "hot_write_key": w_pk if len(w_pk) <= 22 else f"…{w_pk[-21:]}",
        "hot_write_per_order": f"{w_per_order:.3f}",
        "write_ceiling": f"{ceiling(w_per_order, PARTITION_WCU):,.0f}",
        "hot_read_key": r_pk if len(r_pk) <= 22 else f"…{r_pk[-21:]}",
        "hot_read_per_order": f"{r_per_order:.3f}",
        "read_ceiling": f"{ceiling(r_per_order, PARTITION_RCU):,.0f}",
    }
