"""The template's event sources, run locally: SQS event source mappings (batch size,
ReportBatchItemFailures, visibility timeout; the queue's redrive policy moves poison messages
to the DLQ inside the emulator), DynamoDB stream mappings (local.streams) and EventBridge
schedules (rate and cron, in their time zone)."""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import boto3
from croniter import croniter

from local.functions import Function
from local.streams import StreamMapping, StreamPoller
from local.template import ACCOUNT_ID, REGION, Template

log = logging.getLogger("kayisu.local.events")


@dataclass
class QueueMapping:
    name: str
    function: Function
    queue_arn: str
    queue_url: str
    batch_size: int
    report_failures: bool
    workers: int = 4  # Lambda polls with several concurrent invocations; races must be possible here too

    def sqs_event(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "Records": [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m.get("Attributes", {}),
                    "messageAttributes": {
                        k: {
                            "stringValue": v.get("StringValue"),
                            "binaryValue": v.get("BinaryValue"),
                            "dataType": v["DataType"],
                            "stringListValues": [],
                            "binaryListValues": [],
                        }
                        for k, v in (m.get("MessageAttributes") or {}).items()
                    },
                    "md5OfBody": m.get("MD5OfBody", ""),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.queue_arn,
                    "awsRegion": REGION,
                }
                for m in messages
            ]
        }


@dataclass
class ScheduleMapping:
    name: str  # the schedule event's logical id
    function: Function
    expression: str
    timezone: str
    enabled: bool
    input: str | None = None  # Scheduler's Input, with its <aws.scheduler.…> context attributes

    def scheduled_event(self, at: datetime) -> dict[str, Any]:
        """The Scheduled Event for `at`, with the schedule's Input (if any) laid over it: on AWS,
        Scheduler delivers the Input alone, so handlers read only what the Input names."""
        stamp = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = self._base_event(at, stamp)
        if self.input:
            text = (
                self.input.replace("<aws.scheduler.scheduled-time>", stamp)
                .replace("<aws.scheduler.execution-id>", str(event["id"]))
                .replace("<aws.scheduler.attempt-number>", "1")
                .replace("<aws.scheduler.schedule-arn>", str(event["resources"][0]))
            )
            given = json.loads(text)
            if isinstance(given, dict):
                event.update(given)
        return event

    def _base_event(self, at: datetime, stamp: str) -> dict[str, Any]:
        return {
            "version": "0",
            "id": f"local-{self.name}-{int(at.timestamp())}",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": ACCOUNT_ID,
            "time": stamp,
            "region": REGION,
            "resources": [f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{self.name}"],
            "detail": {},
        }

    def next_after(self, after: datetime) -> datetime:
        expr = self.expression.strip()
        if expr.startswith("rate("):
            amount, unit = expr[5:-1].split()
            seconds = (
                int(amount)
                * {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}[unit]
            )
            return after + timedelta(seconds=seconds)
        if expr.startswith("cron("):
            return _next_cron(expr[5:-1], after, ZoneInfo(self.timezone))
        if expr.startswith("at("):
            return datetime.max.replace(tzinfo=UTC)
        raise ValueError(f"unsupported schedule expression {expr!r}")


def _next_cron(fields: str, after: datetime, tz: ZoneInfo) -> datetime:
    """AWS cron (min hour dom month dow year, `?` allowed, dow 1-7 = SUN-SAT) → the next time."""
    minute, hour, dom, month, dow, _year = fields.split()
    dom = "*" if dom == "?" else dom
    dow = "*" if dow == "?" else "".join(str(int(ch) - 1) if ch.isdigit() else ch for ch in dow)
    itr = croniter(f"{minute} {hour} {dom} {month} {dow}", after.astimezone(tz))
    nxt: datetime = itr.get_next(datetime)
    return nxt.astimezone(UTC)


def queue_mappings(template: Template, functions: dict[str, Function]) -> list[QueueMapping]:
    out = []
    for fn in functions.values():
        for name, event in fn.events.items():
            if event.get("Type") != "SQS":
                continue
            props = event["Properties"]
            queue_lid = props["Queue"]["Fn::GetAtt"][0]
            out.append(
                QueueMapping(
                    name=name,
                    function=fn,
                    queue_arn=template.resolve(props["Queue"]),
                    queue_url=template.ref(queue_lid),
                    batch_size=int(props.get("BatchSize", 10)),
                    report_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
                    workers=int((props.get("ScalingConfig") or {}).get("MaximumConcurrency", 4)),
                )
            )
    return out


def schedule_mappings(template: Template, functions: dict[str, Function]) -> list[ScheduleMapping]:
    out = []
    for fn in functions.values():
        for name, event in fn.events.items():
            if event.get("Type") not in ("Schedule", "ScheduleV2"):
                continue
            props = template.resolve(event["Properties"])
            out.append(
                ScheduleMapping(
                    name=name,
                    function=fn,
                    expression=props["Schedule" if event["Type"] == "Schedule" else "ScheduleExpression"],
                    timezone=props.get("ScheduleExpressionTimezone", "UTC"),
                    enabled=props.get("Enabled", props.get("State", "ENABLED") == "ENABLED") is not False,
                    input=props.get("Input") if event["Type"] == "ScheduleV2" else None,
                )
            )
    return out


class EventSources:
    def __init__(
        self,
        queues: list[QueueMapping],
        schedules: list[ScheduleMapping],
        endpoint_url: str,
        run_schedules: bool,
        streams: list[StreamMapping] | None = None,
    ) -> None:
        self.queues = queues
        self.schedules = schedules
        self.run_schedules = run_schedules
        self.sqs = boto3.client("sqs", region_name=REGION, endpoint_url=endpoint_url)
        self.streams = [StreamPoller(s, endpoint_url) for s in streams or []]
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        for q in self.queues:
            for n in range(q.workers):
                self.threads.append(
                    threading.Thread(target=self._poll, args=(q,), name=f"sqs-{q.name}-{n}", daemon=True)
                )
        for poller in self.streams:
            self.threads.append(
                threading.Thread(
                    target=poller.run, args=(self.stopping,), name=f"stream-{poller.mapping.name}", daemon=True
                )
            )
        if self.run_schedules and self.schedules:
            self.threads.append(threading.Thread(target=self._clock, name="schedules", daemon=True))
        for t in self.threads:
            t.start()

    def stop(self) -> None:
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=5)

    def find_schedule(self, name: str) -> ScheduleMapping | None:
        """The schedule event called `name`, or the one schedule of the function called `name`.
        A function with several schedules runs with a plain Scheduled Event (no Input): it then
        does whatever each of its schedules would at that time."""
        for s in self.schedules:
            if name == s.name:
                return s
        of_function = [s for s in self.schedules if s.function.logical_id == name]
        if len(of_function) == 1:
            return of_function[0]
        if of_function:
            first = of_function[0]
            return ScheduleMapping(name, first.function, first.expression, first.timezone, first.enabled)
        return None

    def run_schedule(self, mapping: ScheduleMapping, at: datetime) -> Any:
        return mapping.function.invoke(mapping.scheduled_event(at))

    def _clock(self) -> None:
        now = datetime.now(UTC)
        due = {s.name: s.next_after(now) for s in self.schedules if s.enabled}
        while not self.stopping.wait(1.0):
            now = datetime.now(UTC)
            for s in self.schedules:
                if s.name in due and due[s.name] <= now:
                    due[s.name] = s.next_after(now)
                    try:
                        self.run_schedule(s, now)
                    except Exception:
                        log.exception("schedule %s failed", s.name)

    def _poll(self, mapping: QueueMapping) -> None:
        while not self.stopping.is_set():
            try:
                self.poll_once(mapping, wait_seconds=1)
            except Exception:
                log.exception("polling %s failed", mapping.name)
                self.stopping.wait(1.0)

    def poll_once(self, mapping: QueueMapping, wait_seconds: int = 0) -> int:
        """One receive → invoke → delete round, as Lambda's event source mapping does it."""
        got = self.sqs.receive_message(
            QueueUrl=mapping.queue_url,
            MaxNumberOfMessages=min(10, mapping.batch_size),
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not got:
            return 0
        try:
            result = mapping.function.invoke(mapping.sqs_event(got))
        except Exception:
            # The whole batch returns after the visibility timeout, as in Lambda.
            log.exception("%s failed on a batch of %d", mapping.function.logical_id, len(got))
            return len(got)
        failed: set[str] = set()
        if mapping.report_failures and isinstance(result, dict):
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures") or []}
        done = [m for m in got if m["MessageId"] not in failed]
        if done:
            self.sqs.delete_message_batch(
                QueueUrl=mapping.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        return len(got)
