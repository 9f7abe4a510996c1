"""The deployed shape, read from template.yaml after the SAM transform: least privilege, table safety, auth."""

from __future__ import annotations

import copy
import os
from typing import Any

import pytest

from local.template import http_routes, load_template

# Every route that names a user may settle due expiries and create the welcome grant: the ledger's write set.
LEDGER = {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:DeleteItem",
          "dynamodb:ConditionCheckItem"}
# Money in from Stripe adds grants and claws back (no deletes).
STRIPE_LEDGER = {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem",
                 "dynamodb:ConditionCheckItem", "ssm:GetParameter"}
FUNCTION_ACTIONS = {
    # function: exactly the DynamoDB / SSM actions it may use
    "CatalogFunction": set(),
    "BalanceFunction": LEDGER,
    "HistoryFunction": LEDGER,
    "ConsumeFunction": LEDGER,
    "HoldsFunction": LEDGER,
    "GrantsFunction": LEDGER,
    "InternalConsumeFunction": LEDGER,
    "InternalGrantsFunction": LEDGER,
    "PurchaseFunction": LEDGER | {"ssm:GetParameter"},
    "WebhookFunction": STRIPE_LEDGER,
    "ReconcileFunction": STRIPE_LEDGER | {"sqs:SendMessage"},
    "HoldSweeperFunction": LEDGER | {"sqs:SendMessage"},
}
# Asynchronous functions send their failed events to this queue (EventInvokeConfig OnFailure), and nowhere else.
FAILURE_QUEUE = {"Fn::GetAtt": ["AsyncFailuresQueue", "Arn"]}
READS_WEBHOOK_SECRET = {"WebhookFunction"}


@pytest.fixture(scope="module")
def transformed() -> dict[str, Any]:
    from samtranslator.public.translator import ManagedPolicyLoader
    from samtranslator.translator.transform import transform

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    template = copy.deepcopy(load_template())
    for resource in template["Resources"].values():  # the translator wants uploaded artifacts
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if key in props:
                props[key] = "s3://bucket/artifact.zip"

    class NoManagedPolicies(ManagedPolicyLoader):
        def __init__(self) -> None:
            pass

        def load(self) -> dict[str, str]:
            return {}

    return transform(template, {}, NoManagedPolicies())


def role_actions(transformed: dict[str, Any], function: str) -> tuple[set[str], list[Any]]:
    role = transformed["Resources"][f"{function}Role"]["Properties"]
    actions: set[str] = set()
    resources: list[Any] = []
    for policy in role.get("Policies", []):
        for stmt in policy["PolicyDocument"]["Statement"]:
            acts = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
            actions.update(acts)
            resources.append(stmt["Resource"])
    return actions, resources


def test_every_function_is_covered(transformed):
    functions = {k for k, v in transformed["Resources"].items() if v["Type"] == "AWS::Lambda::Function"}
    assert functions == set(FUNCTION_ACTIONS)


@pytest.mark.parametrize("function", list(FUNCTION_ACTIONS))
def test_each_function_gets_only_the_actions_it_uses(transformed, function):
    actions, resources = role_actions(transformed, function)
    assert actions == FUNCTION_ACTIONS[function]
    assert not any(a.endswith("*") for a in actions)
    assert "*" not in resources
    managed = transformed["Resources"][f"{function}Role"]["Properties"]["ManagedPolicyArns"]
    assert all("AWSLambdaBasicExecutionRole" in str(m) or "AWSXrayWriteOnlyAccess" in str(m) for m in managed)


@pytest.mark.parametrize("function", list(FUNCTION_ACTIONS))
def test_a_function_may_send_only_to_the_async_failure_queue(transformed, function):
    role = transformed["Resources"][f"{function}Role"]["Properties"]
    for policy in role.get("Policies", []):
        for stmt in policy["PolicyDocument"]["Statement"]:
            acts = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
            if any(a.startswith("sqs:") for a in acts):
                assert acts == ["sqs:SendMessage"] and stmt["Resource"] == FAILURE_QUEUE, (function, stmt)


def test_only_the_webhook_reads_the_webhook_secret_and_only_stripe_functions_read_secrets(transformed):
    for function in FUNCTION_ACTIONS:
        _, resources = role_actions(transformed, function)
        text = str(resources)
        assert ("StripeWebhookSecretParameter" in text) == (function in READS_WEBHOOK_SECRET), function
        if "ssm:GetParameter" not in FUNCTION_ACTIONS[function]:
            assert "StripeSecretKeyParameter" not in text


def test_table_is_on_demand_with_pitr_deletion_protection_and_ttl():
    props = load_template()["Resources"]["CreditsTable"]["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["DeletionProtectionEnabled"] is True
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at_ttl", "Enabled": True}


def test_routes_auth_matches_the_contract():
    auth = {(r.method, r.path): r.auth for r in http_routes()}
    public = {("GET", "/health"), ("GET", "/credits/bundles"), ("GET", "/credits/features"),
              ("POST", "/webhooks/stripe")}
    assert {k for k, v in auth.items() if v == "none"} == public
    internal = {k for k in auth if k[1].startswith("/internal/")}
    assert internal == {("POST", "/internal/credits/consume"), ("POST", "/internal/credits/grants"),
                        ("POST", "/internal/credits/grants/{grant_id}/void")}
    assert all(auth[k] == "iam" for k in internal)
    assert all(v == "jwt" for k, v in auth.items() if k not in public and k not in internal)


def test_layer_is_built_by_sam_for_the_function_runtime():
    template = load_template()
    layer = template["Resources"]["CreditsLayer"]
    runtime = template["Globals"]["Function"]["Runtime"]
    assert layer["Metadata"]["BuildMethod"] == runtime and runtime >= "python3.12"
    assert runtime in layer["Properties"]["CompatibleRuntimes"]


def test_stripe_secrets_are_ssm_parameter_names_never_values():
    params = load_template()["Parameters"]
    for name in ("StripeSecretKeyParameter", "StripeWebhookSecretParameter"):
        assert params[name]["Default"].startswith("/")
    assert not any("sk_" in str(p.get("Default", "")) or "whsec_" in str(p.get("Default", "")) for p in params.values())


def test_every_function_has_an_error_alarm_and_alarms_use_no_search():
    resources = load_template()["Resources"]
    functions = {k for k, v in resources.items() if v["Type"] == "AWS::Serverless::Function"}
    alarmed: set[str] = set()
    for resource in resources.values():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        assert "SEARCH" not in str(resource)  # CloudWatch rejects SEARCH() in alarms
        metrics = resource["Properties"].get("Metrics", [])
        assert len(metrics) <= 10  # CloudWatch allows 10 metric data queries per alarm
        for m in metrics:
            for dim in m.get("MetricStat", {}).get("Metric", {}).get("Dimensions", []):
                alarmed.add(dim["Value"]["Ref"])
    assert alarmed == functions
