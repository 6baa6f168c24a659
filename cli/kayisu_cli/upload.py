"""Streaming a card file to its presigned S3 URL, with progress on stderr.

Card files can be large, so the file is never read whole: requests gets a sized reader that
hands out one bounded chunk at a time. The size is known up front, so the PUT carries a
Content-Length (S3 refuses chunked transfer encoding on presigned PUTs).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol, TextIO

import requests

from .client import ApiError, error_from_response, unreachable

CHUNK = 64 * 1024
# (connect, read) seconds; the read timeout counts from the last byte sent, not the whole upload.
UPLOAD_TIMEOUT = (10.0, 300.0)
MILESTONES = (0, 25, 50, 75, 100)


class Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


class FileChanged(Exception):
    """The file shrank while it was being sent: the upload would not match its Content-Length."""


class StatusLine:
    """One line of status on a stream: rewritten in place on a terminal, appended in a log.

    In a log (stderr redirected to a file or CI) only changed texts are written, so polling
    every second does not fill it with identical lines.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self.tty = _isatty(self._stream)
        self._last = ""
        self._width = 0

    def show(self, text: str) -> None:
        if text == self._last:
            return
        self._last = text
        if self.tty:
            pad = max(self._width - len(text), 0)
            self._stream.write("\r" + text + " " * pad)
            self._width = len(text)
        else:
            self._stream.write(text + "\n")
        self._stream.flush()

    def done(self) -> None:
        """Ends the in-place line so what follows starts on a fresh one."""
        if self.tty and self._width:
            self._stream.write("\n")
            self._stream.flush()
        self._width = 0


class Progress:
    """Bytes sent out of the total: every percent on a terminal, only at 0/25/50/75/100% in a log."""

    def __init__(self, total: int, label: str, stream: TextIO | None = None) -> None:
        self.total = total
        self.label = label
        self.sent = 0
        self._line = StatusLine(stream)
        self._shown_percent = -1
        self._next_milestone = 0

    def percent(self) -> int:
        return 100 if self.total == 0 else min(100, self.sent * 100 // self.total)

    def update(self, sent: int) -> None:
        self.sent = sent
        pct = self.percent()
        if self._line.tty:
            if pct == self._shown_percent:
                return
        else:
            reached = [m for m in MILESTONES[self._next_milestone :] if pct >= m]
            if not reached:
                return
            self._next_milestone += len(reached)
        self._shown_percent = pct
        self._line.show(f"{self.label}: {sent:,} / {self.total:,} bytes ({pct}%)")

    def finish(self) -> None:
        self._line.done()


class ProgressReader:
    """What requests sends: sized (so it sets Content-Length), read in bounded chunks.

    Even a caller asking for "everything" (`read()` / `read(-1)`) gets one chunk; HTTP clients
    read until b"", so this streams instead of loading the file. It never hands out more than
    `total` bytes, so a file growing during the upload cannot overrun the Content-Length.
    """

    def __init__(self, raw: Readable, total: int, progress: Progress) -> None:
        self._raw = raw
        self._total = total
        self._progress = progress
        self._sent = 0

    def __len__(self) -> int:
        return self._total

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(CHUNK):
            yield chunk

    def read(self, size: int | None = -1) -> bytes:
        remaining = self._total - self._sent
        if remaining <= 0:
            return b""
        want = CHUNK if size is None or size < 0 else min(size, CHUNK)
        chunk = self._raw.read(min(want, remaining))
        if not chunk:
            raise FileChanged(f"the file ended after {self._sent:,} of {self._total:,} bytes")
        self._sent += len(chunk)
        self._progress.update(self._sent)
        return chunk


def put_stream(
    url: str,
    raw: Readable,
    total: int,
    progress: Progress,
    *,
    http: requests.Session | None = None,
) -> None:
    """PUTs `total` bytes of `raw` to a presigned URL.

    Only the URL authorises the request: no bearer token (S3 refuses two auth mechanisms) and no
    Content-Type (it would have to match what the URL was signed with).
    """
    session = http or requests.Session()
    data: ProgressReader | bytes = ProgressReader(raw, total, progress) if total else b""
    progress.update(0)
    try:
        resp = session.put(url, data=data, timeout=UPLOAD_TIMEOUT)
    except requests.RequestException as exc:
        raise unreachable(url, exc) from None
    finally:
        progress.finish()
    if not resp.ok:
        error = error_from_response(resp)
        raise ApiError(error.status, error.code, f"upload refused: {error.detail}", error.errors)


def upload_file(url: str, path: Path, *, stream: TextIO | None = None, http: requests.Session | None = None) -> int:
    """Uploads `path` to a presigned PUT URL, reporting progress on `stream` (stderr). Returns its size."""
    with path.open("rb") as raw:
        total = os.fstat(raw.fileno()).st_size
        put_stream(url, raw, total, Progress(total, f"uploading {path.name}", stream), http=http)
    return total


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
