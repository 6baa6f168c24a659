"""One POST to a webhook endpoint: to the addresses `targets` allowed a moment ago (the
connection is pinned to them, so a DNS answer that changes after the check reaches nothing
else), TLS verified against the URL's host, 10 s in all (a watchdog ends a connection that is
still busy then, however slowly the receiver drips its answer), no redirect followed, and only a
short excerpt of the answer read."""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass

from kayisu.webhooks.targets import IPAddress, Target

TIMEOUT_SECONDS = 10.0
EXCERPT_BYTES = 200


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no HTTP answer (refused, timed out, TLS failed)
    latency_ms: int
    excerpt: str  # what went wrong, or the start of the answer's body: never more than ~200 chars

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def _clean(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace")
    return "".join(c if c.isprintable() else " " for c in text).strip()[:EXCERPT_BYTES]


class _Pinned(http.client.HTTPConnection):
    def __init__(self, target: Target, address: IPAddress, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((str(self._address), self.port), self.timeout)


class _PinnedTls(_Pinned):
    def connect(self) -> None:
        super().connect()
        self.sock = ssl.create_default_context().wrap_socket(self.sock, server_hostname=self.host)


def _abort(conn: http.client.HTTPConnection, fired: threading.Event) -> None:
    """The attempt's time is up: its blocked read or write ends (what it read is not an answer)."""
    fired.set()
    sock = conn.sock
    if sock is not None:
        with contextlib.suppress(OSError):  # already closed: the attempt ended on its own
            sock.shutdown(socket.SHUT_RDWR)


def post(target: Target, addresses: list[IPAddress], body: bytes, headers: dict[str, str]) -> Answer:
    started = time.monotonic()
    errors: list[str] = []
    for address in addresses:
        remaining = TIMEOUT_SECONDS - (time.monotonic() - started)
        if remaining <= 0:
            break
        kind = _PinnedTls if target.scheme == "https" else _Pinned
        conn = kind(target, address, remaining)
        fired = threading.Event()
        watchdog = threading.Timer(remaining, _abort, args=(conn, fired))
        watchdog.daemon = True
        watchdog.start()
        try:
            conn.request("POST", target.path, body=body, headers=headers)
            response = conn.getresponse()
            excerpt = _clean(response.read(EXCERPT_BYTES))
            latency = int((time.monotonic() - started) * 1000)
            if fired.is_set():  # cut off mid-answer: a truncated answer is no answer
                return Answer(None, latency, f"no complete answer within {TIMEOUT_SECONDS:g} s")
            if 300 <= response.status < 400:
                excerpt = f"redirect to {response.getheader('Location', '?')[:100]} not followed"
            return Answer(response.status, latency, excerpt)
        except (OSError, http.client.HTTPException) as exc:
            errors.append(f"{type(exc).__name__}: {exc}"[:100])
        finally:
            watchdog.cancel()
            conn.close()
    latency = int((time.monotonic() - started) * 1000)
    return Answer(None, latency, _clean("; ".join(errors).encode() or b"timed out"))
