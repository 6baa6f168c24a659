"""The sandbox's pay page (GET) and what its buttons do (POST): HTML for a person, in both
languages, with every value escaped."""

from __future__ import annotations

import html
from urllib.parse import parse_qs

from kayisu.config import get_settings
from kayisu.money import format_amount
from kayisu.orders.status import OrderStatus
from kayisu.payments.registry import UnknownProvider, provider
from kayisu.payments.sandbox import SandboxProvider, order_id_of
from kayisu.store import orders as store

STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem;color:#111}"
    "button{font-size:1.1rem;padding:.6rem 1.2rem;margin:.3rem;border-radius:.4rem;"
    "border:1px solid #333;cursor:pointer}"
    ".pay{background:#0a7d32;color:#fff}.note{color:#555;font-size:.9rem}"
)


def _page(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>{body}</body></html>"
    )


def _order(payment_id: str) -> store.OrderItem | None:
    order_id = order_id_of(payment_id)
    order = store.load_order(order_id) if order_id and len(order_id) <= 64 else None
    if order is None or order.payment_id != payment_id or order.payment_method != "sandbox":
        return None
    return order


def not_found_page() -> tuple[int, str]:
    return 404, _page("Not found", "<h1>没有这笔支付 / No such payment</h1>")


def show(payment_id: str) -> tuple[int, str]:
    order = _order(payment_id)
    if order is None:
        return not_found_page()
    amount = html.escape(format_amount(int(order.amount), order.currency))
    summary = (
        f"<h1>沙盒支付 / Sandbox payment</h1>"
        f"<p>订单 Order <code>{html.escape(order.order_id)}</code></p>"
        f"<p>金额 Amount <strong>{amount}</strong></p>"
    )
    if order.status not in (OrderStatus.PENDING_PAYMENT, OrderStatus.EXPIRED):
        return 200, _page(
            "Sandbox payment", summary + f"<p>此订单状态 / This order is: {html.escape(order.status)}</p>"
        )
    buttons = (
        '<form method="post">'
        '<button class="pay" name="action" value="pay" type="submit" autofocus>支付 Pay</button>'
        '<button name="action" value="decline" type="submit">拒绝 Decline</button>'
        "</form>"
        '<p class="note">测试环境：不会产生真实扣款。 Test mode: no money moves.</p>'
    )
    return 200, _page("Sandbox payment", summary + buttons)


def act(payment_id: str, form_body: str, api_base: str) -> tuple[int, str]:
    order = _order(payment_id)
    if order is None:
        return not_found_page()
    action = (parse_qs(form_body).get("action") or [""])[0]
    if action not in ("pay", "decline"):
        return 422, _page("Sandbox payment", "<h1>请选择支付或拒绝 / Choose Pay or Decline</h1>")
    try:
        sandbox = provider("sandbox")
    except UnknownProvider:
        return not_found_page()
    assert isinstance(sandbox, SandboxProvider)
    kind = "payment.succeeded" if action == "pay" else "payment.failed"
    status, answer = sandbox.send_event(kind, payment_id, order.order_id, int(order.amount), order.currency, api_base)
    back = html.escape(get_settings().storefront_url or "/")
    if 200 <= status < 300:
        outcome = "支付成功 / Paid" if action == "pay" else "已拒绝 / Declined"
    else:
        outcome = f"商户未接受通知 / The shop did not accept it: {html.escape(str(answer.get('code', status)))}"
    return 200, _page("Sandbox payment", f'<h1>{outcome}</h1><p><a href="{back}">返回商店 / Back to the shop</a></p>')
