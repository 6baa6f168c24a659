"""`make deploy-storefront` cannot reach AWS here: its pure parts, on the real storefront/ and
samconfig.toml, and its AWS calls against fakes that keep what they were asked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scripts.deploy_storefront import (
    CSP_CONNECT,
    IMMUTABLE,
    NO_CACHE,
    ConsoleSettings,
    DeployError,
    Upload,
    console_plan,
    main,
    narrow_csp,
    ordered,
    plan,
    publish,
    stack_settings,
    stale_keys,
)

ROOT = Path(__file__).resolve().parents[2]
API = "https://abc123.execute-api.ap-southeast-1.amazonaws.com"
CONSOLE = ConsoleSettings(API + "/", "ap-southeast-1_AbC123", "client123", "kayisu-dev-cards-111122223333")


def test_the_plan_points_the_shop_at_the_api_and_caches_only_versioned_files() -> None:
    uploads = plan(ROOT / "storefront", API + "/")
    by_key = {u.key: u for u in uploads}
    assert json.loads(by_key["config.json"].body) == {"api_url": API}
    page = by_key["index.html"].body.decode()
    assert f"connect-src 'self' {API};" in page
    assert CSP_CONNECT not in page
    assert by_key["index.html"].content_type == "text/html; charset=utf-8"
    assert by_key["js/app.js"].content_type == "text/javascript; charset=utf-8"
    assert by_key["vendor/lean-qr-2.7.4.js"].cache_control == IMMUTABLE
    assert {u.cache_control for u in uploads if not u.key.startswith("vendor/")} == {NO_CACHE}
    # What refers to the rest goes last.
    assert [u.key for u in uploads][-2:] == ["config.json", "index.html"]


def test_the_plan_refuses_what_would_break_the_page(tmp_path: Path) -> None:
    with pytest.raises(DeployError, match="https"):
        plan(ROOT / "storefront", "http://insecure.example.com")
    with pytest.raises(DeployError, match="exactly once"):
        narrow_csp("<html></html>", API)
    (tmp_path / "index.html").write_text(f'<meta content="{CSP_CONNECT}">')
    (tmp_path / "notes.docx").write_bytes(b"")
    with pytest.raises(DeployError, match="unknown file type"):
        plan(tmp_path, API)
    (tmp_path / "notes.docx").unlink()
    (tmp_path / ".DS_Store").write_bytes(b"")
    assert [u.key for u in plan(tmp_path, API)] == ["config.json", "index.html"]


def test_the_stack_comes_from_samconfig() -> None:
    assert stack_settings(ROOT / "samconfig.toml", "default") == ("kayisu-dev", "ap-southeast-1")
    assert stack_settings(ROOT / "samconfig.toml", "prod")[0] == "kayisu-prod"
    with pytest.raises(DeployError):
        stack_settings(ROOT / "samconfig.toml", "nope")


class FakeS3:
    def __init__(self, existing: list[str]) -> None:
        self.objects: dict[str, dict[str, Any]] = {k: {} for k in existing}
        self.order: list[str] = []

    def put_object(self, **kwargs: Any) -> None:
        self.objects[kwargs["Key"]] = kwargs
        self.order.append(kwargs["Key"])

    def delete_object(self, Bucket: str, Key: str) -> None:  # noqa: N803 - boto3's names
        del self.objects[Key]

    def get_paginator(self, name: str) -> FakeS3:
        return self

    def paginate(self, Bucket: str) -> list[dict[str, Any]]:  # noqa: N803
        return [{"Contents": [{"Key": k} for k in self.objects]}]


class FakeCloudFront:
    def __init__(self) -> None:
        self.paths: list[str] = []

    def create_invalidation(self, DistributionId: str, InvalidationBatch: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
        self.paths += InvalidationBatch["Paths"]["Items"]
        return {"Invalidation": {"Id": "I1"}}


def test_publishing_uploads_then_removes_what_the_release_dropped_then_invalidates() -> None:
    uploads = plan(ROOT / "storefront", API)
    s3, cloudfront = FakeS3(["old.js", "index.html"]), FakeCloudFront()
    assert publish(s3, cloudfront, "bucket", "DIST", uploads) == "I1"
    assert set(s3.objects) == {u.key for u in uploads}
    assert s3.order[-1] == "index.html"
    assert s3.objects["shop.css"]["ContentType"] == "text/css; charset=utf-8"
    assert s3.objects["index.html"]["CacheControl"] == NO_CACHE
    assert cloudfront.paths == ["/*"]
    assert stale_keys(["a", "b"], [Upload("a", b"", "text/plain", NO_CACHE)]) == ["b"]


def test_an_unknown_config_env_fails_before_any_aws_call(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config-env", "nope"]) == 1
    assert "no [nope]" in capsys.readouterr().err


def test_the_console_is_published_beside_the_shop_and_signs_in_against_the_stacks_pool() -> None:
    uploads = ordered(plan(ROOT / "storefront", API) + console_plan(ROOT / "console", CONSOLE))
    by_key = {u.key: u for u in uploads}
    assert json.loads(by_key["console/config.json"].body) == {
        "api_url": API,
        "region": "ap-southeast-1",
        "user_pool_client_id": "client123",
        "cognito_endpoint": "https://cognito-idp.ap-southeast-1.amazonaws.com",
    }
    page = by_key["console/index.html"].body.decode()
    assert (
        f"connect-src 'self' {API} https://cognito-idp.ap-southeast-1.amazonaws.com "
        "https://kayisu-dev-cards-111122223333.s3.ap-southeast-1.amazonaws.com "
        "https://kayisu-dev-cards-111122223333.s3.amazonaws.com;"
    ) in page
    assert CSP_CONNECT not in page
    assert by_key["console/vendor/echarts-6.1.0.min.js"].cache_control == IMMUTABLE
    assert by_key["console/js/app.js"].cache_control == NO_CACHE
    assert [u.key for u in uploads][-4:] == ["console/config.json", "console/index.html", "config.json", "index.html"]
    # One release: publishing it keeps the console's files and drops only what neither has.
    s3 = FakeS3(["console/js/old.js", "console/index.html", "js/app.js"])
    publish(s3, FakeCloudFront(), "bucket", "DIST", uploads)
    assert set(s3.objects) == {u.key for u in uploads}
    with pytest.raises(DeployError, match="region"):
        console_plan(ROOT / "console", ConsoleSettings(API, "nopool", "c", "b"))
