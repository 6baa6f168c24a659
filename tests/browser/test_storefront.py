"""The storefront in a real browser (issue 8): a shopper buys with the sandbox provider and sees
exactly the codes the operator uploaded; sold-out, expired and refunded orders and errors read
as words in both languages. Each step leaves a screenshot in test-artifacts/browser/."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.sync_api import Page, Route, expect

from tests.browser.conftest import Shopper, screenshot
from tests.integration.conftest import Api
from tests.integration.shop import new_codes, order, outbox, pay, run_schedule, stocked_product, wait_for

ORDER_URL = re.compile(r"/orders/ord_[a-z2-7]+$")


def later(minutes: int) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def email() -> str:
    return f"shopper-{secrets.token_hex(4)}@example.com"


def checkout(page: Page, sku: str, quantity: int = 1) -> None:
    """From the product page to the checkout form, as a shopper clicks through it."""
    page.goto(f"/products/{sku}")
    expect(page.get_by_role("heading", level=1, name=f"Test {sku}")).to_be_visible()
    page.get_by_label("Quantity").fill(str(quantity))
    page.get_by_role("button", name="Buy").click()
    expect(page.get_by_role("heading", level=1, name="Checkout")).to_be_visible()


def test_a_sandbox_purchase_ends_showing_exactly_the_uploaded_codes(
    shopper: Callable[..., Shopper], stack: dict[str, Any], operator: Api, new_sku: str
) -> None:
    codes = new_codes(2, "WEB")
    stocked_product(operator, new_sku, codes, price=1990, max_per_order=3)
    me = shopper()
    me.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = me.page()

    page.goto("/")
    expect(page.get_by_role("heading", level=1, name="Cards and vouchers")).to_be_visible()
    card = page.get_by_role("listitem").filter(has=page.get_by_role("link", name=f"Test {new_sku}"))
    expect(card).to_contain_text("CN¥19.90")
    expect(card).to_contain_text("Only 2 left")
    screenshot(page, "01-products")

    card.get_by_role("link", name=f"Test {new_sku}").click()
    expect(page.get_by_role("heading", level=1, name=f"Test {new_sku}")).to_be_visible()
    expect(page.get_by_text("1–3 per order")).to_be_visible()
    quantity = page.get_by_label("Quantity")
    expect(quantity).to_have_attribute("max", "2")  # no more than there is
    quantity.fill("2")
    screenshot(page, "02-product")
    page.get_by_role("button", name="Buy").click()

    expect(page.get_by_role("heading", level=1, name="Checkout")).to_be_visible()
    expect(page.get_by_text(f"Test {new_sku} × 2")).to_be_visible()
    expect(page.locator(".total")).to_have_text("Total CN¥39.80")
    expect(page.get_by_label("Sandbox (test, no money moves)")).to_be_checked()
    page.get_by_label("Email").fill(email())
    screenshot(page, "03-checkout")
    page.get_by_role("button", name="Place order and pay").click()

    # The sandbox provider's own page (CONTRACT §2), then its way back to the shop.
    page.wait_for_url("**/v1/sandbox/pay/**")
    expect(page.get_by_role("button", name="支付 Pay")).to_be_visible()
    screenshot(page, "04-sandbox-pay")
    page.get_by_role("button", name="支付 Pay").click()
    expect(page.get_by_role("heading", name="支付成功 / Paid")).to_be_visible()
    page.get_by_role("link", name="返回商店 / Back to the shop").click()

    page.wait_for_url(ORDER_URL)
    expect(page.get_by_role("status").filter(has_text="Delivered")).to_be_visible()
    shown = page.locator(".card-code")
    expect(shown).to_have_count(2)
    assert sorted(shown.all_inner_texts()) == sorted(codes)
    expect(page.get_by_role("img", name="QR code of code 1")).to_be_visible()
    expect(page.get_by_role("img", name="QR code of code 2")).to_be_visible()
    expect(page.get_by_text("CN¥39.80")).to_be_visible()
    screenshot(page, "05-order-delivered")

    page.get_by_role("button", name="Copy code 1").click()
    expect(page.get_by_role("button", name="Copy code 1")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == shown.first.inner_text()

    order_id = page.url.rsplit("/", 1)[1]
    page.get_by_role("link", name="My orders").click()
    expect(page.get_by_role("heading", level=1, name="My orders on this device")).to_be_visible()
    saved = page.get_by_role("listitem").filter(has_text=order_id)
    expect(saved).to_contain_text("Delivered")
    expect(saved.get_by_role("link", name=new_sku)).to_have_attribute("href", f"/orders/{order_id}")
    screenshot(page, "06-my-orders")

    # The token stays in this browser: in no URL it asked for, and the shop's pages send no
    # referrer (only the sandbox's own page, which is not the shop's, sends one).
    token = page.evaluate("JSON.parse(localStorage.getItem('kayisu.orders.v1'))[0].access_token")
    assert token
    assert not [url for url, _ in me.requests if token in url]
    assert not [(url, referer) for url, referer in me.requests if referer and "/v1/sandbox/pay/" not in referer]


def test_sold_out_products_cannot_be_bought_and_a_lost_race_reads_as_words(
    shopper: Callable[..., Shopper], public: Api, operator: Api, new_sku: str
) -> None:
    empty = f"{new_sku}-EMPTY"
    stocked_product(operator, empty, [])
    stocked_product(operator, new_sku, new_codes(1))
    page = shopper().page()

    page.goto("/")
    card = page.get_by_role("listitem").filter(has=page.get_by_role("link", name=f"Test {empty}"))
    expect(card).to_contain_text("Sold out")
    card.get_by_role("link").click()
    expect(page.get_by_text("This product is sold out. Please check back later.")).to_be_visible()
    expect(page.get_by_role("button", name="Buy")).to_have_count(0)
    screenshot(page, "07-product-sold-out")

    checkout(page, new_sku)
    page.get_by_label("Email").fill(email())
    taken = order(public, new_sku)  # someone else takes the last card meanwhile
    assert taken.status_code == 201, taken.text
    page.get_by_role("button", name="Place order and pay").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Not enough stock for this order. Nothing was reserved or charged")
    expect(page.locator("body")).not_to_contain_text("OUT_OF_STOCK")
    expect(page).to_have_url(re.compile(r"/checkout/"))
    screenshot(page, "08-checkout-out-of-stock")


def test_server_validation_errors_read_as_words_in_chinese(
    shopper: Callable[..., Shopper], operator: Api, new_sku: str
) -> None:
    stocked_product(operator, new_sku, new_codes(1))
    page = shopper("zh-CN").page()
    page.goto(f"/checkout/{new_sku}?quantity=1")
    expect(page.get_by_role("heading", level=1, name="结账")).to_be_visible()
    page.get_by_label("邮箱").fill("someone@localhost")  # the browser lets it pass; the API does not
    page.get_by_role("button", name="提交订单并支付").click()
    expect(page.get_by_role("alert")).to_have_text("请检查标出的内容。")
    expect(page.get_by_text("请输入有效的邮箱地址，例如 name@example.com。")).to_be_visible()
    expect(page.get_by_label("邮箱")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("body")).not_to_contain_text("VALIDATION_ERROR")
    screenshot(page, "09-checkout-validation-zh")


def test_an_unpaid_order_waits_for_payment_then_shows_it_expired(
    shopper: Callable[..., Shopper], stack: dict[str, Any], operator: Api, new_sku: str
) -> None:
    stocked_product(operator, new_sku, new_codes(1))
    page = shopper().page()
    checkout(page, new_sku)
    page.get_by_label("Email").fill(email())
    page.get_by_role("button", name="Place order and pay").click()
    page.wait_for_url("**/v1/sandbox/pay/**")
    page.go_back()  # the shopper leaves the payment page without paying

    page.wait_for_url(ORDER_URL)
    expect(page.get_by_role("status").filter(has_text="Waiting for payment")).to_be_visible()
    expect(page.get_by_text(re.compile(r"Please pay before .+; after that the order is cancelled\."))).to_be_visible()
    expect(page.get_by_role("link", name="Pay now")).to_have_attribute("href", re.compile(r"/v1/sandbox/pay/"))
    screenshot(page, "10-order-pending")

    run_schedule(stack, "SweeperFunction", later(16))  # the sweeper, as of after the deadline
    expect(page.get_by_role("status").filter(has_text="Expired")).to_be_visible()
    expect(page.get_by_text("This order expired before it was paid. Nothing was charged")).to_be_visible()
    expect(page.get_by_role("link", name="Buy again")).to_be_visible()
    expect(page.get_by_role("link", name="Pay now")).to_have_count(0)
    screenshot(page, "11-order-expired")


def test_the_mail_link_opens_the_order_on_any_device_and_shows_a_refund(
    shopper: Callable[..., Shopper], stack: dict[str, Any], public: Api, operator: Api, new_sku: str
) -> None:
    codes = new_codes(1, "MAIL")
    stocked_product(operator, new_sku, codes)
    placed = order(public, new_sku, email=email()).json()
    assert pay(stack, placed).status_code == 200
    wait_for(public, placed)
    mail = next(m for m in outbox(stack) if placed["order_id"] in m["subject"])
    found = re.search(r"https?://\S+/orders/ord_\w+#token=[\w-]+", mail["body"])
    assert found, mail["body"]

    page = shopper("zh-CN").page()  # another browser: nothing saved, Chinese
    page.goto(found.group(0))
    expect(page.get_by_role("status").filter(has_text="已发卡")).to_be_visible()
    expect(page.locator(".card-code")).to_have_text(codes)
    assert "#" not in page.url  # the token left the address bar, into this browser's storage
    screenshot(page, "12-order-from-mail-zh")

    refunded = operator.post(f"/v1/admin/orders/{placed['order_id']}/refund", {"reason": "browser test"})
    assert refunded.status_code == 200, refunded.text
    page.reload()
    expect(page.get_by_role("status").filter(has_text="已退款")).to_be_visible()
    expect(page.get_by_text(re.compile("此订单已于 .+ 退款，原卡密已作废。"))).to_be_visible()
    expect(page.locator(".card-code")).to_have_count(0)
    screenshot(page, "13-order-refunded-zh")
    page.goto(f"/orders/{placed['order_id']}#token=a-mangled-link")  # the token kept here still works
    expect(page.get_by_role("status").filter(has_text="已退款")).to_be_visible()

    stranger = shopper().page()
    stranger.goto(f"/orders/{placed['order_id']}")
    expect(stranger.get_by_role("alert")).to_have_text(
        "This device does not hold the key to this order. Open it with the full link from your email."
    )
    stranger.goto(f"/orders/{placed['order_id']}#token=not-the-token")
    expect(stranger.get_by_role("alert")).to_have_text(
        "We can't find this order, or the link is incomplete. Use the full link from your email."
    )
    screenshot(stranger, "14-order-unknown")


def test_the_language_follows_the_browser_and_the_switch(shopper: Callable[..., Shopper]) -> None:
    page = shopper("zh-CN").page()
    page.goto("/")
    expect(page.get_by_role("heading", level=1, name="选购卡券")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.get_by_role("link", name="我的订单")).to_be_visible()
    screenshot(page, "15-products-zh")

    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", level=1, name="Cards and vouchers")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.reload()  # the choice is remembered
    expect(page.get_by_role("heading", level=1, name="Cards and vouchers")).to_be_visible()
    page.get_by_role("button", name="中文").click()
    expect(page.get_by_role("heading", level=1, name="选购卡券")).to_be_visible()

    english = shopper("en-GB").page()
    english.goto("/no/such/page")
    expect(english.get_by_role("heading", level=1, name="Page not found")).to_be_visible()


def test_a_wechat_pay_order_shows_its_code_url_as_a_qr_code(shopper: Callable[..., Shopper]) -> None:
    """No WeChat Pay here: the API's answer for such an order is played back to the page."""
    order_id = "ord_" + "w" * 32
    now = datetime.now(UTC)
    answer = {
        "order_id": order_id,
        "status": "pending_payment",
        "sku": "GIFT-CNY-100",
        "quantity": 1,
        "amount": 9800,
        "currency": "CNY",
        "email": "w***@example.com",
        "created_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "expires_at": (now + timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "paid_at": None,
        "delivered_at": None,
        "payment": {
            "method": "wechatpay",
            "payment_id": "wx_1",
            "pay_url": None,
            "qr_code": "weixin://wxpay/bizpayurl?pr=kayisu1",
        },
    }

    def played(route: Route) -> None:
        assert route.request.headers.get("authorization") == "Bearer wx-token"
        route.fulfill(status=200, content_type="application/json", body=json.dumps(answer))

    me = shopper("zh-CN")
    me.context.route(f"**/v1/orders/{order_id}", played)
    page = me.page()
    page.goto(f"/orders/{order_id}#token=wx-token")
    expect(page.get_by_role("status").filter(has_text="待支付")).to_be_visible()
    expect(page.get_by_text("请用微信支付扫描二维码支付")).to_be_visible()
    expect(page.get_by_role("img", name="支付二维码")).to_be_visible()
    expect(page.get_by_text("¥98.00")).to_be_visible()
    screenshot(page, "16-order-wechat-qr-zh")


def test_the_checkout_shows_each_step_of_the_price_and_takes_a_coupon(
    shopper: Callable[..., Shopper], stack: dict[str, Any], operator: Api, public: Api, new_sku: str
) -> None:
    stocked_product(operator, new_sku, new_codes(6), price=1000, max_per_order=6)
    assert operator.put(f"/v1/admin/products/{new_sku}", {"price_tiers": [{"min_quantity": 5, "price": 900}]}).ok
    code = f"SHOP{secrets.token_hex(3).upper()}"
    made = operator.post("/v1/admin/coupons", {"code": code, "kind": "fixed", "value": 500, "min_spend": 4000})
    assert made.status_code == 201, made.text
    page = shopper().page()
    page.goto(f"/products/{new_sku}")
    expect(page.get_by_role("region", name="Offers")).to_contain_text("CN¥9.00 each from 5")
    checkout(page, new_sku, 5)
    steps = page.locator(".price-steps")
    expect(steps).to_contain_text("List price")
    expect(steps).to_contain_text("CN¥50.00")
    expect(steps).to_contain_text("Wholesale price")
    expect(steps).to_contain_text("−CN¥5.00")
    expect(page.locator(".total")).to_have_text("Total CN¥45.00")
    page.get_by_label("Coupon code (optional)").fill("NO-SUCH")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#coupon-error")).to_have_text("There is no such coupon code.")
    expect(page.locator(".total")).to_have_text("Total CN¥45.00")
    page.get_by_label("Coupon code (optional)").fill(code.lower())
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#coupon-error")).to_have_text(f"Coupon {code.lower()} applied.")
    expect(page.locator(".total")).to_have_text("Total CN¥40.00")
    screenshot(page, "09-checkout-coupon")
    page.get_by_label("Email").fill(email())
    page.get_by_role("button", name="Place order and pay").click()
    page.wait_for_url("**/v1/sandbox/pay/**")
    mine = operator.get("/v1/admin/coupons/" + made.json()["coupon_id"]).json()
    assert mine["held"] == 1
    page.go_back()  # the order page, where the shop put it before leaving for the payment page
    expect(page.get_by_text("Wholesale price −CN¥5.00; Coupon −CN¥5.00")).to_be_visible()


def test_a_bundle_shows_what_it_holds_and_delivers_each_components_codes(
    shopper: Callable[..., Shopper], operator: Api
) -> None:
    tag = secrets.token_hex(3).upper()
    parts = {f"PART-A-{tag}": new_codes(2, "BA"), f"PART-B-{tag}": new_codes(3, "BB")}
    for sku, codes in parts.items():
        stocked_product(operator, sku, codes, price=1000)
    (a, b), bundle = parts, f"SET-{tag}"
    made = operator.post(
        "/v1/admin/products",
        {"sku": bundle, "name": f"Test {bundle}", "price": 1800, "components": [{"sku": a}, {"sku": b}]},
    )
    assert made.status_code == 201, made.text
    page = shopper().page()
    page.goto("/")
    card = page.get_by_role("listitem").filter(has=page.get_by_role("link", name=f"Test {bundle}"))
    expect(card).to_contain_text("Bundle")
    expect(card).to_contain_text("Only 2 left")  # A has 2 cards: 2 whole bundles
    page.goto(f"/products/{bundle}")
    expect(page.get_by_text("This bundle includes:")).to_be_visible()
    expect(page.get_by_role("listitem").filter(has_text=f"1 × Test {a}")).to_be_visible()
    expect(page.get_by_role("listitem").filter(has_text=f"1 × Test {b}")).to_be_visible()
    screenshot(page, "30-bundle-product")
    page.get_by_label("Quantity").fill("2")
    page.get_by_role("button", name="Buy").click()
    expect(page.get_by_role("heading", level=1, name="Checkout")).to_be_visible()
    page.get_by_label("Email").fill(email())
    page.get_by_role("button", name="Place order and pay").click()
    page.wait_for_url("**/v1/sandbox/pay/**")
    page.get_by_role("button", name="支付 Pay").click()
    page.get_by_role("link", name="返回商店 / Back to the shop").click()
    page.wait_for_url(ORDER_URL)
    expect(page.get_by_role("status").filter(has_text="Delivered")).to_be_visible()
    expect(page.locator(".card-code")).to_have_count(4)
    for sku, codes in parts.items():
        titled = page.locator(".card").filter(has_text=sku)
        expect(titled).to_have_count(2)
        assert set(titled.locator(".card-code").all_inner_texts()) <= set(codes)
    screenshot(page, "31-bundle-delivered")
