"""Settings read from the environment once per cold start, validated, with env names as constants.

Only what can safely be defaulted has a default; a missing required setting raises ``ConfigError`` at cold start.
"""

from __future__ import annotations

import os
import re
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
ENV_WELCOME_CREDITS = "WELCOME_CREDITS"
ENV_WELCOME_CREDITS_DAYS = "WELCOME_CREDITS_DAYS"

# Secret shapes (refused at cold start otherwise, with the setting's name; never the value).
_STRIPE_SECRET_KEY = re.compile(r"^(sk|rk)_(test|live)_[A-Za-z0-9]{24,}$")
_STRIPE_WEBHOOK_SECRET = re.compile(r"^whsec_[A-Za-z0-9_]{24,}$")


def check_stripe_secret_key(value: str, setting: str) -> str:
    if "placeholder" in value.lower() or not _STRIPE_SECRET_KEY.fullmatch(value):
        raise ConfigError(f"{setting} is not a Stripe secret key (sk_/rk_ test or live, 24+ letters or digits)")
    return value


def check_stripe_webhook_secret(value: str, setting: str) -> str:
    if "placeholder" in value.lower() or not _STRIPE_WEBHOOK_SECRET.fullmatch(value):
        raise ConfigError(f"{setting} is not a Stripe webhook signing secret (whsec_ and 24+ characters)")
    return value


def _int_setting(env: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ConfigError(f"{name} must be an integer from {low} to {high}")
    return int(raw)


@dataclass(frozen=True)
class LedgerConfig:
    """Ledger behaviour the operator chooses: the welcome grant (``WELCOME_CREDITS`` unset or 0 = none)."""

    welcome_credits: int
    welcome_days: int | None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LedgerConfig:
        env = os.environ if env is None else env
        return cls(
            welcome_credits=_int_setting(env, ENV_WELCOME_CREDITS, 0, 1_000_000_000) or 0,
            welcome_days=_int_setting(env, ENV_WELCOME_CREDITS_DAYS, 1, 3650),
        )
ENV_INTERNAL_PRINCIPALS = "INTERNAL_PRINCIPALS"  # comma-separated IAM role/user ARNs allowed on /internal/ routes

# arn:<partition>:iam::<account>:role/<path/>Name or user/<path/>Name (what the allowlist may hold), and the STS form
# API Gateway reports for a caller using a role: arn:<partition>:sts::<account>:assumed-role/<Name>/<session>.
_IAM_ARN = re.compile(r"arn:(aws[a-z-]*):iam::(\d{12}):(role|user)/(?:[\w+=,.@-]+/)*([\w+=,.@-]+)", re.ASCII)
_ASSUMED_ROLE_ARN = re.compile(r"arn:(aws[a-z-]*):sts::(\d{12}):assumed-role/([\w+=,.@-]+)/[\w+=,.@-]+", re.ASCII)


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


def principal_key(arn: str) -> str | None:
    """The identity an IAM ARN names, as ``arn:<partition>:iam::<account>:role|user/<Name>``; None if not one.

    An assumed-role session (``arn:aws:sts::1:assumed-role/Worker/i-0abc``) is the role ``arn:aws:iam::1:role/Worker``.
    The path is dropped on both sides: a role's session ARN never carries its path, and IAM names are unique per
    account whatever their path, so ``role/jobs/Worker`` and ``role/Worker`` can only be the same role.
    """
    arn = arn.strip()
    if m := _ASSUMED_ROLE_ARN.fullmatch(arn):
        return f"arn:{m[1]}:iam::{m[2]}:role/{m[3]}"
    if m := _IAM_ARN.fullmatch(arn):
        return f"arn:{m[1]}:iam::{m[2]}:{m[3]}/{m[4]}"
    return None


@dataclass(frozen=True)
class InternalAccess:
    """Who may call the /internal/ routes: IAM roles and users listed in INTERNAL_PRINCIPALS (template parameter).

    API Gateway's IAM authorizer lets in any principal of the account whose policy allows execute-api:Invoke, and
    HTTP APIs have no resource policy to narrow that, so the function checks the caller itself. An empty list
    refuses every internal call: the secure default until the operator names its backend roles.
    """

    principals: frozenset[str]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> InternalAccess:
        env = os.environ if env is None else env
        keys = set()
        for item in (env.get(ENV_INTERNAL_PRINCIPALS) or "").split(","):
            item = item.strip()
            if not item:
                continue
            key = principal_key(item) if ":iam::" in item else None  # an sts session ARN is not an identity to list
            if key is None:
                raise ConfigError(
                    f"{ENV_INTERNAL_PRINCIPALS} must list IAM role or user ARNs (arn:aws:iam::<account>:role/<name>),"
                    f" got {item[:80]!r}"
                )
            keys.add(key)
        return cls(principals=frozenset(keys))

    def allows(self, caller_arn: str | None) -> bool:
        key = principal_key(caller_arn) if caller_arn else None
        return key is not None and key in self.principals


ENV_RECHARGE_RETRY_SECONDS = "RECHARGE_RETRY_SECONDS"


@dataclass(frozen=True)
class RechargeConfig:
    """Auto-recharge pacing: after a failure, no new attempt for this many seconds (default 3600)."""

    retry_seconds: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RechargeConfig:
        env = os.environ if env is None else env
        value = _int_setting(env, ENV_RECHARGE_RETRY_SECONDS, 0, 30 * 86_400)
        return cls(retry_seconds=3600 if value is None else value)
