"""One OpenAPI document for the whole HTTP API: each function's Powertools resolver describes
its own routes; this merges them and marks the routes behind the JWT authorizer."""

from __future__ import annotations

import json
import re
from typing import Any

from kayisu.web import PATH_PARAMETERS, PROBLEM_JSON, ProblemDocument
from local.functions import Function

SECURITY_SCHEME = "operatorJwt"
PROBLEM = "ProblemDocument"
PARTNER_SCHEME = "PartnerSignature"


def build_openapi(functions: dict[str, Function], server_url: str) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Kayisu API",
            "version": "1.0.0",
            "description": "Virtual cards and vouchers: shopper, partner and admin APIs (see docs/api.md).",
        },
        "servers": [{"url": server_url}],
        "paths": {},
        "components": {
            "schemas": {},
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A Cognito token of the operators or finance group.",
                },
                # Partner routes sign every request (CONTRACT §3); OpenAPI can only name the headers.
                PARTNER_SCHEME: {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Kayisu-Signature",
                    "description": (
                        "With X-Kayisu-Partner, X-Kayisu-Timestamp (unix seconds, within 300 s) and X-Kayisu-Nonce "
                        "(16-64 characters, never reused): hex(HMAC-SHA256(secret, METHOD\\nPATH\\nTIMESTAMP"
                        "\\nNONCE\\nhex(SHA-256(raw body)))). See docs/partners.md."
                    ),
                },
            },
        },
    }
    for fn in sorted(functions.values(), key=lambda f: f.logical_id):
        protected = {
            (str(e["Properties"]["Method"]).lower(), str(e["Properties"]["Path"]))
            for e in fn.events.values()
            if e.get("Type") == "HttpApi" and (e["Properties"].get("Auth") or {}).get("Authorizer") != "NONE"
        }
        if not any(e.get("Type") == "HttpApi" for e in fn.events.values()):
            continue
        app = getattr(fn.module(), "app", None)
        if app is None:
            continue
        part = json.loads(app.get_openapi_json_schema(title="part", version="0"))
        for path, ops in part.get("paths", {}).items():
            for method, op in ops.items():
                responses = op.setdefault("responses", {})
                if (method, path) in protected:
                    op["security"] = [{SECURITY_SCHEME: []}]
                    _problems(responses, {401: "UNAUTHORIZED", 403: "FORBIDDEN"})
                elif path.startswith("/v1/partner/"):  # public to API Gateway, signed for the function
                    op["security"] = [{PARTNER_SCHEME: []}]
                    _problems(responses, {401: "BAD_SIGNATURE", 429: "TOO_MANY_ATTEMPTS"})
                # What kayisu.web answers on every route: Powertools documents its own 422 shape,
                # and every error here is problem+json.
                _shared(responses, 422, "VALIDATION_ERROR")
                if "requestBody" in op or method in ("post", "put", "patch"):  # kayisu.web: JSON, UTF-8
                    _shared(responses, 400, "MALFORMED_JSON")
                for param in op.get("parameters", []):
                    spec = PATH_PARAMETERS.get(param["name"]) if param.get("in") == "path" else None
                    if spec is not None:  # kayisu.web.bad_path_parameter
                        param.setdefault("schema", {})["pattern"] = spec.pattern.pattern
                        _shared(responses, 404, spec.code)
            doc["paths"].setdefault(path, {}).update(ops)
        doc["components"]["schemas"].update(part.get("components", {}).get("schemas", {}))
    schemas = doc["components"]["schemas"]
    problem = ProblemDocument.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem.pop("$defs", {}))
    schemas[PROBLEM] = problem
    used = _referenced(doc["paths"], schemas)  # Powertools' own error shapes no longer are
    doc["components"]["schemas"] = {name: schema for name, schema in schemas.items() if name in used}
    return doc


def _referenced(paths: dict[str, Any], schemas: dict[str, Any]) -> set[str]:
    """The schemas the paths use, directly or through other schemas."""
    found: set[str] = set()
    todo = _refs(paths)
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            todo |= _refs(schemas.get(name, {}))
    return found


def _refs(node: Any) -> set[str]:
    return set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(node)))


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": f"#/components/schemas/{PROBLEM}"}}},
    }


def _shared(responses: dict[str, Any], status: int, code: str) -> None:
    """Adds `code` to the route's own answer at `status` (as problem+json; a page keeps its HTML)."""
    key = str(status)
    existing = responses.get(key)
    page = {k: v for k, v in ((existing or {}).get("content") or {}).items() if k == "text/html"}
    response = _problem(_codes(existing, code) + (" (a page: HTML)" if page else ""))
    response["content"] = {**page, **response["content"]}
    responses[key] = response


def _codes(response: dict[str, Any] | None, always: str) -> str:
    """The codes a route documented for a status (its 422s besides VALIDATION_ERROR)."""
    described = str((response or {}).get("description", ""))
    codes = [always] + [c for c in described.replace("`", "").split(" or ") if c.isupper() and c != always]
    return " or ".join(f"`{c}`" for c in codes)


def _problems(responses: dict[str, Any], codes: dict[int, str]) -> None:
    for status, code in codes.items():
        responses.setdefault(str(status), _problem(f"`{code}`"))
