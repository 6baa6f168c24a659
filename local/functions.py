"""The template's functions, loaded in-process, and a record of every AWS call each one makes
(for the least-privilege test and the request counts of the benchmarks)."""

from __future__ import annotations

import contextvars
import importlib.util
import os
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from botocore.client import BaseClient
from botocore.signers import RequestSigner

from local.template import ACCOUNT_ID, REGION, Template

current_function: contextvars.ContextVar[str] = contextvars.ContextVar("current_function", default="")
_import_lock = threading.Lock()


@dataclass(frozen=True)
class AwsCall:
    function: str
    service: str
    operation: str
    resource: str
    # The IAM condition keys the request carries (key, values), for the least-privilege test.
    context: tuple[tuple[str, tuple[str, ...]], ...] = ()


class CallLog:
    """Every AWS API call made while a function runs, by function."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: Counter[AwsCall] = Counter()

    def record(self, call: AwsCall) -> None:
        with self.lock:
            self.calls[call] += 1

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return [
                {**c.__dict__, "context": {k: list(v) for k, v in c.context}, "count": n}
                for c, n in sorted(self.calls.items(), key=lambda x: str(x[0]))
            ]

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()


CALLS = CallLog()
_RESOURCE_PARAMS = ("TableName", "Bucket", "QueueUrl", "TopicArn", "KeyId", "SecretId", "UserPoolId", "Name", "Source")


def _resource_of(params: dict[str, Any]) -> str:
    for key in _RESOURCE_PARAMS:
        if key in params:
            return str(params[key])
    items = params.get("TransactItems") or []
    names = sorted({str(v["TableName"]) for it in items for v in it.values() if isinstance(v, dict)})
    if names:
        return ",".join(names)
    if "RequestItems" in params:
        return ",".join(sorted(params["RequestItems"]))
    return ""


def _condition_keys(service: str, operation: str, params: dict[str, Any]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """What IAM conditions of our policies would read from the request (names only, never the
    context's values: a code's digest or a batch's id are not needed to judge a grant)."""
    if service == "kms" and params.get("EncryptionContext"):
        return (("kms:EncryptionContextKeys", tuple(sorted(params["EncryptionContext"]))),)
    if service == "s3" and operation == "ListObjectsV2" and "Prefix" in params:
        return (("s3:prefix", (str(params["Prefix"]),)),)
    return ()


_original_call = getattr(BaseClient, "_make_api_call")  # noqa: B009 - private, patched below


FUNCTION_HEADER = "X-Kayisu-Function"  # which function sent a request: the emulator's capacity meter reads it


def _name_the_function(request: Any, **_: Any) -> None:
    fn = current_function.get()
    if fn:
        request.headers[FUNCTION_HEADER] = fn


def _recording_call(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
    fn = current_function.get()
    if fn:
        if not getattr(self, "_kayisu_named", False):
            self.meta.events.register_first("before-send", _name_the_function)
            setattr(self, "_kayisu_named", True)  # noqa: B010
        service = self.meta.service_model.service_name
        context = _condition_keys(service, operation_name, api_params)
        CALLS.record(AwsCall(fn, service, operation_name, _resource_of(api_params), context))
    return _original_call(self, operation_name, api_params)


_original_presign = RequestSigner.generate_presigned_url


def _recording_presign(
    self: RequestSigner, request_dict: dict[str, Any], operation_name: str, *args: Any, **kwargs: Any
) -> str:
    # A presigned URL makes no call now, but whoever uses it acts with this function's rights.
    fn = current_function.get()
    if fn:
        path = urllib.parse.urlsplit(str(request_dict.get("url", ""))).path
        bucket = path.lstrip("/").split("/", 1)[0]
        CALLS.record(AwsCall(fn, str(getattr(self, "_signing_name", "")), operation_name, bucket))
    url: str = _original_presign(self, request_dict, operation_name, *args, **kwargs)
    return url


def install_call_recorder() -> None:
    setattr(BaseClient, "_make_api_call", _recording_call)  # noqa: B010
    setattr(RequestSigner, "generate_presigned_url", _recording_presign)  # noqa: B010


class LambdaContext:
    def __init__(self, name: str, memory: int, timeout: float) -> None:
        self.function_name = name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class Function:
    logical_id: str
    code_dir: Path
    handler_name: str
    environment: dict[str, str]
    memory: int
    timeout: float
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    _module: ModuleType | None = None
    # Idle containers: copies of the handler module, each with its own app and batch processor.
    _idle: list[ModuleType] = field(default_factory=list)
    _pool_lock: threading.Lock = field(default_factory=threading.Lock)

    def module(self) -> ModuleType:
        """The first container's module (what the OpenAPI document and tests inspect)."""
        if self._module is None:
            with _import_lock:
                if self._module is None:
                    self._module = self._import()
                    with self._pool_lock:
                        self._idle.append(self._module)
        return self._module

    def _import(self) -> ModuleType:
        module_name, _ = self.handler_name.rsplit(".", 1)
        path = self.code_dir / f"{module_name}.py"
        spec = importlib.util.spec_from_file_location(f"kayisu_fn_{self.logical_id}", path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        # Function-level variables apply while the module initialises (as at a cold start);
        # everything shared lives in Globals, which the whole process carries.
        saved = {k: os.environ.get(k) for k in self.environment}
        os.environ.update(self.environment)
        try:
            spec.loader.exec_module(module)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        return module

    def invoke(self, event: dict[str, Any]) -> Any:
        """Runs the event in an idle container, or in a new one (a cold start) when all are
        busy: one event at a time per container, as on Lambda. Handlers keep per-request state
        in module objects (Powertools' resolver and batch processor), so two concurrent events
        must never share one."""
        self.module()
        with self._pool_lock:
            module = self._idle.pop() if self._idle else None
        if module is None:
            with _import_lock:
                module = self._import()
        token = current_function.set(self.logical_id)
        try:
            handler = getattr(module, self.handler_name.rsplit(".", 1)[1])
            return handler(event, LambdaContext(self.logical_id, self.memory, self.timeout))
        finally:
            current_function.reset(token)
            with self._pool_lock:
                self._idle.append(module)

    @property
    def containers(self) -> int:
        with self._pool_lock:
            return len(self._idle)


def _resolver_state_per_container() -> None:
    """Powertools keeps the current event on the resolver *class* (one Lambda container, one
    event at a time). Here many containers share the process, so each resolver keeps its own."""
    from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver

    original = ApiGatewayResolver._to_proxy_event
    if getattr(original, "_per_container", False):
        return

    def to_proxy_event(self: ApiGatewayResolver, event: dict[str, Any]) -> Any:
        proxy = original(self, event)
        self.__dict__["current_event"] = proxy  # shadows the class attribute for this container
        return proxy

    to_proxy_event._per_container = True  # type: ignore[attr-defined]
    ApiGatewayResolver._to_proxy_event = to_proxy_event  # type: ignore[method-assign]


def load_functions(template: Template, root: Path) -> dict[str, Function]:
    from kayisu.container import set_scope

    # One process runs every function: container-lifetime caches are kept per function.
    set_scope(lambda: current_function.get(None) or "")
    _resolver_state_per_container()
    glob = template.globals_function
    global_env = template.resolve(glob.get("Environment", {}).get("Variables", {}))
    out: dict[str, Function] = {}
    for lid, res in template.of_type("AWS::Serverless::Function").items():
        if not template.enabled(lid):
            continue  # its Condition is false for these parameters (e.g. the sandbox in prod)
        props = res.get("Properties", {})
        own_env = template.resolve(props.get("Environment", {}).get("Variables", {}))
        out[lid] = Function(
            logical_id=lid,
            code_dir=root / str(props["CodeUri"]),
            handler_name=str(props.get("Handler", glob.get("Handler", "app.handler"))),
            environment={k: str(v) for k, v in {**global_env, **own_env}.items()},
            memory=int(props.get("MemorySize", glob.get("MemorySize", 128))),
            timeout=float(props.get("Timeout", glob.get("Timeout", 3))),
            events=dict(props.get("Events", {})),
        )
    return out


def global_environment(template: Template) -> dict[str, str]:
    variables = template.resolve(template.globals_function.get("Environment", {}).get("Variables", {}))
    return {k: str(v) for k, v in variables.items()}
