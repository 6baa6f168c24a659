"""The local stack: emulator, resources, functions, gateway, event sources, demo data."""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import boto3
from werkzeug.serving import BaseWSGIServer, ThreadedWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from local import outbox
from local.emulator import Emulator
from local.events import EventSources, queue_mappings, schedule_mappings
from local.functions import CALLS, Function, global_environment, install_call_recorder, load_functions
from local.gateway import Gateway, problem
from local.openapi import build_openapi
from local.provision import Provisioner
from local.streams import stream_mappings
from local.template import DEV_DEFAULTS, REGION, Template, parse_overrides

log = logging.getLogger("kayisu.local")
ROOT = Path(__file__).resolve().parent.parent


class PortTaken(Exception):
    pass


@dataclass
class DemoUser:
    username: str
    password: str
    group: str


DEMO_USERS = [
    DemoUser("operator@example.com", "Operator-Demo-2026", "operators"),
    DemoUser("finance@example.com", "Finance-Demo-2026", "finance"),
]


def check_port(host: str, port: int) -> None:
    """Probe as the servers bind: with SO_REUSEADDR, so the last run's connections in TIME_WAIT
    don't count as in use (a listening socket still does)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            raise PortTaken(f"port {port} on {host} is already in use") from None


@dataclass
class LocalStack:
    port: int = 3000
    aws_port: int = 4566
    host: str = "127.0.0.1"
    state_dir: Path = ROOT / ".kayisu"
    demo: bool = True
    run_schedules: bool = True
    overrides: dict[str, str] = field(default_factory=dict)
    trust_forwarded_for: bool = False

    def __post_init__(self) -> None:
        self.api_url = f"http://{self.host}:{self.port}"
        self.aws_url = f"http://{self.host}:{self.aws_port}"
        self.functions: dict[str, Function] = {}
        self._servers: list[BaseWSGIServer] = []
        self._threads: list[threading.Thread] = []
        self.events: EventSources | None = None

    def start(self) -> dict[str, Any]:
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> dict[str, Any]:
        check_port(self.host, self.aws_port)
        check_port(self.host, self.port)
        os.environ.update(
            {
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
                "AWS_ENDPOINT_URL": self.aws_url,
                "MOTO_ALLOW_NONEXISTENT_REGION": "false",
            }
        )
        emulator = Emulator(self.host, self.aws_port)
        emulator.app.on_response = outbox.OUTBOX.collect
        emulator.start()
        self._servers.append(emulator.server)

        # Links in mails point at this stack's storefront unless told otherwise.
        template = Template.load(
            ROOT / "template.yaml", {"StorefrontUrl": self.api_url, **DEV_DEFAULTS, **self.overrides}
        )
        resources = Provisioner(template, self.aws_url).create_all()
        sandbox_secret = self._sandbox_secret()
        if "SandboxWebhookSecret" in resources:
            # The sandbox page and webhook sign with the secret that local.json shows.
            boto3.client("secretsmanager", region_name=REGION, endpoint_url=self.aws_url).put_secret_value(
                SecretId=resources["SandboxWebhookSecret"], SecretString=sandbox_secret
            )
        os.environ.update(global_environment(template))
        install_call_recorder()
        self.functions = load_functions(template, ROOT)

        pool_id = template.ref("UserPool")
        client_id = template.ref("UserPoolClient")
        self._create_users(pool_id)

        self.events = EventSources(
            queue_mappings(template, self.functions),
            schedule_mappings(template, self.functions),
            self.aws_url,
            self.run_schedules,
            stream_mappings(template, self.functions),
        )
        gateway = Gateway(
            template,
            self.functions,
            ROOT,
            self.aws_url,
            openapi=lambda: build_openapi(self.functions, self.api_url),
            local_routes={
                "/_local/outbox": self._outbox,
                "/_local/schedules/<name>": self._schedule,
                "/_local/calls": self._calls,
                "/_local/health": lambda req, args: Response(
                    json.dumps({"status": "ok"}), content_type="application/json"
                ),
            },
            trust_forwarded_for=self.trust_forwarded_for,
        )
        server = cast(ThreadedWSGIServer, make_server(self.host, self.port, gateway, threaded=True))
        server.daemon_threads = True
        self._servers.append(server)
        thread = threading.Thread(target=server.serve_forever, name="gateway", daemon=True)
        thread.start()
        self._threads.append(thread)
        self.events.start()

        state = {
            "api_url": self.api_url,
            "aws_endpoint_url": self.aws_url,
            "region": REGION,
            "resources": resources,
            "operator": {"username": DEMO_USERS[0].username, "password": DEMO_USERS[0].password},
            "finance": {"username": DEMO_USERS[1].username, "password": DEMO_USERS[1].password},
            "user_pool_id": pool_id,
            "user_pool_client_id": client_id,
            "sandbox_webhook_secret": sandbox_secret,
            "parameters": template.parameters,
            # What every function sees (template Globals), for tools that run domain code locally.
            "function_environment": global_environment(template),
        }
        if self.demo:
            from local.seed import seed_demo

            seed_demo(state)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        _write_private(self.state_dir / "local.json", json.dumps(state, indent=2, ensure_ascii=False) + "\n")
        return state

    def stop(self) -> None:
        if self.events is not None:
            self.events.stop()
            log.info("event sources stopped")
        for server in reversed(self._servers):
            server.shutdown()
            server.server_close()
            log.info("server %s stopped", server.server_address)

    def _create_users(self, pool_id: str) -> None:
        idp = boto3.client("cognito-idp", region_name=REGION, endpoint_url=self.aws_url)
        for user in DEMO_USERS:
            idp.admin_create_user(
                UserPoolId=pool_id,
                Username=user.username,
                UserAttributes=[{"Name": "email", "Value": user.username}, {"Name": "email_verified", "Value": "true"}],
                MessageAction="SUPPRESS",
            )
            idp.admin_set_user_password(
                UserPoolId=pool_id, Username=user.username, Password=user.password, Permanent=True
            )
            idp.admin_add_user_to_group(UserPoolId=pool_id, Username=user.username, GroupName=user.group)

    def _sandbox_secret(self) -> str:
        # Kept across restarts so that a sandbox page left open still signs correctly.
        path = self.state_dir / "sandbox_webhook_secret"
        if path.exists():
            return path.read_text().strip()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        value = "whsec_" + secrets.token_hex(24)
        _write_private(path, value)
        return value

    # -- local-only routes

    def _outbox(self, request: Request, args: dict[str, str]) -> Response:
        if request.method != "GET":
            return problem(405, "METHOD_NOT_ALLOWED", "Method not allowed", "Use GET.")
        return Response(
            json.dumps({"items": outbox.OUTBOX.items(), "next_cursor": None}, ensure_ascii=False),
            content_type="application/json",
        )

    def _calls(self, request: Request, args: dict[str, str]) -> Response:
        if request.method == "DELETE":
            CALLS.reset()
            return Response(status=204)
        return Response(json.dumps({"items": CALLS.snapshot(), "next_cursor": None}), content_type="application/json")

    def _schedule(self, request: Request, args: dict[str, str]) -> Response:
        if request.method != "POST":
            return problem(405, "METHOD_NOT_ALLOWED", "Method not allowed", "Use POST.")
        assert self.events is not None
        mapping = self.events.find_schedule(args["name"])
        if mapping is None:
            names = sorted(
                {s.name for s in self.events.schedules} | {s.function.logical_id for s in self.events.schedules}
            )
            return problem(
                404,
                "UNKNOWN_SCHEDULE",
                "Not found",
                f"No schedule or scheduled function named {args['name']!r}; known: {', '.join(names)}.",
            )
        at = datetime.now(UTC)
        raw = request.get_data()
        if raw.strip():
            try:
                body = json.loads(raw)
                at = datetime.fromisoformat(str(body["time"]).replace("Z", "+00:00"))
                if at.tzinfo is None:
                    raise ValueError("time needs a zone")
            except (ValueError, KeyError, TypeError):
                return problem(
                    422,
                    "VALIDATION_ERROR",
                    "Validation failed",
                    'Body must be {"time": "<RFC 3339>"}.',
                    errors=[{"field": "time", "message": "an RFC 3339 timestamp with a zone"}],
                )
        started = time.monotonic()
        result = self.events.run_schedule(mapping, at)
        return Response(
            json.dumps(
                {
                    "schedule": mapping.name,
                    "function": mapping.function.logical_id,
                    "time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "duration_ms": round((time.monotonic() - started) * 1000, 1),
                    "result": result,
                },
                default=str,
            ),
            content_type="application/json",
        )


def _write_private(path: Path, text: str) -> None:
    """Created readable by its owner only (it holds passwords and secrets), then renamed in."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def from_environment(**kwargs: Any) -> LocalStack:
    return LocalStack(
        port=int(os.environ.get("KAYISU_PORT", "3000")),
        aws_port=int(os.environ.get("KAYISU_AWS_PORT", "4566")),
        overrides=parse_overrides(os.environ.get("KAYISU_PARAMETERS", "")),
        state_dir=Path(os.environ.get("KAYISU_STATE_DIR", str(ROOT / ".kayisu"))),
        **kwargs,
    )
