"""The base of the fake providers: a threaded HTTP server on 127.0.0.1 (a free port) that records
every request, can be told to fail the next matching request, and delivers notifications.

Subclasses implement `handle(call) -> Response`; it runs under the fake's lock, so it must not
make HTTP requests itself (deliveries happen outside the lock, so our notification handlers may
call the fake back while being notified).
"""

from __future__ import annotations

import json
import threading
import time
import traceback
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

import requests

DELIVERY_TIMEOUT = 30


def canonical_header(name: str) -> str:
    """`content-type` -> `Content-Type`: header names as the fakes record them."""
    return "-".join(part.capitalize() for part in name.split("-"))


@dataclass
class Call:
    """One request a fake received. Header names are normalised to Title-Case
    (`Authorization`, `Wechatpay-Serial`, `Idempotency-Key`); `target` is the request target as
    sent (path and query string, undecoded)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    target: str = ""
    error: str | None = None
    status: int = 0
    at: float = field(default_factory=time.time)

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode("utf-8"), keep_blank_values=True))


@dataclass
class Response:
    """What a fake answers; `error` is the provider error code it answered with (None if accepted)."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None


@dataclass
class Delivery:
    """One notification a fake delivered, and what our side answered."""

    url: str
    headers: dict[str, str]
    body: bytes
    status: int
    response: bytes
    acknowledged: bool
    at: float = field(default_factory=time.time)


def deliver(url: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
    """POST a notification (as the provider does) and return our side's status and body."""
    answer = requests.post(url, headers=headers, data=body, timeout=DELIVERY_TIMEOUT)
    return answer.status_code, answer.content


@dataclass
class _Failure:
    path_prefix: str
    status: int
    body: bytes | dict[str, Any]


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeServer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    server_version = "FakeProvider/1.0"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        split = urlsplit(self.path)
        call = Call(
            method=self.command,
            path=split.path,
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            headers={canonical_header(k): v for k, v in self.headers.items()},
            body=body,
            target=self.path,
        )
        response = self.server.fake.dispatch(call)
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if response.body:
            self.wfile.write(response.body)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the fake records calls instead of logging them."""


class FakeServer:
    """A fake provider's HTTP server: a context manager (start on enter, stop on exit).

    `calls` records every request (with the provider error code answered, if any), `deliveries`
    every notification delivered. `fail_next` makes the next request whose path starts with
    `path_prefix` fail with the given status and body (one shot; queue several by calling again).
    If the fake itself crashed while handling a request (a bug in the fake), it answered 500 and
    leaving the context raises AssertionError with the traceback.
    """

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.deliveries: list[Delivery] = []
        self.crashes: list[str] = []
        self._failures: list[_Failure] = []
        self._lock = threading.RLock()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the fake server is not running (use it as a context manager)")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        if self._httpd is not None:
            return
        self._httpd = _HTTPServer(self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True, name=type(self).__name__
        )
        self._thread.start()

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        self._httpd = self._thread = None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        if exc_type is None and self.crashes:
            raise AssertionError(f"{type(self).__name__} crashed handling a request:\n{self.crashes[0]}")

    # ------------------------------------------------------------------ failures and records

    def fail_next(self, path_prefix: str, status: int, body: bytes | dict[str, Any]) -> None:
        """Answer the next request matching `path_prefix` with `status` and `body` (a dict is sent
        as the provider would send an error of that shape: JSON, signed where the provider signs)."""
        with self._lock:
            self._failures.append(_Failure(path_prefix, status, body))

    def calls_to(self, path_prefix: str, method: str | None = None) -> list[Call]:
        """The recorded calls whose path starts with `path_prefix` (and of `method`, if given)."""
        with self._lock:
            return [c for c in self.calls if c.path.startswith(path_prefix) and (method is None or c.method == method)]

    # ------------------------------------------------------------------ for subclasses

    def handle(self, call: Call) -> Response:
        raise NotImplementedError

    def failure_matches(self, call: Call, path_prefix: str) -> bool:
        return call.path.startswith(path_prefix)

    def failure_response(self, call: Call, status: int, body: bytes | dict[str, Any]) -> Response:
        """The injected failure as sent; subclasses sign it or wrap it like the provider."""
        if isinstance(body, dict):
            return Response(status, json_bytes(body), {"Content-Type": "application/json"}, error=error_code(body))
        return Response(status, body, {"Content-Type": "application/octet-stream"}, error=f"injected-{status}")

    def acknowledged(self, status: int, body: bytes) -> bool:
        """Whether our side's answer to a notification counts as received (the provider stops retrying)."""
        return 200 <= status < 300

    # ------------------------------------------------------------------ plumbing

    def dispatch(self, call: Call) -> Response:
        with self._lock:
            failure = next((f for f in self._failures if self.failure_matches(call, f.path_prefix)), None)
            try:
                if failure is not None:
                    self._failures.remove(failure)
                    response = self.failure_response(call, failure.status, failure.body)
                else:
                    response = self.handle(call)
            except Exception:
                trace = traceback.format_exc()
                self.crashes.append(trace)
                response = Response(500, trace.encode(), {"Content-Type": "text/plain"}, error="fake-crashed")
            call.error = response.error
            call.status = response.status
            self.calls.append(call)
        return response

    def deliver(self, url: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        """Deliver a notification to our side and record it in `deliveries`."""
        status, answer = deliver(url, headers, body)
        with self._lock:
            self.deliveries.append(Delivery(url, headers, body, status, answer, self.acknowledged(status, answer)))
        return status, answer


def json_bytes(obj: Any, *, indent: int | None = None) -> bytes:
    """Compact UTF-8 JSON (non-ASCII kept as is, like the Chinese providers send it)."""
    if indent is not None:
        return json.dumps(obj, ensure_ascii=False, indent=indent).encode("utf-8")
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def error_code(body: dict[str, Any]) -> str:
    """The provider error code in an injected error body (WeChat `code`, Stripe `error.code`/`type`,
    Alipay `sub_code`/`code`)."""
    inner = body.get("error")
    if isinstance(inner, dict):
        return str(inner.get("code") or inner.get("type") or "error")
    return str(body.get("sub_code") or body.get("code") or "error")
