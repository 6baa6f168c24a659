"""The sweeper (every minute): what no request will do by itself.

- Unpaid orders past their deadline expire and give their reservation back, each once (the
  transaction is conditioned on `pending_payment` and the deadline). First their provider is
  asked whether they were paid after all (a missed callback, 掉单): a payment found is applied
  exactly as its notification would have been, and the order does not expire.
- Orders paid but not delivered two minutes later are sent to fulfilment again (the webhook's
  request may have been lost with its function; a second request is harmless).
- Messages in a dead-letter queue are counted into a metric, and operators get one SNS alert
  each time a count changes to a non-zero value.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from kayisu.alerts.ops import alert_operators
from kayisu.aws import client
from kayisu.config import get_settings
from kayisu.errors import Problem
from kayisu.observability import logger, metrics
from kayisu.orders.payment import check_with_provider
from kayisu.orders.queue import request_fulfilment
from kayisu.orders.status import OrderStatus
from kayisu.payments.provider import ProviderError
from kayisu.store import orders as store
from kayisu.store.alerts import alert_changed

REQUEUE_AFTER = timedelta(minutes=2)


def sweep(at: datetime) -> dict[str, Any]:
    return {"expired": expire_due(at), "requeued": requeue_stuck(at), "dead_letters": check_dead_letters(at)}


def expire_due(at: datetime) -> int:
    expired = 0
    unreachable: set[str] = set()  # providers that failed once this sweep are not asked again
    due = list(store.due("PENDING", at))
    for order in store.load_orders(due).values():
        if order.status != OrderStatus.PENDING_PAYMENT or order.expires_at > at:
            continue
        if order.payment_method not in unreachable and _paid_after_all(order, unreachable):
            continue
        try:
            store.expire(order, at)
        except store.OrderMoved:
            continue  # paid (or expired by another sweep) meanwhile
        except Exception:  # one order must not stop the sweep of all others: logged, counted, retried next minute
            logger.exception("could not expire an order", extra={"order_id": order.order_id})
            metrics.add_metric(name="SweepFailures", unit="Count", value=1)
            continue
        expired += 1
    if expired:
        metrics.add_metric(name="OrdersExpired", unit="Count", value=expired)
    return expired


def _paid_after_all(order: store.OrderItem, unreachable: set[str]) -> bool:
    try:
        _, status = check_with_provider(order)
    except ProviderError as exc:
        # Down or refusing: expire as usual (a payment arriving later is a late payment), and
        # spare the rest of this sweep an 8-second timeout per order.
        unreachable.add(str(order.payment_method))
        logger.warning("could not ask the provider", extra={"order_id": order.order_id, "e": str(exc)})
        return False
    except Problem as exc:  # e.g. a mismatch, held for review: the order expires as usual
        logger.warning("a payment found could not be applied", extra={"order_id": order.order_id, "e": str(exc)})
        return False
    # Only a payment that paid it spares the order; one recorded for a held order does not.
    return status == OrderStatus.PAID


def requeue_stuck(at: datetime) -> int:
    stuck = list(store.due("PAID", at - REQUEUE_AFTER))
    for order_id in stuck:
        request_fulfilment(order_id)
    if stuck:
        logger.warning("paid orders not delivered in time were sent to fulfilment again", extra={"count": len(stuck)})
        metrics.add_metric(name="OrdersRequeued", unit="Count", value=len(stuck))
    return len(stuck)


def check_dead_letters(at: datetime) -> dict[str, int]:
    settings = get_settings()
    queues = {"fulfilment": settings.fulfilment_dlq_url, "ingest": settings.ingest_dlq_url}
    counts: dict[str, int] = {}
    for name, url in queues.items():
        if not url:
            continue
        attributes = client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        count = int(attributes["Attributes"]["ApproximateNumberOfMessages"])
        counts[name] = count
        metrics.add_metric(name=f"DeadLetters{name.title()}", unit="Count", value=count)
        if alert_changed(f"DLQ#{name}", count, at) and count > 0:
            alert_operators(
                f"{count} message(s) in the {name} dead-letter queue",
                (
                    f"The {name} dead-letter queue holds {count} message(s) that failed every retry.\n"
                    f"Fulfilment: paid orders not delivered; ingestion: uploads not finished.\n"
                    "See docs/operations.md (dead letters) for how to inspect and redrive them."
                ),
            )
    return counts
