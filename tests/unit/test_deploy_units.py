"""The deploy's pure parts (stage settings from samconfig.toml), the template's guarantee that no webhook secret value
ships with the stack, and the webhook function's cold start against SSM as the deploy leaves it (moto, in a fresh
process per case: a real cold start)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from deploy import main
from deploy_ports import StoredParameter
from deploy_settings import SettingsError, load_stage, parse_overrides
from deploy_webhook import linked_endpoint

from local.template import load_template

ROOT = Path(__file__).resolve().parents[2]
SECRET_SHAPES = ("whsec_", "sk_test_", "sk_live_", "rk_test_", "rk_live_", "placeholder")


# --- stage settings ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_each_stage_of_samconfig_names_its_stack_region_and_its_own_ssm_parameters(stage):
    settings = load_stage(stage)
    assert settings.stack_name == f"credits-{stage}" and settings.region == "us-east-1"
    assert settings.key_parameter == f"/credits/{stage}/stripe/secret-key"
    assert settings.webhook_parameter == f"/credits/{stage}/stripe/webhook-secret"
    assert settings.parameters["Stage"] == stage and settings.stripe_api_base is None


def test_an_unknown_stage_is_refused_listing_the_stages():
    with pytest.raises(SettingsError, match=re.escape("no [staging.deploy.parameters]; stages: dev, prod")):
        load_stage("staging")


def test_parameters_missing_from_samconfig_take_the_template_defaults(tmp_path):
    config = tmp_path / "samconfig.toml"
    config.write_text('[qa.global.parameters]\nstack_name = "credits-qa"\n'
                      '[qa.deploy.parameters]\nparameter_overrides = "Stage=qa StripeApiBase=http://mock:12111"\n')
    settings = load_stage("qa", config)
    assert settings.key_parameter == load_template()["Parameters"]["StripeSecretKeyParameter"]["Default"]
    assert settings.region is None and settings.stripe_api_base == "http://mock:12111"


@pytest.mark.parametrize("overrides", ["StripeWebhookSecretParameter=whsec_abc",
                                       "StripeWebhookSecretParameter=/same StripeSecretKeyParameter=/same"])
def test_parameter_names_that_are_not_two_distinct_ssm_paths_are_refused(tmp_path, overrides):
    config = tmp_path / "samconfig.toml"
    config.write_text(f'[x.deploy.parameters]\nstack_name = "s"\nparameter_overrides = "{overrides}"\n')
    with pytest.raises(SettingsError):
        load_stage("x", config)


def test_parameter_overrides_parse_as_sam_writes_them():
    assert parse_overrides("A=1 B='two words' C=") == {"A": "1", "B": "two words", "C": ""}
    assert parse_overrides(["A=1", "B=2"]) == {"A": "1", "B": "2"}
    with pytest.raises(SettingsError):
        parse_overrides("A=1 justaword")


def test_the_endpoint_a_secret_belongs_to_is_read_from_its_description():
    stored = StoredParameter("whsec_x", "SecureString", "Signing secret of Stripe webhook endpoint we_123abc of s")
    assert linked_endpoint(stored) == "we_123abc"
    assert linked_endpoint(StoredParameter("whsec_x", "SecureString", "")) is None
    assert linked_endpoint(None) is None


def test_main_reports_a_bad_stage_as_a_failed_deploy_without_touching_aws(capsys):
    assert main(["--stage", "nope"]) == 1
    assert "deploy failed: samconfig.toml has no [nope.deploy.parameters]" in capsys.readouterr().err


# --- the template ships no webhook secret value --------------------------------------------------------------------


def test_the_template_gives_the_webhook_function_no_secret_value_that_could_be_a_placeholder():
    template = load_template()
    env = template["Resources"]["WebhookFunction"]["Properties"]["Environment"]["Variables"]
    globals_env = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    for variables in (env, globals_env):
        assert "STRIPE_WEBHOOK_SECRET" not in variables and "STRIPE_SECRET_KEY" not in variables
    # Only the parameter's name reaches the function; its value is read from SSM at cold start.
    assert env["STRIPE_WEBHOOK_SECRET_PARAM"] == {"Ref": "StripeWebhookSecretParameter"}
    default = template["Parameters"]["StripeWebhookSecretParameter"]["Default"]
    assert default.startswith("/") and not any(s in default for s in SECRET_SHAPES)
    # No SSM parameter is created by the stack (CloudFormation cannot create a SecureString; any value it set would
    # be a stand-in the function might start with).
    assert not [k for k, v in template["Resources"].items() if v["Type"].startswith("AWS::SSM::")]
    assert [v for v in strings(template) if any(s in v for s in SECRET_SHAPES)] == []


def strings(node: object, key: str = "") -> list[str]:
    """Every string value of the template except descriptions (which may show a secret's shape to the operator)."""
    if isinstance(node, dict):
        return [s for k, v in node.items() if not str(k).endswith("Description") for s in strings(v, str(k))]
    if isinstance(node, list):
        return [s for v in node for s in strings(v, key)]
    return [node] if isinstance(node, str) else []


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_samconfig_passes_parameter_names_never_secret_values(stage):
    values = load_stage(stage).parameters.values()
    assert not any(s in value for value in values for s in SECRET_SHAPES)


# --- the webhook function's cold start as the deploy leaves SSM ------------------------------------------------------

PARAM = "/credits/test/webhook-secret"
PROBE = """
import importlib.util, json, sys
import boto3
from moto import mock_aws
with mock_aws():
    if sys.argv[2] != "-":
        boto3.client("ssm", region_name="us-east-1").put_parameter(
            Name=sys.argv[3], Value=sys.argv[2], Type="SecureString")
    try:
        spec = importlib.util.spec_from_file_location("app", sys.argv[1])
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
        print(json.dumps({"started": True}))
    except Exception as exc:
        print(json.dumps({"started": False, "error": type(exc).__name__, "message": str(exc)}))
"""


def cold_start(stored: str | None) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'layers' / 'credits'}{os.pathsep}{ROOT}", "TABLE_NAME": "t",
           "AWS_DEFAULT_REGION": "us-east-1", "STRIPE_SECRET_KEY": "sk_test_" + "a" * 24,
           "STRIPE_WEBHOOK_SECRET_PARAM": PARAM, "DASHBOARD_URL": "http://x", "POWERTOOLS_TRACE_DISABLED": "true"}
    env.pop("STRIPE_WEBHOOK_SECRET", None)
    out = subprocess.run([sys.executable, "-c", PROBE, str(ROOT / "functions" / "webhook" / "app.py"),
                          stored or "-", PARAM], env=env, capture_output=True, text=True, check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_webhook_function_does_not_start_before_the_deploy_stored_its_secret():
    outcome = cold_start(None)
    assert outcome["started"] is False and PARAM in str(outcome["message"])


@pytest.mark.parametrize("stored", ["whsec_placeholder", "whsec_short", "not-a-secret-at-all-0123456789abcdef"])
def test_the_webhook_function_does_not_start_with_a_malformed_secret_and_never_shows_it(stored):
    outcome = cold_start(stored)
    assert outcome == {"started": False, "error": "ConfigError", "message": outcome["message"]}
    assert PARAM in str(outcome["message"]) and stored not in str(outcome["message"])


def test_the_webhook_function_starts_with_the_endpoint_secret_the_deploy_stored():
    assert cold_start("whsec_" + "Ab3" * 11) == {"started": True}


# --- the README's deploy section -----------------------------------------------------------------------------------


def deploy_section() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("## Deploy to AWS\n")
    return readme[start:readme.index("\n## ", start + 1)]


def test_the_readme_deploy_section_starts_with_the_one_command_and_no_command_stores_a_placeholder():
    section = deploy_section()
    first_block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    assert first_block.strip().splitlines()[-1] == "make deploy STAGE=dev"
    commands = "".join(block.split("```", 1)[0] for block in section.split("```sh\n")[1:])
    assert "put-parameter" in commands and "placeholder" not in commands


def test_the_readme_manual_steps_subscribe_exactly_the_handled_events():
    from credits.stripe_events import HANDLED_EVENTS

    assert tuple(re.findall(r'"enabled_events\[\]=([a-z_.]+)"', deploy_section())) == HANDLED_EVENTS
