"""The local stack's reading of template.yaml: parameters, intrinsics, routes, schedules."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from local.events import ScheduleMapping, _next_cron
from local.template import Template, parse_overrides

ROOT = Path(__file__).resolve().parents[2]


def test_overrides_parse_like_sam_parameter_overrides() -> None:
    assert parse_overrides('MaxPendingOrdersPerIp=1000 OrderTtlMinutes=5 AlertEmail="ops@example.com"') == {
        "MaxPendingOrdersPerIp": "1000",
        "OrderTtlMinutes": "5",
        "AlertEmail": "ops@example.com",
    }
    # SAM's long form, mixed with the short one.
    assert parse_overrides("ParameterKey=OrderTtlMinutes,ParameterValue=5 Stage=test") == {
        "OrderTtlMinutes": "5",
        "Stage": "test",
    }
    with pytest.raises(ValueError, match="Name=Value"):
        parse_overrides("oops")
    with pytest.raises(ValueError, match="ParameterValue"):
        parse_overrides("ParameterKey=OrderTtlMinutes")


def test_parameters_take_defaults_and_overrides() -> None:
    t = Template.load(ROOT / "template.yaml", {"OrderTtlMinutes": "5"})
    assert t.parameters["OrderTtlMinutes"] == "5"
    assert t.parameters["BusinessTimeZone"] == "Asia/Shanghai"
    assert t.parameters["MaxPendingOrdersPerEmail"] == "3"
    assert t.parameters["MaxPendingOrdersPerIp"] == "20"


def test_unknown_or_disallowed_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown template parameters: Nope"):
        Template.load(ROOT / "template.yaml", {"Nope": "1"})
    with pytest.raises(ValueError, match="EnableSandboxPayments"):
        Template.load(ROOT / "template.yaml", {"EnableSandboxPayments": "maybe"})


def test_the_sandbox_is_off_by_default_and_refused_in_prod() -> None:
    # A prod deploy whose overrides forget the parameter must not serve a free pay page.
    assert Template.load(ROOT / "template.yaml", {}).condition("SandboxEnabled") is False
    assert Template.load(ROOT / "template.yaml", {"EnableSandboxPayments": "true"}).condition("SandboxEnabled")
    with pytest.raises(ValueError, match="rule NoSandboxPaymentsInProd"):
        Template.load(ROOT / "template.yaml", {"Stage": "prod", "EnableSandboxPayments": "true"})
    assert Template.load(ROOT / "template.yaml", {"Stage": "prod"}).condition("SandboxEnabled") is False
    # The dev config says so explicitly; the prod config never enables it.
    config = (ROOT / "samconfig.toml").read_text()
    assert "Stage=dev EnableSandboxPayments=true" in config
    assert "Stage=prod EnableSandboxPayments=false" in config


def test_loopback_webhooks_are_off_when_deployed_on_locally_and_refused_in_prod() -> None:
    from local.template import DEV_DEFAULTS

    assert Template.load(ROOT / "template.yaml", {}).parameters["AllowLoopbackWebhooks"] == "false"
    assert DEV_DEFAULTS["AllowLoopbackWebhooks"] == "true"  # the local stack's tests run receivers on 127.0.0.1
    with pytest.raises(ValueError, match="rule NoLoopbackWebhooksInProd"):
        Template.load(ROOT / "template.yaml", {"Stage": "prod", "AllowLoopbackWebhooks": "true"})
    config = (ROOT / "samconfig.toml").read_text()
    assert "AllowLoopbackWebhooks=true" not in config
    assert "Stage=prod EnableSandboxPayments=false AllowLoopbackWebhooks=false" in config


def test_sub_and_conditions_resolve() -> None:
    t = Template.load(ROOT / "template.yaml", {"Stage": "prod", "AlertEmail": "ops@example.com"})
    t.refs["CatalogTable"] = "kayisu-prod-catalog"
    t.attrs["CatalogTable"] = {"Arn": "arn:aws:dynamodb:us-east-1:123456789012:table/kayisu-prod-catalog"}
    assert t.resolve({"Fn::Sub": "${CatalogTable.Arn}/index/*"}).endswith("table/kayisu-prod-catalog/index/*")
    assert t.resolve({"Fn::Sub": "kayisu-${Stage}-x-${AWS::AccountId}"}) == "kayisu-prod-x-123456789012"
    assert t.condition("HasAlertEmail") is True
    assert Template.load(ROOT / "template.yaml", {}).condition("HasAlertEmail") is False


def test_every_function_has_its_code_and_every_route_states_its_auth_when_public() -> None:
    t = Template.load(ROOT / "template.yaml", {})
    for lid, fn in t.of_type("AWS::Serverless::Function").items():
        props = fn["Properties"]
        module = props["Handler"].split(".")[0]
        assert (ROOT / props["CodeUri"] / f"{module}.py").is_file(), lid
        for event in props.get("Events", {}).values():
            if event["Type"] == "HttpApi":
                path = event["Properties"]["Path"]
                assert path.startswith("/v1/"), path
                public = (event["Properties"].get("Auth") or {}).get("Authorizer") == "NONE"
                assert public != path.startswith("/v1/admin/"), f"{lid} {path}: admin routes need the authorizer"


def test_aws_cron_in_the_business_time_zone() -> None:
    # "10 minutes past midnight in Shanghai" is 16:10 UTC the day before.
    after = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    assert _next_cron("10 0 * * ? *", after, __import__("zoneinfo").ZoneInfo("Asia/Shanghai")) == datetime(
        2026, 11, 24, 16, 10, tzinfo=UTC
    )


def test_aws_cron_day_of_week_counts_from_sunday_as_1() -> None:
    # 2026-11-24 is a Tuesday; "2" is Monday in AWS cron.
    after = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    nxt = _next_cron("0 1 ? * 2 *", after, __import__("zoneinfo").ZoneInfo("UTC"))
    assert nxt == datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
    assert nxt.weekday() == 0


def test_rate_expressions() -> None:
    s = ScheduleMapping("Every5", None, "rate(5 minutes)", "UTC", True)  # type: ignore[arg-type]
    after = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    assert (s.next_after(after) - after).total_seconds() == 300
    event = s.scheduled_event(after)
    assert (event["detail-type"], event["time"]) == ("Scheduled Event", "2026-11-24T12:00:00Z")


def test_a_scheduler_input_is_laid_over_the_scheduled_event() -> None:
    s = ScheduleMapping(
        "DailyReport",
        None,  # type: ignore[arg-type]
        "cron(10 0 * * ? *)",
        "Asia/Shanghai",
        True,
        input='{"kind": "daily", "time": "<aws.scheduler.scheduled-time>", "run": "<aws.scheduler.execution-id>"}',
    )
    event = s.scheduled_event(datetime(2026, 11, 24, 16, 10, tzinfo=UTC))
    assert (event["kind"], event["time"]) == ("daily", "2026-11-24T16:10:00Z")
    assert event["run"] == event["id"]
    assert s.next_after(datetime(2026, 11, 24, 12, 0, tzinfo=UTC)) == datetime(2026, 11, 24, 16, 10, tzinfo=UTC)
