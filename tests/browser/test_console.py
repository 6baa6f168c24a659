"""The operator console at /console/ in a real browser (issue 16): operators sign in against the
stack's Cognito, create a product, upload a batch by drag and drop and read its report, find
an order by email and refund it; finance sees only what finance may do; an expired session
and signing out send you back to sign in. Screenshots land in test-artifacts/browser/console-*.png."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from playwright.sync_api import Page, Route, expect

from tests.browser.conftest import PASSWORDS, Shopper, screenshot, sign_in
from tests.integration.conftest import Api
from tests.integration.shop import new_codes, order, pay, run_schedule, stocked_product, wait_for


def drop_file(page: Page, name: str, text: str) -> None:
    """What dragging a file from the desktop onto the drop zone delivers: a drop event with it."""
    page.evaluate(
        """([name, text]) => {
            const data = new DataTransfer();
            data.items.add(new File([text], name, { type: 'text/plain' }));
            const zone = document.querySelector('[data-testid=dropzone]');
            for (const type of ['dragenter', 'dragover', 'drop']) {
                zone.dispatchEvent(new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true }));
            }
        }""",
        [name, text],
    )


def business_today() -> str:
    return datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d")


def test_an_operator_signs_in_creates_a_product_and_imports_a_dropped_batch(
    desk: Callable[..., Shopper], stack: dict[str, Any], operator: Api, new_sku: str
) -> None:
    page = desk().page()
    page.goto("/console/products")
    expect(page.get_by_role("heading", level=1, name="Sign in to the console")).to_be_visible()
    screenshot(page, "console-01-sign-in")
    page.get_by_label("Email").fill("operator@example.com")
    page.get_by_label("Password").fill("wrong-password-1")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
    page.get_by_label("Password").fill(PASSWORDS["operator"])
    page.get_by_role("button", name="Sign in").click()
    # Back where it was going, with the operator's menu.
    expect(page.get_by_role("heading", level=1, name="Products")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/console/products$"))
    expect(page.locator("#user")).to_have_text("operator@example.com (operator)")

    page.get_by_role("button", name="New product").click()
    form = page.get_by_role("form", name="New product")
    form.get_by_label("SKU").fill(new_sku)
    form.get_by_label("Name").fill(f"控制台 {new_sku}")
    form.get_by_label("Price (minor units, e.g. fen or cents)").fill("2990")
    form.get_by_label("Cost (minor units, optional; operators only)").fill("1800")
    form.get_by_label("Max per order").fill("4")
    form.get_by_label("Alert threshold").fill("2")
    screenshot(page, "console-02-new-product")
    form.get_by_role("button", name="New product").click()
    expect(page.get_by_role("status").filter(has_text=f"Product {new_sku} created.")).to_be_visible()
    row = page.get_by_role("row").filter(has_text=new_sku)
    expect(row).to_contain_text("CN¥29.90")
    expect(row).to_contain_text("Active")
    made = next(p for p in operator.get("/v1/admin/products").json()["items"] if p["sku"] == new_sku)
    assert (made["price"], made["cost"], made["max_per_order"], made["alert_threshold"]) == (2990, 1800, 4, 2)
    screenshot(page, "console-03-products")

    # A server-side validation error sits under its field, in words.
    page.get_by_role("button", name=f"Edit {new_sku}").click()
    edit = page.get_by_role("form", name=f"Edit {new_sku}")
    edit.get_by_label("Currency").fill("XYZ")
    edit.get_by_role("button", name="Save").click()
    expect(edit.get_by_role("alert")).to_contain_text("Validation failed")
    expect(edit.get_by_label("Currency")).to_have_attribute("aria-invalid", "true")
    edit.get_by_role("button", name="Cancel").click()
    page.get_by_role("button", name=f"Deactivate {new_sku}").click()
    expect(row).to_contain_text("Inactive")
    expect(page.get_by_role("button", name=f"Activate {new_sku}", exact=True)).to_be_visible()
    assert operator.get(f"/v1/products/{new_sku}").status_code == 404  # hidden from shoppers at once
    page.get_by_role("button", name=f"Activate {new_sku}", exact=True).click()
    expect(page.get_by_role("button", name=f"Deactivate {new_sku}")).to_be_visible()  # redrawn as active
    assert operator.get(f"/v1/products/{new_sku}").status_code == 200

    codes = new_codes(3, "CONSOLE")
    text = "\n".join([*codes, codes[0], "x" * 300]) + "\n"  # one duplicate, one too long
    page.get_by_role("link", name="Batches").click()
    page.get_by_label("Product").select_option(new_sku)
    drop_file(page, "console-batch.txt", text)
    expect(page.get_by_text(re.compile(r"console-batch\.txt \(\d+ B\)"))).to_be_visible()
    page.get_by_role("button", name="Upload and import").click()
    report = page.get_by_role("region", name="Import report")
    expect(report).to_contain_text("Completed")
    expect(page.locator("progress")).to_have_attribute("value", "100")
    expect(page.locator(".percent")).to_have_text("100%")
    facts = dict(zip(report.locator("dt").all_inner_texts(), report.locator("dd").all_inner_texts(), strict=True))
    assert (facts["Rows"], facts["Imported"], facts["Duplicates"], facts["Rejected"]) == ("5", "3", "1", "1")
    rejects = report.get_by_role("link", name="Download the rejected rows").get_attribute("href")
    assert rejects
    got = requests.get(rejects, timeout=30)
    assert got.status_code == 200
    assert "x" * 300 not in got.text
    assert re.search(r"^5,", got.text.lstrip("\ufeff"), re.MULTILINE), got.text  # its line number and reason
    screenshot(page, "console-04-batch-report")

    page.get_by_role("link", name="Stock").click()
    expect(page.get_by_role("row").filter(has_text=new_sku)).to_contain_text("3")


def test_an_operator_finds_an_order_by_email_and_refunds_it(
    desk: Callable[..., Shopper], stack: dict[str, Any], public: Api, operator: Api, new_sku: str
) -> None:
    stocked_product(operator, new_sku, new_codes(2, "REFUND"))
    email = f"Console.{secrets.token_hex(3)}@Example.com"
    placed = order(public, new_sku, email=email).json()
    order(public, new_sku, email=f"someone-else-{secrets.token_hex(3)}@example.com")
    assert pay(stack, placed).status_code == 200
    wait_for(public, placed)

    page = desk().page()
    sign_in(page, "operator", "/console/orders")
    page.get_by_label("Order id or email").fill(email.lower())
    page.get_by_role("button", name="Find").click()
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(placed["order_id"])
    expect(rows.first).to_contain_text("Delivered")
    screenshot(page, "console-05-orders-by-email")

    rows.first.get_by_role("link", name=placed["order_id"]).click()
    expect(page.get_by_role("heading", level=1, name=f"Order {placed['order_id']}")).to_be_visible()
    history = page.locator("table").first
    expect(history).to_contain_text("Waiting for payment")
    expect(history).to_contain_text("Delivered")
    expect(page.locator("code").filter(has_text="****")).to_have_count(1)  # the code, masked
    # The payment check (a missed callback): the sandbox keeps no record, so nothing changes.
    page.get_by_role("button", name="Ask the provider about the payment").click()
    expect(page.get_by_role("status").filter(has_text="The provider says: unknown. Nothing changed.")).to_be_visible()
    refund = page.get_by_role("form", name="Refund")
    refund.get_by_label("Reason for the refund").fill("console test: buyer asked")
    screenshot(page, "console-06-order-detail")
    refund.get_by_role("button", name="Refund this order").click()
    expect(page.locator(".facts").first).to_contain_text("Refunded")
    expect(page.locator(".facts").first).to_contain_text("operator: console test: buyer asked")
    expect(page.get_by_role("form", name="Refund")).to_have_count(0)
    assert operator.get(f"/v1/admin/orders/{placed['order_id']}").json()["status"] == "refunded"
    screenshot(page, "console-07-order-refunded")

    # A lookup by id goes straight to the order.
    page.get_by_role("link", name="← All orders").click()
    page.get_by_label("Order id or email").fill(placed["order_id"])
    page.get_by_role("button", name="Find").click()
    expect(page).to_have_url(re.compile(rf"/console/orders/{placed['order_id']}$"))


def test_finance_sees_only_what_finance_may_do_and_a_direct_403_reads_as_words(
    desk: Callable[..., Shopper], stack: dict[str, Any], public: Api, operator: Api, new_sku: str
) -> None:
    stocked_product(operator, new_sku, new_codes(1, "FIN"))
    placed = order(public, new_sku, email=f"fin-{secrets.token_hex(3)}@example.com").json()
    page = desk("zh-CN").page()
    sign_in(page, "finance")
    menu = page.get_by_role("navigation", name="Console")
    expect(menu.get_by_role("link")).to_have_text(["概览", "订单", "财务报表"])
    expect(page.locator("#user")).to_have_text("finance@example.com (财务)")

    page.goto("/console/products")  # typed into the address bar: the API decides
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("你的账号组无权进行此操作。")
    expect(alert).to_contain_text("FORBIDDEN")
    assert alert.locator(".problem-title").inner_text().strip()  # the problem's own title
    expect(page.get_by_role("button", name="新建商品")).to_have_count(0)
    screenshot(page, "console-08-finance-forbidden-zh")

    page.goto(f"/console/orders/{placed['order_id']}")
    expect(page.get_by_role("heading", level=1, name=f"订单 {placed['order_id']}")).to_be_visible()
    expect(page.locator(".facts").first).to_contain_text("待支付")
    expect(page.get_by_role("button", name="向支付渠道查询付款")).to_have_count(0)
    expect(page.get_by_role("form", name="退款")).to_have_count(0)

    page.get_by_role("link", name="财务报表").click()
    expect(page.get_by_role("heading", level=1, name="财务报表")).to_be_visible()
    expect(page.get_by_label("类型")).to_be_visible()
    screenshot(page, "console-09-reports-zh")


def test_an_hour_old_session_is_renewed_with_its_refresh_token_and_a_refused_one_signs_out(
    desk: Callable[..., Shopper], stack: dict[str, Any]
) -> None:
    page = desk().page()
    sign_in(page, "operator", "/console/orders")
    expect(page.get_by_role("heading", level=1, name="Orders")).to_be_visible()
    # The ID token's hour is up (as the page sees it): the next page renews it, unseen.
    outdate = """(refresh) => {
        const key = 'kayisu.console.session';
        const session = JSON.parse(sessionStorage.getItem(key));
        session.expires_at = Date.now() / 1000 - 60;
        if (refresh !== null) session.refresh = refresh;
        sessionStorage.setItem(key, JSON.stringify(session));
        return session;
    }"""
    before = page.evaluate(outdate, None)
    assert before["refresh"], "the session keeps its refresh token"
    page.get_by_role("link", name="Stock").click()
    expect(page.get_by_role("heading", level=1, name="Stock")).to_be_visible()
    expect(page.locator("tbody tr").first).to_be_visible()  # the API took the renewed token
    renewed = page.evaluate("JSON.parse(sessionStorage.getItem('kayisu.console.session'))")
    assert renewed["expires_at"] > time.time() + 600
    assert renewed["refresh"] == before["refresh"]
    assert renewed["email"] == "operator@example.com"

    # A refresh token Cognito refuses (revoked, or past its 30 days): sign in again.
    page.evaluate(outdate, "not-a-refresh-token")
    page.get_by_role("link", name="Orders").click()
    expect(page.get_by_role("heading", level=1, name="Sign in to the console")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="Your session has expired")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('kayisu.console.session')") is None


def test_an_expired_session_and_signing_out_lead_back_to_sign_in(
    desk: Callable[..., Shopper], stack: dict[str, Any]
) -> None:
    page = desk().page()
    sign_in(page, "operator", "/console/stock")
    expect(page.locator("tbody tr").first).to_be_visible()  # the page's own calls are done
    # The token is refused (as once it has expired at API Gateway): the page says so.
    page.evaluate(
        """() => {
            const key = 'kayisu.console.session';
            const session = JSON.parse(sessionStorage.getItem(key));
            session.token = session.token.slice(0, -8) + 'AAAAAAAA';
            sessionStorage.setItem(key, JSON.stringify(session));
        }"""
    )
    page.get_by_role("link", name="Orders").click()
    expect(page.get_by_role("heading", level=1, name="Sign in to the console")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="Your session has expired")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('kayisu.console.session')") is None
    screenshot(page, "console-10-session-expired")

    page.locator("#signin-email").fill("operator@example.com")  # and back to where it was going
    page.locator("#signin-password").fill(PASSWORDS["operator"])
    page.locator("form.signin button[type=submit]").click()
    expect(page.get_by_role("heading", level=1, name="Orders")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status").filter(has_text="You are signed out.")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('kayisu.console.session')") is None
    page.goto("/console/orders")
    expect(page.get_by_role("heading", level=1, name="Sign in to the console")).to_be_visible()


def test_an_operator_creates_a_partner_sees_its_secret_once_and_downloads_a_report(
    desk: Callable[..., Shopper], stack: dict[str, Any], operator: Api
) -> None:
    run_schedule(stack, "DailyReport", "2026-02-01T16:10:00Z")  # 00:10 in Shanghai: covers 1 February
    name = f"Partner {secrets.token_hex(3)}"
    page = desk().page()
    sign_in(page, "operator", "/console/partners")
    form = page.get_by_role("form", name="New partner")
    form.get_by_label("Name").fill(name)
    form.get_by_role("button", name="Create").click()
    shown = page.locator(".secret-value")
    expect(shown).to_have_count(1)
    secret = shown.inner_text()
    row = page.get_by_role("row").filter(has_text=name)
    expect(row).to_contain_text("All")
    partner_id = row.locator("code").inner_text()
    assert secret
    assert partner_id.startswith("ptn_")
    assert secret not in json.dumps(operator.get(f"/v1/admin/partners/{partner_id}").json())  # never again
    screenshot(page, "console-12-partner-secret")
    row.get_by_role("button", name=f"Rotate secret {partner_id}").click()
    expect(page.get_by_text(f"New secret of {partner_id}")).to_be_visible()
    expect(shown).not_to_have_text(secret)

    page.get_by_role("link", name="Reports").click()
    page.get_by_label("Kind").select_option("daily")
    expect(page).to_have_url(re.compile(r"/console/reports\?kind=daily$"))
    page.get_by_role("button", name="Get the download link daily-2026-02-01").click()
    download = page.get_by_role("link", name="Download daily-2026-02-01.csv (valid 15 minutes)")
    href = download.get_attribute("href")
    assert href
    got = requests.get(href, timeout=30)
    assert got.status_code == 200
    assert got.content
    screenshot(page, "console-13-reports")


def days_before(day: str, n: int) -> str:
    return (date.fromisoformat(day) - timedelta(days=n)).isoformat()


def dashboard_counts(operator: Api, first: str, last: str, sku: str, units: int) -> dict[str, Any]:
    """GET /v1/admin/dashboard once the stream function has counted `units` of `sku`."""
    deadline = time.monotonic() + 60
    while True:
        seen: dict[str, Any] = operator.get("/v1/admin/dashboard", params={"from": first, "to": last}).json()
        if any(p["sku"] == sku and p["units"] == units for p in seen.get("top_products", [])):
            return seen
        assert time.monotonic() < deadline, f"the dashboard never counted {units} units of {sku}: {seen}"
        time.sleep(0.5)


def major(amount: int) -> str:
    return f"¥{amount / 100:,.2f}"  # CNY as both locales write it ("CN¥1,234.00" in English)


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_the_dashboard_shows_what_orders_made_through_the_api_counted(
    desk: Callable[..., Shopper], stack: dict[str, Any], public: Api, operator: Api, new_sku: str, locale: str
) -> None:
    stocked_product(operator, new_sku, new_codes(4, "DASH"), price=4900)
    changed = operator.put(f"/v1/admin/products/{new_sku}", {"cost": 3000, "alert_threshold": 2})
    assert changed.json()["cost"] == 3000
    email = f"dash-{secrets.token_hex(3)}@example.com"
    for quantity in (2, 1):  # one buyer, twice; one card is left: low stock
        placed = order(public, new_sku, quantity=quantity, email=email).json()
        assert pay(stack, placed).status_code == 200
        wait_for(public, placed)
    last = business_today()
    first = days_before(last, 29)  # the page's default range: the last 30 days
    counted = dashboard_counts(operator, first, last, new_sku, 3)
    today = operator.get("/v1/admin/dashboard", params={"from": last, "to": last}).json()

    me = desk(locale)
    asked: list[str] = []
    me.context.on("request", lambda r: asked.append(r.url) if "/v1/admin/dashboard" in r.url else None)
    page = me.page()
    sign_in(page, "operator")
    zh = locale == "zh-CN"

    def region(name: str) -> Any:
        return page.get_by_role("region", name=name, exact=True)

    (money,) = counted["currency_totals"]
    expect(region("收入" if zh else "Revenue")).to_contain_text(major(money["net"]))
    top = region("热销商品" if zh else "Top products").get_by_role("row").filter(has_text=new_sku)
    expect(top).to_contain_text(f"Test {new_sku}")
    expect(top.locator("td").nth(2)).to_have_text("3")
    expect(top).to_contain_text(major(3 * 4900))
    expect(region("库存不足" if zh else "Low stock")).to_contain_text(new_sku)
    buyers = region("买家" if zh else "Buyers")
    expect(buyers).to_contain_text(f"{counted['buyers']['repeat']}")
    (profit,) = counted["profit"]
    expect(region("毛利" if zh else "Gross profit")).to_contain_text(major(profit["gross_profit"]))
    funnel = region("转化" if zh else "Funnel")
    expect(funnel).to_contain_text(f"{counted['funnel']['created']:,}")
    for name in (
        ["每日收入与订单", "今日每小时", "热销商品", "支付方式", "渠道"]
        if zh
        else ["Revenue and orders per day", "Today per hour", "Top products", "Payment methods", "Channels"]
    ):
        # ECharts drew each into a canvas of its box.
        expect(page.get_by_role("img", name=name, exact=True).locator("canvas")).to_have_count(1)
    assert any(f"from={first}" in url and f"to={last}" in url for url in asked), asked
    assert any(f"from={last}" in url and f"to={last}" in url for url in asked), asked  # today per hour
    assert sum(p["orders"] for p in today["series"]) == today["funnel"]["created"]
    screenshot(page, f"console-11-dashboard-{'zh' if zh else 'en'}")


def test_the_dashboard_says_so_when_the_api_has_no_dashboard_route(
    desk: Callable[..., Shopper], stack: dict[str, Any]
) -> None:
    me = desk()

    def missing(route: Route) -> None:
        body = {
            "type": "about:blank",
            "title": "Not found",
            "status": 404,
            "detail": "No such resource.",
            "code": "NOT_FOUND",
        }
        route.fulfill(status=404, content_type="application/problem+json", body=json.dumps(body))

    me.context.route("**/v1/admin/dashboard?*", missing)
    page = me.page()
    sign_in(page, "operator")
    expect(page.get_by_text("This API does not offer the dashboard data yet")).to_be_visible()
    expect(page.get_by_role("region", name="Low stock")).to_be_visible()  # from GET /v1/admin/stock
