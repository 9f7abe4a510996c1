"""Settings read from the environment once per cold start, validated, with env names as constants.

Only what can safely be defaulted has a default; a missing required setting raises ``ConfigError`` at cold start.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from credits.errors import ConfigError

ENV_TABLE_NAME = "TABLE_NAME"
ENV_DYNAMODB_ENDPOINT_URL = "DYNAMODB_ENDPOINT_URL"  # only for DynamoDB Local; unset in AWS
ENV_AWS_REGION = "AWS_REGION"
ENV_STRIPE_SECRET_KEY = "STRIPE_SECRET_KEY"  # local runs; deployed functions use the *_PARAM names
ENV_STRIPE_SECRET_KEY_PARAM = "STRIPE_SECRET_KEY_PARAM"
ENV_STRIPE_WEBHOOK_SECRET = "STRIPE_WEBHOOK_SECRET"
ENV_STRIPE_WEBHOOK_SECRET_PARAM = "STRIPE_WEBHOOK_SECRET_PARAM"
ENV_STRIPE_API_BASE = "STRIPE_API_BASE"
ENV_DASHBOARD_URL = "DASHBOARD_URL"
ENV_RECONCILE_LOOKBACK_HOURS = "RECONCILE_LOOKBACK_HOURS"


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"environment variable {name} must be set")
    return value


@dataclass(frozen=True)
class StoreConfig:
    table_name: str
    endpoint_url: str | None
    region: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StoreConfig:
        env = os.environ if env is None else env
        return cls(
            table_name=_required(env, ENV_TABLE_NAME),
            endpoint_url=env.get(ENV_DYNAMODB_ENDPOINT_URL) or None,
            region=env.get(ENV_AWS_REGION) or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        )


@dataclass(frozen=True)
class StripeConfig:
    """Where the Stripe secrets come from: a plain value (local) or an SSM parameter name (deployed)."""

    secret_key: str | None
    secret_key_param: str | None
    webhook_secret: str | None
    webhook_secret_param: str | None
    api_base: str | None
    dashboard_url: str | None
    reconcile_lookback_hours: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StripeConfig:
        env = os.environ if env is None else env
        lookback = env.get(ENV_RECONCILE_LOOKBACK_HOURS, "72")
        if not lookback.isdigit() or not 1 <= int(lookback) <= 24 * 30:
            raise ConfigError(f"{ENV_RECONCILE_LOOKBACK_HOURS} must be an integer number of hours (1-720)")
        return cls(
            secret_key=env.get(ENV_STRIPE_SECRET_KEY) or None,
            secret_key_param=env.get(ENV_STRIPE_SECRET_KEY_PARAM) or None,
            webhook_secret=env.get(ENV_STRIPE_WEBHOOK_SECRET) or None,
            webhook_secret_param=env.get(ENV_STRIPE_WEBHOOK_SECRET_PARAM) or None,
            api_base=(env.get(ENV_STRIPE_API_BASE) or "").rstrip("/") or None,
            dashboard_url=(env.get(ENV_DASHBOARD_URL) or "").rstrip("/") or None,
            reconcile_lookback_hours=int(lookback),
        )

    def require_api_key_source(self) -> None:
        if not (self.secret_key or self.secret_key_param):
            raise ConfigError(f"set {ENV_STRIPE_SECRET_KEY} or {ENV_STRIPE_SECRET_KEY_PARAM}")

    def require_webhook_secret_source(self) -> None:
        # Never fall back to accepting unverified events: no secret is a startup error.
        if not (self.webhook_secret or self.webhook_secret_param):
            raise ConfigError(f"set {ENV_STRIPE_WEBHOOK_SECRET} or {ENV_STRIPE_WEBHOOK_SECRET_PARAM}")

    def require_dashboard_url(self) -> str:
        if not self.dashboard_url:
            raise ConfigError(f"environment variable {ENV_DASHBOARD_URL} must be set")
        return self.dashboard_url
