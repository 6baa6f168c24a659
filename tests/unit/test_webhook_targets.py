"""Where outgoing webhooks may go (CONTRACT §13, issue 23 item 4): https to public addresses
only; the local stack also http/https to 127.0.0.1 and localhost. No test connects anywhere:
names are resolved through a stubbed resolver, literals need none."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from kayisu.errors import Problem
from kayisu.webhooks import signing, targets

PUBLIC = "93.184.216.34"


def resolving(monkeypatch: pytest.MonkeyPatch, *answers: str) -> None:
    def fake(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        family = {True: socket.AF_INET6, False: socket.AF_INET}
        return [(family[":" in a], socket.SOCK_STREAM, 6, "", (a, port)) for a in answers]

    monkeypatch.setattr(socket, "getaddrinfo", fake)


def refused(url: str, allow_loopback: bool = False) -> str:
    with pytest.raises(Problem) as caught:
        targets.check(url, allow_loopback)
    assert (caught.value.status, caught.value.code) == (422, "BAD_WEBHOOK_URL")
    return caught.value.detail


@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://127.0.0.1/hook",
        "https://[::1]/hook",
        "https://[fd00:ec2::254]/",
        "https://[::ffff:10.0.0.1]/",
        "https://192.168.1.10/",
        "https://172.16.0.1/",
        "https://100.64.0.1/",
        "https://0.0.0.0/",
        "https://224.0.0.1/",
        "http://93.184.216.34/hook",  # not https
        "ftp://93.184.216.34/",
        "https://user:pw@93.184.216.34/",
        "https:///nohost",
        "https://93.184.216.34:99999/",
        "https://93.184.216.34/a b",
        "https://[::1/hook",  # cannot be parsed
        "https://[not-an-address]/",
    ],
)
def test_private_metadata_loopback_and_plain_http_are_refused(url: str) -> None:
    refused(url)


def test_localhost_is_refused_when_deployed_and_allowed_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    resolving(monkeypatch, "127.0.0.1")
    assert "loopback" in refused("https://localhost/hook")
    assert "https" in refused("http://localhost:8080/hook")
    target, addresses = targets.check("http://localhost:8080/hook?x=1", allow_loopback=True)
    assert (target.scheme, target.host, target.port, target.path) == ("http", "localhost", 8080, "/hook?x=1")
    assert [str(a) for a in addresses] == ["127.0.0.1"]
    targets.check("https://127.0.0.1:9443/", allow_loopback=True)
    # The local allowance is for loopback by those two names only, never a private network.
    refused("http://10.0.0.1/", allow_loopback=True)
    refused("https://10.0.0.1/", allow_loopback=True)


def test_a_name_is_refused_if_any_answer_is_private(monkeypatch: pytest.MonkeyPatch) -> None:
    resolving(monkeypatch, PUBLIC, "10.1.2.3")  # a resolver may hand out either: DNS rebinding
    assert "private" in refused("https://hooks.example.com/x")
    resolving(monkeypatch, "169.254.169.254")
    assert "metadata" in refused("https://metadata.example.com/")
    resolving(monkeypatch, PUBLIC)
    target, addresses = targets.check("https://hooks.example.com/x", allow_loopback=False)
    assert (target.port, [str(a) for a in addresses]) == (443, [PUBLIC])


def test_a_name_that_does_not_resolve_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror("no such name")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    assert "does not resolve" in refused("https://nowhere.invalid/")


def test_the_signature_is_hmac_of_time_and_body_and_both_secrets_sign_during_a_rotation() -> None:
    import hashlib
    import hmac

    body = b'{"id":"evt_1"}'
    expected = hmac.new(b"new", b"1700000000." + body, hashlib.sha256).hexdigest()
    old = hmac.new(b"old", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signing.signature(["new"], body, 1_700_000_000) == f"t=1700000000,v1={expected}"
    assert signing.signature(["new", "old"], body, 1_700_000_000) == f"t=1700000000,v1={expected},v1={old}"
    assert signing.new_secret().startswith("whsec_")
    assert signing.new_secret() != signing.new_secret()
