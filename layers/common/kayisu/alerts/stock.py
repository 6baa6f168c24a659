"""Low-stock alerts (CONTRACT §6): one alert when a SKU's available stock falls to or below its
`alert_threshold`, again only after it rose above and fell again.

Available stock falls when checkout reserves it, so checkout reports the reservation that
crossed the threshold (one message, only for that order) and the alert goes out within seconds.
The first order after a restock sees stock above the threshold and re-arms a fired alert
(whatever uploaded the cards). A scheduled check every 5 minutes evaluates every SKU, catching
anything missed (orders crossing at the same moment each see a stale count, and none may claim
the crossing), re-arming restocked SKUs and keeping the sales snapshots that the alert's "sold
in 24 hours" reads. A product that never had a card does not alert.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from kayisu.aws import client
from kayisu.config import get_settings
from kayisu.observability import logger, metrics
from kayisu.store import alerts as store
from kayisu.store import catalog as catalog_store


def crossed(before: int, after: int, threshold: int) -> bool:
    return before > threshold >= after


def report_crossing(sku: str) -> None:
    """Checkout's part: ask for an evaluation of this SKU now."""
    client("sqs").send_message(QueueUrl=get_settings().stock_events_queue_url, MessageBody=json.dumps({"sku": sku}))


def seen_above(sku: str, disarmed_after: int | None) -> None:
    """Checkout saw stock above the threshold: a disarmed alert is armed again (one write per
    restock; the orders after it see it armed)."""
    if disarmed_after is not None:
        store.rearm(sku, disarmed_after)


def evaluate(sku: str, at: datetime) -> str:
    """fired | rearmed | armed | quiet | never_stocked | unknown"""
    entry = catalog_store.load_product(sku)
    if entry is None:
        return "unknown"
    if entry.stock.imported == 0:
        return "never_stocked"  # a new product has not fallen anywhere: its first upload is on its way
    available = entry.stock.available
    threshold = int(entry.product.alert_threshold)
    if available <= threshold:
        if not store.fire(sku, available, at):
            return "quiet"  # fired before, not re-armed since
        _send(entry, at)
        metrics.add_metric(name="LowStockAlerts", unit="Count", value=1)
        return "fired"
    if entry.alert_disarmed_after is not None and store.rearm(sku, entry.alert_disarmed_after):
        return "rearmed"
    return "armed"


def check_all(at: datetime) -> dict[str, str]:
    """The scheduled check: every product evaluated, and its sold count kept for 24-hour rates."""
    outcomes: dict[str, str] = {}
    for entry in catalog_store.scan_products():
        sku = entry.product.sku
        store.snapshot_sold(sku, entry.stock.sold, at)
        if entry.product.status == "active":
            outcomes[sku] = evaluate(sku, at)
    return outcomes


def _send(entry: catalog_store.ProductWithStock, at: datetime) -> None:
    settings = get_settings()
    product, stock = entry.product, entry.stock
    sold_24h, hours_left = _rate(product.sku, stock.sold, stock.available, at)
    state = "out of stock" if stock.available <= 0 else "low on stock"
    subject = f"Kayisu {settings.stage}: {product.sku} is {state} ({stock.available} left)"
    body = "\n".join(
        [
            f"{product.name} ({product.sku}) is {state}.",
            f"Available: {stock.available} (alert threshold {int(product.alert_threshold)};"
            f" reserved by unpaid orders: {stock.reserved}).",
            f"Sold in the last 24 hours: {sold_24h if sold_24h is not None else 'not known yet'}.",
            f"Estimated time until it runs out: {hours_left}.",
            "Upload a batch (kayisu batch upload) to restock;"
            " this alert fires again only after stock rises above the threshold.",
        ]
    )
    client("sns").publish(TopicArn=settings.alerts_topic_arn, Subject=subject[:100], Message=body)
    if settings.alert_email:
        client("ses").send_email(
            Source=settings.sender_email,
            Destination={"ToAddresses": [settings.alert_email]},
            Message={
                "Subject": {"Data": subject, "Charset": "UTF-8"},
                "Body": {"Text": {"Data": body, "Charset": "UTF-8"}},
            },
        )
    logger.warning("low stock alert sent", extra={"sku": product.sku, "available": stock.available})


def _rate(sku: str, sold_now: int, available: int, at: datetime) -> tuple[int | None, str]:
    then = store.sold_since(sku, at - timedelta(hours=24))
    if then is None:
        return None, "not known yet (no sales history)"
    sold_then, since = then
    sold = max(0, sold_now - sold_then)
    hours = max((at - since).total_seconds() / 3600, 1 / 12)
    if available <= 0:
        return sold, "it has run out"
    if sold == 0:
        return sold, "no sales in that time"
    return sold, f"about {available / (sold / hours):.1f} hours at the recent rate"


def sku_of(message: str) -> str:
    """The SKU of a stock-event message (report_crossing's)."""
    return str(json.loads(message)["sku"])
