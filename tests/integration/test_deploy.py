"""`make deploy` end to end against the local Stripe simulator, with fake sam/CloudFormation/identity/dashboard
ports and moto's SSM behind the real SSM adapter (in-process, single-threaded).

What AWS itself would do (CloudFormation, Lambda cold starts) is not exercised here; the webhook function's cold-start
refusal is tested in tests/unit/test_deploy_units.py.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
import stripe
from deploy import Deployer, Tools
from deploy_ports import DeployError, Ports, SsmParameters, StoredParameter
from deploy_settings import load_stage
from moto import mock_aws

from credits.config import check_stripe_webhook_secret
from credits.stripe_events import HANDLED_EVENTS
from credits.stripe_gateway import STRIPE_API_VERSION
from tests.stripe_sim_support import Receiver, SimStack, new_session

pytestmark = pytest.mark.timeout(60)

KEY = "sk_test_" + "Deploy1234567890abcdefgh"
OTHER_KEY = "sk_test_" + "Rotated1234567890abcdefg"
SETTINGS = load_stage("dev")
WEBHOOK_PARAM = SETTINGS.webhook_parameter
KEY_PARAM = SETTINGS.key_parameter


# --- fakes for the ports that would reach AWS or run sam ---------------------------------------------------------


@dataclass
class FakeShell:
    """Records each command; exit codes by sam subcommand ("build", "deploy"); ``on_run`` sees the world then."""

    codes: dict[str, int] = field(default_factory=dict)
    calls: list[tuple[list[str], dict[str, str]]] = field(default_factory=list)
    on_run: Any = None

    def run(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None) -> int:
        self.calls.append((list(argv), dict(env or {})))
        if self.on_run:
            self.on_run(list(argv))
        return self.codes.get(argv[1], 0) if len(argv) > 1 else 0

    def sam(self, sub: str) -> list[list[str]]:
        return [argv for argv, _ in self.calls if argv[0] == "sam" and argv[1] == sub]


@dataclass
class FakeStack:
    webhook_url: str

    def outputs(self, stack_name: str) -> dict[str, str]:
        assert stack_name == SETTINGS.stack_name
        return {
            "ApiUrl": "https://abc123.execute-api.us-east-1.amazonaws.com",
            "WebhookUrl": self.webhook_url,
            "DashboardUrl": "https://d111.cloudfront.net",
            "DashboardBucketName": "credits-dev-dashboard",
            "DashboardDistributionId": "E123",
        }


class FakeIdentity:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    def caller(self) -> str:
        if self.fail:
            raise RuntimeError("Unable to locate credentials")
        return "arn:aws:iam::123456789012:user/deployer"


@dataclass
class FakeDashboard:
    published: list[Mapping[str, str]] = field(default_factory=list)
    refuse: str | None = None

    def publish(self, outputs: Mapping[str, str]) -> str:
        if self.refuse:
            raise SystemExit(self.refuse)
        self.published.append(outputs)
        return "dashboard: published"


class RecordingParameters:
    """The real SSM adapter (on moto), counting writes and keeping every value written, per parameter."""

    def __init__(self, inner: SsmParameters) -> None:
        self.inner = inner
        self.writes: list[tuple[str, str]] = []

    def get(self, name: str) -> StoredParameter | None:
        return self.inner.get(name)

    def put_secure(self, name: str, value: str, *, description: str, overwrite: bool) -> None:
        self.writes.append((name, value))
        self.inner.put_secure(name, value, description=description, overwrite=overwrite)


@dataclass
class World:
    sim: SimStack
    receiver: Receiver
    ssm: Any
    params: RecordingParameters
    shell: FakeShell
    dashboard: FakeDashboard
    lines: list[str]
    env: dict[str, str]

    def deployer(self, **overrides: Any) -> Deployer:
        ports = Ports(shell=self.shell, stack=FakeStack(self.receiver.url), parameters=self.params,
                      identity=overrides.pop("identity", FakeIdentity()), dashboard=self.dashboard)
        return Deployer(SETTINGS, ports, Tools(sam="sam", python312="/opt/py312/bin/python3.12"),
                        env=overrides.pop("env", self.env),
                        stripe_factory=lambda key, _base: self.sim.client(key), say=self.lines.append, **overrides)

    def deploy(self, **overrides: Any) -> Any:
        rotate = overrides.pop("rotate", False)
        return self.deployer(**overrides).run(rotate_webhook_secret=rotate)

    def endpoints(self) -> list[Any]:
        return list(self.sim.client().v1.webhook_endpoints.list().data)

    def secret(self) -> dict[str, Any]:
        return self.ssm.get_parameter(Name=WEBHOOK_PARAM, WithDecryption=True)["Parameter"]

    def webhook_writes(self) -> list[str]:
        return [value for name, value in self.params.writes if name == WEBHOOK_PARAM]


@pytest.fixture
def world(sim_stack: SimStack) -> Iterator[World]:
    receiver = Receiver()
    with mock_aws():
        ssm = boto3.client("ssm", region_name="us-east-1")
        yield World(sim=sim_stack, receiver=receiver, ssm=ssm, params=RecordingParameters(SsmParameters(ssm)),
                    shell=FakeShell(), dashboard=FakeDashboard(), lines=[],
                    env={"STRIPE_SECRET_KEY": KEY, "PATH": "/usr/bin"})
    receiver.close()


# --- first deploy ------------------------------------------------------------------------------------------------


def test_first_deploy_creates_one_endpoint_with_exactly_the_handled_events_and_the_pinned_api_version(world):
    result = world.deploy()
    [endpoint] = world.endpoints()
    assert endpoint.id == result.endpoint.endpoint_id and result.endpoint.created
    assert endpoint.url == world.receiver.url and endpoint.status == "enabled"
    assert sorted(endpoint.enabled_events) == sorted(HANDLED_EVENTS)
    assert len(endpoint.enabled_events) == len(HANDLED_EVENTS)
    assert endpoint.api_version == STRIPE_API_VERSION == "2026-05-27.dahlia"
    assert endpoint.metadata.to_dict()["credits_stack"] == "credits-dev"


def test_first_deploy_stores_the_endpoint_secret_as_a_securestring_that_the_cold_start_accepts(world):
    result = world.deploy()
    stored = world.secret()
    assert stored["Type"] == "SecureString" and stored["Version"] == 1
    assert check_stripe_webhook_secret(stored["Value"], WEBHOOK_PARAM) == stored["Value"]
    described = world.ssm.describe_parameters(
        ParameterFilters=[{"Key": "Name", "Values": [WEBHOOK_PARAM]}])["Parameters"][0]["Description"]
    assert result.endpoint.endpoint_id in described
    key = world.ssm.get_parameter(Name=KEY_PARAM, WithDecryption=True)["Parameter"]
    assert (key["Type"], key["Value"]) == ("SecureString", KEY) and result.key_written
    printed = "\n".join(world.lines)
    assert stored["Value"] not in printed and KEY not in printed  # what the deploy prints names, never shows


def test_no_webhook_secret_exists_while_sam_deploys_and_only_the_endpoints_secret_is_ever_written(world):
    seen_at_deploy: list[StoredParameter | None] = []
    world.shell.on_run = lambda argv: seen_at_deploy.append(world.params.get(WEBHOOK_PARAM)) if argv[
        1:2] == ["deploy"] else None
    world.deploy()
    assert seen_at_deploy == [None]  # the first deploy never gives the function a placeholder to start with
    [written] = world.webhook_writes()
    assert written == world.secret()["Value"]
    assert all("placeholder" not in value for _, value in world.params.writes)


def test_sam_runs_non_interactively_for_the_stage_and_build_sees_python312(world):
    world.deploy()
    [build] = world.shell.sam("build")
    assert build == ["sam", "build", "--config-env", "dev"]
    build_env = next(env for argv, env in world.shell.calls if argv[:2] == ["sam", "build"])
    assert build_env["PATH"].split(":")[0] == "/opt/py312/bin"
    [deploy] = world.shell.sam("deploy")
    assert deploy[:4] == ["sam", "deploy", "--config-env", "dev"]
    assert "--no-confirm-changeset" in deploy and "--no-fail-on-empty-changeset" in deploy
    assert deploy[deploy.index("--region") + 1] == "us-east-1"
    commands = [argv[1] for argv, _ in world.shell.calls if argv[0] == "sam"]
    assert commands == ["--version", "build", "deploy"]


def test_deploy_creates_the_prices_and_publishes_the_dashboard_with_the_stack_outputs(world):
    result = world.deploy()
    assert {p.bundle for p in result.prices} >= {"standard"}
    assert all(p.action == "created" for p in result.prices)
    [outputs] = world.dashboard.published
    assert outputs["DashboardBucketName"] == "credits-dev-dashboard"
    assert any("https://d111.cloudfront.net" in line for line in world.lines)
    assert any(world.receiver.url in line and result.endpoint.endpoint_id in line for line in world.lines)


def test_event_from_stripe_to_the_endpoint_verifies_with_the_secret_in_ssm(world):
    result = world.deploy()
    price = next(p.price_id for p in result.prices if p.bundle == "standard")
    session = new_session(world.sim, price)
    status, out = world.sim.sim_post(f"/checkout/{session.id}/pay")
    assert status == 200, out
    secret = world.secret()["Value"]
    assert world.receiver.deliveries, "the simulator delivered nothing to the registered endpoint"
    types = []
    for headers, body in world.receiver.deliveries:
        event = stripe.Webhook.construct_event(body, headers["stripe-signature"], secret)
        types.append(event.type)
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(body, headers["stripe-signature"], "whsec_" + "x" * 32)
    assert "checkout.session.completed" in types and "payment_intent.succeeded" in types
    assert set(types) <= set(HANDLED_EVENTS)  # charge.succeeded, payment_intent.created... are not subscribed
    assert "charge.succeeded" in world.sim.receiver.types()  # (they were sent to the catch-all local webhook)


# --- re-runs -----------------------------------------------------------------------------------------------------


def test_rerun_keeps_the_endpoint_and_its_secret_and_writes_nothing_to_ssm(world):
    first = world.deploy()
    version = world.secret()["Version"]
    writes = len(world.params.writes)
    second = world.deploy()
    assert second.endpoint.endpoint_id == first.endpoint.endpoint_id
    assert not second.endpoint.created and second.endpoint.updated == [] and second.endpoint.deleted == []
    assert len(world.params.writes) == writes and not second.key_written
    assert world.secret()["Version"] == version
    assert [e.id for e in world.endpoints()] == [first.endpoint.endpoint_id]
    assert all(p.action == "reused" for p in second.prices)
    assert any("is up to date; secret unchanged" in line for line in world.lines)


def test_a_changed_event_list_is_updated_in_place_without_a_new_secret(world):
    first = world.deploy(events=HANDLED_EVENTS[:-2])
    [before] = world.endpoints()
    assert len(before.enabled_events) == len(HANDLED_EVENTS) - 2
    writes = len(world.params.writes)
    second = world.deploy()
    [after] = world.endpoints()
    assert after.id == first.endpoint.endpoint_id and second.endpoint.updated == ["enabled_events"]
    assert sorted(after.enabled_events) == sorted(HANDLED_EVENTS)
    assert len(world.params.writes) == writes


def test_an_endpoint_edited_in_the_dashboard_is_put_back_in_place(world):
    first = world.deploy()
    client = world.sim.client()
    client.v1.webhook_endpoints.update(first.endpoint.endpoint_id,
                                       params={"enabled_events": ["*"], "disabled": True, "metadata": {"credits_stack": ""}})
    second = world.deploy()
    [after] = world.endpoints()
    assert after.id == first.endpoint.endpoint_id and not second.endpoint.created
    assert second.endpoint.updated == ["disabled", "enabled_events", "metadata"]
    assert after.status == "enabled" and sorted(after.enabled_events) == sorted(HANDLED_EVENTS)
    assert after.metadata.to_dict()["credits_stack"] == "credits-dev"


@pytest.mark.parametrize("loss", ["deleted", "malformed"])
def test_a_lost_secret_replaces_the_endpoint_and_stores_the_new_secret(world, loss):
    first = world.deploy()
    if loss == "deleted":
        world.ssm.delete_parameter(Name=WEBHOOK_PARAM)
    else:
        world.ssm.put_parameter(Name=WEBHOOK_PARAM, Value="whsec_short", Type="SecureString", Overwrite=True)
    second = world.deploy()
    [endpoint] = world.endpoints()
    assert second.endpoint.created and endpoint.id != first.endpoint.endpoint_id
    assert second.endpoint.deleted == [first.endpoint.endpoint_id]
    assert "no well-formed signing secret" in second.endpoint.reason
    assert world.secret()["Value"] == world.webhook_writes()[-1]
    check_stripe_webhook_secret(world.secret()["Value"], WEBHOOK_PARAM)


def test_an_endpoint_on_another_api_version_is_replaced_and_the_output_says_why(world):
    first = world.deploy()
    # An endpoint registered before the pin: no api_version (the account's default), its secret linked in SSM.
    old = world.sim.client().v1.webhook_endpoints.create(params={
        "url": world.receiver.url, "enabled_events": list(HANDLED_EVENTS), "metadata": {"credits_stack": "credits-dev"}})
    world.ssm.put_parameter(Name=WEBHOOK_PARAM, Value=old.secret, Type="SecureString", Overwrite=True,
                            Description=f"Signing secret of Stripe webhook endpoint {old.id}")
    world.sim.client().v1.webhook_endpoints.delete(first.endpoint.endpoint_id)
    second = world.deploy()
    [endpoint] = world.endpoints()
    assert second.endpoint.created and endpoint.id not in (old.id, first.endpoint.endpoint_id)
    assert endpoint.api_version == STRIPE_API_VERSION and second.endpoint.deleted == [old.id]
    assert any("API version None, not 2026-05-27.dahlia" in line for line in world.lines)
    assert world.secret()["Value"] not in (old.secret, None)


def test_rotation_replaces_the_endpoint_and_its_secret(world):
    first = world.deploy()
    old_secret = world.secret()["Value"]
    second = world.deploy(rotate=True)
    [endpoint] = world.endpoints()
    assert endpoint.id == second.endpoint.endpoint_id != first.endpoint.endpoint_id
    assert world.secret()["Value"] != old_secret and second.endpoint.reason == "rotation of the signing secret requested"


def test_an_endpoint_left_by_an_interrupted_run_is_deleted_and_the_linked_one_kept(world):
    first = world.deploy()
    # A run that created an endpoint and died before storing its secret.
    orphan = world.sim.client().v1.webhook_endpoints.create(params={
        "url": world.receiver.url, "enabled_events": list(HANDLED_EVENTS), "api_version": STRIPE_API_VERSION,
        "metadata": {"credits_stack": "credits-dev"}})
    second = world.deploy()
    assert second.endpoint.endpoint_id == first.endpoint.endpoint_id and not second.endpoint.created
    assert second.endpoint.deleted == [orphan.id]
    assert [e.id for e in world.endpoints()] == [first.endpoint.endpoint_id]


def test_a_secret_stored_by_hand_is_not_trusted_and_the_endpoint_is_replaced(world):
    manual = world.sim.client().v1.webhook_endpoints.create(params={
        "url": world.receiver.url, "enabled_events": ["checkout.session.completed"],
        "api_version": STRIPE_API_VERSION})
    world.ssm.put_parameter(Name=WEBHOOK_PARAM, Value=manual.secret, Type="SecureString")
    result = world.deploy()
    [endpoint] = world.endpoints()
    assert result.endpoint.created and endpoint.id != manual.id and result.endpoint.deleted == [manual.id]
    assert "names no endpoint" in result.endpoint.reason


def test_other_stacks_endpoints_are_left_alone(world):
    other = world.sim.client().v1.webhook_endpoints.create(params={
        "url": "https://other.example.com/webhooks/stripe", "enabled_events": ["checkout.session.completed"],
        "metadata": {"credits_stack": "credits-prod"}})
    world.deploy()
    world.deploy(rotate=True)
    assert other.id in [e.id for e in world.endpoints()] and len(world.endpoints()) == 2


def test_a_key_already_in_ssm_is_used_when_none_is_exported_and_a_new_one_overwrites_it(world):
    world.deploy()
    result = world.deploy(env={"PATH": "/usr/bin"})
    assert not result.key_written
    result = world.deploy(env={"STRIPE_SECRET_KEY": OTHER_KEY, "PATH": "/usr/bin"})
    assert result.key_written
    assert world.ssm.get_parameter(Name=KEY_PARAM, WithDecryption=True)["Parameter"]["Value"] == OTHER_KEY


# --- refusals and failures -----------------------------------------------------------------------------------------


def _nothing_changed(world: World) -> None:
    assert [argv for argv, _ in world.shell.calls if argv[1:2] in (["build"], ["deploy"])] == []
    assert world.params.writes == []
    assert world.endpoints() == [] and list(world.sim.client().v1.prices.list().data) == []


@pytest.mark.parametrize("key", ["sk_test_placeholder", "sk_test_placeholderplaceholderplaceholder", "sk_test_short",
                                 "pk_test_" + "a" * 30, "whsec_" + "a" * 30])
def test_a_placeholder_or_malformed_key_is_refused_before_anything_runs(world, key):
    with pytest.raises(DeployError) as refused:
        world.deploy(env={"STRIPE_SECRET_KEY": key, "PATH": "/usr/bin"})
    assert "STRIPE_SECRET_KEY is not a Stripe secret key" in str(refused.value)
    assert key not in str(refused.value) and "Nothing was changed" in str(refused.value)
    assert world.shell.calls == []
    _nothing_changed(world)


def test_a_placeholder_key_in_ssm_is_refused_when_none_is_exported(world):
    world.ssm.put_parameter(Name=KEY_PARAM, Value="sk_test_placeholder", Type="SecureString")
    with pytest.raises(DeployError, match=f"the key in SSM {KEY_PARAM} is not a Stripe secret key"):
        world.deploy(env={"PATH": "/usr/bin"})
    _nothing_changed(world)


def test_no_key_anywhere_is_refused_with_what_to_export(world):
    with pytest.raises(DeployError, match="export STRIPE_SECRET_KEY=sk_test_"):
        world.deploy(env={"PATH": "/usr/bin"})
    _nothing_changed(world)


def test_a_secret_stored_as_plain_string_is_refused_before_anything_runs(world):
    world.ssm.put_parameter(Name=WEBHOOK_PARAM, Value="whsec_" + "a" * 32, Type="String")
    with pytest.raises(DeployError, match="is a String, not a SecureString"):
        world.deploy()
    _nothing_changed(world)


def test_missing_aws_credentials_or_tools_are_refused_before_anything_runs(world):
    with pytest.raises(DeployError, match="no usable AWS credentials"):
        world.deploy(identity=FakeIdentity(fail=True))
    _nothing_changed(world)
    world.shell.codes["--version"] = 127
    with pytest.raises(DeployError, match="--version failed: it must be a real interpreter"):
        world.deploy()
    _nothing_changed(world)


@pytest.mark.parametrize("failing", ["build", "deploy"])
def test_a_sam_failure_stops_the_deploy_with_a_clear_message(world, failing):
    world.shell.codes[failing] = 1
    with pytest.raises(DeployError, match=f"sam {failing} failed \\(exit 1"):
        world.deploy()
    assert world.endpoints() == [] and world.webhook_writes() == []
    assert world.dashboard.published == []
    if failing == "build":
        assert world.shell.sam("deploy") == []


def test_a_sam_failure_on_a_rerun_leaves_the_endpoint_and_secret_as_they_were(world):
    first = world.deploy()
    version = world.secret()["Version"]
    world.shell.codes["deploy"] = 2
    with pytest.raises(DeployError, match="sam deploy failed"):
        world.deploy(rotate=True)
    assert [e.id for e in world.endpoints()] == [first.endpoint.endpoint_id]
    assert world.secret()["Version"] == version


def test_a_dashboard_that_cannot_be_published_is_reported_without_failing_the_deploy(world):
    world.dashboard.refuse = "The stack has no Cognito outputs"
    result = world.deploy()
    assert result.dashboard == "dashboard not published: The stack has no Cognito outputs"
    assert world.secret()["Value"]
