"""The console's webhooks pages (issue 23) in a real browser: an operator adds an endpoint on a
loopback receiver and sees its secret once, a private address is refused in words, the
delivery log shows a failed first attempt and a retry by hand delivers it, and the endpoint
is disabled. Screenshots: test-artifacts/browser/console-14-webhooks.png, -15-webhook-deliveries."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import Shopper, screenshot, sign_in
from tests.integration.conftest import Api
from tests.integration.receiver import start_receiver
from tests.integration.shop import new_codes, order, pay, stocked_product, wait_for


def test_an_operator_adds_a_webhook_reads_its_deliveries_retries_one_and_disables_it(
    desk: Callable[..., Shopper],
    stack: dict[str, Any],
    operator: Api,
    public: Api,
) -> None:
    receiver = start_receiver()
    try:
        page = desk().page()
        sign_in(page, "operator", "/console/webhooks")
        form = page.get_by_role("form", name="New webhook")
        form.get_by_label("URL (https)").fill("https://10.0.0.1/hook")
        form.get_by_role("button", name="Create").click()
        expect(page.get_by_role("alert")).to_contain_text("BAD_WEBHOOK_URL")

        url = receiver.url(f"once-console-{time.monotonic_ns()}")
        form.get_by_label("URL (https)").fill(url)
        form.get_by_label("Description").fill("CRM")
        form.get_by_role("button", name="Create").click()
        shown = page.locator(".secret-value")
        expect(shown).to_have_count(1)
        secret = shown.inner_text()
        assert secret.startswith("whsec_")
        row = page.get_by_role("row").filter(has_text=url)
        expect(row).to_contain_text("Enabled")
        expect(row).to_contain_text("order.delivered, order.paid, order.refunded, redemption.created, stock.low")
        webhook_id = row.locator("code").inner_text()
        assert secret not in json.dumps(operator.get(f"/v1/admin/webhooks/{webhook_id}").json())  # never again
        screenshot(page, "console-14-webhooks")

        # An order's events: each first attempt fails (the receiver's `once` path), retried in a minute.
        sku = f"WHC-{time.monotonic_ns()}"
        stocked_product(operator, sku, new_codes(2))
        placed = order(public, sku).json()
        assert pay(stack, placed).status_code == 200
        wait_for(public, placed)
        row.get_by_role("link", name=webhook_id).click()
        expect(page.get_by_role("heading", name=f"Deliveries of {webhook_id}")).to_be_visible()
        paid = page.get_by_role("row").filter(has_text="order.paid")
        deadline = time.monotonic() + 30
        while "500" not in (paid.inner_text() if paid.count() else ""):
            assert time.monotonic() < deadline, "the delivery log never showed the failed attempt"
            page.reload()
            expect(page.get_by_role("heading", name=f"Deliveries of {webhook_id}")).to_be_visible()
        expect(paid).to_contain_text("Pending")
        expect(paid).to_contain_text("not yet")  # the answer's excerpt
        delivery_id = next(
            d["delivery_id"]
            for d in operator.get(f"/v1/admin/webhooks/{webhook_id}/deliveries").json()["items"]
            if d["type"] == "order.paid"
        )
        paid.get_by_role("button", name=f"Retry {delivery_id}").click()
        expect(page.get_by_role("status").filter(has_text="is queued again")).to_be_visible()
        while "Delivered" not in paid.inner_text():
            assert time.monotonic() < deadline + 30, "the retried delivery never succeeded"
            page.reload()
            expect(page.get_by_role("heading", name=f"Deliveries of {webhook_id}")).to_be_visible()
        expect(paid).to_contain_text("200")
        screenshot(page, "console-15-webhook-deliveries")

        page.get_by_role("link", name="← Webhooks").click()
        row = page.get_by_role("row").filter(has_text=url)
        row.get_by_role("button", name=f"Disable {webhook_id}").click()
        expect(page.get_by_text(f"{webhook_id} is disabled")).to_be_visible()
        expect(page.get_by_role("row").filter(has_text=url)).to_contain_text("Disabled")
        assert operator.get(f"/v1/admin/webhooks/{webhook_id}").json()["status"] == "disabled"
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("row").filter(has_text=url).get_by_role("button", name=f"Delete {webhook_id}").click()
        expect(page.get_by_text(f"{webhook_id} is deleted")).to_be_visible()
    finally:
        receiver.stop()
