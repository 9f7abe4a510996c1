"""Shared fixtures: one DynamoDB Local (in memory, free port) and one local stack per test session."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "layers" / "credits"))
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "unit"))
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

TABLE = "credits-test"
EVENTS_INTERNAL_ROLE = "arn:aws:iam::123456789012:role/billing-worker"
FAKE_COGNITO_ORIGIN = "https://auth.example.test"  # tests/e2e/test_dashboard.py's Hosted UI stand-in


@pytest.fixture(scope="session")
def ddb_local() -> Iterator[Any]:
    from local.dynamodb_local import DynamoDBLocal

    with DynamoDBLocal() as ddb:
        yield ddb


@pytest.fixture(scope="session")
def ddb_client(ddb_local: Any) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "dynamodb",
        endpoint_url=ddb_local.endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(max_pool_connections=64, retries={"mode": "standard", "max_attempts": 5}),
    )


@pytest.fixture(scope="session")
def table(ddb_client: Any) -> str:
    from local.template import create_table

    create_table(ddb_client, TABLE)
    return TABLE


@dataclass
class Stack:
    base_url: str
    stack: Any
    ledger: Any  # the same Ledger the handlers use, for seeding and checking
    grants: Any  # and the same GrantService

    def token(self, sub: str, email: str | None = None, ttl: int = 3600) -> str:
        from local.server import issue_token

        return issue_token(sub, email, ttl)

    def headers(self, sub: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(sub)}", **extra}

    def url(self, path: str) -> str:
        return self.base_url + path

    def seed(self, user: str, amount: int, description: str = "seed", **grant: Any) -> Any:
        """Give ``user`` a grant (an admin adjustment, never expiring unless told) straight through the domain."""
        return self.grants.create_grant(user, amount, idempotency_key=uuid.uuid4().hex, description=description,
                                        source="adjustment", entry_type="adjustment", **grant).grant


@pytest.fixture(scope="session")
def receiver() -> Iterator[Any]:
    """The app the stack's outbound webhooks go to (verifies each with standardwebhooks)."""
    from webhook_receiver import Receiver

    from local.server import DEV_OUTBOUND_SECRET

    app = Receiver(DEV_OUTBOUND_SECRET).start()
    yield app
    app.stop()


@pytest.fixture(scope="session")
def stack(ddb_local: Any, table: str, receiver: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from credits import bootstrap
    from local.dynamodb_local import free_port
    from local.server import LocalStack, StackConfig

    port = free_port()
    # The events' IAM caller (events/internal_consume/ok.json) is an operator's role: allow it like a deployment would.
    # The e2e Hosted UI test signs in at a fake Cognito: the dashboard's CSP names it, as it names Cognito deployed.
    local = LocalStack(StackConfig(port=port, table_name=table, dynamodb_endpoint=ddb_local.endpoint,
                                   data_dir=None, internal_principals=(EVENTS_INTERNAL_ROLE,),
                                   dashboard_auth_origin=FAKE_COGNITO_ORIGIN, outbound_webhook_url=receiver.url,
                                   # auto-recharge tests pace retries by seconds, not the default hour
                                   extra_env={"RECHARGE_RETRY_SECONDS": "2"}))
    bootstrap.reset()
    local.warm()
    local.start()
    from local.dev import run_stripe_setup

    run_stripe_setup(os.environ["STRIPE_SECRET_KEY"], os.environ.get("STRIPE_API_BASE"))
    yield Stack(base_url=local.config.base_url, stack=local, ledger=bootstrap.ledger(), grants=bootstrap.grants())
    local.stop()


@pytest.fixture
def user() -> str:
    return f"user-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def http() -> requests.Session:
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=8, pool_maxsize=64)
    session.mount("http://", adapter)
    return session
