"""The dashboard's answer (CONTRACT §14); docs/api.md says what each figure counts."""

from __future__ import annotations

from pydantic import BaseModel, Field


class CurrencyTotal(BaseModel):
    currency: str
    paid: int = Field(description="money paid at the providers (the finance export's payment total)")
    refunded: int = Field(description="money refunded (refunds that failed are not money out)")
    net: int
    payments: int
    refunds: int


class SeriesPoint(BaseModel):
    date: str = Field(description="the business day, YYYY-MM-DD")
    hour: int | None = Field(default=None, description="per-hour series only: the hour of the day, business time")
    at: str | None = Field(default=None, description="per-hour series only: the hour's start, RFC 3339 UTC")
    orders: int = Field(description="orders created")
    amount: int = Field(description="money paid, in `currency`")
    currency: str


class TopProduct(BaseModel):
    sku: str
    name: str
    units: int
    amount: int
    currency: str
    orders: int


class ChannelSplit(BaseModel):
    channel: str
    orders: int
    amount: int
    currency: str


class MethodSplit(BaseModel):
    method: str
    orders: int
    amount: int
    currency: str


class Buyers(BaseModel):
    total: int = Field(description="distinct buyers (by email digest) with a sale in the range")
    repeat: int = Field(description="of them, those with two sales or more in the range")
    repeat_rate: float


class Funnel(BaseModel):
    created: int
    paid: int
    delivered: int


class Profit(BaseModel):
    currency: str
    revenue: int = Field(description="sales whose product had a cost")
    cost: int
    gross_profit: int
    margin: float | None = Field(description="gross_profit / revenue; null without revenue")
    uncosted_revenue: int = Field(description="sales of products without a cost (not in the figures above)")


class LowStock(BaseModel):
    sku: str
    available: int
    alert_threshold: int


class Tickets(BaseModel):
    open: int
    overdue: int


class Dashboard(BaseModel):
    currency_totals: list[CurrencyTotal]
    orders: dict[str, int] = Field(description="orders created in the range, by their status now")
    series: list[SeriesPoint]
    top_products: list[TopProduct]
    channels: list[ChannelSplit]
    payment_methods: list[MethodSplit]
    buyers: Buyers
    funnel: Funnel
    profit: list[Profit]
    low_stock: list[LowStock]
    tickets: Tickets
