"""The HTTP plumbing every API function shares: problem+json, request ids, group checks."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import BaseModel, ConfigDict, Field

from kayisu.errors import conflict
from kayisu.web import OPERATORS, PATH_PARAMETERS, create_app, groups_of, lambda_handler
from local.template import load_template


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


@app.get("/products/<sku>")
def product(sku: str) -> dict[str, Any]:
    return {"sku": sku}


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


def test_a_path_parameter_no_id_can_match_is_the_routes_404_before_any_lookup() -> None:
    ev = event("GET", "/products/GIFT-50") | {"routeKey": "GET /products/{sku}", "pathParameters": {"sku": "GIFT-50"}}
    assert call(ev)[0] == 200
    for bad in ("X" * 3000, "-starts-with-a-dash", "GIFT 50", "GIFT-50\n", "礼品卡"):
        ev["pathParameters"] = {"sku": bad}
        status, _, body = call(ev)
        assert (status, body["code"]) == (404, "UNKNOWN_SKU"), bad
        assert bad not in json.dumps(body)
    ev["pathParameters"] = {"order_id": "ord_" + "a" * 3000}
    assert call(ev)[2]["code"] == "UNKNOWN_ORDER"


def test_every_path_parameter_of_the_template_has_a_form() -> None:
    template = load_template(Path(__file__).resolve().parents[2] / "template.yaml")
    names = {
        name
        for res in template["Resources"].values()
        for ev in (res.get("Properties") or {}).get("Events", {}).values()
        if ev["Type"] == "HttpApi"
        for name in re.findall(r"\{(\w+)\}", ev["Properties"]["Path"])
    }
    assert names
    assert names <= set(PATH_PARAMETERS), names - set(PATH_PARAMETERS)


def test_a_body_that_is_not_utf8_is_malformed_json_not_a_crash() -> None:
    """Found by the fuzz (tests/integration/test_api_fuzz.py): Powertools decoded it and failed."""
    ev = event("POST", "/things") | {"body": base64.b64encode(b"\xff\xfe{").decode(), "isBase64Encoded": True}
    status, _, body = call(ev)
    assert (status, body["code"]) == (400, "MALFORMED_JSON")
    ev["body"] = base64.b64encode('{"code": "été", "amount": 1}'.encode()).decode()
    assert call(ev)[0] == 200  # UTF-8, base64 or not, is read as usual
