"""The branches of the low-stock alert (kayisu.alerts.stock, CONTRACT §6), run against in-memory
fakes of the catalog and the alert's state (tests/fakes/stock_alerts.py), the stock-events
queue, mail and operators' alerts (tests/fakes/messages.py). One alert when a SKU's available
stock falls to or below its threshold, again only after it rose above and fell again (promise
10: told at least once, with what to do). The same end to end is in
tests/integration/test_stock_alerts.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from kayisu.alerts.ports import StockAlertPorts
from kayisu.alerts.stock import check_all, evaluate, report_crossing, seen_above, sku_of
from kayisu.config import get_settings
from tests.fakes.messages import FakeAlerts, FakeMailer, FakeQueue
from tests.fakes.stock_alerts import FakeCatalog

SKU = "GIFT-100"
AT = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


@pytest.fixture
def catalog() -> FakeCatalog:
    catalog = FakeCatalog()
    catalog.product(SKU, threshold=2, imported=10, available=5, sold=5)
    return catalog


@pytest.fixture
def alerts() -> FakeAlerts:
    return FakeAlerts()


@pytest.fixture
def mail() -> FakeMailer:
    return FakeMailer()


@pytest.fixture
def queue() -> FakeQueue:
    return FakeQueue()


@pytest.fixture
def ports(catalog: FakeCatalog, alerts: FakeAlerts, mail: FakeMailer, queue: FakeQueue) -> StockAlertPorts:
    return StockAlertPorts(stock=catalog, records=catalog, alerts=alerts, mail=mail, stock_events=queue)


@pytest.fixture
def alert_email(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("ALERT_EMAIL", "ops@example.com")
    get_settings.cache_clear()
    yield "ops@example.com"
    monkeypatch.delenv("ALERT_EMAIL")
    get_settings.cache_clear()


def falls_to(catalog: FakeCatalog, available: int, sold: int = 8) -> None:
    catalog.set_stock(SKU, imported=10, available=available, reserved=10 - available - sold, sold=sold)


def test_stock_above_its_threshold_is_quiet(ports: StockAlertPorts, alerts: FakeAlerts) -> None:
    assert evaluate(SKU, AT, ports) == "armed"
    assert alerts.published == []


def test_stock_falling_to_its_threshold_alerts_once_until_it_rises_again(
    ports: StockAlertPorts, catalog: FakeCatalog, alerts: FakeAlerts
) -> None:
    falls_to(catalog, 2)
    assert evaluate(SKU, AT, ports) == "fired"
    falls_to(catalog, 1)
    assert [evaluate(SKU, AT, ports) for _ in range(2)] == ["quiet", "quiet"]
    assert [a.subject for a in alerts.published] == ["Kayisu dev: GIFT-100 is low on stock (2 left)"]
    message = alerts.published[0].message
    assert "Gift card GIFT-100 (GIFT-100) is low on stock." in message
    assert "Available: 2 (alert threshold 2; reserved by unpaid orders: 0)." in message
    assert "kayisu batch upload" in message


def test_a_restock_re_arms_the_alert_and_the_next_fall_alerts_again(
    ports: StockAlertPorts, catalog: FakeCatalog, alerts: FakeAlerts
) -> None:
    catalog.snapshot_sold(SKU, 5, AT - timedelta(hours=24))
    falls_to(catalog, 0, sold=10)
    assert evaluate(SKU, AT, ports) == "fired"
    catalog.set_stock(SKU, imported=20, available=10, sold=10)
    assert evaluate(SKU, AT, ports) == "rearmed"
    assert evaluate(SKU, AT, ports) == "armed"
    catalog.set_stock(SKU, imported=20, available=1, sold=19)
    assert evaluate(SKU, AT, ports) == "fired"
    assert [a.subject for a in alerts.published] == [
        "Kayisu dev: GIFT-100 is out of stock (0 left)",
        "Kayisu dev: GIFT-100 is low on stock (1 left)",
    ]
    assert "it has run out" in alerts.published[0].message


def test_checkout_seeing_stock_above_re_arms_only_the_alert_it_saw_disarmed(
    ports: StockAlertPorts, catalog: FakeCatalog
) -> None:
    falls_to(catalog, 1)
    evaluate(SKU, AT, ports)
    seen_above(SKU, None, ports)  # it saw the alert armed: nothing to write
    seen_above(SKU, 0, ports)  # a stale read from before this firing: not this alert
    assert catalog.alerts[SKU].armed is False
    entry = catalog.load_product(SKU)
    assert entry is not None
    seen_above(SKU, entry.alert_disarmed_after, ports)
    assert catalog.alerts[SKU].armed is True


def test_a_product_never_stocked_or_unknown_does_not_alert(
    ports: StockAlertPorts, catalog: FakeCatalog, alerts: FakeAlerts
) -> None:
    catalog.product("NEW-1", threshold=5)
    assert evaluate("NEW-1", AT, ports) == "never_stocked"
    assert evaluate("NOPE", AT, ports) == "unknown"
    assert alerts.published == []


def test_the_alert_is_mailed_too_when_an_alert_address_is_set(
    ports: StockAlertPorts, catalog: FakeCatalog, alerts: FakeAlerts, mail: FakeMailer, alert_email: str
) -> None:
    falls_to(catalog, 2)
    evaluate(SKU, AT, ports)
    assert [(m.to, m.subject, m.body) for m in mail.sent] == [
        (alert_email, alerts.published[0].subject, alerts.published[0].message)
    ]


def test_no_alert_mail_without_an_alert_address(ports: StockAlertPorts, catalog: FakeCatalog, mail: FakeMailer) -> None:
    falls_to(catalog, 2)
    evaluate(SKU, AT, ports)
    assert mail.sent == []


def test_checkout_reports_a_crossing_on_the_stock_events_queue(ports: StockAlertPorts, queue: FakeQueue) -> None:
    report_crossing(SKU, ports)
    assert queue.received() == [{"sku": SKU}]
    assert sku_of(queue.messages[0]) == SKU


def test_the_alert_tells_the_last_24_hours_sales_and_when_stock_runs_out(
    ports: StockAlertPorts, catalog: FakeCatalog, alerts: FakeAlerts
) -> None:
    catalog.snapshot_sold(SKU, 4, AT - timedelta(hours=30))
    catalog.snapshot_sold(SKU, 8, AT - timedelta(hours=24))
    catalog.product(SKU, threshold=2, imported=40, available=2, sold=32, reserved=6)
    assert evaluate(SKU, AT, ports) == "fired"
    message = alerts.published[0].message
    assert "Sold in the last 24 hours: 24." in message  # 32 now, 8 a day ago
    assert "Estimated time until it runs out: about 2.0 hours at the recent rate." in message


def test_without_sales_history_the_alert_says_so(
    ports: StockAlertPorts, catalog: FakeCatalog, alerts: FakeAlerts
) -> None:
    falls_to(catalog, 2)
    evaluate(SKU, AT, ports)
    message = alerts.published[0].message
    assert "Sold in the last 24 hours: not known yet." in message
    assert "not known yet (no sales history)" in message


def test_the_scheduled_check_keeps_every_products_sales_and_evaluates_the_active_ones(
    ports: StockAlertPorts, catalog: FakeCatalog, alerts: FakeAlerts
) -> None:
    catalog.product("OLD-1", threshold=5, status="inactive", imported=3, available=0, sold=3)
    catalog.product("LOW-1", threshold=5, imported=3, available=3)
    assert check_all(AT, ports) == {SKU: "armed", "LOW-1": "fired"}
    assert check_all(AT + timedelta(minutes=5), ports) == {SKU: "armed", "LOW-1": "quiet"}
    assert {sku: [sold for _, sold in taken] for sku, taken in catalog.snapshots.items()} == {
        SKU: [5, 5],
        "OLD-1": [3, 3],
        "LOW-1": [0, 0],
    }
    assert [a.subject for a in alerts.published] == ["Kayisu dev: LOW-1 is low on stock (3 left)"]
    assert "no sales in that time" in alerts.published[0].message
