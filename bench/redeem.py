"""Redemption: AWS requests per redemption and redemptions/s on the local stack.

512 codes are bought (8 orders of 64) and then redeemed by one partner from 8 threads, once
each, followed by a retry of each (same reference: the first result) and a second partner's
attempt (409). Requests are counted from the local stack's per-function call log, so the
partner's first-use costs (its record, its secret's KMS decrypt, the digest key) show apart
from the steady state (BENCH_REDEMPTIONS to change the count)."""

from __future__ import annotations

import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from bench.stack import local_stack
from tests.integration.conftest import Api, login, upload_batch
from tests.integration.partner import Partner, new_partner
from tests.integration.shop import new_codes, order, pay, wait_for

PARAMETERS = "MaxPendingOrdersPerIp=100000 MaxPendingOrdersPerEmail=100"
PER_ORDER = 64


def redeem_calls(api_url: str) -> Counter[str]:
    out: Counter[str] = Counter()
    for item in requests.get(f"{api_url}/_local/calls", timeout=60).json()["items"]:
        if item["function"] == "RedeemFunction":
            out[f"{item['service']}:{item['operation']}"] += int(item.get("count", 1))
    return out


def bought(state: dict[str, Any], operator: Api, public: Api, sku: str, n: int) -> list[str]:
    codes = new_codes(n, prefix="BENCH")
    made = operator.post("/v1/admin/products", {"sku": sku, "name": "bench", "price": 100, "max_per_order": PER_ORDER})
    assert made.status_code == 201, made.text
    assert upload_batch(operator, sku, "bench.txt", "\n".join(codes), timeout=300)["imported"] == n
    got: list[str] = []
    for start in range(0, n, PER_ORDER):
        placed = order(public, sku, quantity=min(PER_ORDER, n - start)).json()
        assert pay(state, placed).status_code == 200
        got += [c["code"] for c in wait_for(public, placed, timeout=120)["cards"]]
    return got


def phase(api_url: str, work: list[Any], run: Any) -> tuple[float, Counter[str], list[int]]:
    requests.delete(f"{api_url}/_local/calls", timeout=60).raise_for_status()
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(run, work))
    return time.monotonic() - started, redeem_calls(api_url), statuses


def main() -> None:
    n = int(os.environ.get("BENCH_REDEMPTIONS", "512"))
    with local_stack(PARAMETERS) as state:
        api = state["api_url"]
        operator, public = Api(api, login(state, "operator")), Api(api)
        codes = bought(state, operator, public, "BENCH-REDEEM", n)
        partner, rival = new_partner(state, operator), new_partner(state, operator)
        assert partner.verify(codes[0]).status_code == 200  # first use: record, secret, digest key
        first_use = redeem_calls(api)

        def redeem(code: str, who: Partner = partner) -> int:
            return who.redeem(code, "ref-" + code[-12:]).status_code

        seconds, counts, statuses = phase(api, codes, redeem)
        _, retry_counts, retries = phase(api, codes, redeem)
        _, rival_counts, rivals = phase(api, codes, lambda c: redeem(c, rival))
    assert statuses == [201] * n, Counter(statuses)
    assert retries == [200] * n, Counter(retries)
    print(f"{'phase':<22} {'answers':<12} {'requests/redemption':>20} {'redemptions/s':>14}")
    rows = [
        ("first redemption", "201", counts, seconds),
        ("retry, same reference", "200", retry_counts, None),
        ("another partner", f"{Counter(rivals).most_common(1)[0][0]}", rival_counts, None),
    ]
    for name, answer, c, secs in rows:
        rate = f"{n / secs:>14.1f}" if secs else f"{'':>14}"
        print(f"{name:<22} {answer:<12} {sum(c.values()) / n:>20.2f} {rate}")
    print("first use of a container (verify):", dict(first_use))
    print("per redemption:", {k: round(v / n, 2) for k, v in counts.items()})
