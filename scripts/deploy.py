"""One-command deploy of a stage: ``make deploy STAGE=dev`` (or ``python scripts/deploy.py --stage dev``).

Steps, each safe to re-run:
  1. checks the inputs before anything changes: ``STRIPE_SECRET_KEY`` (exported, or already in SSM) well formed and no
     placeholder, AWS credentials and region, the SAM CLI and python3.12 (``sam build`` needs the runtime's Python);
  2. puts the Stripe key into SSM as a SecureString (written only when it changed);
  3. ensures the Stripe product and prices (``scripts/stripe_setup.py``), then ``sam build`` and ``sam deploy
     --config-env <stage>`` (no changeset prompt; an unchanged stack is not an error);
  4. reads the stack outputs from CloudFormation;
  5. finds or creates the stack's Stripe webhook endpoint (exactly the events the service handles, the pinned API
     version) and writes its signing secret to SSM the moment Stripe returns it (``deploy_webhook.py``);
  6. publishes the dashboard, and prints the URLs and what was done.

No placeholder secret is ever stored: on a first deploy the webhook secret's parameter does not exist until step 5,
and the webhook function refuses to start without a well-formed secret, so anything that reaches it before then gets
a 5xx (Stripe retries) and nothing is processed unverified. Every external effect goes through a port
(``deploy_ports.py``); the tests run this whole flow against the local Stripe simulator.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import stripe

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT, ROOT / "layers" / "credits", ROOT / "scripts"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from deploy_ports import DeployError, Ports, StoredParameter, aws_ports, profile_region  # noqa: E402
from deploy_settings import SettingsError, StageSettings, load_stage  # noqa: E402
from deploy_webhook import EndpointOutcome, EndpointSpec, ensure_endpoint, require_secure  # noqa: E402
from stripe_setup import PriceResult, setup  # noqa: E402

from credits.config import ENV_STRIPE_SECRET_KEY, check_stripe_secret_key  # noqa: E402
from credits.errors import ConfigError  # noqa: E402
from credits.stripe_events import HANDLED_EVENTS  # noqa: E402
from credits.stripe_gateway import STRIPE_API_VERSION  # noqa: E402

StripeFactory = Callable[[str, "str | None"], stripe.StripeClient]
SAM_VENV_BIN = ROOT / ".venv-sam" / "bin" / "sam"


def stripe_client(api_key: str, api_base: str | None) -> stripe.StripeClient:
    return stripe.StripeClient(
        api_key, base_addresses={"api": api_base.rstrip("/")} if api_base else None, max_network_retries=2,
        stripe_version=STRIPE_API_VERSION,
    )


@dataclass(frozen=True)
class Tools:
    sam: str
    python312: str | None

    @classmethod
    def found(cls, sam: str | None = None, python312: str | None = None) -> Tools:
        default_sam = str(SAM_VENV_BIN) if SAM_VENV_BIN.exists() else (shutil.which("sam") or "sam")
        return cls(sam=sam or default_sam, python312=python312 or shutil.which("python3.12"))


@dataclass
class DeployResult:
    outputs: dict[str, str] = field(default_factory=dict)
    key_written: bool = False
    prices: list[PriceResult] = field(default_factory=list)
    endpoint: EndpointOutcome | None = None
    dashboard: str = ""


@contextmanager
def step(what: str) -> Iterator[None]:
    """Turn a provider's error into one line naming the step; Stripe's and AWS's messages can echo inputs, so only
    the error's class and code are shown."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except stripe.StripeError as exc:
        raise DeployError(f"{what}: Stripe answered {type(exc).__name__} (status {exc.http_status}, "
                          f"code {exc.code})") from exc
    except ClientError as exc:
        err = exc.response.get("Error", {})
        raise DeployError(f"{what}: AWS answered {err.get('Code')} ({exc.operation_name})") from exc
    except BotoCoreError as exc:
        raise DeployError(f"{what}: {type(exc).__name__}") from exc


class Deployer:
    def __init__(
        self,
        settings: StageSettings,
        ports: Ports,
        tools: Tools,
        *,
        env: Mapping[str, str],
        stripe_factory: StripeFactory = stripe_client,
        events: Sequence[str] = HANDLED_EVENTS,
        api_version: str = STRIPE_API_VERSION,
        say: Callable[[str], None] = print,
    ) -> None:
        self.settings = settings
        self.ports = ports
        self.tools = tools
        self.env = env
        self.stripe_factory = stripe_factory
        self.events = tuple(events)
        self.api_version = api_version
        self.say = say

    # --- 1. inputs and prerequisites (reads only) ------------------------------------------------------------

    def check(self) -> tuple[str, StoredParameter | None]:
        """The Stripe key to deploy with and what SSM holds now; raises before anything is changed."""
        s = self.settings
        exported = self.env.get(ENV_STRIPE_SECRET_KEY, "").strip()
        if exported:
            self._check_key(exported, ENV_STRIPE_SECRET_KEY, "export the secret key of your Stripe account "
                            "(Developers > API keys: sk_test_... for dev)")
        if not self.tools.python312:
            raise DeployError("python3.12 is needed on this machine for sam build (the functions' runtime): "
                              "pyenv install 3.12, or apt-get install python3.12")
        tools = (
            (self.tools.python312, "it must be a real interpreter, not a pyenv shim (make deploy finds pyenv's)"),
            (self.tools.sam, "make deploy installs the pinned SAM CLI in .venv-sam"),
        )
        for tool, advice in tools:
            if self.ports.shell.run([tool, "--version"]) != 0:
                raise DeployError(f"{tool} --version failed: {advice}")
        try:
            caller = self.ports.identity.caller()
        except Exception as exc:  # any credential failure (none, expired, denied) gets the same advice
            raise DeployError(f"no usable AWS credentials ({type(exc).__name__}): configure a profile "
                              "(aws configure, or AWS_PROFILE=...) for the account to deploy to") from exc
        self.say(f"deploying stage {s.stage}: stack {s.stack_name} in {s.region} as {caller}")
        with step("reading the Stripe secrets' SSM parameters"):
            stored_key = self.ports.parameters.get(s.key_parameter)
            stored_webhook = self.ports.parameters.get(s.webhook_parameter)
        for stored, name in ((stored_key, s.key_parameter), (stored_webhook, s.webhook_parameter)):
            if stored is not None:
                require_secure(stored, name)
        if exported:
            return exported, stored_key
        if stored_key is None:
            raise DeployError(f"export {ENV_STRIPE_SECRET_KEY}=sk_test_... (there is none in SSM {s.key_parameter} "
                              "yet)")
        self._check_key(stored_key.value, f"the key in SSM {s.key_parameter}",
                        f"export {ENV_STRIPE_SECRET_KEY}=sk_test_... to replace it")
        return stored_key.value, stored_key

    def _check_key(self, key: str, where: str, advice: str) -> None:
        try:
            check_stripe_secret_key(key, where)
        except ConfigError as exc:
            raise DeployError(f"{exc}; {advice}. Nothing was changed.") from exc
        mode = "live" if "_live_" in key else "test"
        self.say(f"Stripe key: {mode} mode ({where})")

    # --- 2-6 --------------------------------------------------------------------------------------------------

    def run(self, *, rotate_webhook_secret: bool = False) -> DeployResult:
        s, result = self.settings, DeployResult()
        key, stored_key = self.check()

        with step(f"storing the Stripe key in SSM {s.key_parameter}"):
            if stored_key is None or stored_key.value != key:
                self.ports.parameters.put_secure(
                    s.key_parameter, key, description=f"Stripe secret key of stack {s.stack_name}",
                    overwrite=stored_key is not None,
                )
                result.key_written = True
                self.say(f"Stripe key: stored in SSM {s.key_parameter} (SecureString)")
            else:
                self.say(f"Stripe key: SSM {s.key_parameter} already holds it")

        client = self.stripe_factory(key, s.stripe_api_base)
        with step("creating the Stripe product and prices"):
            result.prices = setup(client=client)
        for price in result.prices:
            self.say(f"price: {price.bundle} {price.lookup_key} {price.price_id} ({price.action})")

        self._sam_build()
        self._sam_deploy()

        with step(f"reading the outputs of stack {s.stack_name}"):
            result.outputs = self.ports.stack.outputs(s.stack_name)
        webhook_url = result.outputs.get("WebhookUrl")
        if not webhook_url:
            raise DeployError(f"stack {s.stack_name} has no WebhookUrl output: is template.yaml the one deployed?")

        spec = EndpointSpec(stack_name=s.stack_name, url=webhook_url, secret_parameter=s.webhook_parameter,
                            events=self.events, api_version=self.api_version)
        with step("registering the Stripe webhook endpoint"):
            result.endpoint = ensure_endpoint(client, self.ports.parameters, spec, rotate=rotate_webhook_secret,
                                              say=self.say)

        result.dashboard = self._publish_dashboard(result.outputs)
        self._summary(result)
        return result

    def _sam_build(self) -> None:
        assert self.tools.python312
        path = os.pathsep.join([str(Path(self.tools.python312).parent), self.env.get("PATH", os.defpath)])
        code = self.ports.shell.run([self.tools.sam, "build", "--config-env", self.settings.stage],
                                    env={"PATH": path})
        if code != 0:
            raise DeployError(f"sam build failed (exit {code}; its output is above). Nothing was deployed; the "
                              "Stripe key and prices are in place. Fix it and run make deploy again.")

    def _sam_deploy(self) -> None:
        s = self.settings
        argv = [self.tools.sam, "deploy", "--config-env", s.stage, "--no-confirm-changeset",
                "--no-fail-on-empty-changeset"]
        if s.region:
            argv += ["--region", s.region]
        code = self.ports.shell.run(argv)
        if code != 0:
            raise DeployError(f"sam deploy failed (exit {code}; its output is above). The webhook endpoint and its "
                              "secret were not touched. Fix it and run make deploy again.")

    def _publish_dashboard(self, outputs: Mapping[str, str]) -> str:
        try:
            with step("publishing the dashboard"):
                line = self.ports.dashboard.publish(outputs)
        except SystemExit as exc:  # publish_dashboard's refusal, e.g. your own identity provider and no Cognito
            line = f"dashboard not published: {exc}"
        self.say(line)
        return line

    def _summary(self, result: DeployResult) -> None:
        endpoint = result.endpoint
        assert endpoint is not None
        what = ("created" + (f" ({endpoint.reason})" if endpoint.reason else "")) if endpoint.created else (
            f"updated ({', '.join(endpoint.updated)})" if endpoint.updated else "unchanged")
        lines = [
            "",
            f"Deployed {self.settings.stack_name}.",
            f"  API:       {result.outputs.get('ApiUrl', '?')}",
            f"  Dashboard: {result.outputs.get('DashboardUrl', '?')}",
            f"  Webhook:   {result.outputs.get('WebhookUrl')} -> Stripe endpoint {endpoint.endpoint_id}, {what}",
        ]
        if endpoint.deleted:
            lines.append(f"  Replaced endpoints deleted: {', '.join(endpoint.deleted)}")
        if endpoint.created and endpoint.deleted:
            lines.append("  Warm webhook functions may keep the previous secret up to 5 minutes: Stripe retries the "
                         "deliveries they refuse, and events since the new endpoint exists went to both.")
        for line in lines:
            self.say(line)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--stage", required=True, help="a [<stage>.deploy.parameters] section of samconfig.toml")
    parser.add_argument("--sam", help="the SAM CLI (default: .venv-sam/bin/sam, else sam on PATH)")
    parser.add_argument("--python312", help="the python3.12 interpreter sam build uses (default: on PATH)")
    parser.add_argument("--rotate-webhook-secret", action="store_true",
                        help="replace the webhook endpoint with a new one and store its new signing secret")
    args = parser.parse_args(argv)
    try:
        settings = load_stage(args.stage)
        region = settings.region or profile_region()
        if not region:
            raise DeployError(f"no AWS region: set region in samconfig.toml [{args.stage}.global.parameters] or "
                              "AWS_REGION")
        settings = StageSettings(settings.stage, settings.stack_name, region, settings.parameters)
        deployer = Deployer(settings, aws_ports(region), Tools.found(args.sam, args.python312 or None),
                            env=os.environ)
        deployer.run(rotate_webhook_secret=args.rotate_webhook_secret)
    except (DeployError, SettingsError) as exc:
        print(f"\ndeploy failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
