"""The HTTP plumbing every API function shares: problem+json, request ids, group checks."""

from __future__ import annotations

import json
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import BaseModel, ConfigDict, Field

from kayisu.errors import conflict
from kayisu.web import OPERATORS, create_app, groups_of, lambda_handler


class Thing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(max_length=5)
    amount: int = Field(ge=0)


app = create_app()


@app.post("/things")
def make(thing: Annotated[Thing, Body()]) -> dict[str, Any]:
    return {"ok": True}


@app.get("/taken")
def taken() -> dict[str, Any]:
    raise conflict("SKU_EXISTS", "taken")


@app.get("/boom")
def boom() -> dict[str, Any]:
    raise RuntimeError("internal table kayisu-dev-cards exploded")


@app.get("/admin", middlewares=[OPERATORS])
def admin() -> dict[str, Any]:
    return {"ok": True}


handler = lambda_handler(app)


def event(
    method: str,
    path: str,
    body: str | None = None,
    headers: dict[str, str] | None = None,
    claims: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers or {"content-type": "application/json"},
        "requestContext": {
            "http": {"method": method, "path": path, "sourceIp": "203.0.113.9"},
            "requestId": "gw-req-1",
            "stage": "$default",
            "authorizer": {"jwt": {"claims": claims, "scopes": None}} if claims else None,
        },
        "body": body,
        "isBase64Encoded": False,
    }


def call(ev: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
    out = handler(ev, None)  # type: ignore[arg-type]
    return out["statusCode"], out["headers"], json.loads(out["body"])


def test_validation_error_lists_fields_and_never_echoes_input() -> None:
    status, headers, body = call(event("POST", "/things", json.dumps({"code": "SECRET-CARD-CODE", "amount": -1})))
    assert status == 422
    assert headers["Content-Type"] == "application/problem+json"
    assert body["code"] == "VALIDATION_ERROR"
    assert {e["field"] for e in body["errors"]} == {"code", "amount"}
    assert "SECRET-CARD-CODE" not in json.dumps(body)


def test_malformed_json_is_400_whatever_the_content_type() -> None:
    status, _, body = call(event("POST", "/things", '{"code": ', {"content-type": "text/plain"}))
    assert (status, body["code"]) == (400, "MALFORMED_JSON")


def test_form_content_type_is_still_read_as_json() -> None:
    status, _, _ = call(
        event("POST", "/things", '{"code": "a", "amount": 1}', {"content-type": "application/x-www-form-urlencoded"})
    )
    assert status == 200


def test_domain_problem_keeps_its_status_and_code() -> None:
    status, _, body = call(event("GET", "/taken"))
    assert (status, body["code"], body["status"]) == (409, "SKU_EXISTS", 409)
    assert set(body) >= {"type", "title", "status", "detail", "code"}


def test_unexpected_error_is_500_without_internals() -> None:
    status, _, body = call(event("GET", "/boom"))
    assert (status, body["code"]) == (500, "INTERNAL_ERROR")
    assert "kayisu-dev-cards" not in json.dumps(body)
    assert "RuntimeError" not in json.dumps(body)


def test_unknown_route_is_problem_404() -> None:
    status, headers, body = call(event("GET", "/nowhere"))
    assert (status, body["code"], headers["Content-Type"]) == (404, "NOT_FOUND", "application/problem+json")


def test_request_id_is_the_callers_or_the_gateways() -> None:
    _, headers, _ = call(event("GET", "/taken", headers={"X-Request-Id": "client-42"}))
    assert headers["X-Request-Id"] == "client-42"
    _, headers, _ = call(event("GET", "/taken", headers={"x-request-id": "bad id with spaces\n"}))
    assert headers["X-Request-Id"] == "gw-req-1"


def test_admin_route_needs_claims_and_the_group() -> None:
    assert call(event("GET", "/admin"))[0] == 401
    status, _, body = call(event("GET", "/admin", claims={"cognito:groups": "[finance]"}))
    assert (status, body["code"]) == (403, "FORBIDDEN")
    assert call(event("GET", "/admin", claims={"cognito:groups": "[finance operators]"}))[0] == 200


def test_groups_claim_in_every_shape_api_gateway_or_cognito_gives() -> None:
    assert groups_of({"cognito:groups": "[operators finance]"}) == {"operators", "finance"}
    assert groups_of({"cognito:groups": ["operators"]}) == {"operators"}
    assert groups_of({"cognito:groups": "operators,finance"}) == {"operators", "finance"}
    assert groups_of({}) == set()


@app.post("/admin/things", middlewares=[OPERATORS])
def admin_make(thing: Annotated[Thing, Body()]) -> dict[str, Any]:
    return {"ok": True}


admin_handler = lambda_handler(app)


def test_the_group_is_checked_before_the_body_is_validated() -> None:
    ev = event(
        "POST",
        "/admin/things",
        json.dumps({"code": "way too long", "amount": -1}),
        claims={"cognito:groups": "[finance]"},
    )
    out = admin_handler(ev, None)  # type: ignore[arg-type]
    assert (out["statusCode"], json.loads(out["body"])["code"]) == (403, "FORBIDDEN")
    ev = event("POST", "/admin/things", json.dumps({"code": "way too long", "amount": -1}))
    assert admin_handler(ev, None)["statusCode"] == 401  # type: ignore[arg-type]


def test_settle_gets_what_authentication_admitted_whatever_the_answer() -> None:
    settled: list[dict[str, Any]] = []

    def authenticate(ev: dict[str, Any]) -> dict[str, Any]:
        if (ev.get("headers") or {}).get("x-who") != "partner":
            raise conflict("REFUSED", "not you")
        return {"slot": ev["rawPath"]}

    signed = lambda_handler(app, authenticate=authenticate, settle=settled.append)
    partner = {"content-type": "application/json", "x-who": "partner"}
    assert signed(event("POST", "/things", json.dumps({"code": "x"}), partner), None)["statusCode"] == 422  # type: ignore[arg-type]
    assert signed(event("GET", "/boom", headers=partner), None)["statusCode"] == 500  # type: ignore[arg-type]
    assert signed(event("GET", "/taken", headers=partner), None)["statusCode"] == 409  # type: ignore[arg-type]
    assert signed(event("GET", "/taken"), None)["statusCode"] == 409  # type: ignore[arg-type]
    assert settled == [{"slot": "/things"}, {"slot": "/boom"}, {"slot": "/taken"}]  # not the refused one
