"""The HTTP API of template.yaml on one port, as API Gateway would serve it: routes matched the
way HTTP APIs match them, payload format 2.0 events, the JWT authorizer (signature against the
user pool's JWKS, issuer, audience, expiry), CORS. Beside it: the storefront at `/`, Swagger UI
at `/docs`, the OpenAPI document, and the local-only routes of CONTRACT §7."""

from __future__ import annotations

import base64
import json
import logging
import mimetypes
import re
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from local.functions import Function
from local.template import Template

PROBLEM = "application/problem+json"
log = logging.getLogger("kayisu.local.gateway")


def problem(status: int, code: str, title: str, detail: str, **extra: Any) -> Response:
    body = {
        "type": f"https://kayisu.dev/problems/{code.lower().replace('_', '-')}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    return Response(json.dumps(body), status=status, content_type=PROBLEM)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function: Function
    authorizer: str | None  # None: public

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def pattern(self) -> re.Pattern[str]:
        regex = re.sub(r"\{(\w+)\+\}", r"(?P<\1>.+)", self.path)
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)
        return re.compile(f"^{regex}$")

    def specificity(self) -> tuple[int, int]:
        # API Gateway prefers the most specific route: fewer variables, then greedy last.
        return (self.path.count("{"), -len(self.path))


class JwtAuthorizer:
    """What API Gateway's JWT authorizer checks, against the emulator's user pool."""

    def __init__(self, name: str, issuer: str, audience: list[str], jwks_url: str) -> None:
        self.name = name
        self.issuer = issuer
        self.audience = set(audience)
        self.jwks_url = jwks_url
        self._keys: KeySet | None = None
        self._lock = threading.Lock()

    def keys(self) -> KeySet:
        with self._lock:
            if self._keys is None:
                with urllib.request.urlopen(self.jwks_url, timeout=5) as resp:  # noqa: S310 - local emulator
                    self._keys = KeySet.import_key_set(json.loads(resp.read()))
            return self._keys

    def claims(self, authorization: str | None) -> dict[str, Any] | None:
        if not authorization:
            return None
        token = authorization.removeprefix("Bearer ").removeprefix("bearer ").strip()
        try:
            decoded = jwt.decode(token, self.keys(), algorithms=["RS256"])
        except (JoseError, ValueError):
            return None
        claims: dict[str, Any] = dict(decoded.claims)
        now = time.time()
        if claims.get("iss") != self.issuer:
            return None
        if float(claims.get("exp", 0)) <= now or float(claims.get("nbf", 0)) > now + 1:
            return None
        aud = claims.get("aud") or claims.get("client_id")
        auds = set(aud) if isinstance(aud, list) else {aud}
        if not auds & self.audience:
            return None
        return claims


def flatten_claims(claims: dict[str, Any]) -> dict[str, str]:
    """HTTP APIs hand claims to the function as strings; arrays become "[a b]"."""
    out = {}
    for key, value in claims.items():
        if isinstance(value, list):
            out[key] = "[" + " ".join(str(v) for v in value) + "]"
        elif isinstance(value, bool):
            out[key] = str(value).lower()
        else:
            out[key] = str(value)
    return out


class Gateway:
    def __init__(
        self,
        template: Template,
        functions: dict[str, Function],
        root: Path,
        emulator_url: str,
        openapi: Callable[[], dict[str, Any]],
        local_routes: dict[str, Callable[[Request, dict[str, str]], Response]],
        trust_forwarded_for: bool = False,
    ) -> None:
        self.root = root
        # API Gateway takes sourceIp from the connection; tests and benchmarks opt in to play
        # many shoppers from one machine through X-Forwarded-For.
        self.trust_forwarded_for = trust_forwarded_for
        self.emulator_url = emulator_url  # the console signs in against the emulator's Cognito
        self.openapi = openapi
        self.routes: list[Route] = []
        self.cors: dict[str, Any] = {}
        self.authorizers: dict[str, JwtAuthorizer] = {}
        self.local = Map([Rule(path, endpoint=path) for path in local_routes])
        self.local_handlers = local_routes
        self._load(template, functions, emulator_url)

    def _load(self, template: Template, functions: dict[str, Function], emulator_url: str) -> None:
        apis = template.of_type("AWS::Serverless::HttpApi")
        default_auth: dict[str, str | None] = {}
        for lid, api in apis.items():
            props = api.get("Properties", {})
            self.cors = template.resolve(props.get("CorsConfiguration", {}))
            auth = props.get("Auth", {})
            default_auth[lid] = auth.get("DefaultAuthorizer")
            for name, spec in auth.get("Authorizers", {}).items():
                cfg = template.resolve(spec["JwtConfiguration"])
                pool_id = cfg["issuer"].rsplit("/", 1)[1]
                self.authorizers[name] = JwtAuthorizer(
                    name, cfg["issuer"], list(cfg["audience"]), f"{emulator_url}/{pool_id}/.well-known/jwks.json"
                )
        for fn in functions.values():
            for event in fn.events.values():
                if event.get("Type") != "HttpApi":
                    continue
                props = event.get("Properties", {})
                api_id = (props.get("ApiId") or {}).get("Ref", next(iter(apis), ""))
                authorizer = (props.get("Auth") or {}).get("Authorizer", default_auth.get(api_id))
                self.routes.append(
                    Route(
                        str(props["Method"]).upper(),
                        str(props["Path"]),
                        fn,
                        None if authorizer in (None, "NONE") else str(authorizer),
                    )
                )
        self.routes.sort(key=Route.specificity)

    # -- WSGI

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        response = self.dispatch(request)
        rid = response.headers.get("X-Request-Id") or request.headers.get("X-Request-Id") or self._request_id()
        response.headers["X-Request-Id"] = rid
        self._apply_cors(request, response)
        return response(environ, start_response)

    def _request_id(self) -> str:
        return base64.b32encode(uuid.uuid4().bytes[:10]).decode().rstrip("=")

    def dispatch(self, request: Request) -> Response:
        path = request.path
        if request.method == "OPTIONS" and request.headers.get("Access-Control-Request-Method"):
            return Response(status=204)
        try:
            endpoint, args = self.local.bind_to_environ(request.environ).match()
            return self.local_handlers[str(endpoint)](request, dict(args))
        except HTTPException:
            pass
        if path in ("/v1/openapi.json", "/openapi.json") and request.method == "GET":
            return Response(json.dumps(self.openapi(), ensure_ascii=False), content_type="application/json")
        for route in self.routes:
            match = route.pattern.match(path)
            if match and route.method in (request.method, "ANY"):
                return self.invoke(route, request, match.groupdict())
        if path.startswith("/v1/"):
            return problem(404, "NOT_FOUND", "Not found", "No such resource.")
        return self.static(request)

    def invoke(self, route: Route, request: Request, path_params: dict[str, str]) -> Response:
        claims: dict[str, Any] | None = None
        if route.authorizer is not None:
            claims = self.authorizers[route.authorizer].claims(request.headers.get("Authorization"))
            if claims is None:
                # API Gateway answers this itself with {"message":"Unauthorized"}; we add problem fields.
                return problem(
                    401, "UNAUTHORIZED", "Unauthorized", "A valid bearer token is required.", message="Unauthorized"
                )
        event = self.event(route, request, path_params, claims)
        try:
            result = route.function.invoke(event)
        except Exception:
            # What API Gateway does when the function itself fails (not a handled 500).
            log.exception("function %s failed", route.function.logical_id)
            return problem(
                500,
                "INTERNAL_ERROR",
                "Internal error",
                "Something went wrong on our side.",
                message="Internal Server Error",
            )
        return self.response(result)

    def event(
        self, route: Route, request: Request, path_params: dict[str, str], claims: dict[str, Any] | None
    ) -> dict[str, Any]:
        raw = request.get_data(cache=True)
        headers: dict[str, str] = {}
        for key, value in request.headers.items():
            k = key.lower()
            headers[k] = f"{headers[k]},{value}" if k in headers else value
        # As API Gateway sets them, whatever the caller sent.
        headers["x-forwarded-proto"] = request.scheme
        headers["x-forwarded-port"] = str(request.environ.get("SERVER_PORT", ""))
        query: dict[str, str] = {}
        for key, value in request.args.items(multi=True):
            query[key] = f"{query[key]},{value}" if key in query else value
        now = datetime.now(UTC)
        text_body: str | None = None
        is_b64 = False
        if raw:
            try:
                text_body = raw.decode("utf-8")
            except UnicodeDecodeError:
                text_body, is_b64 = base64.b64encode(raw).decode(), True
        source_ip = request.remote_addr or "127.0.0.1"
        if self.trust_forwarded_for and request.headers.get("X-Forwarded-For"):
            source_ip = request.headers["X-Forwarded-For"].split(",")[0].strip()
        authorizer = {"jwt": {"claims": flatten_claims(claims), "scopes": None}} if claims is not None else None
        return {
            "version": "2.0",
            "routeKey": route.key,
            "rawPath": request.path,
            "rawQueryString": request.query_string.decode(),
            "cookies": [f"{k}={v}" for k, v in request.cookies.items()] or None,
            "headers": headers,
            "queryStringParameters": query or None,
            "pathParameters": path_params or None,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "local",
                "authorizer": authorizer,
                # The API's own address (as API Gateway's domain name is), not the Host header.
                "domainName": self._domain(request),
                "domainPrefix": "local",
                "http": {
                    "method": request.method,
                    "path": request.path,
                    "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                    "sourceIp": source_ip,
                    "userAgent": request.headers.get("User-Agent", ""),
                },
                "requestId": self._request_id(),
                "routeKey": route.key,
                "stage": "$default",
                "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "timeEpoch": int(now.timestamp() * 1000),
            },
            "body": text_body,
            "isBase64Encoded": is_b64,
        }

    @staticmethod
    def _domain(request: Request) -> str:
        return f"{request.environ.get('SERVER_NAME', '127.0.0.1')}:{request.environ.get('SERVER_PORT', '')}"

    @staticmethod
    def response(result: Any) -> Response:
        if not isinstance(result, dict) or "statusCode" not in result:
            return Response(json.dumps(result), status=200, content_type="application/json")
        body = result.get("body") or ""
        data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
        response = Response(data, status=int(result["statusCode"]))
        for key, value in (result.get("headers") or {}).items():
            response.headers[key] = str(value)
        for key, values in (result.get("multiValueHeaders") or {}).items():
            for value in values:
                response.headers.add(key, str(value))
        for cookie in result.get("cookies") or []:
            response.headers.add("Set-Cookie", cookie)
        if "Content-Type" not in response.headers and "content-type" not in response.headers:
            response.headers["Content-Type"] = "application/json"
        return response

    def _apply_cors(self, request: Request, response: Response) -> None:
        origin = request.headers.get("Origin")
        if not origin or not self.cors:
            return
        allowed = self.cors.get("AllowOrigins", [])
        if "*" in allowed:
            response.headers["Access-Control-Allow-Origin"] = "*"
        elif origin in allowed:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
        else:
            return
        if request.method == "OPTIONS":
            response.headers["Access-Control-Allow-Methods"] = ",".join(self.cors.get("AllowMethods", []))
            response.headers["Access-Control-Allow-Headers"] = ",".join(self.cors.get("AllowHeaders", []))
            response.headers["Access-Control-Max-Age"] = str(self.cors.get("MaxAge", 0))
        if self.cors.get("ExposeHeaders"):
            response.headers["Access-Control-Expose-Headers"] = ",".join(self.cors["ExposeHeaders"])

    # -- beside the API

    def static(self, request: Request) -> Response:
        if request.path in ("/docs", "/docs/"):
            return self._file(self.root / "local" / "swagger.html", "text/html; charset=utf-8")
        if request.path.startswith("/docs/assets/"):
            import swagger_ui_bundle

            base = Path(swagger_ui_bundle.swagger_ui_path).resolve()
            return self._under(base, request.path.removeprefix("/docs/assets/"))
        if request.method not in ("GET", "HEAD"):
            return problem(404, "NOT_FOUND", "Not found", "No such resource.")
        if request.path == "/console" or request.path.startswith("/console/"):
            return self.console(request)
        base = (self.root / "storefront").resolve()
        rel = request.path.lstrip("/") or "index.html"
        if (base / rel).is_dir():
            rel = f"{rel.rstrip('/')}/index.html"
        elif (
            (base / rel).resolve().is_relative_to(base)
            and not (base / rel).exists()
            and "." not in rel.rsplit("/", 1)[-1]
        ):
            # The shop is one page app: deep links such as /orders/{id} load index.html, as
            # CloudFront's error responses do in production (a missing file stays a 404 here).
            rel = "index.html"
        return self._under(base, rel)

    # -- the operator console (docs/console.md)

    def console(self, request: Request) -> Response:
        """console/ at /console/, as CloudFront serves it in production: its config.json says
        where this stack's Cognito is, and paths without a file extension load index.html."""
        if request.path == "/console":
            return Response(status=308, headers={"Location": "/console/"})
        base = (self.root / "console").resolve()
        rel = request.path.removeprefix("/console/")
        if rel == "config.json":
            return Response(json.dumps(self.console_config()), content_type="application/json; charset=utf-8")
        if not rel or "." not in rel.rsplit("/", 1)[-1]:
            page = (base / "index.html").read_text(encoding="utf-8")
            return Response(self.console_csp(page), content_type="text/html; charset=utf-8")
        return self._under(base, rel)

    def console_config(self) -> dict[str, str]:
        """What `make deploy-storefront` writes on AWS, for this stack: the API on the page's
        own origin, the emulator as the Cognito endpoint (it answers CORS as AWS's does)."""
        authorizer = next(iter(self.authorizers.values()), None)
        issuer = authorizer.issuer if authorizer else ""
        region = issuer.split("cognito-idp.", 1)[-1].split(".", 1)[0] if "cognito-idp." in issuer else ""
        return {
            "api_url": "",
            "region": region,
            "user_pool_client_id": sorted(authorizer.audience)[0] if authorizer else "",
            "cognito_endpoint": self.emulator_url,
        }

    def console_csp(self, page: str) -> str:
        # The deploy narrows `connect-src 'self' https:` to the API, Cognito and the cards
        # bucket; here Cognito and the presigned uploads are the emulator, over plain http.
        return page.replace("connect-src 'self' https:;", f"connect-src 'self' https: {self.emulator_url};", 1)

    def _under(self, base: Path, rel: str) -> Response:
        target = (base / rel).resolve()
        if not target.is_relative_to(base) or not target.is_file():
            return problem(404, "NOT_FOUND", "Not found", "No such resource.")
        return self._file(target, None)

    @staticmethod
    def _file(path: Path, content_type: str | None) -> Response:
        ctype = content_type or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype in ("application/javascript", "application/json"):
            ctype = f"{ctype}; charset=utf-8" if "charset" not in ctype else ctype
        return Response(path.read_bytes(), content_type=ctype)
