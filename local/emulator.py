"""The embedded AWS emulator: moto's server, serving one request at a time.

Plain moto is not thread-safe: two concurrent conditional writes on one item can both succeed,
which would hide exactly the races our promises are about. Real DynamoDB serialises writes to
an item; here a lock around each whole request (including reading the response body) gives the
same guarantee for everything."""

from __future__ import annotations

import copy
import io
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, cast

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.exceptions import (
    MockValidationException,
    MultipleTransactionsException,
    TransactionCanceledException,
)
from moto.dynamodb.models.table import Table
from moto.dynamodbstreams.models import ShardIterator
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.sqs.models import Queue
from werkzeug.serving import ThreadedWSGIServer, make_server

from local import queries
from local.capacity import METER

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class Serialised:
    """WSGI middleware: one request in the wrapped app at a time."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.owner: int | None = None
        self.requests = 0
        self.on_response: Callable[[dict[str, Any]], None] | None = None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        with self.lock:
            self.owner = threading.get_ident()
            try:
                self.requests += 1
                if environ.get("REQUEST_METHOD") == "PUT" and environ.get("CONTENT_TYPE", "").startswith(
                    "application/x-www-form-urlencoded"
                ):
                    # S3 stores any body; moto's Flask app would parse this one as a form and store
                    # nothing (urllib and `curl --data-binary` send this type by default).
                    environ["CONTENT_TYPE"] = "application/octet-stream"
                metered = None
                status: list[int] = []
                if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
                    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
                    environ["wsgi.input"] = io.BytesIO(body)
                    metered = METER.before(environ, body)

                def respond(code: str, headers: Any, *rest: Any) -> Any:
                    status.append(int(code.split(" ", 1)[0]))
                    return start_response(code, headers, *rest)

                result = self.app(environ, respond if metered is not None else start_response)
                try:
                    # Drain inside the lock: moto may build the body lazily.
                    chunks = list(result)
                finally:
                    close = getattr(result, "close", None)
                    if close is not None:
                        close()
                if metered is not None:
                    METER.after(metered, status[0] if status else 500, b"".join(chunks))
                if self.on_response is not None:
                    self.on_response(environ)
            finally:
                self.owner = None
        yield from chunks

    def wait_unlocked(self, wait: Callable[[], None]) -> None:
        """An SQS long poll waits with the lock released, or it would stop the whole emulator."""
        if self.owner != threading.get_ident():
            wait()
            return
        self.owner = None
        self.lock.release()
        try:
            wait()
        finally:
            self.lock.acquire()
            self.owner = threading.get_ident()


_active: Serialised | None = None
_original_wait = Queue.wait_for_messages


def _wait_for_messages(queue: Queue, timeout: int) -> None:
    if _active is None:
        _original_wait(queue, timeout)
    else:
        _active.wait_unlocked(lambda: _original_wait(queue, timeout))


class _CopyTablesByReference:
    """moto backs up a whole table (once per transaction item!) before a transaction, which
    makes each transaction cost the size of the table: 1,000 cards took minutes and gigabytes.
    Tables are taken by reference here; `_transact_write_items` backs up the touched items."""

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


_original_transact = dynamodb_models.DynamoDBBackend.transact_write_items


def _transact_write_items(backend: Any, transact_items: list[dict[str, Any]]) -> None:
    backups: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []
    # moto writes a transaction's items one by one, each into the table's stream: a cancelled
    # transaction must leave no stream record (its partial writes nor their undoing), as on AWS.
    streams = {
        name: (table.stream_shard, len(table.stream_shard.items))
        for name, table in backend.tables.items()
        if table.stream_shard is not None
    }
    for entry in transact_items:
        _, op = next(iter(entry.items()))
        table = backend.tables.get(op.get("TableName"))
        if table is None:
            continue
        if "Item" in op:
            key = {a: op["Item"][a] for a in (table.hash_key_attr, table.range_key_attr) if a and a in op["Item"]}
        else:
            key = op.get("Key")
        if not key:
            continue
        try:
            current = backend.get_item(table.name, key)
        except MockValidationException:
            continue  # a malformed key: the transaction itself reports it
        backups.append((table.name, key, current.to_json()["Attributes"] if current is not None else None))
    try:
        _original_transact(backend, transact_items)
    except (TransactionCanceledException, MultipleTransactionsException, MockValidationException):
        for name, key, attributes in reversed(backups):
            if attributes is None:
                backend.delete_item(name, key)
            else:
                backend.put_item(name, attributes)
        for shard, length in streams.values():
            del shard.items[length:]
        raise


_original_get_records = ShardIterator.get


def _get_records_once(iterator: ShardIterator, limit: int = 1000) -> dict[str, Any]:
    """moto keeps every shard iterator it ever made; a poller makes one per GetRecords, four a
    second. The one just used is dropped (each answer carries the next)."""
    answer: dict[str, Any] = _original_get_records(iterator, limit)
    iterator.streams_backend.shard_iterators.pop(iterator.arn, None)
    return answer


setattr(dynamodb_models, "copy", _CopyTablesByReference)  # noqa: B010
setattr(dynamodb_models.DynamoDBBackend, "transact_write_items", _transact_write_items)  # noqa: B010
setattr(ShardIterator, "get", _get_records_once)  # noqa: B010
queries.install()


class Emulator:
    def __init__(self, host: str, port: int) -> None:
        global _active
        self.app = Serialised(DomainDispatcherApplication(create_backend_app))
        _active = self.app
        setattr(Queue, "wait_for_messages", _wait_for_messages)  # noqa: B010 - patching moto
        self.server: ThreadedWSGIServer = cast(
            ThreadedWSGIServer, make_server(host, port, self.app, threaded=True, request_handler=MotoRequestHandler)
        )
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="emulator", daemon=True)
        self.url = f"http://{host}:{port}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
