"""Run by test_stock_alerts: one checkout whose order crosses the SKU's alert threshold while the
low-stock `SendMessage` to the StockEventsQueue fails (an exception injected into that one AWS
call, the harness of orders_every_call). Prints one JSON line: whether the order was created,
its id and access token (for the test to read it through the API), and the injected failures.

Usage: python -m tests.integration.stock_event_failure STATE_JSON SKU"""

from __future__ import annotations

import json
import secrets
import sys
from typing import Any, TextIO

from tests.support import become_a_function


class Injected(Exception):
    pass


def main() -> None:
    out: TextIO = sys.stdout
    sys.stdout = sys.stderr  # Powertools logs and metrics print; only the result goes to stdout
    state = become_a_function(sys.argv[1])
    sku = sys.argv[2]
    from botocore.client import BaseClient

    from kayisu.config import get_settings
    from kayisu.orders import checkout
    from kayisu.orders.schemas import OrderCreate

    original = BaseClient._make_api_call  # type: ignore[attr-defined]
    stock_events = get_settings().stock_events_queue_url
    assert stock_events, "the stack sets no STOCK_EVENTS_QUEUE_URL"
    injected: list[str] = []

    def failing(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if operation == "SendMessage" and params.get("QueueUrl") == stock_events:
            injected.append(operation)
            raise Injected("before SendMessage to the StockEventsQueue")
        return original(self, operation, params)

    BaseClient._make_api_call = failing  # type: ignore[attr-defined]
    data = OrderCreate(sku=sku, quantity=1, email=f"low-{secrets.token_hex(4)}@example.com", payment_method="sandbox")
    ip = "10." + ".".join(str(b) for b in secrets.token_bytes(3))
    order, created = checkout.place(data, ip, None, state["api_url"])
    result = {"created": created, "order_id": order.order_id, "access_token": order.access_token, "injected": injected}
    out.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
