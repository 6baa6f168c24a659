"""Run by test_ingestion: ingestion in its own process against the local stack's emulator, with
the upload size cap lowered to 1 MiB (the real one is 256 MiB: too big a file for a test).

Usage: python -m tests.integration.ingest_limits STATE_JSON BATCH_ID
Prints the outcome as one JSON line."""

from __future__ import annotations

import json
import sys

from tests.support import become_a_function


def main() -> None:
    become_a_function(sys.argv[1])

    from kayisu.ingest import parsing, service
    from kayisu.store import cards

    vars(service)["LIMITS"] = parsing.Limits(upload_bytes=1 << 20)  # what service checks uploads against
    batch = cards.load_batch(sys.argv[2])
    assert batch is not None
    outcome = service.run(batch, lambda: 600_000)
    print(json.dumps({"outcome": str(outcome)}), flush=True)


if __name__ == "__main__":
    main()
