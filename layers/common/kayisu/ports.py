"""What the shop tells the world through: mail (SES), queues (SQS) and operators' alerts (SNS),
as small Protocols, each with the boto-backed default the domain takes unless given another.

The domain never builds a boto3 client for these: `orders/fulfilment.py` mails through a
`Mailer`, `orders/queue.py`, `alerts/stock.py` and `ingest/service.py` send on a `Queue`, the
sweeper reads dead-letter queues' depth, and `alerts/ops.py` and `alerts/stock.py` alert through
`Alerts`. Unit tests pass in-memory fakes (tests/fakes/messages.py) and assert on what was told.
A default reads its address (queue URL, topic, sender) from the settings when it is used, not
when it is imported, so importing a module never needs the environment.

A fake keeps the port's promise, not just its signature: a `Queue` holds what was sent until it
is received (its depth is what it holds); what a `Mailer` or `Alerts` accepted was told once
per call (a retry that calls again tells again: promise 10 is "at least once")."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from kayisu.aws import client
from kayisu.config import Settings, get_settings

SNS_SUBJECT_LIMIT = 100


class Mailer(Protocol):
    """Sends one plain-text mail (UTF-8) from the shop's sender address."""

    def send(self, to: str, subject: str, body: str) -> None: ...


class Queue(Protocol):
    """A queue of JSON messages."""

    def send(self, message: Mapping[str, str]) -> None: ...

    def depth(self) -> int:
        """About how many messages wait in it (SQS's approximate count)."""
        ...


class Alerts(Protocol):
    """Tells operators (the alerts topic's email and SMS subscriptions)."""

    def publish(self, subject: str, message: str) -> None: ...


class SesMailer:
    def send(self, to: str, subject: str, body: str) -> None:
        client("ses").send_email(
            Source=get_settings().sender_email,
            Destination={"ToAddresses": [to]},
            Message={
                "Subject": {"Data": subject, "Charset": "UTF-8"},
                "Body": {"Text": {"Data": body, "Charset": "UTF-8"}},
            },
        )


@dataclass(frozen=True)
class SqsQueue:
    """The queue whose URL is the setting `url` picks (read when used)."""

    url: Callable[[Settings], str]

    def send(self, message: Mapping[str, str]) -> None:
        client("sqs").send_message(QueueUrl=self.url(get_settings()), MessageBody=json.dumps(message))

    def depth(self) -> int:
        attributes = client("sqs").get_queue_attributes(
            QueueUrl=self.url(get_settings()), AttributeNames=["ApproximateNumberOfMessages"]
        )
        return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


class SnsAlerts:
    def publish(self, subject: str, message: str) -> None:
        client("sns").publish(
            TopicArn=get_settings().alerts_topic_arn, Subject=subject[:SNS_SUBJECT_LIMIT], Message=message
        )


MAIL: Mailer = SesMailer()
ALERTS: Alerts = SnsAlerts()
FULFILMENT_QUEUE: Queue = SqsQueue(lambda s: s.fulfilment_queue_url)
STOCK_EVENTS_QUEUE: Queue = SqsQueue(lambda s: s.stock_events_queue_url)
INGEST_QUEUE: Queue = SqsQueue(lambda s: s.ingest_queue_url)
_DEAD_LETTERS: dict[str, Callable[[Settings], str]] = {
    "fulfilment": lambda s: s.fulfilment_dlq_url,
    "ingest": lambda s: s.ingest_dlq_url,
}


def dead_letter_queues() -> dict[str, Queue]:
    """The dead-letter queues this stage has, by what fails into them (a stage may lack one)."""
    settings = get_settings()
    return {name: SqsQueue(url) for name, url in _DEAD_LETTERS.items() if url(settings)}
