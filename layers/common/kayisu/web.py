"""HTTP plumbing written once: every API function builds its app with `create_app` and exports
`handler = lambda_handler(app)`.

- problem+json for every error (validation 422, malformed JSON 400, not found 404, auth 401/403,
  unexpected 500 without internals);
- `X-Request-Id` on every response (the caller's, if sane, else API Gateway's request id);
- the request id as the logs' correlation id, and metrics flushed (kayisu.observability).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from kayisu.catalog.schemas import SKU_PATTERN
from kayisu.errors import (
    FieldError,
    Problem,
    forbidden,
    internal_error,
    malformed_json,
    not_found,
    route_not_found,
    unauthorized,
    validation_error,
)
from kayisu.observability import logger
from kayisu.observability import metrics as metrics  # flushed here; also imported from here by scripts
from kayisu.payments.provider import Answer

PROBLEM_JSON = "application/problem+json"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def problem_response(problem: Problem) -> Response[str]:
    return Response(
        status_code=problem.status,
        content_type=PROBLEM_JSON,
        body=json.dumps(problem.body(), ensure_ascii=False),
        headers=dict(problem.headers) or None,
    )


def answer_response(answer: Answer) -> Response[str]:
    """A provider's expected reply to its webhook (kayisu.payments.provider.Answer), as sent."""
    return Response(answer.status, answer.content_type, answer.body, headers=dict(answer.headers) or None)


def json_response(body: BaseModel | dict[str, Any], status: int = 200, exclude_none: bool = False) -> Response[str]:
    if isinstance(body, BaseModel):
        text = body.model_dump_json(exclude_none=exclude_none)
    else:
        text = json.dumps(body, ensure_ascii=False)
    return Response(status_code=status, content_type="application/json", body=text)


def _field_errors(errors: Iterable[Any]) -> list[FieldError]:
    # Pydantic echoes the offending input; it could be a card code, so only location and message go out.
    out = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
        out.append(FieldError(field=".".join(loc) or "body", message=str(err.get("msg", "is not valid"))))
    return out


def create_app() -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver(enable_validation=True)

    @app.exception_handler(Problem)  # type: ignore[untyped-decorator]
    def _problem(exc: Problem) -> Response[str]:
        return problem_response(exc)

    @app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
    def _invalid(exc: RequestValidationError) -> Response[str]:
        errors = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            return problem_response(malformed_json())
        return problem_response(validation_error(_field_errors(errors)))

    @app.not_found
    def _not_found(_: NotFoundError) -> Response[str]:
        return problem_response(route_not_found())

    @app.exception_handler(Exception)  # type: ignore[untyped-decorator]
    def _unexpected(exc: Exception) -> Response[str]:
        logger.exception("unhandled error", extra={"error_type": type(exc).__name__})
        return problem_response(internal_error())

    return app


def request_id(event: dict[str, Any]) -> str:
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    sent = headers.get("x-request-id", "")
    if sent and _REQUEST_ID.match(sent):
        return str(sent)
    return str((event.get("requestContext") or {}).get("requestId", ""))


def _as_json(event: dict[str, Any]) -> None:
    """The API speaks JSON only (CONTRACT §0): a body is parsed as JSON whatever Content-Type a
    client sent, rather than as a form, which would give baffling validation errors."""
    headers = event.get("headers")
    if event.get("body") and isinstance(headers, dict):
        for key in [k for k in headers if k.lower() == "content-type"]:
            del headers[key]
        headers["content-type"] = "application/json"


def _unreadable_body(event: dict[str, Any]) -> Problem | None:
    """400 MALFORMED_JSON for a body that is not UTF-8 (API Gateway then passes it base64): JSON
    is UTF-8, and Powertools would fail decoding it (a 500) wherever a route reads the body."""
    method = str(((event.get("requestContext") or {}).get("http") or {}).get("method", "")).upper()
    if not event.get("isBase64Encoded") or not event.get("body") or method not in ("POST", "PUT", "PATCH"):
        return None
    try:
        base64.b64decode(str(event["body"]), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return malformed_json()
    return None


Authenticate = Callable[[dict[str, Any]], dict[str, Any]]
Settle = Callable[[dict[str, Any]], None]


def lambda_handler(
    app: APIGatewayHttpResolver, authenticate: Authenticate | None = None, settle: Settle | None = None
) -> Callable[[dict[str, Any], LambdaContext], dict[str, Any]]:
    """The one Lambda entry point of an API function. `authenticate` (e.g. a partner's
    signature) runs before the body is validated: it raises a Problem or returns what the
    routes find in `app.context`. `settle` gets that same dict once the answer is made,
    whatever the route did (e.g. to give back what admission took)."""

    access = _access_by_route(app)

    @metrics.log_metrics
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        rid = request_id(event)
        logger.set_correlation_id(rid)
        logger.append_keys(route=event.get("routeKey"))
        # Who may call comes before what they sent: Powertools validates bodies before route
        # middlewares run, and a wrong group must see 403, not a schema.
        denied = _denied(event, access.get(str(event.get("routeKey"))))
        admitted: dict[str, Any] = {}
        if denied is None and authenticate is not None:
            try:
                admitted = authenticate(event)
                app.context.update(admitted)
            except Problem as problem:
                denied = problem
        if denied is None:
            denied = bad_path_parameter(event) or _unreadable_body(event)
        if denied is not None:
            result: dict[str, Any] = {
                "statusCode": denied.status,
                "headers": {"Content-Type": PROBLEM_JSON, **denied.headers},
                "body": json.dumps(denied.body(), ensure_ascii=False),
                "isBase64Encoded": False,
            }
        else:
            _as_json(event)
            try:
                result = app.resolve(event, context)
            finally:
                if settle is not None:
                    settle(admitted)
        result.setdefault("headers", {})["X-Request-Id"] = rid
        return result

    return handler


# --- path parameters: an id that cannot exist is the route's 404 before any lookup (a 3 KB SKU
# would otherwise reach DynamoDB, whose key limit answers a ValidationException).


@dataclass(frozen=True)
class PathParameter:
    pattern: re.Pattern[str]
    code: str  # the routes' own not-found code
    what: str


PATH_PARAMETERS: dict[str, PathParameter] = {
    "sku": PathParameter(re.compile(SKU_PATTERN), "UNKNOWN_SKU", "product"),
    "order_id": PathParameter(re.compile(r"^ord_[A-Za-z0-9]{1,60}$"), "UNKNOWN_ORDER", "order"),
    "batch_id": PathParameter(re.compile(r"^b-[a-z0-9]{1,62}$"), "UNKNOWN_BATCH", "batch"),
    "partner_id": PathParameter(re.compile(r"^ptn_[A-Za-z0-9]{1,60}$"), "UNKNOWN_PARTNER", "partner"),
    "redemption_id": PathParameter(re.compile(r"^rdm_[A-Za-z0-9]{1,60}$"), "UNKNOWN_REDEMPTION", "redemption"),
    "report_id": PathParameter(re.compile(r"^(daily|weekly|monthly)-[0-9W-]{4,10}$"), "UNKNOWN_REPORT", "report"),
    "payment_id": PathParameter(re.compile(r"^[A-Za-z0-9_-]{1,80}$"), "NOT_FOUND", "payment"),
    "provider": PathParameter(re.compile(r"^[a-z0-9_-]{1,32}$"), "NOT_FOUND", "provider"),
    "coupon_id": PathParameter(re.compile(r"^cpn_[0-9a-f]{20}$"), "UNKNOWN_COUPON", "coupon"),
    "promotion_id": PathParameter(re.compile(r"^prm_[0-9a-f]{20}$"), "UNKNOWN_PROMOTION", "promotion"),
    "webhook_id": PathParameter(re.compile(r"^whk_[0-9a-f]{20}$"), "UNKNOWN_WEBHOOK", "webhook"),
    "delivery_id": PathParameter(re.compile(r"^dlv_[0-9a-f]{24}$"), "UNKNOWN_DELIVERY", "delivery"),
}


def bad_path_parameter(event: dict[str, Any]) -> Problem | None:
    """The route's 404 for a path parameter no id of ours can match (tests/unit/test_web.py
    checks that every parameter in template.yaml is listed)."""
    for name, value in (event.get("pathParameters") or {}).items():
        spec = PATH_PARAMETERS.get(name)
        if spec is None:
            continue
        if not isinstance(value, str) or not spec.pattern.fullmatch(value):
            return (
                route_not_found()
                if spec.code == "NOT_FOUND"
                else not_found(spec.code, f"There is no such {spec.what}.")
            )
    return None


# --- authorisation: API Gateway's JWT authorizer has checked the token; we check the group.


def groups_of(claims: dict[str, Any]) -> set[str]:
    """`cognito:groups` as API Gateway passes it: HTTP APIs flatten arrays to "[a b]"."""
    raw = claims.get("cognito:groups")
    if raw is None:
        return set()
    if isinstance(raw, list):
        return {str(g) for g in raw}
    return {g for g in re.split(r"[\s,]+", str(raw).strip("[]")) if g}


def _denied(event: dict[str, Any], allowed: frozenset[str] | None) -> Problem | None:
    """401 without verified claims, 403 FORBIDDEN outside the route's groups, else None."""
    if allowed is None:
        return None
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    claims = (authorizer.get("jwt") or {}).get("claims")
    if not claims:
        return unauthorized()
    if not groups_of(claims) & allowed:
        return forbidden()
    return None


class GroupCheck:
    """Marks a route as for some Cognito groups (`middlewares=[OPERATORS]`). `lambda_handler`
    checks it before anything else; as a middleware it checks again, for any other caller."""

    def __init__(self, *allowed: str) -> None:
        self.allowed = frozenset(allowed)
        self.__name__ = f"require_groups({', '.join(sorted(allowed))})"  # Powertools names middlewares

    def __call__(self, app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response[Any]:
        denied = _denied(app.current_event.raw_event, self.allowed)
        if denied is not None:
            raise denied
        return next_middleware(app)


def _access_by_route(app: APIGatewayHttpResolver) -> dict[str, frozenset[str]]:
    routes = [*app._static_routes, *app._dynamic_routes]  # Powertools lists routes nowhere public
    return {
        f"{route.method} {route.openapi_path}": check.allowed
        for route in routes
        for check in route.middlewares
        if isinstance(check, GroupCheck)
    }


def require_groups(*allowed: str) -> GroupCheck:
    return GroupCheck(*allowed)


OPERATORS = require_groups("operators")
OPERATORS_OR_FINANCE = require_groups("operators", "finance")


# --- what handlers need to know about the request beyond its body


def public_base(event: dict[str, Any]) -> str:
    """The API's own base URL (for links such as pay pages, and the sandbox's webhook). From
    API Gateway's `domainName`, never the caller's Host header, which anyone can set."""
    domain = str((event.get("requestContext") or {}).get("domainName", ""))
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    proto = "http" if headers.get("x-forwarded-proto") == "http" else "https"  # set by API Gateway
    return f"{proto}://{domain}"


def on_phone(event: dict[str, Any]) -> bool:
    """Whether the caller's browser is a phone's: providers then pay in the browser (WeChat Pay
    H5, Alipay WAP) rather than by scanning a QR code or on a desktop page."""
    agent = str(((event.get("requestContext") or {}).get("http") or {}).get("userAgent", ""))
    return any(mark in agent for mark in ("Mobile", "Android", "iPhone", "iPad"))


def source_ip(event: dict[str, Any]) -> str:
    return str(((event.get("requestContext") or {}).get("http") or {}).get("sourceIp", ""))


def caller(event: dict[str, Any]) -> str:
    """Who an admin request is from, for history records."""
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    claims = (authorizer.get("jwt") or {}).get("claims") or {}
    return str(claims.get("email") or claims.get("cognito:username") or claims.get("sub") or "operator")


# --- what the OpenAPI document says a route answers (local/openapi.py adds 401/403 and 422)


class FieldErrorDocument(BaseModel):
    field: str
    message: str


class ProblemDocument(BaseModel):
    """Every error's body: RFC 9457 problem details with our stable `code`."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[FieldErrorDocument] | None = None


def documented(
    ok: int = 200, model: type[BaseModel] | None = None, description: str = "OK", **errors: int
) -> dict[int, Any]:
    """A route's `responses`: its success (with `model`, for routes that build their Response
    themselves) and its errors by `code=status`, e.g. `documented(201, Order, UNKNOWN_SKU=404)`."""
    success: dict[str, Any] = {"description": description}
    if model is not None:
        success["content"] = {"application/json": {"model": model}}
    out: dict[int, Any] = {ok: success}
    by_status: dict[int, list[str]] = {}
    for code, status in errors.items():
        by_status.setdefault(status, []).append(code)
    for status, codes in sorted(by_status.items()):
        out[status] = {
            "description": " or ".join(f"`{c}`" for c in codes),
            "content": {PROBLEM_JSON: {"model": ProblemDocument}},
        }
    return out


def html_page(*statuses: int) -> dict[int, Any]:
    """A page's `responses` (the sandbox's pay page): HTML for a person at each status."""
    return {
        status: {"description": "A page", "content": {"text/html": {"schema": {"type": "string"}}}}
        for status in statuses
    }
