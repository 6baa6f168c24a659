"""Exports a business day in this process, as the reports function does, and measures it
(run by bench.reports): peak RSS, AWS requests by operation, wall and CPU time.

Usage: python -m bench.reports_worker STATE_JSON DAY"""

from __future__ import annotations

import hashlib
import json
import resource
import sys
import time
from collections import Counter
from datetime import date
from typing import Any

from tests.support import become_a_function


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


def export(day: str) -> dict[str, Any]:
    from botocore.client import BaseClient

    from kayisu.aws import client
    from kayisu.config import get_settings
    from kayisu.reports.export import export as write_report
    from kayisu.reports.periods import day as business_day

    calls: Counter[str] = Counter()
    page_keys: list[int] = []  # keys per index Query page: the merge holds one page per partition
    original = BaseClient._make_api_call  # type: ignore[attr-defined]

    def counting(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        calls[f"{self.meta.service_model.service_name}:{operation}"] += 1
        response = original(self, operation, params)
        if operation == "Query":
            page_keys.append(len(response.get("Items", [])))
        return response

    BaseClient._make_api_call = counting  # type: ignore[attr-defined]
    period = business_day(date.fromisoformat(day))
    # Loaded before measuring, as in a warm function: boto3 and the two services' models.
    client("dynamodb")
    client("s3")
    baseline, current = _rss_mb(), _current_rss_mb()
    started, cpu0 = time.monotonic(), time.process_time()
    result = write_report(period)
    measured = {
        "rows": result.rows,
        "mismatches": result.mismatches,
        "size": result.size,
        "seconds": time.monotonic() - started,
        "cpu_seconds": time.process_time() - cpu0,
        "rss_before_mb": baseline,
        "rss_current_before_mb": current,
        "peak_rss_mb": _rss_mb(),
        "rss_current_after_mb": _current_rss_mb(),
        "calls": dict(calls),
        "query_page_keys_max": max(page_keys, default=0),
    }
    # After measuring: the object's digest, to compare runs (streamed, not counted above).
    digest = hashlib.sha256()
    body = client("s3").get_object(Bucket=get_settings().reports_bucket, Key=period.key)["Body"]
    for chunk in iter(lambda: body.read(1 << 20), b""):
        digest.update(chunk)
    measured["sha256"] = digest.hexdigest()
    return measured


def main() -> None:
    become_a_function(sys.argv[1])
    print(json.dumps(export(sys.argv[2])))


if __name__ == "__main__":
    main()
