"""One webhook delivery attempt and what follows from its answer (kayisu.webhooks.delivery), with
the table, the queue, KMS and the alerts replaced by fakes that keep state; and the sender
against a real HTTP server on 127.0.0.1: the connection goes to the checked address whatever
the URL's name, a redirect is not followed, only an excerpt of the answer is kept."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from typing import Any

import pytest

from kayisu.config import get_settings
from kayisu.store import webhooks as store
from kayisu.webhooks import delivery, sender, targets
from kayisu.webhooks.targets import Target

NOW = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)
SCHEDULE = [60, 300, 1800]


@dataclass
class FakeDelivery:
    webhook_id: str = "whk_" + "1" * 20
    delivery_id: str = "dlv_" + "2" * 24
    event_id: str = "evt_x"
    status: str = "pending"
    attempts: int = 0
    next_attempt_at: datetime | None = NOW


@dataclass
class FakeWebhook:
    webhook_id: str = "whk_" + "1" * 20
    url: str = "https://hooks.example.com/in"
    status: str = "enabled"
    description: str | None = "CRM"
    sealed_secret: bytes = b"sealed-new"
    previous_sealed_secret: bytes | None = None
    previous_valid_until: datetime | None = None
    failing_since: datetime | None = None


@dataclass
class FakeEvent:
    event_id: str = "evt_x"
    body: str = '{"id":"evt_x"}'


@dataclass
class World:
    delivery: FakeDelivery = field(default_factory=FakeDelivery)
    webhook: FakeWebhook | None = field(default_factory=FakeWebhook)
    answers: list[sender.Answer] = field(default_factory=list)
    recorded: list[dict[str, Any]] = field(default_factory=list)
    queued: list[tuple[list[tuple[str, str]], int]] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    posts: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> World:
    w = World()

    def claim(d: FakeDelivery, at: datetime) -> bool:
        if d.status != "pending":
            return False
        d.attempts += 1
        return True

    def record(d: FakeDelivery, at: datetime, status: str, code: Any, latency: Any, excerpt: Any, next_at: Any) -> None:
        d.status, d.next_attempt_at = status, next_at
        w.recorded.append({"status": status, "code": code, "excerpt": excerpt, "next_at": next_at})

    def note_failure(webhook_id: str, at: datetime) -> bool:
        assert w.webhook is not None
        if w.webhook.failing_since is not None:
            return False
        w.webhook.failing_since = at
        return True

    def note_success(webhook_id: str) -> None:
        assert w.webhook is not None
        w.webhook.failing_since = None

    def disable(webhook_id: str, cutoff: datetime, at: datetime) -> bool:
        assert w.webhook is not None
        if w.webhook.status == "enabled" and w.webhook.failing_since and w.webhook.failing_since <= cutoff:
            w.webhook.status = "disabled"
            return True
        return False

    def post(target: Target, addresses: list[Any], body: bytes, headers: dict[str, str]) -> sender.Answer:
        w.posts.append(headers)
        return w.answers.pop(0)

    monkeypatch.setattr(store, "load_delivery", lambda webhook_id, delivery_id: w.delivery)
    monkeypatch.setattr(store, "load_webhook", lambda webhook_id, consistent=False: w.webhook)
    monkeypatch.setattr(store, "load_event", lambda event_id: FakeEvent())
    monkeypatch.setattr(store, "claim_attempt", claim)
    monkeypatch.setattr(store, "record_attempt", record)
    monkeypatch.setattr(store, "note_failure", note_failure)
    monkeypatch.setattr(store, "note_success", note_success)
    monkeypatch.setattr(store, "disable_if_failing_since", disable)
    monkeypatch.setattr(delivery, "enqueue", lambda pairs, delay=0: w.queued.append((pairs, delay)))
    monkeypatch.setattr(delivery, "alert_operators", lambda subject, message: w.alerts.append(subject))
    monkeypatch.setattr(delivery, "open_sealed", lambda context, sealed: sealed.decode().replace("sealed-", "whsec_"))
    monkeypatch.setattr(delivery, "now", lambda: NOW)
    monkeypatch.setattr(targets, "check", lambda url, allow: (Target("https", "hooks.example.com", 443, "/in"), []))
    monkeypatch.setattr(sender, "post", post)
    settings = get_settings().model_copy(update={"webhook_retry_seconds": ",".join(map(str, SCHEDULE))})
    monkeypatch.setattr(delivery, "get_settings", lambda: settings)
    return w


def attempt() -> str:
    return delivery.attempt("whk_" + "1" * 20, "dlv_" + "2" * 24).status


def test_a_2xx_delivers_and_ends_a_failing_streak(world: World) -> None:
    assert world.webhook is not None
    world.webhook.failing_since = NOW - timedelta(hours=1)
    world.answers = [sender.Answer(204, 12, "")]
    assert attempt() == "delivered"
    assert world.recorded[-1]["status"] == "delivered"
    assert world.webhook.failing_since is None
    assert world.queued == []
    assert world.posts[0]["Kayisu-Event-Id"] == "evt_x"
    assert world.posts[0]["Kayisu-Signature"].count("v1=") == 1


def test_failures_follow_the_schedule_then_fail_and_operators_hear_once(world: World) -> None:
    world.answers = [sender.Answer(500, 5, "boom"), sender.Answer(None, 10_000, "timed out")] * 2
    for step, wait in enumerate(SCHEDULE):
        world.delivery.next_attempt_at = NOW  # its message came back when due
        assert attempt() == "retrying"
        assert world.recorded[-1]["next_at"] == NOW + timedelta(seconds=wait)
        assert world.queued[-1][1] == wait
        assert world.delivery.attempts == step + 1
    world.delivery.next_attempt_at = NOW
    assert attempt() == "failed"
    assert world.recorded[-1] == {"status": "failed", "code": None, "excerpt": "timed out", "next_at": None}
    assert len(world.queued) == len(SCHEDULE)
    assert world.alerts == [f"webhook {world.delivery.webhook_id} is failing"]
    assert attempt() == "skipped"  # a late duplicate message: nothing is sent again
    assert len(world.posts) == len(SCHEDULE) + 1


def test_a_redirect_is_a_failure(world: World) -> None:
    world.answers = [sender.Answer(302, 3, "redirect to https://elsewhere not followed")]
    assert attempt() == "retrying"
    assert world.recorded[-1]["code"] == 302


def test_a_message_early_for_a_long_step_is_sent_back_with_the_rest_of_the_wait(world: World) -> None:
    world.delivery.next_attempt_at = NOW + timedelta(seconds=7200)
    assert attempt() == "waiting"
    assert world.queued == [([(world.delivery.webhook_id, world.delivery.delivery_id)], 7200)]
    assert world.posts == []
    assert world.delivery.attempts == 0


def test_an_endpoint_failing_every_delivery_for_three_days_is_disabled_once(world: World) -> None:
    assert world.webhook is not None
    world.webhook.failing_since = NOW - timedelta(days=3, minutes=1)
    world.answers = [sender.Answer(503, 1, "")]
    assert attempt() == "retrying"
    assert world.webhook.status == "disabled"
    assert world.alerts == [f"webhook {world.webhook.webhook_id} disabled"]
    # Its next message: a disabled endpoint is not called, the delivery ends failed.
    world.delivery.next_attempt_at = NOW
    assert attempt() == "failed"
    assert world.recorded[-1]["excerpt"] == "endpoint disabled"
    assert len(world.posts) == 1


def test_both_secrets_sign_during_the_grace_and_only_the_new_one_after(world: World) -> None:
    assert world.webhook is not None
    world.webhook.previous_sealed_secret = b"sealed-old"
    world.webhook.previous_valid_until = NOW + timedelta(hours=1)
    assert delivery.signing_secrets(world.webhook, NOW) == ["whsec_new", "whsec_old"]  # type: ignore[arg-type]
    assert delivery.signing_secrets(world.webhook, NOW + timedelta(hours=2)) == ["whsec_new"]  # type: ignore[arg-type]


# -- the sender, against a real server on 127.0.0.1


@pytest.fixture
def server() -> Iterator[tuple[int, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            seen.append({"path": self.path, "host": self.headers["Host"]})
            if self.path == "/redirect":
                self.send_response(302)
                self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = b"x" * 5000
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd.server_address[1], seen
    httpd.shutdown()
    httpd.server_close()


def test_the_post_goes_to_the_checked_address_with_the_url_host_and_keeps_only_an_excerpt(
    server: tuple[int, list[dict[str, str]]],
) -> None:
    port, seen = server
    # The name would resolve anywhere by now: the connection goes to the address checked.
    target = Target("http", "crm.example.com", port, "/in?x=1")
    answer = sender.post(target, [ip_address("127.0.0.1")], b"{}", {"Content-Type": "application/json"})
    assert answer.status == 200
    assert answer.ok
    assert len(answer.excerpt) == sender.EXCERPT_BYTES
    assert seen == [{"path": "/in?x=1", "host": f"crm.example.com:{port}"}]


def test_a_redirect_is_not_followed(server: tuple[int, list[dict[str, str]]]) -> None:
    port, seen = server
    answer = sender.post(Target("http", "localhost", port, "/redirect"), [ip_address("127.0.0.1")], b"{}", {})
    assert answer.status == 302
    assert not answer.ok
    assert "not followed" in answer.excerpt
    assert len(seen) == 1


def test_no_answer_at_all_is_reported_without_a_status() -> None:
    closed = Target("http", "localhost", 9, "/")  # discard port: nothing listens
    answer = sender.post(closed, [ip_address("127.0.0.1")], b"{}", {})
    assert answer.status is None
    assert not answer.ok
    assert answer.excerpt


def test_a_receiver_dripping_its_answer_is_cut_off_when_the_attempt_s_time_is_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stop = threading.Event()

    class Drip(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            while not stop.is_set():  # one header byte at a time, each within the socket timeout
                self.wfile.write(b"X")
                self.wfile.flush()
                stop.wait(0.05)

        def log_message(self, format: str, *args: Any) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Drip)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    monkeypatch.setattr(sender, "TIMEOUT_SECONDS", 0.5)
    try:
        answer = sender.post(
            Target("http", "localhost", httpd.server_address[1], "/"), [ip_address("127.0.0.1")], b"{}", {}
        )
    finally:
        stop.set()
        httpd.shutdown()
        httpd.server_close()
    assert answer.status is None
    assert not answer.ok
