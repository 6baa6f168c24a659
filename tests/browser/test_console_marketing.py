"""The console's marketing pages (issue 18): an operator issues a coupon and sees its uses, sets
a product's wholesale prices, and runs a full reduction and a flash sale; what the pages made
is what the API prices orders with. Screenshots: test-artifacts/browser/console-2*.png."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import Shopper, screenshot, sign_in
from tests.integration.conftest import Api
from tests.integration.shop import new_codes, order, pay, stocked_product, wait_for


def test_an_operator_issues_a_coupon_and_sees_it_used(
    desk: Callable[..., Shopper], stack: dict[str, Any], operator: Api, public: Api, new_sku: str
) -> None:
    stocked_product(operator, new_sku, new_codes(3), price=1000)
    code = f"WEB{secrets.token_hex(4).upper()}"
    page = desk().page()
    sign_in(page, "operator", "/console/coupons")
    form = page.get_by_role("form", name="New coupon")
    form.get_by_label("Code (empty: generated)").fill(code)
    form.get_by_label("Kind").select_option("percent")
    form.get_by_label("Value (minor units, or 1-100 percent)").fill("20")
    form.get_by_label("Uses in all").fill("5")
    form.get_by_role("button", name="Create").click()
    expect(page.get_by_role("status").filter(has_text="1 coupon(s) created.")).to_be_visible()
    row = page.get_by_role("row").filter(has_text=code)
    expect(row).to_contain_text("20%")
    expect(row).to_contain_text("0 / 5")

    placed = order(public, new_sku, 1, coupon=code.lower()).json()
    assert placed["amount"] == 800
    assert pay(stack, placed).status_code == 200
    wait_for(public, placed)
    page.reload()
    expect(page.get_by_role("row").filter(has_text=code)).to_contain_text("1 / 5")
    screenshot(page, "console-20-coupons")
    page.goto(f"/console/orders/{placed['order_id']}")
    expect(page.get_by_text(f"Coupon {placed['discounts'][0]['id']}: −CN¥2.00")).to_be_visible()
    page.goto("/console/coupons")

    # A bad value is shown under its field, in words.
    form = page.get_by_role("form", name="New coupon")
    form.get_by_label("Kind").select_option("percent")
    form.get_by_label("Value (minor units, or 1-100 percent)").fill("150")
    form.get_by_role("button", name="Create").click()
    expect(page.get_by_role("alert")).to_contain_text("1 to 100")

    page.get_by_role("button", name=f"Disable {code}").click()
    expect(page.get_by_role("row").filter(has_text=code)).to_contain_text("Disabled")
    refused = public.post("/v1/quotes", {"sku": new_sku, "quantity": 1, "coupon": code})
    assert (refused.status_code, refused.json()["reason"]) == (422, "disabled")


def test_wholesale_prices_a_full_reduction_and_a_flash_sale_from_the_console(
    desk: Callable[..., Shopper], operator: Api, public: Api, new_sku: str
) -> None:
    stocked_product(operator, new_sku, new_codes(6), price=1000, max_per_order=10)
    flash_sku = f"{new_sku}-F"
    stocked_product(operator, flash_sku, new_codes(3), price=1000)
    page = desk(locale="zh-CN").page()
    sign_in(page, "operator", "/console/products")
    page.get_by_role("button", name=f"编辑 {new_sku}", exact=True).click()
    edit = page.get_by_role("form", name=f"编辑 {new_sku}")
    edit.get_by_label("批发价（数量:单价，逗号分隔，如 10:4500, 50:4000）").fill("5:800")
    edit.get_by_role("button", name="保存").click()
    expect(page.get_by_role("status").filter(has_text=new_sku)).to_be_visible()
    assert public.get(f"/v1/products/{new_sku}").json()["price_tiers"] == [{"min_quantity": 5, "price": 800}]

    page.get_by_role("link", name="促销活动").click()
    form = page.get_by_role("form", name="新建活动")
    form.get_by_label("名称").fill("双十二满减")
    form.get_by_label("SKU（逗号分隔；满减留空为全店）").fill(new_sku)
    form.get_by_label("开始时间").fill("2026-01-01T00:00")
    form.get_by_label("结束时间").fill("2030-01-01T00:00")
    form.get_by_label("满减档位（满:减，分，逗号分隔，如 10000:1500, 20000:4000）").fill("4000:300")
    form.get_by_role("button", name="创建").click()
    expect(page.get_by_role("status").filter(has_text="已创建")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="双十二满减")).to_contain_text("满 4,000 减 300")
    quoted = public.post("/v1/quotes", {"sku": new_sku, "quantity": 5}).json()
    assert [(d["kind"], d["amount"]) for d in quoted["discounts"]] == [("tier", 1000), ("full_reduction", 300)]

    form = page.get_by_role("form", name="新建活动")
    form.get_by_label("活动类型").select_option("flash_sale")
    form.get_by_label("名称").fill("一元秒杀")
    form.get_by_label("SKU（逗号分隔；满减留空为全店）").fill(flash_sku)
    form.get_by_label("开始时间").fill("2026-01-01T00:00")
    form.get_by_label("结束时间").fill("2030-01-01T00:00")
    form.get_by_label("秒杀价（分）").fill("100")
    form.get_by_label("秒杀总量").fill("2")
    form.get_by_role("button", name="创建").click()
    row = page.get_by_role("row").filter(has_text="一元秒杀")
    expect(row).to_contain_text("已售 0 / 2")
    assert order(public, flash_sku, 1).json()["amount"] == 100
    page.reload()
    expect(page.get_by_role("row").filter(has_text="一元秒杀")).to_contain_text("已售 1 / 2")
    screenshot(page, "console-21-promotions-zh")


def test_an_operator_makes_a_bundle_and_the_shop_sells_whole_bundles(
    desk: Callable[..., Shopper], operator: Api, public: Api, new_sku: str
) -> None:
    a, b = f"{new_sku}-A", f"{new_sku}-B"
    stocked_product(operator, a, new_codes(3), price=1000)
    stocked_product(operator, b, new_codes(5), price=2000)
    bundle = f"{new_sku}-SET"
    page = desk().page()
    sign_in(page, "operator", "/console/products")
    page.get_by_role("button", name="New product").click()
    form = page.get_by_role("form", name="New product")
    form.get_by_label("SKU").fill(bundle)
    form.get_by_label("Name").fill(f"Set {bundle}")
    form.get_by_label("Price (minor units, e.g. fen or cents)").fill("2500")
    form.get_by_label("Bundle of (product code:cards per bundle", exact=False).fill(f"{a}, {b}:2")
    screenshot(page, "console-24-new-bundle")
    form.get_by_role("button", name="New product").click()
    expect(page.get_by_role("status").filter(has_text=f"Product {bundle} created.")).to_be_visible()
    row = page.get_by_role("row").filter(has_text=bundle)
    expect(row).to_contain_text("Bundle")
    shown = public.get(f"/v1/products/{bundle}").json()
    assert (shown["components"], shown["available"]) == ([{"sku": a, "quantity": 1}, {"sku": b, "quantity": 2}], 2)
    page.get_by_role("button", name=f"Edit {bundle}", exact=True).click()
    expect(page.get_by_role("form", name=f"Edit {bundle}")).to_contain_text(f"Bundle of: {a}:1, {b}:2")
    screenshot(page, "console-25-bundle")

    # A component that does not exist is named under the field, in words.
    page.get_by_role("button", name="Cancel").click()
    page.get_by_role("button", name="New product").click()
    form = page.get_by_role("form", name="New product")
    form.get_by_label("SKU").fill(f"{bundle}-2")
    form.get_by_label("Name").fill("broken set")
    form.get_by_label("Price (minor units, e.g. fen or cents)").fill("100")
    form.get_by_label("Bundle of (product code:cards per bundle", exact=False).fill("NO-SUCH-SKU:1")
    form.get_by_role("button", name="New product").click()
    expect(page.get_by_role("alert")).to_contain_text("NO-SUCH-SKU")
