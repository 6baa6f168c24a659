"""The `kayisu` command line against a fake admin API served over real HTTP.

The fake keeps everything in memory: products, batches that go pending → processing → completed
over a few polls, presigned-style S3 URLs that store what is PUT, paginated reports. Sessions
live in a temporary XDG_CONFIG_HOME; Cognito is replaced by a fake at its one call site.
"""

from __future__ import annotations

import base64
import getpass
import io
import json
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

import kayisu_cli.main as cli_main
from kayisu_cli import session as cli_session
from kayisu_cli import upload as cli_upload
from kayisu_cli.client import ApiError
from tests.support import free_port


def make_token(subject: str, groups: list[str]) -> str:
    """JWT-shaped (the CLI only peeks at the payload to say who logged in)."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part({'email': subject, 'cognito:groups': groups})}.c2lnbmF0dXJl"


TOKEN = make_token("operator@example.com", ["operators"])
REPORT_CSV = "order_id,sku,amount\no-1,GIFT-50,4900\no-2,礼品卡,9800\n".encode()
STOCK = {
    "items": [
        {"sku": "GIFT-50", "available": 12, "reserved": 1, "sold": 30, "redeemed": 5, "void": 0, "alert_threshold": 10},
        {"sku": "GIFT-100", "available": 3, "reserved": 0, "sold": 8, "redeemed": 1, "void": 1, "alert_threshold": 5},
        {
            "sku": "PHONE-30",
            "available": 0,
            "reserved": 0,
            "sold": 50,
            "redeemed": 50,
            "void": 2,
            "alert_threshold": 10,
        },
    ]
}


@dataclass
class Call:
    method: str
    path: str
    args: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeApi:
    """The admin routes and the S3 side of presigned URLs, in memory."""

    base_url: str = ""
    products: set[str] = field(default_factory=lambda: {"GIFT-50", "GIFT-100", "SLOW-1"})
    tokens: set[str] = field(default_factory=lambda: {TOKEN})
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    polls: dict[str, int] = field(default_factory=dict)
    objects: dict[str, bytes] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    routes = Map(
        [
            Rule("/v1/admin/batches", methods=["POST"], endpoint="create_batch"),
            Rule("/v1/admin/batches/<batch_id>", methods=["GET"], endpoint="get_batch"),
            Rule("/v1/admin/stock", methods=["GET"], endpoint="stock"),
            Rule("/v1/admin/reports", methods=["GET"], endpoint="list_reports"),
            Rule("/v1/admin/reports/<report_id>", methods=["GET"], endpoint="get_report"),
            Rule("/_s3/<path:key>", methods=["PUT"], endpoint="s3_put"),
            Rule("/_s3/<path:key>", methods=["GET"], endpoint="s3_get"),
        ]
    )

    def __post_init__(self) -> None:
        self.objects["reports/daily/2026-11-24.csv"] = REPORT_CSV

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        body = request.get_data()
        with self.lock:
            self.calls.append(Call(request.method, request.path, dict(request.args), dict(request.headers), body))
            try:
                endpoint, values = self.routes.bind_to_environ(environ).match()
            except HTTPException as exc:
                response: Response = problem(exc.code or 500, "NOT_FOUND", "No such route.")
            else:
                if endpoint.startswith("s3_"):
                    response = getattr(self, endpoint)(request, body, **values)
                elif request.headers.get("Authorization", "").removeprefix("Bearer ") not in self.tokens:
                    response = problem(401, "UNAUTHORIZED", "A valid bearer token is required.")
                else:
                    response = getattr(self, endpoint)(request, body, **values)
        return response(environ, start_response)

    def presigned(self, key: str) -> str:
        return f"{self.base_url}/_s3/{key}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=900&X-Amz-Signature=f00d"

    def admin_calls(self) -> list[Call]:
        return [c for c in self.calls if c.path.startswith("/v1/admin/")]

    # --- admin routes

    def create_batch(self, request: Request, body: bytes) -> Response:
        data = json.loads(body)
        sku = data.get("sku", "")
        if not sku:
            return problem(422, "VALIDATION_FAILED", "The request is invalid.", [("sku", "must not be empty")])
        if sku not in self.products:
            return problem(404, "UNKNOWN_SKU", f"No product with SKU {sku}.")
        batch_id = f"b-{len(self.batches) + 1:020d}"
        key = f"incoming/{sku}/{batch_id}/{data['filename']}"
        self.batches[batch_id] = {"batch_id": batch_id, "sku": sku, "status": "pending", "key": key}
        return json_response(
            {
                "batch_id": batch_id,
                "upload_url": self.presigned(key),
                "s3_key": key,
                "expires_at": "2026-11-24T10:15:00Z",
            },
            201,
        )

    def get_batch(self, request: Request, body: bytes, batch_id: str) -> Response:
        batch = self.batches.get(batch_id)
        if batch is None:
            return problem(404, "UNKNOWN_BATCH", f"No batch {batch_id}.")
        if "key" not in batch:
            return json_response(batch)  # put there as it is by a test
        data = self.objects.get(batch["key"])
        polls = self.polls[batch_id] = self.polls.get(batch_id, 0) + (data is not None)
        view: dict[str, Any] = {"batch_id": batch_id, "sku": batch["sku"], "status": "pending"}
        view |= {"rows": 0, "imported": 0, "duplicates": 0, "rejected": 0}
        if data is None or polls <= 1:
            return json_response(view)
        if batch["sku"] == "SLOW-1":
            return json_response(view | {"status": "processing"})
        try:
            lines = data.decode("utf-8").splitlines()
        except UnicodeDecodeError:
            if polls == 2:
                return json_response(view | {"status": "processing"})
            return json_response(view | {"status": "failed", "error": "line 1 is not UTF-8 text"})
        seen: set[str] = set()
        counts = {"imported": 0, "duplicates": 0, "rejected": 0}
        for line in lines:
            if "," not in line:
                counts["rejected"] += 1
            elif line in seen:
                counts["duplicates"] += 1
            else:
                counts["imported"] += 1
            seen.add(line)
        if polls == 2:
            return json_response(view | {"status": "processing", "rows": len(lines) // 2})
        if polls == 3:
            return json_response(view | {"status": "processing", "rows": len(lines)})
        final = view | {"status": "completed", "rows": len(lines), **counts}
        if counts["rejected"]:
            final["rejects_url"] = self.presigned(f"rejects/{batch_id}.csv")
        return json_response(final)

    def stock(self, request: Request, body: bytes) -> Response:
        return json_response(STOCK)

    def list_reports(self, request: Request, body: bytes) -> Response:
        kind = request.args.get("kind")
        if kind != "daily":
            return json_response({"items": [], "next_cursor": None})
        if request.args.get("cursor") == "page-2":
            item = {"report_id": "r-24", "kind": "daily", "period": "2026-11-24", "created_at": "2026-11-25T01:00:00Z"}
            return json_response({"items": [item], "next_cursor": None})
        item = {"report_id": "r-25", "kind": "daily", "period": "2026-11-25", "created_at": "2026-11-26T01:00:00Z"}
        return json_response({"items": [item], "next_cursor": "page-2"})

    def get_report(self, request: Request, body: bytes, report_id: str) -> Response:
        if report_id != "r-24":
            return problem(404, "UNKNOWN_REPORT", f"No report {report_id}.")
        return json_response(
            {
                "report_id": "r-24",
                "kind": "daily",
                "period": "2026-11-24",
                "download_url": self.presigned("reports/daily/2026-11-24.csv"),
            }
        )

    # --- S3 through presigned URLs

    def s3_put(self, request: Request, body: bytes, key: str) -> Response:
        if "X-Amz-Signature" not in request.args:
            return s3_error(403, "AccessDenied", "Access Denied")
        if "Authorization" in request.headers:
            return s3_error(400, "InvalidArgument", "Only one auth mechanism allowed")
        self.objects[key] = body
        return Response(b"", 200)

    def s3_get(self, request: Request, body: bytes, key: str) -> Response:
        if key not in self.objects or "X-Amz-Signature" not in request.args:
            return s3_error(404, "NoSuchKey", "The specified key does not exist.")
        return Response(self.objects[key], 200, content_type="text/csv")


def json_response(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status, content_type="application/json")


def problem(status: int, code: str, detail: str, errors: list[tuple[str, str]] | None = None) -> Response:
    body: dict[str, Any] = {
        "type": f"https://kayisu.dev/problems/{code.lower()}",
        "title": code.replace("_", " ").title(),
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors:
        body["errors"] = [{"field": f, "message": m} for f, m in errors]
    return Response(json.dumps(body), status, content_type="application/problem+json")


def s3_error(status: int, code: str, message: str) -> Response:
    xml = f"<?xml version='1.0'?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
    return Response(xml, status, content_type="application/xml")


@dataclass
class FakeCognito:
    """Stands in for `cognito_password_auth`; its tokens are ones the fake API accepts."""

    api: FakeApi
    calls: list[dict[str, Any]] = field(default_factory=list)

    def __call__(
        self, *, client_id: str, username: str, password: str, region: str, endpoint_url: str | None
    ) -> dict[str, Any]:
        args = {"client_id": client_id, "username": username, "password": password}
        self.calls.append(args | {"region": region, "endpoint_url": endpoint_url})
        token = make_token(username, ["operators"]) + f".{len(self.calls)}"
        self.api.tokens.add(token)
        return {"IdToken": token, "RefreshToken": "refresh-secret-xyz", "ExpiresIn": 3600, "TokenType": "Bearer"}


@dataclass
class Result:
    code: int
    out: str
    err: str


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi()
    server = make_server("127.0.0.1", 0, fake, threaded=True)
    fake.base_url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean environment: private config dir, no local stack, no login variables, fast polls."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for var in ("KAYISU_STATE_DIR", "KAYISU_PASSWORD", "KAYISU_REGION", "KAYISU_CLIENT_ID"):
        monkeypatch.delenv(var, raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(cli_main, "POLL_INTERVAL", 0.0)
    return work


@pytest.fixture
def cognito(api: FakeApi, monkeypatch: pytest.MonkeyPatch) -> FakeCognito:
    fake = FakeCognito(api)
    monkeypatch.setattr(cli_session, "cognito_password_auth", fake)
    return fake


def session_file(tmp_path: Path) -> Path:
    return tmp_path / "config" / "kayisu" / "session.json"


def write_sessions(tmp_path: Path, *entries: tuple[str, str, timedelta]) -> None:
    """(api_url, token, valid for) entries in the file format the CLI keeps."""
    path = session_file(tmp_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    sessions = [
        {
            "api_url": url,
            "id_token": token,
            "refresh_token": "r",
            "expires_at": (now + valid).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        for url, token, valid in entries
    ]
    path.write_text(json.dumps({"sessions": sessions}), encoding="utf-8")


@pytest.fixture
def logged_in(api: FakeApi, home: Path, tmp_path: Path) -> FakeApi:
    write_sessions(tmp_path, (api.base_url, TOKEN, timedelta(hours=1)))
    return api


def write_local_json(directory: Path, api_url: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "local.json"
    state = {
        "api_url": api_url,
        "aws_endpoint_url": "http://127.0.0.1:4566",
        "region": "us-east-1",
        "user_pool_id": "us-east-1_local",
        "user_pool_client_id": "local-client-id",
        "operator": {"username": "operator@example.com", "password": "Operator-Demo-2026"},
        "finance": {"username": "finance@example.com", "password": "Finance-Demo-2026"},
        "resources": {},
    }
    path.write_text(json.dumps(state), encoding="utf-8")
    return path


def kayisu(capsys: pytest.CaptureFixture[str], *argv: str) -> Result:
    code = cli_main.main(list(argv))
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def cards_file(directory: Path, name: str = "cards.csv") -> Path:
    path = directory / name
    path.write_bytes(b"GC-0001,1111\nGC-0002,2222\nGC-0002,2222\nnot-a-card\nGC-0003,3333\nGC-0004,4444\n")
    return path


# --- batch upload ---------------------------------------------------------------------------


def test_batch_upload_sends_the_file_waits_and_prints_the_report(
    logged_in: FakeApi, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api = logged_in
    path = cards_file(home)

    result = kayisu(capsys, "--api", api.base_url, "batch", "upload", str(path), "--sku", "GIFT-50")

    assert result.code == 0, result.err
    batch_id = "b-00000000000000000001"
    key = f"incoming/GIFT-50/{batch_id}/cards.csv"
    assert api.objects[key] == path.read_bytes()
    create = api.admin_calls()[0]
    assert (create.method, create.path) == ("POST", "/v1/admin/batches")
    assert json.loads(create.body) == {"sku": "GIFT-50", "filename": "cards.csv"}
    assert all(c.headers["Authorization"] == f"Bearer {TOKEN}" for c in api.admin_calls())
    put = next(c for c in api.calls if c.method == "PUT")
    assert "Authorization" not in put.headers
    assert "Content-Type" not in put.headers
    assert put.headers["Content-Length"] == str(path.stat().st_size)
    assert len([c for c in api.admin_calls() if c.method == "GET"]) == 4  # pending, processing x2, completed

    lines = result.out.splitlines()
    assert lines[:7] == [
        f"batch       {batch_id}",
        "sku         GIFT-50",
        "status      completed",
        "rows        6",
        "imported    4",
        "duplicates  1",
        "rejected    1",
    ]
    assert lines[7].startswith(f"rejects     {api.base_url}/_s3/rejects/{batch_id}.csv?")
    assert f"batch {batch_id} created for GIFT-50" in result.err
    size = path.stat().st_size
    assert f"uploading cards.csv: 0 / {size} bytes (0%)" in result.err
    assert f"uploading cards.csv: {size} / {size} bytes (100%)" in result.err
    status_lines = [line for line in result.err.splitlines() if line.startswith(f"batch {batch_id}:")]
    assert status_lines == [
        f"batch {batch_id}: pending",
        f"batch {batch_id}: processing, 3 rows so far",
        f"batch {batch_id}: processing, 6 rows so far",
        f"batch {batch_id}: completed",
    ]
    assert TOKEN not in result.out + result.err


def test_no_wait_prints_the_batch_id_right_after_the_upload(
    logged_in: FakeApi, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api = logged_in
    path = cards_file(home)

    result = kayisu(capsys, "--api", api.base_url, "batch", "upload", str(path), "--sku", "GIFT-50", "--no-wait")

    assert result.code == 0, result.err
    assert result.out == "b-00000000000000000001\n"
    assert api.objects["incoming/GIFT-50/b-00000000000000000001/cards.csv"] == path.read_bytes()
    assert [c.method for c in api.admin_calls()] == ["POST"]


def test_a_failed_batch_exits_3_and_shows_why(
    logged_in: FakeApi, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = home / "cards.bin"
    path.write_bytes(b"\xff\xfe\x00garbage\n")

    result = kayisu(capsys, "--api", logged_in.base_url, "batch", "upload", str(path), "--sku", "GIFT-50")

    assert result.code == 3
    assert "status      failed" in result.out
    assert "kayisu: batch b-00000000000000000001 failed: line 1 is not UTF-8 text" in result.err


def test_waiting_gives_up_after_the_timeout_and_says_how_to_check_later(
    logged_in: FakeApi, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = cards_file(home)

    result = kayisu(
        capsys, "--api", logged_in.base_url, "batch", "upload", str(path), "--sku", "SLOW-1", "--timeout", "0.2"
    )

    assert result.code == 1
    assert "is still processing after 0.2 s" in result.err
    assert "kayisu batch status b-00000000000000000001" in result.err
    assert result.out == ""


@pytest.mark.parametrize(
    ("sku", "expected"),
    [
        ("NOPE-1", ["kayisu: UNKNOWN_SKU: No product with SKU NOPE-1. (HTTP 404)"]),
        ("", ["kayisu: VALIDATION_FAILED: The request is invalid. (HTTP 422)", "  sku: must not be empty"]),
    ],
)
def test_an_api_problem_exits_1_with_its_code_and_detail(
    logged_in: FakeApi, home: Path, capsys: pytest.CaptureFixture[str], sku: str, expected: list[str]
) -> None:
    path = cards_file(home)

    result = kayisu(capsys, "--api", logged_in.base_url, "batch", "upload", str(path), "--sku", sku)

    assert result.code == 1
    assert result.err.splitlines() == expected
    assert result.out == ""
    assert logged_in.objects.keys() == {"reports/daily/2026-11-24.csv"}  # nothing uploaded


def test_a_missing_file_is_a_usage_error_before_any_call(
    logged_in: FakeApi, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = kayisu(capsys, "--api", logged_in.base_url, "batch", "upload", "nope.csv", "--sku", "GIFT-50")

    assert result.code == 2
    assert "nope.csv: no such file" in result.err
    assert logged_in.calls == []


def test_an_unreachable_api_exits_1(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    write_sessions(tmp_path, (url, TOKEN, timedelta(hours=1)))

    result = kayisu(capsys, "--api", url, "stock")

    assert result.code == 1
    assert "UNREACHABLE: cannot reach 127.0.0.1:" in result.err


# --- upload streaming -----------------------------------------------------------------------


def test_a_large_upload_streams_with_its_content_length_and_progress(
    logged_in: FakeApi, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = home / "big.csv"
    data = bytes(range(256)) * (5 * 4096)  # 5 MiB
    path.write_bytes(data)

    result = kayisu(capsys, "--api", logged_in.base_url, "batch", "upload", str(path), "--sku", "GIFT-50", "--no-wait")

    assert result.code == 0, result.err
    assert logged_in.objects["incoming/GIFT-50/b-00000000000000000001/big.csv"] == data
    put = next(c for c in logged_in.calls if c.method == "PUT")
    assert put.headers["Content-Length"] == "5242880"
    assert "Transfer-Encoding" not in put.headers
    progress = [line for line in result.err.splitlines() if line.startswith("uploading big.csv")]
    assert progress == [
        "uploading big.csv: 0 / 5,242,880 bytes (0%)",
        "uploading big.csv: 1,310,720 / 5,242,880 bytes (25%)",
        "uploading big.csv: 2,621,440 / 5,242,880 bytes (50%)",
        "uploading big.csv: 3,932,160 / 5,242,880 bytes (75%)",
        "uploading big.csv: 5,242,880 / 5,242,880 bytes (100%)",
    ]


class SizedReadsOnly:
    """A file that refuses to be read whole: every read must name a bounded size."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.sizes: list[int] = []

    def read(self, size: int = -1, /) -> bytes:
        assert isinstance(size, int), "read() without a size"
        assert 0 < size <= cli_upload.CHUNK, f"read({size})"
        self.sizes.append(size)
        return self._data.read(size)


def test_put_stream_reads_the_file_one_bounded_chunk_at_a_time(api: FakeApi) -> None:
    data = b"x" * (3 * cli_upload.CHUNK + 123)
    raw = SizedReadsOnly(data)
    log = io.StringIO()

    cli_upload.put_stream(
        api.presigned("incoming/direct/file.csv"), raw, len(data), cli_upload.Progress(len(data), "up", log)
    )

    assert api.objects["incoming/direct/file.csv"] == data
    assert len(raw.sizes) >= 4
    assert log.getvalue().splitlines()[-1] == f"up: {len(data):,} / {len(data):,} bytes (100%)"


def test_an_upload_refused_by_s3_is_an_api_error(api: FakeApi) -> None:
    with pytest.raises(ApiError) as refused:
        cli_upload.put_stream(
            f"{api.base_url}/_s3/incoming/x.csv", io.BytesIO(b"a,b\n"), 4, cli_upload.Progress(4, "up", io.StringIO())
        )

    assert (refused.value.status, refused.value.code) == (403, "AccessDenied")
    assert refused.value.detail == "upload refused: Access Denied"


def test_a_file_that_shrinks_during_the_upload_stops_it(api: FakeApi) -> None:
    with pytest.raises(cli_upload.FileChanged):
        cli_upload.put_stream(
            api.presigned("incoming/x.csv"), io.BytesIO(b"abc"), 10, cli_upload.Progress(10, "up", io.StringIO())
        )

    assert "incoming/x.csv" not in api.objects


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_rewrites_one_line() -> None:
    term = Terminal()
    progress = cli_upload.Progress(200, "up", term)

    for sent in (0, 1, 2, 50, 51, 200):
        progress.update(sent)
    progress.finish()

    text = term.getvalue()
    assert text.count("\n") == 1
    assert text.endswith("\n")
    assert [part.rstrip() for part in text.strip().split("\r") if part] == [
        "up: 0 / 200 bytes (0%)",
        "up: 2 / 200 bytes (1%)",
        "up: 50 / 200 bytes (25%)",
        "up: 200 / 200 bytes (100%)",
    ]


# --- sessions and targets -------------------------------------------------------------------


@pytest.mark.parametrize("state", ["no file", "expired", "other api only"])
def test_without_a_session_a_remote_api_asks_for_kayisu_login(
    api: FakeApi, home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], state: str
) -> None:
    if state == "expired":
        write_sessions(tmp_path, (api.base_url, TOKEN, timedelta(minutes=-5)))
    elif state == "other api only":
        write_sessions(tmp_path, ("https://api.example.com", TOKEN, timedelta(hours=1)))

    result = kayisu(capsys, "--api", api.base_url, "stock")

    assert result.code == 2
    assert f"run `kayisu --api {api.base_url} login --username YOU`" in result.err
    assert ("has expired" in result.err) == (state == "expired")
    assert api.calls == []


def test_the_local_stack_is_found_from_a_parent_directory(
    api: FakeApi, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "project"
    write_local_json(project / ".kayisu", api.base_url + "/")
    deep = project / "functions" / "ingest"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    write_sessions(tmp_path, (api.base_url, TOKEN, timedelta(hours=1)))

    result = kayisu(capsys, "stock", "--json")

    assert result.code == 0, result.err
    assert json.loads(result.out) == STOCK
    assert api.admin_calls()[0].headers["Authorization"] == f"Bearer {TOKEN}"


def test_kayisu_state_dir_names_the_local_stack(
    api: FakeApi, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_local_json(tmp_path / "elsewhere", api.base_url)
    monkeypatch.setenv("KAYISU_STATE_DIR", str(tmp_path / "elsewhere"))
    write_sessions(tmp_path, (api.base_url, TOKEN, timedelta(hours=1)))

    assert kayisu(capsys, "stock").code == 0


def test_no_local_stack_and_no_api_is_a_usage_error(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = kayisu(capsys, "stock")

    assert result.code == 2
    assert "no local stack found" in result.err
    assert "make run" in result.err
    assert "--api URL" in result.err


def test_the_local_stack_logs_its_demo_operator_in_when_there_is_no_session(
    api: FakeApi, home: Path, tmp_path: Path, cognito: FakeCognito, capsys: pytest.CaptureFixture[str]
) -> None:
    write_local_json(home / ".kayisu", api.base_url)

    result = kayisu(capsys, "stock")

    assert result.code == 0, result.err
    assert cognito.calls == [
        {
            "client_id": "local-client-id",
            "username": "operator@example.com",
            "password": "Operator-Demo-2026",
            "region": "us-east-1",
            "endpoint_url": "http://127.0.0.1:4566",
        }
    ]
    assert "logged in to the local stack as operator@example.com" in result.err
    path = session_file(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    [stored] = json.loads(path.read_text())["sessions"]
    assert stored["api_url"] == api.base_url
    assert api.admin_calls()[0].headers["Authorization"] == f"Bearer {stored['id_token']}"
    assert "Operator-Demo-2026" not in result.out + result.err
    assert stored["id_token"] not in result.out + result.err

    again = kayisu(capsys, "stock")  # the stored session is used: no second login
    assert again.code == 0
    assert len(cognito.calls) == 1


def test_login_on_the_local_stack_uses_its_demo_operator(
    api: FakeApi,
    home: Path,
    cognito: FakeCognito,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_local_json(home / ".kayisu", api.base_url)
    monkeypatch.setenv("KAYISU_REGION", "eu-west-1")  # for deployed stacks only

    result = kayisu(capsys, "login")

    assert result.code == 0, result.err
    assert [(c["username"], c["region"], c["endpoint_url"]) for c in cognito.calls] == [
        ("operator@example.com", "us-east-1", "http://127.0.0.1:4566")
    ]
    assert result.out == ""
    assert f"logged in to {api.base_url} as operator@example.com (operators)" in result.err


def test_a_refused_local_token_is_renewed_once(
    api: FakeApi, home: Path, tmp_path: Path, cognito: FakeCognito, capsys: pytest.CaptureFixture[str]
) -> None:
    write_local_json(home / ".kayisu", api.base_url)
    write_sessions(tmp_path, (api.base_url, "token-from-before-a-restart", timedelta(hours=1)))

    result = kayisu(capsys, "stock")

    assert result.code == 0, result.err
    assert len(cognito.calls) == 1
    assert [c.headers["Authorization"] for c in api.admin_calls()] == [
        "Bearer token-from-before-a-restart",
        f"Bearer {json.loads(session_file(tmp_path).read_text())['sessions'][0]['id_token']}",
    ]


def test_a_refused_remote_token_exits_1_with_a_login_hint(
    api: FakeApi, home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_sessions(tmp_path, (api.base_url, "revoked", timedelta(hours=1)))

    result = kayisu(capsys, "--api", api.base_url, "stock")

    assert result.code == 1
    assert "kayisu: UNAUTHORIZED: A valid bearer token is required. (HTTP 401)" in result.err
    assert f"kayisu --api {api.base_url} login" in result.err


def test_login_to_a_deployed_stack_stores_a_private_session_per_api(
    api: FakeApi,
    home: Path,
    tmp_path: Path,
    cognito: FakeCognito,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_sessions(tmp_path, ("https://other.example.com", "other-token", timedelta(hours=1)))
    monkeypatch.setenv("KAYISU_PASSWORD", "s3cret-Passw0rd")

    result = kayisu(
        capsys,
        "--api",
        api.base_url + "/",
        "login",
        "--username",
        "ops@shop.example",
        "--region",
        "eu-west-1",
        "--client-id",
        "abc123",
    )

    assert result.code == 0, result.err
    assert cognito.calls == [
        {
            "client_id": "abc123",
            "username": "ops@shop.example",
            "password": "s3cret-Passw0rd",
            "region": "eu-west-1",
            "endpoint_url": None,
        }
    ]
    assert f"logged in to {api.base_url} as ops@shop.example (operators)" in result.err
    path = session_file(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    sessions = {s["api_url"]: s for s in json.loads(path.read_text())["sessions"]}
    assert sessions.keys() == {"https://other.example.com", api.base_url}
    mine = sessions[api.base_url]
    assert mine["refresh_token"] == "refresh-secret-xyz"
    expires = datetime.fromisoformat(mine["expires_at"].replace("Z", "+00:00"))
    assert timedelta(minutes=55) < expires - datetime.now(UTC) <= timedelta(hours=1)
    for secret in ("s3cret-Passw0rd", mine["id_token"], "refresh-secret-xyz"):
        assert secret not in result.out + result.err

    assert kayisu(capsys, "--api", api.base_url, "stock").code == 0
    assert api.admin_calls()[-1].headers["Authorization"] == f"Bearer {mine['id_token']}"


def test_login_asks_for_the_password_and_reads_region_and_client_from_the_environment(
    api: FakeApi, home: Path, cognito: FakeCognito, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts: list[str] = []

    def fake_getpass(prompt: str = "Password: ", stream: Any = None) -> str:
        prompts.append(prompt)
        return "typed-in"

    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    monkeypatch.setenv("KAYISU_REGION", "ap-east-1")
    monkeypatch.setenv("KAYISU_CLIENT_ID", "from-env")

    result = kayisu(capsys, "--api", api.base_url, "login", "--username", "ops@shop.example")

    assert result.code == 0, result.err
    assert prompts == ["Password for ops@shop.example: "]
    [call] = cognito.calls
    assert (call["password"], call["region"], call["client_id"]) == ("typed-in", "ap-east-1", "from-env")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--username", "u", "--region", "eu-west-1"], "needs its Cognito region and app client id"),
        (["--region", "eu-west-1", "--client-id", "c"], "needs --username"),
    ],
)
def test_login_to_a_deployed_stack_needs_its_cognito_settings(
    api: FakeApi,
    home: Path,
    cognito: FakeCognito,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    monkeypatch.setenv("KAYISU_PASSWORD", "pw")

    result = kayisu(capsys, "--api", api.base_url, "login", *extra)

    assert result.code == 2
    assert message in result.err
    assert cognito.calls == []


# --- stock, batch status, reports -----------------------------------------------------------


def test_stock_prints_an_aligned_table(logged_in: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    result = kayisu(capsys, "--api", logged_in.base_url, "stock")

    assert result.code == 0, result.err
    assert result.out == (
        "SKU       AVAILABLE  RESERVED  SOLD  REDEEMED  VOID  ALERT AT  STATE\n"
        "GIFT-50          12         1    30         5     0        10  ok\n"
        "GIFT-100          3         0     8         1     1         5  low\n"
        "PHONE-30          0         0    50        50     2        10  out\n"
    )


def test_stock_json_prints_what_the_api_said(logged_in: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    result = kayisu(capsys, "--api", logged_in.base_url, "stock", "--json")

    assert result.code == 0
    assert json.loads(result.out) == STOCK


def test_batch_status_prints_the_batch(logged_in: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    api = logged_in
    done = {
        "batch_id": "b-7",
        "sku": "GIFT-50",
        "status": "completed",
        "rows": 1200,
        "imported": 1190,
        "duplicates": 8,
        "rejected": 2,
        "rejects_url": "https://s3.example/rejects/b-7.csv?X-Amz-Signature=1",
    }
    api.batches["b-7"] = done
    api.batches["b-8"] = {**done, "batch_id": "b-8", "status": "failed", "error": "the file has no header row"}
    del api.batches["b-8"]["rejects_url"]

    table = kayisu(capsys, "--api", api.base_url, "batch", "status", "b-7")
    as_json = kayisu(capsys, "--api", api.base_url, "batch", "status", "b-7", "--json")
    failed = kayisu(capsys, "--api", api.base_url, "batch", "status", "b-8")
    unknown = kayisu(capsys, "--api", api.base_url, "batch", "status", "b-404")

    assert table.code == 0
    assert table.out == (
        "batch       b-7\n"
        "sku         GIFT-50\n"
        "status      completed\n"
        "rows        1200\n"
        "imported    1190\n"
        "duplicates  8\n"
        "rejected    2\n"
        "rejects     https://s3.example/rejects/b-7.csv?X-Amz-Signature=1  (CSV: line, reason; the link expires)\n"
    )
    assert as_json.code == 0
    assert json.loads(as_json.out) == done
    assert failed.code == 3
    assert "error       the file has no header row" in failed.out
    assert "failed: the file has no header row" in failed.err
    assert unknown.code == 1
    assert "kayisu: UNKNOWN_BATCH: No batch b-404. (HTTP 404)" in unknown.err


def test_report_download_finds_the_period_and_saves_the_csv(
    logged_in: FakeApi, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api = logged_in

    result = kayisu(capsys, "--api", api.base_url, "report", "download", "--kind", "daily", "--period", "2026-11-24")

    assert result.code == 0, result.err
    assert (home / "daily-2026-11-24.csv").read_bytes() == REPORT_CSV
    assert result.out == "daily-2026-11-24.csv\n"
    listed = [c.args for c in api.admin_calls() if c.path == "/v1/admin/reports"]
    assert listed == [{"kind": "daily"}, {"kind": "daily", "cursor": "page-2"}]
    download = next(c for c in api.calls if c.path.startswith("/_s3/reports/"))
    assert "Authorization" not in download.headers
    assert list(home.iterdir()) == [home / "daily-2026-11-24.csv"]


def test_report_download_to_a_chosen_file(logged_in: FakeApi, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = home / "out" / "nov24.csv"
    target.parent.mkdir()

    result = kayisu(
        capsys, "--api", logged_in.base_url, "report", "download", "--period", "2026-11-24", "-o", str(target)
    )

    assert result.code == 0, result.err
    assert target.read_bytes() == REPORT_CSV


def test_report_download_of_an_unknown_period_exits_1_and_writes_nothing(
    logged_in: FakeApi, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = kayisu(capsys, "--api", logged_in.base_url, "report", "download", "--period", "2026-10-01")

    assert result.code == 1
    assert "REPORT_NOT_FOUND: no daily report for period 2026-10-01" in result.err
    assert list(home.iterdir()) == []


def test_usage_errors_exit_2(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert kayisu(capsys, "batch", "upload", "x.csv").code == 2  # no --sku
    assert kayisu(capsys, "batch", "upload", "x.csv", "--sku", "A", "--timeout", "0").code == 2
    assert kayisu(capsys, "--api", "ftp://nope", "stock").code == 2
