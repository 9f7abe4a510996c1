"""The deploy's external effects as small ports, and their real adapters (subprocess, boto3).

Tests pass fakes (or moto-backed adapters) for every one of them; the Stripe client is the fifth port and is a plain
``stripe.StripeClient``, pointed at the local simulator in tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

ROOT = Path(__file__).resolve().parent.parent
SECURE_STRING = "SecureString"


class DeployError(Exception):
    """A step failed or an input is refused; the message says what to do and never holds a secret."""


class Shell(Protocol):
    def run(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None) -> int:
        """Run a command from the repository root, its output going to the terminal; the exit status."""
        ...


class StackOutputs(Protocol):
    def outputs(self, stack_name: str) -> dict[str, str]: ...


@dataclass(frozen=True)
class StoredParameter:
    value: str
    type: str  # "SecureString" is the only type the deploy accepts for a secret
    description: str


class ParameterStore(Protocol):
    def get(self, name: str) -> StoredParameter | None:
        """The decrypted parameter with its type and description, or None when it does not exist."""
        ...

    def put_secure(self, name: str, value: str, *, description: str, overwrite: bool) -> None: ...


class AwsIdentity(Protocol):
    def caller(self) -> str:
        """The caller's ARN; raises when there are no usable credentials."""
        ...


class DashboardPublisher(Protocol):
    def publish(self, outputs: Mapping[str, str]) -> str:
        """Upload the dashboard for these stack outputs; one line saying what was done."""
        ...


@dataclass(frozen=True)
class Ports:
    shell: Shell
    stack: StackOutputs
    parameters: ParameterStore
    identity: AwsIdentity
    dashboard: DashboardPublisher


# --- real adapters -----------------------------------------------------------------------------------------------


class SubprocessShell:
    def run(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None) -> int:
        print("$ " + " ".join(argv), flush=True)
        full_env = {**os.environ, **(env or {})}
        try:
            return subprocess.run(list(argv), cwd=ROOT, env=full_env, check=False).returncode
        except OSError as exc:  # not installed, not executable: the shell's "command not found"
            print(f"{argv[0]}: {exc.strerror}", file=sys.stderr)
            return 127


class CloudFormationOutputs:
    def __init__(self, client: Any) -> None:
        self._client = client

    def outputs(self, stack_name: str) -> dict[str, str]:
        stack = self._client.describe_stacks(StackName=stack_name)["Stacks"][0]
        return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


class SsmParameters:
    def __init__(self, client: Any) -> None:
        self._client = client

    def get(self, name: str) -> StoredParameter | None:
        try:
            param = self._client.get_parameter(Name=name, WithDecryption=True)["Parameter"]
        except self._client.exceptions.ParameterNotFound:
            return None
        # GetParameter does not return the description (it links the webhook secret to its endpoint).
        found = self._client.describe_parameters(
            ParameterFilters=[{"Key": "Name", "Option": "Equals", "Values": [name]}]
        )["Parameters"]
        description = str(found[0].get("Description", "")) if found else ""
        return StoredParameter(value=str(param["Value"]), type=str(param["Type"]), description=description)

    def put_secure(self, name: str, value: str, *, description: str, overwrite: bool) -> None:
        # Encrypted with the account's aws/ssm key, which the functions' ssm:GetParameter may decrypt.
        self._client.put_parameter(
            Name=name, Value=value, Type=SECURE_STRING, Description=description, Overwrite=overwrite, Tier="Standard"
        )


class StsIdentity:
    def __init__(self, client: Any) -> None:
        self._client = client

    def caller(self) -> str:
        return str(self._client.get_caller_identity()["Arn"])


class S3DashboardPublisher:
    """scripts/publish_dashboard.py's upload, fed the outputs the deploy already read."""

    def __init__(self, session: Any) -> None:
        self._session = session

    def publish(self, outputs: Mapping[str, str]) -> str:
        from publish_dashboard import build_config, publish

        config = build_config(dict(outputs))
        keys = publish(self._session.client("s3"), outputs["DashboardBucketName"], config)
        self._session.client("cloudfront").create_invalidation(
            DistributionId=outputs["DashboardDistributionId"],
            InvalidationBatch={"Paths": {"Quantity": 1, "Items": ["/*"]}, "CallerReference": str(time.time())},
        )
        bucket = outputs["DashboardBucketName"]
        return f"dashboard: published {len(keys)} files to s3://{bucket} (CloudFront cache invalidated)"


def profile_region() -> str | None:
    """The region the AWS profile or environment names (samconfig's region takes precedence)."""
    import boto3

    return boto3.Session().region_name


def aws_ports(region: str) -> Ports:
    import boto3

    session = boto3.Session(region_name=region)
    return Ports(
        shell=SubprocessShell(),
        stack=CloudFormationOutputs(session.client("cloudformation")),
        parameters=SsmParameters(session.client("ssm")),
        identity=StsIdentity(session.client("sts")),
        dashboard=S3DashboardPublisher(session),
    )
