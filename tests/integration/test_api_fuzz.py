"""A property-based fuzz of every operation of the OpenAPI document (schemathesis) against the
local stack, as operators, partners and shoppers: no 5xx, every error problem+json with a `code`,
every status and content type the stack answers documented for that operation. Bounded (a few
examples per operation, coverage cases included) and repeatable (a fixed seed, no example
database), so that CI sees the same cases every run."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import secrets
import time
from typing import Any

import pytest
import requests
import schemathesis
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    status_code_conformance,
)

from tests.integration.conftest import Api, login
from tests.integration.partner import new_partner

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20261203,
        # Unknown query parameters are ignored, as docs/api.md says, so none are sent as "invalid".
        "generation": {"max-examples": 30, "database": "none", "allow-extra-parameters": False},
        "phases": {"stateful": {"enabled": False}},
        # What a client that sends nonsense may see: a body that is not JSON is 400, an id that
        # cannot exist its route's 404, a partner locked out for guessing 429 before anything else.
        "checks": {"negative_data_rejection": {"expected-statuses": [400, 401, 404, 422, 429]}},
    }
)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, negative_data_rejection]
# Source addresses for the local gateway (X-Forwarded-For): documentation ranges, a fresh one per
# case, so that the fuzz's orders never use up the per-IP limit that other tests' orders need.
ADDRESSES = itertools.cycle(f"{net}.{host}" for net in ("192.0.2", "198.51.100", "203.0.113") for host in range(256))
MOST_GENERATED = 20  # codes per generated batch: ingestion's cost, not the API's, grows with it


@pytest.fixture(scope="module")
def api_schema(stack: dict[str, Any]) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{stack['api_url']}/v1/openapi.json", config=CONFIG)


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    # schemathesis 4.32's from_fixture renames the running test through Function._nodeid, which
    # pytest 9.2 no longer has (it reads nodeid only): give it the attribute it writes to.
    request.node._nodeid = request.node.nodeid


class PartnerSignature(requests.auth.AuthBase):
    """Signs as CONTRACT §3 says, over the request exactly as it is sent."""

    def __init__(self, partner_id: str, secret: str) -> None:
        self.partner_id, self.secret = partner_id, secret

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        raw = body.encode() if isinstance(body, str) else body
        timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
        path = (request.path_url or "/").split("?", 1)[0]
        text = "\n".join([str(request.method), path, timestamp, nonce, hashlib.sha256(raw).hexdigest()])
        request.headers.update(
            {
                "X-Kayisu-Partner": self.partner_id,
                "X-Kayisu-Timestamp": timestamp,
                "X-Kayisu-Nonce": nonce,
                "X-Kayisu-Signature": hmac.new(self.secret.encode(), text.encode(), hashlib.sha256).hexdigest(),
            }
        )
        return request


@pytest.fixture(scope="module")
def operator_token(stack: dict[str, Any]) -> str:
    return login(stack, "operator")


@pytest.fixture(scope="module")
def partner_signature(stack: dict[str, Any], operator_token: str) -> PartnerSignature:
    made = new_partner(stack, Api(stack["api_url"], operator_token), name="Fuzz partner")
    return PartnerSignature(made.partner_id, made.secret)


def _bounded(case: Case[Any]) -> None:
    if case.operation.path == "/v1/admin/batches/generate" and isinstance(case.body, dict):
        count = case.body.get("count")
        if isinstance(count, int) and not isinstance(count, bool) and count > MOST_GENERATED:
            case.body["count"] = MOST_GENERATED


def _is_problem(response: schemathesis.Response) -> bool:
    try:
        body = json.loads(response.content)
    except ValueError:
        return False
    return isinstance(body, dict) and isinstance(body.get("code"), str) and body.get("status") == response.status_code


@schema.parametrize()
def test_every_operation_answers_as_documented(
    case: Case[Any], operator_token: str, partner_signature: PartnerSignature
) -> None:
    _bounded(case)
    headers = {"X-Forwarded-For": next(ADDRESSES)}
    auth: requests.auth.AuthBase | None = None
    if case.path.startswith("/v1/admin/"):
        headers["Authorization"] = f"Bearer {operator_token}"
    elif case.path.startswith("/v1/partner/"):
        auth = partner_signature
    response = case.call(headers=headers, auth=auth, timeout=30)
    case.validate_response(response, checks=CHECKS)
    if response.status_code >= 400:
        kind = (response.headers.get("content-type") or [""])[0]
        if case.path.startswith("/v1/sandbox/pay/") and kind.startswith("text/html"):
            return  # the sandbox's pay page is for a person: its errors are pages too (documented)
        assert kind == "application/problem+json", (response.status_code, kind, response.content[:300])
        assert _is_problem(response), response.content[:300]


def test_every_path_parameter_no_id_can_match_is_its_routes_404(
    stack: dict[str, Any], public: Api, operator: Api
) -> None:
    """Issue 10: a 3 KB SKU reached DynamoDB (ValidationException, 500) on a public route."""
    huge = "X" * 3000
    expected = {
        ("GET", f"/v1/products/{huge}"): "UNKNOWN_SKU",
        ("PUT", f"/v1/admin/products/{huge}"): "UNKNOWN_SKU",
        ("GET", f"/v1/orders/ord_{huge}"): "UNKNOWN_ORDER",
        ("GET", f"/v1/admin/orders/ord_{huge}"): "UNKNOWN_ORDER",
        ("POST", f"/v1/admin/orders/ord_{huge}/refund"): "UNKNOWN_ORDER",
        ("POST", f"/v1/admin/orders/ord_{huge}/payment-check"): "UNKNOWN_ORDER",
        ("GET", f"/v1/admin/batches/b-{huge}"): "UNKNOWN_BATCH",
        ("POST", f"/v1/admin/batches/b-{huge}/void"): "UNKNOWN_BATCH",
        ("GET", f"/v1/admin/partners/ptn_{huge}"): "UNKNOWN_PARTNER",
        ("PUT", f"/v1/admin/partners/ptn_{huge}"): "UNKNOWN_PARTNER",
        ("POST", f"/v1/admin/partners/ptn_{huge}/secret"): "UNKNOWN_PARTNER",
        ("GET", f"/v1/admin/reports/daily-{huge}"): "UNKNOWN_REPORT",
        ("POST", f"/v1/webhooks/{huge}"): "NOT_FOUND",
        ("GET", f"/v1/sandbox/pay/sbx_{huge}"): "NOT_FOUND",
        ("POST", f"/v1/sandbox/pay/sbx_{huge}"): "NOT_FOUND",
    }

    def catalog_reads() -> int:  # DynamoDB's key limit is 2 KB: such a SKU must never reach it
        calls = public.get("/_local/calls").json()["items"]
        return sum(c["count"] for c in calls if c["function"] == "CatalogFunction" and c["service"] == "dynamodb")

    before = catalog_reads()
    assert public.get(f"/v1/products/{huge}").status_code == 404
    assert catalog_reads() == before
    bodies = {"PUT": {"name": "x"}, "POST": {"reason": "x"}}
    for (method, path), code in expected.items():
        client = operator if path.startswith("/v1/admin/") else public
        answer = client.request(method, path, json=bodies.get(method))
        assert (answer.status_code, answer.json()["code"]) == (404, code), (method, path[:40], answer.text[:200])
        assert huge not in answer.text
    partner = new_partner(stack, operator, name="Path partner")  # not the fuzz's: it is locked out by now
    signed = requests.get(
        f"{stack['api_url']}/v1/partner/redemptions/rdm_{huge}",
        auth=PartnerSignature(partner.partner_id, partner.secret),
        timeout=30,
    )
    assert (signed.status_code, signed.json()["code"]) == (404, "UNKNOWN_REDEMPTION")
    # A stranger learns nothing from the path: the signature comes first.
    unsigned = public.get(f"/v1/partner/redemptions/rdm_{huge}")
    assert (unsigned.status_code, unsigned.json()["code"]) == (401, "BAD_SIGNATURE")


def test_the_document_says_what_every_route_shares(public: Api) -> None:
    doc = public.get("/v1/openapi.json").json()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            responses = op["responses"]
            if method in ("post", "put"):
                assert "MALFORMED_JSON" in responses["400"]["description"], (method, path)
            for param in op.get("parameters", []):
                if param["in"] == "path":
                    assert param["schema"]["pattern"], (method, path, param["name"])
                    assert "404" in responses, (method, path)
    page = doc["paths"]["/v1/sandbox/pay/{payment_id}"]["get"]["responses"]["404"]["content"]
    assert set(page) == {"text/html", "application/problem+json"}
    assert json.dumps(doc).count("HTTPValidationError") == 0
