"""Which stack to talk to, and with which token.

- Target: `--api URL` names a deployed stack; otherwise the local stack described by
  `.kayisu/local.json`, looked up in `$KAYISU_STATE_DIR` if set, else in the current directory
  and its parents (so the CLI works from anywhere inside the checkout).
- Sessions: `$XDG_CONFIG_HOME/kayisu/session.json` (default `~/.config`), mode 0600, one entry
  per API URL, so a local and a deployed stack can be used side by side.
- Login: Cognito USER_PASSWORD_AUTH. The local stack's emulator gets dummy credentials; on AWS
  the call is unsigned (initiate_auth needs none, and an operator laptop may have no AWS profile).
"""

from __future__ import annotations

import base64
import getpass
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .client import ApiError

LOCAL_JSON = "local.json"
STATE_DIR_NAME = ".kayisu"
# A token this close to its expiry counts as expired: it could lapse between check and use.
EXPIRY_MARGIN = timedelta(seconds=60)
ADMIN_GROUPS = frozenset({"operators", "finance"})


class ConfigError(Exception):
    """Something only the user can fix (a flag, a file, a login): the CLI exits 2."""


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


@dataclass(frozen=True)
class LocalStack:
    """What the CLI needs from `.kayisu/local.json`."""

    path: Path
    api_url: str
    aws_endpoint_url: str
    region: str
    client_id: str
    operator: Credentials


@dataclass(frozen=True)
class Target:
    """The API to call; `local` is set when it is the local stack (auto-login with the demo operator)."""

    api_url: str
    local: LocalStack | None = None

    def login_hint(self) -> str:
        if self.local is not None:
            return "kayisu login"
        return f"kayisu --api {self.api_url} login --username YOU"


@dataclass(frozen=True)
class Session:
    api_url: str
    id_token: str
    refresh_token: str
    expires_at: datetime

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at - EXPIRY_MARGIN

    def to_json(self) -> dict[str, str]:
        return {
            "api_url": self.api_url,
            "id_token": self.id_token,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    @classmethod
    def from_json(cls, data: Any) -> Session | None:
        """None for an entry that is not a usable session (hand-edited, older format)."""
        if not isinstance(data, dict):
            return None
        try:
            expires_at = datetime.fromisoformat(str(data["expires_at"]).replace("Z", "+00:00"))
            if expires_at.tzinfo is None:
                expires_at = expires_at.replace(tzinfo=UTC)
            return cls(
                api_url=normalise_url(str(data["api_url"])),
                id_token=str(data["id_token"]),
                refresh_token=str(data.get("refresh_token") or ""),
                expires_at=expires_at,
            )
        except (KeyError, ValueError, ConfigError):
            return None


def normalise_url(url: str) -> str:
    """One spelling per API, so `http://x/` and `http://x` share a session."""
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"--api must be an http(s) URL, not {url!r}")
    return url


# --- target -------------------------------------------------------------------------------


def find_local_json(cwd: Path, env: Mapping[str, str]) -> Path | None:
    state_dir = env.get("KAYISU_STATE_DIR")
    if state_dir:
        path = Path(state_dir) / LOCAL_JSON
        return path if path.is_file() else None
    for directory in (cwd, *cwd.parents):
        path = directory / STATE_DIR_NAME / LOCAL_JSON
        if path.is_file():
            return path
    return None


def load_local(path: Path) -> LocalStack:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return LocalStack(
            path=path,
            api_url=normalise_url(str(data["api_url"])),
            aws_endpoint_url=str(data["aws_endpoint_url"]),
            region=str(data["region"]),
            client_id=str(data["user_pool_client_id"]),
            operator=Credentials(str(data["operator"]["username"]), str(data["operator"]["password"])),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path} is not a usable local stack description ({type(exc).__name__}: {exc})") from None


def resolve_target(api: str | None, *, cwd: Path | None = None, env: Mapping[str, str] | None = None) -> Target:
    """`--api` wins; without it, the local stack or a usage error that says how to get one."""
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd
    path = find_local_json(cwd, env)
    if api is not None:
        url = normalise_url(api)
        local = load_local(path) if path is not None else None
        # `--api` naming the local stack itself still gets the local stack's conveniences.
        return Target(url, local if local is not None and local.api_url == url else None)
    if path is None:
        where = (
            f"$KAYISU_STATE_DIR ({env['KAYISU_STATE_DIR']})" if env.get("KAYISU_STATE_DIR") else f"{cwd} or its parents"
        )
        raise ConfigError(
            f"no local stack found: no {STATE_DIR_NAME}/{LOCAL_JSON} in {where}. "
            "Start it with `make run`, or pass --api URL for a deployed stack."
        )
    local = load_local(path)
    return Target(local.api_url, local)


# --- session file ---------------------------------------------------------------------------


def session_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    config_home = env.get("XDG_CONFIG_HOME")
    base = Path(config_home) if config_home and Path(config_home).is_absolute() else Path.home() / ".config"
    return base / "kayisu" / "session.json"


def _read_sessions(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    sessions = data.get("sessions") if isinstance(data, dict) else None
    return [s for s in sessions if isinstance(s, dict)] if isinstance(sessions, list) else []


def load_session(api_url: str, env: Mapping[str, str] | None = None) -> Session | None:
    for entry in _read_sessions(session_path(env)):
        session = Session.from_json(entry)
        if session is not None and session.api_url == api_url:
            return session
    return None


def save_session(session: Session, env: Mapping[str, str] | None = None) -> Path:
    """Replaces this API's entry, keeps the others; written 0600 then renamed into place."""
    path = session_path(env)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    others = [s for s in _read_sessions(path) if s.get("api_url") != session.api_url]
    text = json.dumps({"sessions": [*others, session.to_json()]}, indent=2) + "\n"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)  # O_CREAT's mode does not apply to a leftover file
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    return path


# --- login ----------------------------------------------------------------------------------


def cognito_password_auth(
    *, client_id: str, username: str, password: str, region: str, endpoint_url: str | None
) -> dict[str, Any]:
    """The one call to Cognito (kept alone so tests can put a fake in its place).

    `endpoint_url` set means the local emulator, which wants some credentials; on AWS the call is
    sent unsigned. Returns the response's AuthenticationResult.
    """
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        if endpoint_url is not None:
            idp = boto3.client(
                "cognito-idp",
                region_name=region,
                endpoint_url=endpoint_url,
                aws_access_key_id="local",
                aws_secret_access_key="local",  # noqa: S106 - the emulator wants some; not a secret
            )
        else:
            idp = boto3.client("cognito-idp", region_name=region, config=Config(signature_version=UNSIGNED))
        answer = idp.initiate_auth(
            ClientId=client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": password},
        )
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise ApiError(
            int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)),
            str(error.get("Code", "LOGIN_FAILED")),
            str(error.get("Message", "Cognito refused the login.")),
        ) from None
    except BotoCoreError as exc:
        where = endpoint_url or f"Cognito in {region}"
        raise ApiError(0, "UNREACHABLE", f"cannot reach {where}: {type(exc).__name__}") from None
    if "AuthenticationResult" not in answer:
        challenge = str(answer.get("ChallengeName", "UNKNOWN"))
        raise ApiError(
            0,
            f"CHALLENGE_{challenge}",
            f"Cognito asks for {challenge}, which this CLI does not answer "
            "(for NEW_PASSWORD_REQUIRED: set a permanent password with "
            "`aws cognito-idp admin-set-user-password --permanent`).",
        )
    return dict(answer["AuthenticationResult"])


def token_claims(id_token: str) -> dict[str, Any]:
    """The JWT's payload, unverified: only to say who logged in (the API does the checking)."""
    try:
        payload = id_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def login(
    target: Target,
    credentials: Credentials,
    *,
    region: str | None = None,
    client_id: str | None = None,
    env: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> Session:
    """Logs in with Cognito and stores the session for `target.api_url`."""
    env = os.environ if env is None else env
    local = target.local
    # The environment variables are for deployed stacks; the local stack describes itself.
    region = region or (local.region if local else env.get("KAYISU_REGION"))
    client_id = client_id or (local.client_id if local else env.get("KAYISU_CLIENT_ID"))
    if not region or not client_id:
        raise ConfigError(
            "logging in to a deployed stack needs its Cognito region and app client id: "
            "pass --region and --client-id (or set KAYISU_REGION and KAYISU_CLIENT_ID)"
        )
    result = cognito_password_auth(
        client_id=client_id,
        username=credentials.username,
        password=credentials.password,
        region=region,
        endpoint_url=local.aws_endpoint_url if local else None,
    )
    now = now or datetime.now(UTC)
    session = Session(
        api_url=target.api_url,
        id_token=str(result["IdToken"]),
        refresh_token=str(result.get("RefreshToken") or ""),
        expires_at=now + timedelta(seconds=int(result.get("ExpiresIn") or 3600)),
    )
    save_session(session, env)
    return session


def credentials_for(
    target: Target,
    username: str | None,
    *,
    env: Mapping[str, str] | None = None,
    prompt: Callable[[str], str] | None = None,
) -> Credentials:
    """`kayisu login`'s user: the demo operator locally when none is named, else asked for."""
    env = os.environ if env is None else env
    if username is None:
        if target.local is None:
            raise ConfigError("logging in to a deployed stack needs --username")
        return target.local.operator
    password = env.get("KAYISU_PASSWORD")
    if not password:
        password = (prompt or getpass.getpass)(f"Password for {username}: ")
    if not password:
        raise ConfigError("no password given")
    return Credentials(username, password)


def bearer_token(
    target: Target,
    *,
    env: Mapping[str, str] | None = None,
    now: datetime | None = None,
    notify: Callable[[str], None] | None = None,
) -> str:
    """The stored token for this API; the local stack logs its demo operator in when there is none."""
    now = now or datetime.now(UTC)
    session = load_session(target.api_url, env)
    if session is not None and not session.expired(now):
        return session.id_token
    if target.local is not None:
        return login_demo_operator(target, env=env, notify=notify)
    if session is not None:
        raise ConfigError(f"your session for {target.api_url} has expired; run `{target.login_hint()}`")
    raise ConfigError(f"not logged in to {target.api_url}; run `{target.login_hint()}`")


def login_demo_operator(
    target: Target, *, env: Mapping[str, str] | None = None, notify: Callable[[str], None] | None = None
) -> str:
    assert target.local is not None
    session = login(target, target.local.operator, env=env)
    if notify is not None:
        notify(f"logged in to the local stack as {target.local.operator.username}")
    return session.id_token
