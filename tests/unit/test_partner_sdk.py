"""The partner SDK (sdk/python, `kayisu_partner`) against a fake Partner API served over real
HTTP in a thread. The fake checks every request as the server must (CONTRACT §3): the
signature is recomputed here, independently, over the exact bytes that arrived."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import runpy
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "sdk" / "python"))  # importable without `pip install`

import kayisu_partner  # noqa: E402
from kayisu_partner import (  # noqa: E402
    AlreadyRedeemed,
    ApiError,
    BadSignature,
    CodeVoid,
    ConnectionFailed,
    InvalidCode,
    KayisuError,
    PartnerClient,
    Redemption,
    ReferenceReused,
    TooManyAttempts,
    UnknownRedemption,
    ValidationError,
    Verification,
    new_reference,
    signing,
)
from kayisu_partner import cli as partner_cli  # noqa: E402
from kayisu_partner import client as partner_client  # noqa: E402
from kayisu_partner.errors import parse_retry_after  # noqa: E402

from tests.support import free_port  # noqa: E402

PARTNER = "ptn_test"
SECRET = "kps_Zm9vYmFyYmF6cXV4-秘密"  # non-ASCII on purpose: the key is the UTF-8 bytes
CODE = "GIFT-8Q4K-7Z2M"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def by_hand(secret: str, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    """The contract's formula written out again, not through the SDK."""
    text = f"{method}\n{path}\n{timestamp}\n{nonce}\n{hashlib.sha256(body).hexdigest()}"
    return hmac.new(secret.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).hexdigest()


# -- signing


def test_the_canonical_string_is_five_lines_ending_in_the_body_digest() -> None:
    body = b'{"code":"GIFT-0001","reference":"SALE-1042"}'
    text = signing.canonical_string("post", "/v1/partner/redemptions", 1764000000, "0123456789abcdef" * 2, body)
    assert text == (
        "POST\n/v1/partner/redemptions\n1764000000\n0123456789abcdef0123456789abcdef\n"
        "6c80f6c59003f9236ac3e37910f1d31547d23461bde41d75e68f8d75123117b0"
    )
    assert text.endswith(hashlib.sha256(body).hexdigest())
    assert signing.canonical_string("GET", "/v1/partner/redemptions/r1", 1, "n" * 16, b"").endswith(EMPTY_SHA256)


def test_known_answer_vector() -> None:
    """The vector in sdk/python/README.md, for partners writing their own client."""
    args = ("POST", "/v1/partner/redemptions", 1764000000, "0123456789abcdef0123456789abcdef")
    body = b'{"code":"GIFT-0001","reference":"SALE-1042"}'
    expected = "46fe5bc1ace85ef577f7fb04fc3ec4c5a36184f1761c8d9c6b0e02ddb21e99d6"
    assert signing.sign("kps_test_secret", *args, body) == expected
    assert by_hand("kps_test_secret", "POST", args[1], "1764000000", args[3], body) == expected
    # Non-ASCII secrets and bodies are keyed and hashed as UTF-8.
    utf8_body = '{"code":"卡-1"}'.encode()
    assert signing.sign(SECRET, "POST", "/p", 5, "x" * 16, utf8_body) == by_hand(
        SECRET, "POST", "/p", "5", "x" * 16, utf8_body
    )


def test_signed_headers_carry_now_and_a_fresh_nonce_each_time() -> None:
    first = signing.signed_headers(PARTNER, SECRET, "POST", "/v1/partner/verifications", b"{}")
    second = signing.signed_headers(PARTNER, SECRET, "POST", "/v1/partner/verifications", b"{}")
    assert set(first) == {"X-Kayisu-Partner", "X-Kayisu-Timestamp", "X-Kayisu-Nonce", "X-Kayisu-Signature"}
    assert first["X-Kayisu-Partner"] == PARTNER
    assert abs(int(first["X-Kayisu-Timestamp"]) - time.time()) < 5
    assert len(first["X-Kayisu-Nonce"]) == 32
    int(first["X-Kayisu-Nonce"], 16)  # hex
    assert first["X-Kayisu-Nonce"] != second["X-Kayisu-Nonce"]
    assert first["X-Kayisu-Signature"] == by_hand(
        SECRET,
        "POST",
        "/v1/partner/verifications",
        first["X-Kayisu-Timestamp"],
        first["X-Kayisu-Nonce"],
        b"{}",
    )
    fixed = signing.signed_headers(PARTNER, SECRET, "GET", "/x", b"", timestamp=7, nonce="a" * 64)
    assert (fixed["X-Kayisu-Timestamp"], fixed["X-Kayisu-Nonce"]) == ("7", "a" * 64)


@pytest.mark.parametrize(
    ("path", "nonce"),
    [("/v1/partner/verifications?x=1", "n" * 32), ("/v1/a#f", "n" * 32), ("/v1/a", "n" * 15), ("/v1/a", "n" * 65)],
)
def test_what_the_contract_forbids_is_refused(path: str, nonce: str) -> None:
    with pytest.raises(ValueError, match=r"query|nonce"):
        signing.sign(SECRET, "POST", path, 1, nonce, b"")


# -- a fake Partner API


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # a dict or list is sent as JSON, bytes as they are
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # hang up without answering (the request may have run)
    delay: float = 0.0  # answer late (after the client's timeout)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def signature_ok(self) -> bool:
        h = self.headers
        return hmac.compare_digest(
            h.get("X-Kayisu-Signature", ""),
            by_hand(
                SECRET,
                self.method,
                self.path.split("?")[0],
                h.get("X-Kayisu-Timestamp", ""),
                h.get("X-Kayisu-Nonce", ""),
                self.body,
            ),
        )

    def json(self) -> Any:
        return json.loads(self.body)


class FakeApi:
    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def handle_any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with fake.lock:
                    fake.seen.append(Seen(self.command, self.path, dict(self.headers.items()), body))
                    reply = fake.replies.pop(0) if fake.replies else Reply(500, {"code": "NO_REPLY_SCRIPTED"})
                if reply.drop:
                    self.close_connection = True
                    return
                time.sleep(reply.delay)
                payload = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    is_error = reply.status >= 400 and not isinstance(reply.body, bytes)
                    self.send_header("Content-Type", "application/problem+json" if is_error else "application/json")
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:  # the client gave up already
                    pass

            do_GET = do_POST = handle_any  # noqa: N815 - http.server's naming

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def script(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi()
    yield fake
    fake.stop()


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The backoff delays the client asked for, without waiting them."""
    asked: list[float] = []
    monkeypatch.setattr(partner_client, "_sleep", asked.append)
    return asked


def client_of(api: FakeApi, **kwargs: Any) -> PartnerClient:
    return PartnerClient(api.url, PARTNER, SECRET, **kwargs)


def problem(status: int, code: str, headers: dict[str, str] | None = None, **extra: Any) -> Reply:
    body = {"type": "about:blank", "title": code, "status": status, "detail": "Nope.", "code": code, **extra}
    return Reply(status, body, headers or {})


def redemption(reference: str = "SALE-1042", status: int = 201) -> Reply:
    return Reply(
        status,
        {"redemption_id": "red_1", "sku": "GIFT-100", "redeemed_at": "2026-11-24T08:00:00Z", "reference": reference},
    )


def assert_signed(seen: Seen, method: str, path: str) -> None:
    assert (seen.method, seen.path) == (method, path)
    assert seen.headers["X-Kayisu-Partner"] == PARTNER
    assert abs(int(seen.headers["X-Kayisu-Timestamp"]) - time.time()) < 5
    assert 16 <= len(seen.headers["X-Kayisu-Nonce"]) <= 64
    assert seen.signature_ok, "the signature does not verify over the bytes that arrived"


# -- the client


def test_verify_sends_compact_signed_json_and_reads_the_answer(api: FakeApi) -> None:
    api.script(Reply(200, {"status": "valid", "sku": "GIFT-100"}))
    result = client_of(api).verify(CODE)
    assert result == Verification(status="valid", sku="GIFT-100", redeemed_at=None)
    [seen] = api.seen
    assert_signed(seen, "POST", "/v1/partner/verifications")
    assert seen.body == b'{"code":"GIFT-8Q4K-7Z2M"}'
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["User-Agent"].startswith("kayisu-partner-python/")


def test_verify_of_a_redeemed_code_says_when(api: FakeApi) -> None:
    api.script(Reply(200, {"status": "redeemed", "sku": "GIFT-100", "redeemed_at": "2026-11-24T08:00:00Z"}))
    result = client_of(api).verify(CODE)
    assert result.status == "redeemed"
    assert result.redeemed_at == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def test_redeem_is_201_new_and_200_replayed(api: FakeApi) -> None:
    api.script(redemption(status=201), redemption(status=200))
    client = client_of(api)
    first = client.redeem("卡-0001", "SALE-1042")
    again = client.redeem("卡-0001", "SALE-1042")
    assert first == Redemption("red_1", "GIFT-100", datetime(2026, 11, 24, 8, tzinfo=UTC), "SALE-1042", False)
    assert (again.redemption_id, again.replayed) == ("red_1", True)
    for seen in api.seen:
        assert_signed(seen, "POST", "/v1/partner/redemptions")
        # UTF-8 as is (not \\u escapes); these exact bytes were signed.
        assert seen.body == '{"code":"卡-0001","reference":"SALE-1042"}'.encode()
    assert api.seen[0].headers["X-Kayisu-Nonce"] != api.seen[1].headers["X-Kayisu-Nonce"]


def test_get_redemption_signs_an_empty_body(api: FakeApi) -> None:
    api.script(redemption(status=200))
    got = client_of(api).get_redemption("red_1")
    assert (got.redemption_id, got.replayed) == ("red_1", False)
    [seen] = api.seen
    assert_signed(seen, "GET", "/v1/partner/redemptions/red_1")
    assert seen.body == b""
    assert "Content-Type" not in seen.headers


def test_an_id_cannot_escape_its_path(api: FakeApi) -> None:
    api.script(problem(404, "UNKNOWN_REDEMPTION"))
    with pytest.raises(UnknownRedemption):
        client_of(api).get_redemption("../verifications")
    assert_signed(api.seen[0], "GET", "/v1/partner/redemptions/..%2Fverifications")


def test_a_stage_prefix_is_part_of_the_signed_path(api: FakeApi) -> None:
    api.script(Reply(200, {"status": "void", "sku": "GIFT-100"}))
    client = PartnerClient(api.url + "/prod/", PARTNER, SECRET)
    assert client.verify(CODE).status == "void"
    assert_signed(api.seen[0], "POST", "/prod/v1/partner/verifications")


def test_a_lost_answer_is_retried_with_a_fresh_nonce_and_the_same_reference(api: FakeApi, waits: list[float]) -> None:
    # The connection drops (the first attempt may have redeemed), the gateway is busy, then the
    # server recognises the reference and returns the first result.
    api.script(Reply(drop=True), problem(503, "TRY_AGAIN"), redemption(status=200))
    result = client_of(api, backoff=0.1).redeem(CODE, "SALE-1042")
    assert (result.redemption_id, result.replayed) == ("red_1", True)
    assert len(api.seen) == 3
    assert len({s.headers["X-Kayisu-Nonce"] for s in api.seen}) == 3
    assert {s.body for s in api.seen} == {b'{"code":"GIFT-8Q4K-7Z2M","reference":"SALE-1042"}'}
    for seen in api.seen:
        assert_signed(seen, "POST", "/v1/partner/redemptions")
    assert len(waits) == 2
    assert 0.05 <= waits[0] <= 0.1
    assert 0.1 <= waits[1] <= 0.2  # exponential


def test_a_timeout_is_retried(api: FakeApi, waits: list[float]) -> None:
    api.script(Reply(200, {"status": "valid", "sku": "S"}, delay=1.0), Reply(200, {"status": "valid", "sku": "S"}))
    assert client_of(api, timeout=0.2).verify(CODE).status == "valid"
    assert len(api.seen) == 2
    assert len(waits) == 1


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_errors_are_retried(api: FakeApi, waits: list[float], status: int) -> None:
    api.script(Reply(status, b"<html>Bad Gateway</html>"), Reply(200, {"status": "valid", "sku": "S"}))
    assert client_of(api).verify(CODE).status == "valid"
    assert len(api.seen) == 2


def test_throttling_is_retried_after_what_the_server_asks(api: FakeApi, waits: list[float]) -> None:
    api.script(Reply(429, {"message": "Too Many Requests"}, {"Retry-After": "2"}), redemption())
    assert client_of(api).redeem(CODE, "R-1").replayed is False
    assert len(api.seen) == 2
    assert waits[0] >= 2


def test_the_invalid_code_lockout_is_not_retried(api: FakeApi, waits: list[float]) -> None:
    api.script(problem(429, "TOO_MANY_ATTEMPTS", {"Retry-After": "420"}))
    with pytest.raises(TooManyAttempts) as caught:
        client_of(api).verify(CODE)
    assert (caught.value.status, caught.value.code, caught.value.retry_after) == (429, "TOO_MANY_ATTEMPTS", 420)
    assert (len(api.seen), waits) == (1, [])
    api.script(problem(429, "TOO_MANY_ATTEMPTS", retry_after=300))  # no header: the body says
    with pytest.raises(TooManyAttempts) as caught:
        client_of(api).verify(CODE)
    assert caught.value.retry_after == 300


def test_retries_give_up_with_the_last_answer(api: FakeApi, waits: list[float]) -> None:
    api.script(*[problem(503, "TRY_AGAIN")] * 4)
    with pytest.raises(ApiError) as caught:
        client_of(api, retries=3).verify(CODE)
    assert (caught.value.status, caught.value.code) == (503, "TRY_AGAIN")
    assert len(api.seen) == 4
    assert len(waits) == 3


def test_no_answer_at_all_is_connection_failed() -> None:
    client = PartnerClient(f"http://127.0.0.1:{free_port()}", PARTNER, SECRET, retries=2, backoff=0)
    with pytest.raises(ConnectionFailed) as caught:
        client.redeem(CODE, "R-1")
    assert caught.value.status is None
    assert caught.value.code == "CONNECTION_FAILED"
    assert "3 attempt" in caught.value.detail
    assert isinstance(caught.value, KayisuError)


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (problem(401, "BAD_SIGNATURE"), BadSignature),
        (problem(404, "INVALID_CODE"), InvalidCode),
        (problem(409, "ALREADY_REDEEMED", redeemed_at="2026-11-24T08:00:00Z"), AlreadyRedeemed),
        (problem(422, "VALIDATION_ERROR", errors=[{"field": "reference", "message": "too long"}]), ValidationError),
        (problem(404, "UNKNOWN_REDEMPTION"), UnknownRedemption),
        (problem(409, "REFERENCE_REUSED"), ReferenceReused),
        (problem(409, "CODE_VOID"), CodeVoid),
        (problem(500, "INTERNAL_ERROR"), ApiError),
        (problem(400, "MALFORMED_JSON"), ApiError),
        (Reply(404, b"not json"), ApiError),
        (Reply(302, b"", {"Location": "/elsewhere"}), ApiError),  # never followed: the path is signed
    ],
)
def test_each_code_is_its_own_error_and_is_not_retried(
    api: FakeApi, waits: list[float], reply: Reply, error: type[KayisuError]
) -> None:
    api.script(reply)
    with pytest.raises(KayisuError) as caught:
        client_of(api).redeem(CODE, "R-1")
    assert type(caught.value) is error
    assert caught.value.status == reply.status
    assert (len(api.seen), waits) == (1, [])


def test_errors_carry_what_the_problem_says(api: FakeApi) -> None:
    api.script(
        problem(409, "ALREADY_REDEEMED", {"X-Request-Id": "req-9"}, redeemed_at="2026-11-24T08:00:00Z"),
        problem(422, "VALIDATION_ERROR", errors=[{"field": "reference", "message": "too long"}]),
        Reply(404, b"<html>gone</html>"),
    )
    client = client_of(api)
    with pytest.raises(AlreadyRedeemed) as redeemed:
        client.redeem(CODE, "R-2")
    assert redeemed.value.redeemed_at == datetime(2026, 11, 24, 8, tzinfo=UTC)
    assert (redeemed.value.code, redeemed.value.detail, redeemed.value.request_id) == (
        "ALREADY_REDEEMED",
        "Nope.",
        "req-9",
    )
    assert str(redeemed.value) == "ALREADY_REDEEMED: Nope."
    assert redeemed.value.body["status"] == 409
    with pytest.raises(ValidationError) as invalid:
        client.redeem(CODE, "R-3")
    assert invalid.value.errors == [{"field": "reference", "message": "too long"}]
    with pytest.raises(ApiError) as other:
        client.get_redemption("red_x")
    assert (other.value.code, other.value.body) == ("HTTP_404", {})


def test_a_success_the_contract_does_not_describe_is_an_error(api: FakeApi) -> None:
    api.script(Reply(200, {"status": "maybe", "sku": "S"}), Reply(201, {"redemption_id": "red_1"}), Reply(200, [1]))
    client = client_of(api)
    for call in (lambda: client.verify(CODE), lambda: client.redeem(CODE, "R"), lambda: client.get_redemption("r")):
        with pytest.raises(ApiError) as caught:
            call()
        assert caught.value.code == "UNEXPECTED_RESPONSE"


def test_bad_arguments_fail_before_any_request(api: FakeApi) -> None:
    client = client_of(api)
    for reference in ("", "r" * 65):
        with pytest.raises(ValueError, match="reference"):
            client.redeem(CODE, reference)
    with pytest.raises(ValueError, match="code"):
        client.verify("")
    with pytest.raises(ValueError, match="redemption_id"):
        client.get_redemption("")
    for base in ("ftp://x", "api.example.com", "https://x/?a=1"):
        with pytest.raises(ValueError, match="base_url"):
            PartnerClient(base, PARTNER, SECRET)
    with pytest.raises(ValueError, match="secret"):
        PartnerClient(api.url, PARTNER, "")
    assert api.seen == []
    assert client.redeem.__doc__  # documented
    api.script(redemption("r" * 64))
    assert client.redeem(CODE, "r" * 64).reference == "r" * 64


def test_new_references_are_unique_and_fit() -> None:
    made = {new_reference() for _ in range(1000)}
    assert len(made) == 1000
    assert all(1 <= len(r) <= 64 for r in made)


def test_the_secret_never_shows(api: FakeApi) -> None:
    client = client_of(api)
    assert SECRET not in repr(client)
    assert SECRET not in str(vars(client).get("partner_id"))


def test_retry_after_is_seconds_or_a_date() -> None:
    now = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120
    assert parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now) == 90
    assert parse_retry_after(format_datetime(now - timedelta(seconds=90), usegmt=True), now) == 0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None


def test_the_readme_example_runs_as_pasted(
    env: FakeApi, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    readme = (ROOT / "sdk" / "python" / "README.md").read_text()
    example = tmp_path / "example.py"
    example.write_text(readme.split("```python\n", 1)[1].split("```", 1)[0])
    monkeypatch.setattr("builtins.input", lambda _prompt: f" {CODE}\n")
    env.script(Reply(200, {"status": "valid", "sku": "GIFT-100"}), redemption(), redemption(status=200))
    runpy.run_path(str(example))
    out = capsys.readouterr().out
    assert "redeemed GIFT-100: red_1 at 2026-11-24 08:00:00+00:00" in out
    assert [(s.method, s.path) for s in env.seen] == [
        ("POST", "/v1/partner/verifications"),
        ("POST", "/v1/partner/redemptions"),
        ("GET", "/v1/partner/redemptions/red_1"),
    ]
    assert all(s.signature_ok for s in env.seen)


def test_the_package_exports_its_api() -> None:
    for name in kayisu_partner.__all__:
        assert hasattr(kayisu_partner, name)
    assert (ROOT / "sdk" / "python" / "kayisu_partner" / "py.typed").exists()


# -- the command line


@pytest.fixture
def env(api: FakeApi, monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    monkeypatch.setenv("KAYISU_API_URL", api.url)
    monkeypatch.setenv("KAYISU_PARTNER_ID", PARTNER)
    monkeypatch.setenv("KAYISU_PARTNER_SECRET", SECRET)
    return api


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = partner_cli.main(list(argv))
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    return code, out, err


def test_cli_verify_prints_json(env: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    env.script(Reply(200, {"status": "valid", "sku": "GIFT-100"}))
    code, out, err = run_cli(capsys, "verify", CODE)
    assert (code, err) == (0, "")
    assert json.loads(out) == {"status": "valid", "sku": "GIFT-100", "redeemed_at": None}
    assert env.seen[0].json() == {"code": CODE}
    assert env.seen[0].signature_ok


def test_cli_redeem_with_a_reference_and_text(env: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    env.script(redemption("SALE-7", status=200))
    code, out, _ = run_cli(capsys, "redeem", CODE, "--reference", "SALE-7", "--text")
    assert code == 0
    assert out.strip() == (
        "redeemed GIFT-100 at 2026-11-24T08:00:00Z as red_1 (reference SALE-7) (a repeat: this is the earlier result)"
    )
    assert env.seen[0].json() == {"code": CODE, "reference": "SALE-7"}


def test_cli_redeem_makes_a_reference_and_says_it_first(
    env: FakeApi, waits: list[float], capsys: pytest.CaptureFixture[str]
) -> None:
    env.script(Reply(drop=True), redemption("will-be-replaced"))
    code, out, err = run_cli(capsys, "--retries", "1", "redeem", CODE)
    assert code == 0
    sent = {s.json()["reference"] for s in env.seen}
    assert len(sent) == 1  # the retry kept it
    [reference] = sent
    assert err.strip() == f"reference: {reference}"
    assert json.loads(out)["redemption_id"] == "red_1"


def test_cli_show_and_options_after_the_command(
    api: FakeApi, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    monkeypatch.delenv("KAYISU_PARTNER_SECRET", raising=False)
    api.script(redemption(status=200))
    argv = ("show", "red_1", "--api", api.url, "--partner-id", PARTNER, "--secret-file", str(secret_file))
    code, out, _ = run_cli(capsys, *argv)
    assert code == 0
    assert json.loads(out) == {
        "redemption_id": "red_1",
        "sku": "GIFT-100",
        "redeemed_at": "2026-11-24T08:00:00Z",
        "reference": "SALE-1042",
        "replayed": False,
    }
    assert api.seen[0].signature_ok


def test_cli_reads_the_code_from_stdin(
    env: FakeApi, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(CODE + "\n"))
    env.script(Reply(200, {"status": "void", "sku": "S"}))
    code, out, _ = run_cli(capsys, "verify", "-", "--text")
    assert (code, out) == (0, "void S\n")
    assert env.seen[0].json() == {"code": CODE}


def test_cli_api_errors_exit_1_without_the_code(env: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    env.script(problem(409, "ALREADY_REDEEMED", redeemed_at="2026-11-24T08:00:00Z"))
    code, out, err = run_cli(capsys, "redeem", CODE, "--reference", "R-9")
    assert (code, out) == (1, "")
    assert err.startswith("ALREADY_REDEEMED: Nope.")
    assert "2026-11-24T08:00:00Z" in err
    assert CODE not in err
    env.script(problem(429, "TOO_MANY_ATTEMPTS", {"Retry-After": "60"}))
    code, _, err = run_cli(capsys, "verify", CODE)
    assert code == 1
    assert err.startswith("TOO_MANY_ATTEMPTS: ")
    assert "retry after 60 s" in err


def test_cli_unreachable_api_exits_1(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAYISU_PARTNER_SECRET", SECRET)
    argv = ("--api", f"http://127.0.0.1:{free_port()}", "--partner-id", PARTNER, "--retries", "0", "verify", CODE)
    code, _, err = run_cli(capsys, *argv)
    assert code == 1
    assert err.startswith("CONNECTION_FAILED: ")
    assert CODE not in err


def test_cli_usage_errors_exit_2_and_never_echo_the_secret(
    env: FakeApi, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    code, _, err = run_cli(capsys, "verify", CODE, "--secret", SECRET)
    assert code == 2
    assert "KAYISU_PARTNER_SECRET" in err
    code, _, _ = run_cli(capsys, "--secret=" + SECRET, "verify", CODE)
    assert code == 2
    code, _, err = run_cli(capsys, "redeem", CODE, "--reference", "r" * 65)
    assert code == 2
    assert "reference" in err
    assert run_cli(capsys, "frobnicate")[0] == 2
    assert run_cli(capsys)[0] == 2
    code, _, err = run_cli(capsys, "verify", CODE, "--secret-file", str(tmp_path / "missing"))
    assert code == 2
    assert "secret file" in err
    monkeypatch.delenv("KAYISU_PARTNER_SECRET")
    code, _, err = run_cli(capsys, "verify", CODE)
    assert code == 2
    assert "KAYISU_PARTNER_SECRET" in err
    monkeypatch.delenv("KAYISU_API_URL")
    code, _, err = run_cli(capsys, "verify", CODE)
    assert code == 2
    assert "KAYISU_API_URL" in err
    assert env.seen == []
    assert run_cli(capsys, "--help")[0] == 0


# -- verifying the shop's outgoing webhooks (CONTRACT §13)


def _signed(secret: str, body: bytes, at: int) -> str:
    return f"t={at},v1=" + hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()


def test_the_webhook_helper_accepts_a_fresh_signature_under_any_secret_and_returns_the_event() -> None:
    from kayisu.webhooks.signing import signature as server_signature

    body = json.dumps({"id": "evt_1", "type": "order.paid", "created": "2026-12-03T10:00:00Z", "data": {}}).encode()
    at = 1_700_000_000
    assert kayisu_partner.verify_webhook("whsec_a", _signed("whsec_a", body, at), body, now=at + 10)["id"] == "evt_1"
    # The server's own header, during a rotation: either secret verifies.
    header = server_signature(["whsec_new", "whsec_old"], body, at)
    assert kayisu_partner.verify_webhook("whsec_old", header, body, now=at)["type"] == "order.paid"
    assert kayisu_partner.verify_webhook(["whsec_x", "whsec_new"], header, body, now=at)["id"] == "evt_1"


@pytest.mark.parametrize(
    ("header", "body", "now"),
    [
        (_signed("whsec_a", b'{"id":"evt_1"}', 1_700_000_000), b'{"id":"evt_2"}', 1_700_000_000),  # body changed
        (_signed("whsec_b", b'{"id":"evt_1"}', 1_700_000_000), b'{"id":"evt_1"}', 1_700_000_000),  # other secret
        (_signed("whsec_a", b'{"id":"evt_1"}', 1_700_000_000), b'{"id":"evt_1"}', 1_700_000_301),  # stale
        (_signed("whsec_a", b'{"id":"evt_1"}', 1_700_000_000), b'{"id":"evt_1"}', 1_699_999_699),  # from the future
        ("v1=abc", b'{"id":"evt_1"}', 1_700_000_000),  # no timestamp
        ("t=1700000000", b'{"id":"evt_1"}', 1_700_000_000),  # no signature
        ("t=1700000000,t=1700000000,v1=00", b'{"id":"evt_1"}', 1_700_000_000),  # two timestamps
        ("t=１７00000000,v1=00", b'{"id":"evt_1"}', 1_700_000_000),  # non-ASCII digits
        ("", b'{"id":"evt_1"}', 1_700_000_000),
    ],
)
def test_the_webhook_helper_refuses_what_kayisu_did_not_sign_just_now(header: str, body: bytes, now: int) -> None:
    with pytest.raises(kayisu_partner.WebhookSignatureError):
        kayisu_partner.verify_webhook("whsec_a", header, body, now=now)
