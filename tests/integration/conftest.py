"""The local stack, started once per test session as `make run` starts it (a separate process
on free ports, its own state directory), and clients that speak HTTP to it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support import emulator_client, free_port

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"


class Api:
    """A client as a shopper's browser, a partner or an operator would be."""

    def __init__(self, base: str, token: str | None = None) -> None:
        self.base = base
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, self.base + path, timeout=30, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, json=body, **kwargs)

    def put(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, json=body, **kwargs)


@contextmanager
def running_stack(
    state_dir: Path,
    log_path: Path,
    parameters: str,
    ports: tuple[int, int] | None = None,
    trust_forwarded_for: bool = True,
) -> Iterator[dict[str, Any]]:
    """`make run`'s stack as a separate process on free ports (or the given API and emulator
    ports), its own state directory and log; stopped with Ctrl-C afterwards, which must end it
    cleanly. Tests play many shoppers through X-Forwarded-For unless told otherwise."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    api_port, aws_port = ports or (free_port(), free_port())
    env = {
        **os.environ,
        "KAYISU_PORT": str(api_port),
        "KAYISU_AWS_PORT": str(aws_port),
        "KAYISU_STATE_DIR": str(state_dir),
        "KAYISU_PARAMETERS": parameters,
    }
    for var in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        env.pop(var, None)
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "local", "run", "--no-schedules"]
            + (["--trust-forwarded-for"] if trust_forwarded_for else []),
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        state_file = state_dir / "local.json"
        deadline = time.monotonic() + 120
        while not state_file.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"local stack did not start:\n{log_path.read_text()[-4000:]}")
            time.sleep(0.2)
        state: dict[str, Any] = json.loads(state_file.read_text())
        state["log_path"] = str(log_path)
        state["state_dir"] = str(state_dir)
        try:
            yield state
        finally:
            proc.send_signal(signal.SIGINT)  # Ctrl-C, as a developer stops `make run`
            try:
                # One Ctrl-C and patience: a loaded machine once took over 20 s, and a second
                # SIGINT then landed in the interpreter's finalization, which had restored the
                # default handler (exit -2).
                code = proc.wait(90)
            except subprocess.TimeoutExpired:
                proc.kill()
                pytest.fail("local stack did not stop within 90 s of Ctrl-C")
            assert code == 0, f"local stack exited with {code} on Ctrl-C"


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    # One-second ingest slices, so that batches really hand themselves on.
    parameters = os.environ.get(
        "KAYISU_TEST_PARAMETERS", "IngestSliceSeconds=1 AlertEmail=ops@example.com PromotionsCacheSeconds=0"
    )
    with running_stack(tmp_path_factory.mktemp("kayisu-state"), ARTIFACTS / "local-stack.log", parameters) as state:
        yield state


aws = emulator_client


def authenticate(state: dict[str, Any], who: str) -> dict[str, str]:
    """Cognito USER_PASSWORD_AUTH as the admin CLI and console do: IdToken, AccessToken, ..."""
    auth = aws(state, "cognito-idp").initiate_auth(
        ClientId=state["user_pool_client_id"],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": state[who]["username"], "PASSWORD": state[who]["password"]},
    )
    return dict(auth["AuthenticationResult"])


def login(state: dict[str, Any], who: str) -> str:
    return authenticate(state, who)["IdToken"]


@pytest.fixture(scope="session")
def public(stack: dict[str, Any]) -> Api:
    return Api(stack["api_url"])


@pytest.fixture(scope="session")
def operator(stack: dict[str, Any]) -> Api:
    return Api(stack["api_url"], login(stack, "operator"))


@pytest.fixture(scope="session")
def finance(stack: dict[str, Any]) -> Api:
    return Api(stack["api_url"], login(stack, "finance"))


@pytest.fixture
def new_sku() -> str:
    return f"T-{time.monotonic_ns()}"


def upload_batch(operator: Api, sku: str, filename: str, content: str | bytes, timeout: float = 60) -> dict[str, Any]:
    """What an operator does: ask for an upload URL, PUT the file, wait for the report."""
    started = operator.post("/v1/admin/batches", {"sku": sku, "filename": filename})
    assert started.status_code == 201, started.text
    body = content.encode() if isinstance(content, str) else content
    put = requests.put(started.json()["upload_url"], data=body, timeout=30)
    assert put.status_code == 200, put.text
    return wait_for_batch(operator, started.json()["batch_id"], timeout)


def wait_for_batch(operator: Api, batch_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        batch: dict[str, Any] = operator.get(f"/v1/admin/batches/{batch_id}").json()
        if batch.get("status") in ("completed", "failed"):
            return batch
        if time.monotonic() > deadline:
            pytest.fail(f"batch {batch_id} still {batch.get('status')} after {timeout} s")
        time.sleep(0.2)
