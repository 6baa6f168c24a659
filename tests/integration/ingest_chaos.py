"""Run by test_ingestion: ingestion in its own process against the local stack's emulator, with a
failure injected around one chunk's commit, then run again as SQS would redeliver it.

Usage: python -m tests.integration.ingest_chaos STATE_JSON BATCH_ID STEP before|after
STEP is the number of the chunk whose commit fails (3), or "finish" (the batch's end).
Prints the outcome of each run as JSON lines."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from tests.support import become_a_function


class Injected(Exception):
    pass


def main() -> None:
    become_a_function(sys.argv[1])
    # The test stack hands batches on after 1 s slices; on a loaded machine three such runs may
    # not finish 402 rows. Here each run has the whole batch's time, as ingest_every_call does.
    os.environ["INGEST_SLICE_SECONDS"] = "600"
    batch_id, step, when = sys.argv[2], sys.argv[3], sys.argv[4]

    from kayisu.ingest import service
    from kayisu.store import cards

    name, fail_at = ("finish_batch", 1) if step == "finish" else ("import_chunk", int(step))
    original = getattr(cards, name)
    calls = {"n": 0}

    def failing(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == fail_at and when == "before":
            raise Injected("before commit")
        result = original(*args, **kwargs)
        if calls["n"] == fail_at and when == "after":
            raise Injected("after commit")
        return result

    setattr(cards, name, failing)
    for attempt in (1, 2, 3):
        batch = cards.load_batch(batch_id)
        assert batch is not None
        try:
            outcome = service.run(batch, lambda: 600_000)
            print(json.dumps({"attempt": attempt, "outcome": str(outcome)}), flush=True)
            if outcome is not service.Outcome.CONTINUE:
                break
        except Injected as exc:
            print(json.dumps({"attempt": attempt, "injected": str(exc)}), flush=True)


if __name__ == "__main__":
    main()
