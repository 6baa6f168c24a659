"""The emulator of the finance-export benchmark, in a process of its own (run by bench.reports).

The local stack's emulator (local.emulator: moto's server, one request at a time) with the
stack's resources (local.provision, from template.yaml), and nothing else: no functions, no
gateway, no schedules. Its Query reads one partition, as the local stack's does
(local/queries.py: an export makes ~130 index queries of a table of 210,000 items, which plain
moto would each read whole). Two things differ from `make run`, all for the benchmark's wall time
only, and none touches what the exporting process does, receives or holds:

- The day's orders are written straight into moto's table in this process, as the money path
  writes them (the same items), instead of through 8,000+ BatchWriteItem requests over HTTP.
- Responses' plain string and number attribute values are serialised as they are, not through
  moto's generic walk of the AttributeValue shape: the same JSON, and less than half the
  emulator's time for an export (53 s to 22 s at 10,000 orders).

BENCH_PLAIN_MOTO=1 (--plain) runs moto as it comes (whole-table queries, its own serialiser),
to compare: the same bytes are exported.

Usage: python -m bench.reports_emulator STATE_FILE [--plain]
Writes STATE_FILE (like the local stack's local.json: endpoint, region, resources, the
functions' environment), then answers JSON commands on stdin, one per line, on stdout:
{"seed": ORDERS, "day": "YYYY-MM-DD"} and {"stats": true}.
"""

from __future__ import annotations

import json
import logging
import os
import random
import resource
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TextIO

import moto.dynamodb.models as dynamodb_models
from moto.core.serialize import JSONSerializer

from local import queries
from local.emulator import Emulator  # also installs the local stack's own patches of moto
from local.functions import global_environment
from local.provision import Provisioner
from local.template import ACCOUNT_ID, REGION, Template
from tests.support import free_port

ROOT = Path(__file__).resolve().parent.parent

# -- plain attribute values serialised directly

_ORIGINAL_STRUCTURE: Callable[..., None] = JSONSerializer._serialize_type_structure
_SCALARS, _SETS = ("S", "N"), ("SS", "NS")


def _serialize_structure(serializer: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
    """moto's JSON serializer walks every member of the AttributeValue shape for every
    attribute of every item (ten look-ups through alias providers each): most of an export's
    emulator time. An attribute value that is one string, number or set of them is already
    what that walk would write; anything else still takes the walk."""
    if key and shape.name == "AttributeValue" and type(value) is dict and len(value) == 1:
        ((kind, inner),) = value.items()
        if kind in _SCALARS and type(inner) is str:
            serializer._default_serialize(serialized, {kind: inner}, shape, key)
            return
        if kind in _SETS and type(inner) is list and all(type(v) is str for v in inner):
            serializer._default_serialize(serialized, {kind: list(inner)}, shape, key)
            return
    _ORIGINAL_STRUCTURE(serializer, serialized, value, shape, key)


def serialise_plain_values() -> None:
    """Makes this process's moto serialise plain attribute values directly (see
    _serialize_structure)."""
    setattr(JSONSerializer, "_serialize_type_structure", _serialize_structure)  # noqa: B010 - patching moto


# -- the day's orders


def seed_items(orders: int, day: str) -> Iterator[Any]:
    """`orders` delivered orders, each with its payment, spread over the business day `day`
    (and one refund in ten): the items the money path writes. The same ids for the same
    arguments, so that two runs export the same bytes."""
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
    ids = random.Random(f"{orders}:{day}")
    for i in range(orders):
        at = start + step * i
        order_id = f"ord_{ids.randbytes(16).hex()}"
        txn = f"txn_{ids.randbytes(8).hex()}"
        refunded = i % 10 == 0
        created_pk, created_sk = created_keys(order_id, at - timedelta(seconds=30))
        yield OrderItem(
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
        index_pk, index_sk = money_keys(at, txn)
        yield PaymentItem(
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
        if refunded:
            refund_id = f"sbxrf_{ids.randbytes(8).hex()}"
            index_pk, index_sk = money_keys(at + timedelta(seconds=1), refund_id)
            yield RefundItem(
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


def seed(emulator: Emulator, orders: int, day: str) -> dict[str, Any]:
    """Writes the day's items into moto's table directly (PutItem's own code, no HTTP)."""
    backend = dynamodb_models.dynamodb_backends[ACCOUNT_ID][REGION]
    table = os.environ["ORDERS_TABLE"]
    started = time.monotonic()
    items = 0
    with emulator.app.lock:  # as a request would: nothing else in moto meanwhile
        for item in seed_items(orders, day):
            backend.put_item(table, item.serialize())
            items += 1
    return {"seeded": orders, "items": items, "seconds": time.monotonic() - started}


def stats(emulator: Emulator) -> dict[str, Any]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "requests": emulator.app.requests,
        "peak_rss_mb": usage.ru_maxrss / 1024,
    }


def serve(emulator: Emulator, commands: TextIO, answers: TextIO) -> None:
    for line in commands:
        command = json.loads(line)
        if "seed" in command:
            answer = seed(emulator, int(command["seed"]), str(command["day"]))
        elif "stats" in command:
            answer = stats(emulator)
        else:
            answer = {"error": f"unknown command {command!r}"}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


def main() -> None:
    state_file, plain = Path(sys.argv[1]), "--plain" in sys.argv[2:]
    # Answers go to the original stdout; anything else printed goes to stderr (the log).
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # not a line per request
    if plain:
        queries.uninstall()
    else:
        serialise_plain_values()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": url,
            "MOTO_ALLOW_NONEXISTENT_REGION": "false",
        }
    )
    emulator = Emulator("127.0.0.1", port)
    emulator.start()
    try:
        template = Template.load(ROOT / "template.yaml", {"StorefrontUrl": "http://127.0.0.1:3000"})
        resources = Provisioner(template, url).create_all()
        environment = global_environment(template)
        os.environ.update(environment)  # the seed's models name the functions' tables
        state = {
            "aws_endpoint_url": url,
            "region": REGION,
            "resources": resources,
            "function_environment": environment,
            "gsi_query": "moto" if plain else "moto, one index partition per query, plain values serialised directly",
        }
        state_file.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
        answers.write(json.dumps({"ready": str(state_file)}) + "\n")
        answers.flush()
        serve(emulator, sys.stdin, answers)
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
