"""Which providers this stage accepts, built once per container. A real provider is enabled
when the template gives it a secret (parameters EnableWechatPay, EnableAlipay, EnableStripe);
its secret is read through Powertools parameters, cached per container (docs/operations.md)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from kayisu.config import Settings, get_settings
from kayisu.container import scope
from kayisu.payments.provider import PaymentProvider

_providers: dict[tuple[str, str], PaymentProvider] = {}
_lock = threading.Lock()


def _secret_arns(settings: Settings) -> dict[str, str]:
    return {
        "sandbox": settings.sandbox_secret_arn,
        "wechatpay": settings.wechatpay_secret_arn,
        "alipay": settings.alipay_secret_arn,
        "stripe": settings.stripe_secret_arn,
    }


def enabled_methods() -> list[str]:
    """The sandbox by its own switch; a real provider when the template gave it a secret."""
    settings = get_settings()
    real = [name for name, arn in _secret_arns(settings).items() if arn and name != "sandbox"]
    return (["sandbox"] if settings.enable_sandbox_payments else []) + real


class UnknownProvider(Exception):
    pass


def provider(name: str) -> PaymentProvider:
    """The enabled provider called `name`; UnknownProvider otherwise."""
    if name not in enabled_methods():
        raise UnknownProvider(name)
    with _lock:
        slot = (scope(), name)
        if slot not in _providers:
            _providers[slot] = _build(name, _secret_arns(get_settings())[name])
        return _providers[slot]


def _json_secret(name: str, arn: str) -> Callable[[], Mapping[str, Any]]:
    from kayisu.payments.http import load_secret

    return lambda: load_secret(name, arn)


def _build(name: str, arn: str) -> PaymentProvider:
    if name == "sandbox":
        from kayisu.payments.http import load_text_secret
        from kayisu.payments.sandbox import SandboxProvider

        return SandboxProvider(lambda: load_text_secret("sandbox", arn))
    if name == "wechatpay":
        from kayisu.payments.wechatpay import WechatPay

        return WechatPay(_json_secret(name, arn))
    if name == "alipay":
        from kayisu.payments.alipay import Alipay

        return Alipay(_json_secret(name, arn))
    if name == "stripe":
        from kayisu.payments.stripe import Stripe

        return Stripe(_json_secret(name, arn))
    raise UnknownProvider(name)
