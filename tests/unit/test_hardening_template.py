"""template.yaml's production hardening, one assertion per finding of the hardening review.

What a new function needs is spelled out here, so adding one without it fails: its own log group (retention
parameter), a throttle entry per route, @metrics.log_metrics (tests/unit/test_unhandled_errors.py), and, when it is
invoked asynchronously, the on-failure destination and the schedule's dead-letter queue.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from credits.http import UNHANDLED_ERRORS_METRIC
from local.template import TEMPLATE, http_routes, load_template, scheduled_functions

T = load_template()
R = T["Resources"]
FUNCTIONS = sorted(k for k, v in R.items() if v["Type"] == "AWS::Serverless::Function")
REF_FAILURE_QUEUE = {"Fn::GetAtt": ["AsyncFailuresQueue", "Arn"]}


def props(logical_id: str) -> dict[str, Any]:
    return R[logical_id]["Properties"]


def alarms_on(namespace: str, metric: str) -> list[dict[str, Any]]:
    return [v["Properties"] for v in R.values() if v["Type"] == "AWS::CloudWatch::Alarm"
            and v["Properties"].get("Namespace") == namespace and v["Properties"].get("MetricName") == metric]


# --- logs ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_logs_to_its_own_log_group_with_the_retention_parameter(function):
    group = props(function)["LoggingConfig"]["LogGroup"]["Ref"]
    assert R[group]["Type"] == "AWS::Logs::LogGroup"
    assert props(group)["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert function in props(group)["LogGroupName"]["Fn::Sub"]


def test_every_log_group_has_a_retention():
    groups = [k for k, v in R.items() if v["Type"] == "AWS::Logs::LogGroup"]
    assert len(groups) == len(FUNCTIONS) + 1  # one per function and the API's access logs
    assert all(props(g)["RetentionInDays"] == {"Ref": "LogRetentionDays"} for g in groups)
    assert T["Parameters"]["LogRetentionDays"]["Default"] in T["Parameters"]["LogRetentionDays"]["AllowedValues"]


def test_api_access_logs_are_json_with_request_id_route_status_latency_and_user():
    settings = props("HttpApi")["AccessLogSettings"]
    assert settings["DestinationArn"] == {"Fn::GetAtt": ["HttpApiAccessLogGroup", "Arn"]}
    fields = json.loads(settings["Format"])  # one JSON object per request
    assert fields["requestId"] == "$context.requestId"
    assert fields["routeKey"] == "$context.routeKey"
    assert fields["status"] == "$context.status"
    assert fields["responseLatency"] == "$context.responseLatency"
    assert fields["integrationLatency"] == "$context.integrationLatency"
    assert fields["userSub"] == "$context.authorizer.claims.sub"
    assert fields["ip"] == "$context.identity.sourceIp"
    assert "$context.integrationErrorMessage" in fields.values()


# --- errors are seen -----------------------------------------------------------------------------------------------
def test_unhandled_errors_metric_has_an_alarm_that_notifies():
    (alarm,) = alarms_on("Credits", UNHANDLED_ERRORS_METRIC)
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "credits"}]
    assert alarm["Threshold"] == 1 and alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_api_gateway_5xx_of_the_stage_has_an_alarm():
    stage_wide = [a for a in alarms_on("AWS/ApiGateway", "5xx") if {d["Name"] for d in a["Dimensions"]} == {"ApiId", "Stage"}]
    assert len(stage_wide) == 1
    assert {d["Name"]: d["Value"] for d in stage_wide[0]["Dimensions"]} == {"ApiId": {"Ref": "HttpApi"}, "Stage": "$default"}


@pytest.mark.parametrize("function", sorted(scheduled_functions()))
def test_every_asynchronous_function_has_an_on_failure_destination_and_schedule_dlq(function):
    config = props(function)["EventInvokeConfig"]
    assert config["DestinationConfig"]["OnFailure"] == {"Type": "SQS", "Destination": REF_FAILURE_QUEUE}
    assert 0 <= config["MaximumRetryAttempts"] <= 2
    for event in props(function)["Events"].values():
        if event["Type"] in ("Schedule", "ScheduleV2"):
            assert event["Properties"]["DeadLetterConfig"] == {"Arn": REF_FAILURE_QUEUE}
            assert event["Properties"]["RetryPolicy"]["MaximumRetryAttempts"] >= 1


def test_the_failure_queue_is_encrypted_kept_14_days_and_alarmed():
    queue = props("AsyncFailuresQueue")
    assert queue["SqsManagedSseEnabled"] is True and queue["MessageRetentionPeriod"] == 14 * 24 * 3600
    watching = [a for a in alarms_on("AWS/SQS", "ApproximateNumberOfMessagesVisible")
                if a["Dimensions"] == [{"Name": "QueueName",
                                        "Value": {"Fn::GetAtt": ["AsyncFailuresQueue", "QueueName"]}}]]
    (alarm,) = watching
    assert alarm["Threshold"] == 1 and alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use():
    # The AWS-managed aws/sns key cannot grant cloudwatch.amazonaws.com, so alarms would silently not publish.
    key = props("AlarmTopic")["KmsMasterKeyId"]["Ref"]
    assert props(key)["EnableKeyRotation"] is True
    grants = [s for s in props(key)["KeyPolicy"]["Statement"] if s["Principal"].get("Service") == "cloudwatch.amazonaws.com"]
    assert len(grants) == 1 and set(grants[0]["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    assert grants[0]["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}


# --- limits --------------------------------------------------------------------------------------------------------
def test_every_route_has_its_own_throttle_and_the_webhook_and_internal_routes_have_their_own_budget():
    settings = props("HttpApi")["RouteSettings"]
    assert set(settings) == {r.route_key for r in http_routes()}  # a new route needs an entry
    for key, s in settings.items():
        assert s["ThrottlingRateLimit"] > 0 and s["ThrottlingBurstLimit"] >= s["ThrottlingRateLimit"], key
    webhook = settings["POST /webhooks/stripe"]
    assert webhook["ThrottlingBurstLimit"] >= 500  # Stripe's bursts after an outage
    user_routes = [s for k, s in settings.items() if k.split(" ")[1].startswith("/credits/")]
    assert all(s is not webhook and s["ThrottlingBurstLimit"] < webhook["ThrottlingBurstLimit"] for s in user_routes)
    internal = [k for k in settings if " /internal/" in k]
    assert internal and all(settings[k] not in user_routes for k in internal)


def test_reserved_concurrency_is_a_parameter_off_by_default_on_every_table_function():
    param = T["Parameters"]["ReservedConcurrency"]
    assert param["Default"] == 0
    reserved = {"Fn::If": ["HasReservedConcurrency", {"Ref": "ReservedConcurrency"}, {"Ref": "AWS::NoValue"}]}
    table_http = {r.function for r in http_routes()} - {"CatalogFunction"}
    for function in table_http:
        assert props(function)["ReservedConcurrentExecutions"] == reserved, function
    assert T["Conditions"]["HasReservedConcurrency"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "ReservedConcurrency"}, 0]}]}


def test_internal_routes_are_limited_to_the_listed_principals():
    param = T["Parameters"]["InternalPrincipalArns"]
    assert param["Default"] == ""  # empty: every internal call refused until the operator lists its roles
    pattern = re.compile(param["AllowedPattern"])
    assert pattern.fullmatch("arn:aws:iam::123456789012:role/worker,arn:aws:iam::123456789012:user/ops/deployer")
    assert not pattern.fullmatch("arn:aws:sts::123456789012:assumed-role/worker/session")
    assert not pattern.fullmatch("*")
    for function in {r.function for r in http_routes() if r.auth == "iam"}:
        assert props(function)["Environment"]["Variables"]["INTERNAL_PRINCIPALS"] == {"Ref": "InternalPrincipalArns"}


# --- dashboard -----------------------------------------------------------------------------------------------------
def test_dashboard_responses_carry_security_headers():
    behaviour = props("DashboardDistribution")["DistributionConfig"]["DefaultCacheBehavior"]
    assert behaviour["ResponseHeadersPolicyId"] == {"Ref": "DashboardSecurityHeaders"}
    security = props("DashboardSecurityHeaders")["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    csp_text, variables = security["ContentSecurityPolicy"]["ContentSecurityPolicy"]["Fn::Sub"]
    csp = {d.split()[0]: d.split()[1:] for d in csp_text.split(";")}
    assert csp["default-src"] == ["'self'"] and csp["frame-ancestors"] == ["'none'"]
    assert csp["script-src"] == ["'self'"] and not any("unsafe" in s for v in csp.values() for s in v)
    assert csp["connect-src"][0] == "'self'" and "https://*.execute-api.${AWS::Region}.${AWS::URLSuffix}" in csp["connect-src"]
    assert "${AuthOrigin}" in csp["connect-src"] and "AuthOrigin" in variables
    assert security["ContentSecurityPolicy"]["Override"] is True
    assert security["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 365 * 24 * 3600
    assert security["FrameOptions"]["FrameOption"] == "DENY"
    assert security["ContentTypeOptions"]["Override"] is True


def test_dashboard_tls_minimum_is_1_2_with_a_custom_domain():
    condition, custom, default = props("DashboardDistribution")["DistributionConfig"]["ViewerCertificate"]["Fn::If"]
    assert condition == "HasDashboardDomain"
    assert custom["MinimumProtocolVersion"] == "TLSv1.2_2021" and custom["SslSupportMethod"] == "sni-only"
    assert default == {"CloudFrontDefaultCertificate": True}


def test_dashboard_bucket_is_versioned_and_old_versions_expire():
    bucket = props("DashboardBucket")
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = bucket["LifecycleConfiguration"]["Rules"]
    assert any(r.get("NoncurrentVersionExpiration") for r in rules)


# --- checkov skips --------------------------------------------------------------------------------------------------
def test_every_checkov_skip_gives_a_reason():
    skips = re.findall(r"checkov:skip=([A-Z0-9_]+)(?::(.*))?", TEMPLATE.read_text(encoding="utf-8"))
    assert skips, "expected the commented skips (make checkov runs the scan itself)"
    for check, reason in skips:
        assert len(reason.strip()) >= 40, f"{check}: a skip needs a real reason"
