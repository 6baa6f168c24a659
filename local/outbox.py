"""Everything sent through SES and SNS in the emulator, oldest first (CONTRACT §7
`GET /_local/outbox`). Moto keeps what was sent but not when: after each SES or SNS request
the new entries are stamped with the time they appeared."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime
from typing import Any

from moto.ses.models import ses_backends
from moto.sns.models import sns_backends

from local.template import ACCOUNT_ID, REGION

_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([a-z0-9-]+)/aws4_request")


class Outbox:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[dict[str, Any]] = []
        self._seen_ses = 0
        self._seen_raw = 0
        self._seen_topic: dict[str, int] = {}
        self._seen_sms = 0

    def items(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._items)

    def collect(self, environ: dict[str, Any]) -> None:
        match = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        if match is None or match.group(1) not in ("ses", "email", "sns"):
            return
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        with self._lock:
            self._collect_ses(now)
            self._collect_sns(now)

    def _collect_ses(self, now: str) -> None:
        backend = ses_backends[ACCOUNT_ID][REGION]
        sent = backend.sent_messages
        simple = [m for m in sent if hasattr(m, "subject")]
        raw = [m for m in sent if not hasattr(m, "subject")]
        for m in simple[self._seen_ses :]:
            dest = m.destinations
            to = [*dest.get("ToAddresses", []), *dest.get("CcAddresses", []), *dest.get("BccAddresses", [])]
            self._items.append({"channel": "email", "to": to, "subject": m.subject, "body": m.body, "sent_at": now})
        for m in raw[self._seen_raw :]:
            self._items.append(
                {
                    "channel": "email",
                    "to": list(m.destinations or []),
                    "subject": "",
                    "body": m.raw_data,
                    "sent_at": now,
                }
            )
        self._seen_ses, self._seen_raw = len(simple), len(raw)

    def _collect_sns(self, now: str) -> None:
        backend = sns_backends[ACCOUNT_ID][REGION]
        for arn, topic in backend.topics.items():
            seen = self._seen_topic.get(arn, 0)
            for _mid, message, subject, _attrs, _group in topic.sent_notifications[seen:]:
                self._items.append(
                    {"channel": "sns", "to": [arn], "subject": subject or "", "body": message, "sent_at": now}
                )
            self._seen_topic[arn] = len(topic.sent_notifications)
        sms = list(backend.sms_messages.values())
        for phone, message in sms[self._seen_sms :]:
            self._items.append({"channel": "sms", "to": [phone], "subject": "", "body": message, "sent_at": now})
        self._seen_sms = len(sms)


OUTBOX = Outbox()
