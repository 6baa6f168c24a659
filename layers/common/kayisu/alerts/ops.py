"""One-off alerts to operators (the SNS alerts topic: email and SMS subscriptions)."""

from __future__ import annotations

from kayisu.aws import client
from kayisu.config import get_settings


def alert_operators(subject: str, message: str) -> None:
    settings = get_settings()
    subject = f"Kayisu {settings.stage}: {subject}"[:100]  # SNS's limit
    client("sns").publish(TopicArn=settings.alerts_topic_arn, Subject=subject, Message=message)
