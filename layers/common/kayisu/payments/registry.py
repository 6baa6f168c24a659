"""Which providers this stage accepts, built once per container with their secrets."""

from __future__ import annotations

import threading
from collections.abc import Callable

from kayisu.aws import client
from kayisu.config import get_settings
from kayisu.container import scope
from kayisu.payments.provider import PaymentProvider

_providers: dict[tuple[str, str], PaymentProvider] = {}
_lock = threading.Lock()


def enabled_methods() -> list[str]:
    settings = get_settings()
    return ["sandbox"] if settings.enable_sandbox_payments else []


class UnknownProvider(Exception):
    pass


def provider(name: str) -> PaymentProvider:
    """The enabled provider called `name`; UnknownProvider otherwise."""
    if name not in enabled_methods():
        raise UnknownProvider(name)
    with _lock:
        slot = (scope(), name)
        if slot not in _providers:
            _providers[slot] = _build(name)
        return _providers[slot]


def _secret(arn: str) -> Callable[[], str]:
    """Reads the secret on first use, then keeps it for the container's life."""
    kept: list[str] = []

    def load() -> str:
        if not kept:
            kept.append(str(client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]))
        return kept[0]

    return load


def _build(name: str) -> PaymentProvider:
    if name == "sandbox":
        from kayisu.payments.sandbox import SandboxProvider

        return SandboxProvider(_secret(get_settings().sandbox_secret_arn))
    raise UnknownProvider(name)
