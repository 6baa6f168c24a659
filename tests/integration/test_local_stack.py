"""The local stack's own contract (CONTRACT §7) and API Gateway behaviour around the API (§0)."""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import requests

from local.template import load_template
from tests.integration.conftest import ARTIFACTS, Api, aws, running_stack
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(ROOT / "template.yaml")


def test_local_json_has_everything_the_contract_lists(stack: dict[str, Any]) -> None:
    assert set(stack) >= {
        "api_url",
        "aws_endpoint_url",
        "region",
        "resources",
        "operator",
        "finance",
        "user_pool_id",
        "user_pool_client_id",
        "sandbox_webhook_secret",
    }
    assert stack["region"] == "us-east-1"
    assert set(stack["operator"]) == {"username", "password"}
    for lid in (
        "CatalogTable",
        "OrdersTable",
        "CardsTable",
        "CardsBucket",
        "ReportsBucket",
        "FulfilmentQueue",
        "FulfilmentDLQ",
        "AlertsTopic",
        "CardsKey",
        "UserPool",
        "UserPoolClient",
    ):
        assert lid in stack["resources"], lid
    assert stack["resources"]["UserPool"] == stack["user_pool_id"]


def test_resources_exist_in_the_emulator_as_the_template_declares(stack: dict[str, Any]) -> None:
    ddb = aws(stack, "dynamodb")
    orders = ddb.describe_table(TableName=stack["resources"]["OrdersTable"])["Table"]
    assert {i["IndexName"] for i in orders["GlobalSecondaryIndexes"]} == {"ByCreated", "OpenByDeadline", "ByEmail"}
    sqs = aws(stack, "sqs")
    attrs = sqs.get_queue_attributes(QueueUrl=stack["resources"]["FulfilmentQueue"], AttributeNames=["All"])
    assert "fulfilment-dlq" in attrs["Attributes"]["RedrivePolicy"]
    s3 = aws(stack, "s3")
    block = s3.get_public_access_block(Bucket=stack["resources"]["CardsBucket"])["PublicAccessBlockConfiguration"]
    assert all(block.values())
    enc = s3.get_bucket_encryption(Bucket=stack["resources"]["CardsBucket"])
    assert (
        enc["ServerSideEncryptionConfiguration"]["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"]
        == "aws:kms"
    )
    groups = aws(stack, "cognito-idp").list_groups(UserPoolId=stack["user_pool_id"])["Groups"]
    assert {g["GroupName"] for g in groups} == {"operators", "finance"}


def test_every_response_has_a_request_id(public: Api) -> None:
    for path in ("/v1/products", "/v1/products/NOPE", "/v1/admin/products", "/v1/nowhere", "/"):
        assert public.get(path).headers.get("X-Request-Id"), path
    assert public.get("/v1/products", headers={"X-Request-Id": "mine-123"}).headers["X-Request-Id"] == "mine-123"


def test_cors_preflight_and_exposed_headers(public: Api) -> None:
    pre = public.request(
        "OPTIONS",
        "/v1/orders",
        headers={
            "Origin": "http://shop.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,idempotency-key",
        },
    )
    assert pre.status_code == 204
    assert pre.headers["Access-Control-Allow-Origin"] == "*"
    assert "Idempotency-Key" in pre.headers["Access-Control-Allow-Headers"]
    r = public.get("/v1/products", headers={"Origin": "http://shop.example"})
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert "X-Request-Id" in r.headers["Access-Control-Expose-Headers"]


def test_openapi_covers_every_route_of_the_template(public: Api) -> None:
    doc = public.get("/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    for res in TEMPLATE["Resources"].values():
        for event in (res.get("Properties") or {}).get("Events", {}).values():
            if event["Type"] != "HttpApi":
                continue
            path, method = event["Properties"]["Path"], event["Properties"]["Method"].lower()
            assert method in doc["paths"].get(path, {}), f"{method} {path} missing from OpenAPI"
            op = doc["paths"][path][method]
            expected: list[dict[str, list[str]]] | None = (
                [{"operatorJwt": []}]
                if path.startswith("/v1/admin/")
                else [{"PartnerSignature": []}]
                if path.startswith("/v1/partner/")
                else None
            )
            assert op.get("security") == expected, path
            errors = {status: r for status, r in op["responses"].items() if int(status) >= 400}
            page = {"text/html"} if path.startswith("/v1/sandbox/pay/") else set()  # a page for a person
            for status, response in errors.items():  # CONTRACT §0: every error is problem+json
                assert set(response["content"]) - page == {"application/problem+json"}, (method, path, status)
            if expected:
                assert {"401", "422"} <= set(errors), (method, path)
    assert {"operatorJwt", "PartnerSignature"} <= set(doc["components"]["securitySchemes"])
    # The contract's status codes (§1, §3, §4), and the error codes clients branch on.
    created = {("post", "/v1/orders"), ("post", "/v1/admin/products"), ("post", "/v1/admin/batches")}
    created |= {("post", "/v1/admin/partners"), ("post", "/v1/partner/redemptions")}
    for method, path in created:
        assert "201" in doc["paths"][path][method]["responses"], (method, path)
    order = doc["paths"]["/v1/orders"]["post"]["responses"]
    assert "200" in order  # an Idempotency-Key repeat
    assert "OUT_OF_STOCK" in order["409"]["description"]
    assert "IDEMPOTENCY_KEY_REUSED" in order["422"]["description"]
    assert "AMOUNT_MISMATCH" in doc["paths"]["/v1/webhooks/{provider}"]["post"]["responses"]["409"]["description"]
    assert "FORBIDDEN" in doc["paths"]["/v1/admin/products"]["post"]["responses"]["403"]["description"]
    # Every reference resolves, and nothing unused is listed.
    text = json.dumps(doc)
    referenced = set(re.findall(r'"#/components/schemas/([^"]+)"', text))
    assert referenced == set(doc["components"]["schemas"])


def test_docs_and_storefront_are_served(public: Api) -> None:
    docs = public.get("/docs")
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text
    assert public.get("/docs/assets/swagger-ui-bundle.js").status_code == 200
    shop = public.get("/")
    assert shop.status_code == 200
    assert shop.headers["Content-Type"].startswith("text/html")
    # Raw paths: requests would normalise "/../" away before sending.
    host = public.base.removeprefix("http://")
    for raw in ("/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/docs/assets/../../../../etc/passwd"):
        conn = http.client.HTTPConnection(host, timeout=10)
        conn.request("GET", raw)
        answer = conn.getresponse()
        assert answer.status == 404, raw
        assert b"root:" not in answer.read()
        conn.close()


def test_the_console_is_served_with_this_stacks_cognito_in_its_config(stack: dict[str, Any], public: Api) -> None:
    config = public.get("/console/config.json")
    assert config.status_code == 200
    assert config.json() == {
        "api_url": "",
        "region": stack["region"],
        "user_pool_client_id": stack["user_pool_client_id"],
        "cognito_endpoint": stack["aws_endpoint_url"],
    }
    moved = public.get("/console", allow_redirects=False)
    assert (moved.status_code, moved.headers["Location"]) == (308, "/console/")
    for page in ("/console/", "/console/orders/ord_x"):  # deep links load the console's index.html
        answer = public.get(page)
        assert answer.status_code == 200
        assert "/console/js/app.js" in answer.text
        assert f"connect-src 'self' https: {stack['aws_endpoint_url']};" in answer.text
    assert public.get("/console/js/app.js").headers["Content-Type"].startswith("text/javascript")
    assert public.get("/console/js/missing.js").status_code == 404
    host = public.base.removeprefix("http://")
    conn = http.client.HTTPConnection(host, timeout=10)
    conn.request("GET", "/console/%2e%2e/%2e%2e/template.yaml")
    assert conn.getresponse().status == 404
    conn.close()
    # The browser signs in at the emulator's Cognito across origins, as it does at AWS's.
    origin = stack["api_url"]
    preflight = requests.options(
        stack["aws_endpoint_url"] + "/",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-amz-target",
        },
        timeout=10,
    )
    assert preflight.headers.get("Access-Control-Allow-Origin") in (origin, "*")
    signed_in = requests.post(
        stack["aws_endpoint_url"] + "/",
        headers={
            "Origin": origin,
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth",
        },
        data=json.dumps(
            {
                "AuthFlow": "USER_PASSWORD_AUTH",
                "ClientId": stack["user_pool_client_id"],
                "AuthParameters": {"USERNAME": stack["finance"]["username"], "PASSWORD": stack["finance"]["password"]},
            }
        ),
        timeout=10,
    )
    assert signed_in.status_code == 200
    assert signed_in.headers.get("Access-Control-Allow-Origin") in (origin, "*")
    assert signed_in.json()["AuthenticationResult"]["IdToken"]
    # The cards bucket takes the console's presigned PUTs (its CORS rules, as template.yaml has them).
    rules = aws(stack, "s3").get_bucket_cors(Bucket=stack["resources"]["CardsBucket"])["CORSRules"]
    assert [r["AllowedMethods"] for r in rules] == [["PUT"]]


def test_outbox_shows_emails_and_alerts_oldest_first(stack: dict[str, Any], public: Api) -> None:
    ses = aws(stack, "ses")
    ses.verify_email_identity(EmailAddress="shop@example.com")
    ses.send_email(
        Source="shop@example.com",
        Destination={"ToAddresses": ["buyer@example.com"]},
        Message={"Subject": {"Data": "你的订单 Your order"}, "Body": {"Text": {"Data": "link"}}},
    )
    aws(stack, "sns").publish(
        TopicArn=stack["resources"]["AlertsTopic"], Subject="Low stock", Message="GIFT-CNY-100: 3 left"
    )
    items = public.get("/_local/outbox").json()["items"]
    email = next(i for i in items if i["to"] == ["buyer@example.com"])
    assert (email["channel"], email["subject"], email["body"]) == ("email", "你的订单 Your order", "link")
    alert = next(i for i in items if i["subject"] == "Low stock")
    assert alert["channel"] == "sns"
    assert alert["to"] == [stack["resources"]["AlertsTopic"]]
    assert items.index(email) < items.index(alert)
    assert all(i["sent_at"].endswith("Z") for i in items)


def test_unknown_schedule_is_404_with_a_list(public: Api) -> None:
    r = public.post("/_local/schedules/NoSuchThing")
    assert (r.status_code, r.json()["code"]) == (404, "UNKNOWN_SCHEDULE")


def test_a_taken_port_gives_a_clear_message(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {
            **os.environ,
            "KAYISU_PORT": str(port),
            "KAYISU_AWS_PORT": str(free_port()),
            "KAYISU_STATE_DIR": str(tmp_path),
        }
        out = subprocess.run(
            [sys.executable, "-m", "local", "run", "--no-demo"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert out.returncode == 2
    assert f"port {port}" in out.stderr
    assert "already in use" in out.stderr


def test_a_restart_right_after_a_run_that_served_traffic_starts(tmp_path: Path) -> None:
    # Ctrl-C and `make run` again: the last run's connections sit in TIME_WAIT on both ports
    # for a minute, which is not "in use" (the servers bind with SO_REUSEADDR, and so must
    # the probe).
    ports = (free_port(), free_port())
    with running_stack(tmp_path / "first", ARTIFACTS / "restart-first.log", "", ports=ports) as first:
        for _ in range(3):  # the server closes these first: TIME_WAIT on the API port
            r = requests.get(first["api_url"] + "/v1/products", headers={"Connection": "close"}, timeout=30)
            assert r.status_code == 200
        kept_open = requests.Session()  # and one the server must close as it stops
        assert kept_open.get(first["api_url"] + "/_local/health", timeout=30).status_code == 200
    lingering = subprocess.run(["ss", "-tan"], capture_output=True, text=True, check=False).stdout
    assert any("TIME-WAIT" in line and f"127.0.0.1:{ports[0]} " in line for line in lingering.splitlines()), (
        "the first run left no TIME_WAIT connection on its port, so this test would prove nothing"
    )
    with running_stack(tmp_path / "second", ARTIFACTS / "restart-second.log", "", ports=ports) as second:
        assert requests.get(second["api_url"] + "/_local/health", timeout=30).json() == {"status": "ok"}
    kept_open.close()
    # The log of a run that served traffic is ours: the libraries' INFO chatter stays out.
    log = (ARTIFACTS / "restart-first.log").read_text()
    assert "kayisu.local" in log
    assert not re.search(r" (botocore|boto3|pynamodb|urllib3|moto)\S* INFO ", log), log[-2000:]


def test_the_source_ip_is_the_connections_unless_forwarded_for_is_trusted(tmp_path: Path) -> None:
    # As API Gateway: a shopper cannot dodge the per-IP limit by naming another address.
    sku = "GIFT-CNY-100"  # a demo product
    with running_stack(
        tmp_path, ARTIFACTS / "untrusted-ip.log", "MaxPendingOrdersPerIp=1", trust_forwarded_for=False
    ) as state:

        def order(ip: str) -> requests.Response:
            body = {"sku": sku, "quantity": 1, "email": f"ip-{ip}@example.com", "payment_method": "sandbox"}
            return requests.post(
                state["api_url"] + "/v1/orders", json=body, headers={"X-Forwarded-For": ip}, timeout=30
            )

        assert order("203.0.113.1").status_code == 201
        refused = order("203.0.113.2")
        assert (refused.status_code, refused.json()["code"]) == (429, "RATE_LIMITED"), refused.text
