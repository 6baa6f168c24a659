"""One-off alerts to operators (the SNS alerts topic: email and SMS subscriptions)."""

from __future__ import annotations

from kayisu.config import get_settings
from kayisu.ports import ALERTS, Alerts


def alert_operators(subject: str, message: str, alerts: Alerts = ALERTS) -> None:
    alerts.publish(f"Kayisu {get_settings().stage}: {subject}", message)
