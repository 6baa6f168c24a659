"""In-memory stand-ins for what the shop tells the world through (kayisu.ports): mail, queues
and operators' alerts. Fakes, not mocks: they hold what was told, in order, and a test reads it
the way a shopper reads a mail or an operator an alert. A `fail_next` makes the next call raise
before anything is told, as SES/SQS/SNS failing would."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field


class Unreachable(Exception):
    """The service did not take the call (injected by a test)."""


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str


@dataclass
class FakeMailer:
    sent: list[Mail] = field(default_factory=list)
    fail_next: int = 0  # how many of the next sends fail

    def send(self, to: str, subject: str, body: str) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise Unreachable("SES did not take the mail")
        self.sent.append(Mail(to, subject, body))

    def to(self, address: str) -> list[Mail]:
        return [mail for mail in self.sent if mail.to == address]


@dataclass
class FakeQueue:
    messages: list[str] = field(default_factory=list)  # bodies, as SQS would carry them

    def send(self, message: Mapping[str, str]) -> None:
        self.messages.append(json.dumps(message))

    def depth(self) -> int:
        return len(self.messages)

    def received(self) -> list[dict[str, str]]:
        return [json.loads(body) for body in self.messages]


@dataclass(frozen=True)
class Alert:
    subject: str
    message: str


@dataclass
class FakeAlerts:
    published: list[Alert] = field(default_factory=list)

    def publish(self, subject: str, message: str) -> None:
        self.published.append(Alert(subject[:100], message))  # SNS's subject limit, as the topic keeps it
