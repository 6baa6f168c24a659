"""Ingests one staged batch in this process and prints what it cost (run by bench.ingest).

Usage: python -m bench.ingest_worker STATE_JSON BATCH_ID"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections import Counter
from typing import Any

from tests.support import become_a_function


def main() -> None:
    become_a_function(sys.argv[1])
    batch_id = sys.argv[2]
    from botocore.client import BaseClient

    from kayisu.ingest import service
    from kayisu.store import cards

    calls: Counter[str] = Counter()
    original = BaseClient._make_api_call  # type: ignore[attr-defined]

    def counting(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        calls[f"{self.meta.service_model.service_name}:{operation}"] += 1
        return original(self, operation, params)

    BaseClient._make_api_call = counting  # type: ignore[attr-defined]
    started, cpu0 = time.monotonic(), time.process_time()
    batch = cards.load_batch(batch_id)
    assert batch is not None
    outcome = service.run(batch, lambda: 900_000)
    wall, cpu = time.monotonic() - started, time.process_time() - cpu0
    batch.refresh()
    print(
        json.dumps(
            {
                "outcome": str(outcome),
                "rows": int(batch.rows),
                "imported": int(batch.imported),
                "seconds": wall,
                "cpu_seconds": cpu,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "calls": dict(calls),
            }
        )
    )


if __name__ == "__main__":
    main()
