"""One OpenAPI document for the whole HTTP API: each function's Powertools resolver describes
its own routes; this merges them and marks the routes behind the JWT authorizer."""

from __future__ import annotations

import json
from typing import Any

from local.functions import Function

SECURITY_SCHEME = "operatorJwt"
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
                if (method, path) in protected:
                    op["security"] = [{SECURITY_SCHEME: []}]
                elif path.startswith("/v1/partner/"):  # public to API Gateway, signed for the function
                    op["security"] = [{PARTNER_SCHEME: []}]
            doc["paths"].setdefault(path, {}).update(ops)
        doc["components"]["schemas"].update(part.get("components", {}).get("schemas", {}))
    return doc
