"""A shop's own system as a webhook receiver, on 127.0.0.1 (the local stack allows loopback
targets): it records every request and answers as a test tells it, per URL path:
`ok` (200), `flaky` (500 to an event id's first two attempts, then 200), `once` (500 to its
first attempt only) or `silent` (reads the request and never answers until the receiver stops)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.body)
        return doc

    def signatures(self) -> tuple[int, list[str]]:
        """The signature header's `t` and each `v1`."""
        parts = [p.partition("=") for p in self.headers["Kayisu-Signature"].split(",")]
        t = [int(v) for k, _, v in parts if k == "t"]
        assert len(t) == 1, self.headers["Kayisu-Signature"]
        return t[0], [v for k, _, v in parts if k == "v1"]

    def signed_by(self, secret: str) -> bool:
        """Checked as docs/webhooks.md tells a receiver to: HMAC-SHA256 of "<t>.<raw body>"."""
        t, v1 = self.signatures()
        expected = hmac.new(secret.encode(), f"{t}.".encode() + self.body, hashlib.sha256).hexdigest()
        return any(hmac.compare_digest(expected, given) for given in v1)


@dataclass
class Receiver:
    server: ThreadingHTTPServer
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)
    attempts: Counter[tuple[str, str]] = field(default_factory=Counter)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{path}"

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == "/" + path]

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        got = Received(handler.path, dict(handler.headers.items()), handler.rfile.read(length))
        event_id = handler.headers.get("Kayisu-Event-Id", "")
        with self.lock:
            self.received.append(got)
            self.attempts[(handler.path, event_id)] += 1
            n = self.attempts[(handler.path, event_id)]
        kind = handler.path.strip("/").split("-")[0]
        if kind == "silent":
            self.stopping.wait(30)  # past the sender's 10 s: no answer at all
            return
        status = 500 if n <= {"flaky": 2, "once": 1}.get(kind, 0) else 200
        payload = b"not yet" if status == 500 else b"thanks"
        handler.send_response(status)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()


def start_receiver() -> Receiver:
    holder: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            holder[0].answer(self)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver = Receiver(server)
    holder.append(receiver)
    threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True).start()
    return receiver
