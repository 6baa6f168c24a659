"""Settings read once per container from the environment the template sets."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field


class Settings(BaseModel):
    """Every name here is an environment variable in template.yaml's Globals (upper case).
    A plain model over os.environ: pydantic-settings cost ~30 ms of every cold start."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    stage: str = "dev"
    business_time_zone: str = "Asia/Shanghai"
    catalog_table: str = Field(default="", description="products and their stock shards")
    orders_table: str = ""
    cards_table: str = ""
    partners_table: str = ""
    idempotency_table: str = ""
    dashboard_table: str = Field(default="", description="the dashboard's counters")
    promotions_table: str = Field(default="", description="coupons and promotions, with their use counters")
    cards_bucket: str = ""
    reports_bucket: str = ""
    alerts_topic_arn: str = ""
    fulfilment_queue_url: str = ""
    ingest_queue_url: str = ""
    kms_key_id: str = ""
    code_digest_secret_arn: str = ""
    enable_sandbox_payments: bool = False
    max_pending_orders_per_email: int = 3
    max_pending_orders_per_ip: int = 20
    max_pending_units_per_ip_per_sku: int = Field(default=20, ge=1)
    order_ttl_minutes: int = 15
    stock_shards: int = Field(default=32, ge=1, le=32)
    ingest_slice_seconds: int = Field(default=840, ge=1)
    sandbox_secret_arn: str = ""
    # A real provider is enabled on a stage when its secret is (template: Enable{WechatPay,...}).
    wechatpay_secret_arn: str = ""
    alipay_secret_arn: str = ""
    stripe_secret_arn: str = ""
    provider_secrets_max_age: int = Field(default=300, ge=0)
    promotions_max_age: int = Field(default=10, ge=0, description="seconds a container keeps the promotions it read")
    sender_email: str = "shop@kayisu.local"
    storefront_url: str = ""
    fulfilment_dlq_url: str = ""
    ingest_dlq_url: str = ""
    stock_events_queue_url: str = ""
    alert_email: str = ""
    webhooks_table: str = ""
    webhook_queue_url: str = ""
    # Seconds to wait before each retry of a failed delivery (CONTRACT §13: ~1 min ... 12 h).
    webhook_retry_seconds: str = Field(default="60,300,1800,7200,21600,43200", pattern=r"^\d{1,6}(,\d{1,6}){0,19}$")
    # The local stack also lets webhooks reach 127.0.0.1 and localhost (never when deployed).
    allow_loopback_webhooks: bool = False

    @property
    def webhook_retries(self) -> list[int]:
        return [int(s) for s in self.webhook_retry_seconds.split(",")]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.model_validate({k.lower(): v for k, v in os.environ.items()})


class SettingsError(RuntimeError):
    """A function's environment lacks what it needs: it cannot start."""


def require(*names: str) -> Settings:
    """The settings, once the ones this function needs are known to be set: called where a handler
    module is imported, so that a missing table or queue fails the cold start with its variable's
    name (and invalid values with pydantic's message), not the first AWS call with an obscure one."""
    unknown = [name for name in names if name not in Settings.model_fields]
    if unknown:
        raise SettingsError(f"no such setting: {', '.join(unknown)}")
    settings = get_settings()
    missing = [name.upper() for name in names if not getattr(settings, name)]
    if missing:
        function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "this function")
        raise SettingsError(f"{function} cannot start: {', '.join(missing)} not set (template.yaml Globals)")
    return settings
