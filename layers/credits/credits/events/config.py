"""Settings of the change path, read from the environment once per cold start and validated there.

The outbound webhook secret follows the Standard Webhooks format (``whsec_`` + base64 of at least 24 bytes). It
is not Stripe's ``whsec_`` secret, which Stripe uses as-is: the two validators stay apart on purpose, because
``standardwebhooks`` base64-decodes without validating and would silently turn a Stripe-style value into
unrelated key bytes.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from credits.errors import ConfigError

ENV_EVENT_BUS_NAME = "EVENT_BUS_NAME"
ENV_DEFAULT_ALERT_THRESHOLDS = "DEFAULT_ALERT_THRESHOLDS"
ENV_OUTBOUND_WEBHOOK_URL = "OUTBOUND_WEBHOOK_URL"
ENV_OUTBOUND_WEBHOOK_SECRET = "OUTBOUND_WEBHOOK_SECRET"  # local runs; deployed functions use the *_PARAM name
ENV_OUTBOUND_WEBHOOK_SECRET_PARAM = "OUTBOUND_WEBHOOK_SECRET_PARAM"
ENV_DELIVERY_QUEUE_URL = "DELIVERY_QUEUE_URL"
ENV_DELIVERY_RETRY_BASE_SECONDS = "DELIVERY_RETRY_BASE_SECONDS"
ENV_DELIVERY_RETRY_MAX_SECONDS = "DELIVERY_RETRY_MAX_SECONDS"
ENV_DELIVERY_TIMEOUT_SECONDS = "DELIVERY_TIMEOUT_SECONDS"

MAX_THRESHOLDS = 5
MAX_THRESHOLD = 2**53 - 1  # JSON-safe integers; a threshold above any balance simply never fires
MIN_SECRET_BYTES = 24
MAX_VISIBILITY_SECONDS = 12 * 3600  # SQS's ChangeMessageVisibility limit
_THRESHOLDS = re.compile(r"^\s*\d+\s*(,\s*\d+\s*)*$")
_URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$")


def parse_thresholds(raw: str | None, setting: str = ENV_DEFAULT_ALERT_THRESHOLDS) -> tuple[int, ...]:
    """``"500,100"`` -> (500, 100); empty or unset = no thresholds. Anything else is a cold-start error."""
    if raw is None or not raw.strip():
        return ()
    if not _THRESHOLDS.match(raw):
        raise ConfigError(f"{setting} must be comma-separated integers >= 0 (for example 500,100)")
    values = tuple(dict.fromkeys(int(part) for part in raw.split(",")))
    if len(values) > MAX_THRESHOLDS or any(v > MAX_THRESHOLD for v in values):
        raise ConfigError(f"{setting} takes at most {MAX_THRESHOLDS} thresholds of at most {MAX_THRESHOLD}")
    return values


def validate_outbound_secret(value: str, setting: str) -> str:
    """A Standard Webhooks secret: ``whsec_`` + base64 of >= 24 bytes; refuses placeholders. Never echoes it."""
    value = value.strip()
    if "placeholder" in value.lower():
        raise ConfigError(f"{setting} is a placeholder; set a real whsec_ secret")
    if not value.startswith("whsec_"):
        raise ConfigError(f"{setting} must be whsec_ followed by the base64 of at least {MIN_SECRET_BYTES} bytes")
    encoded = value.removeprefix("whsec_")
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) < MIN_SECRET_BYTES:
        raise ConfigError(f"{setting} must be whsec_ followed by the base64 of at least {MIN_SECRET_BYTES} bytes")
    return value


def _seconds(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip() or str(default)
    if not raw.isdigit() or int(raw) > MAX_VISIBILITY_SECONDS:
        raise ConfigError(f"{name} must be a whole number of seconds (0-{MAX_VISIBILITY_SECONDS})")
    return int(raw)


@dataclass(frozen=True)
class AlertConfig:
    """What the events and settings functions share: the thresholds of users who never set theirs."""

    default_thresholds: tuple[int, ...]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AlertConfig:
        env = os.environ if env is None else env
        return cls(default_thresholds=parse_thresholds(env.get(ENV_DEFAULT_ALERT_THRESHOLDS)))


@dataclass(frozen=True)
class BusConfig:
    bus_name: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BusConfig:
        env = os.environ if env is None else env
        name = env.get(ENV_EVENT_BUS_NAME, "").strip()
        if not name:
            raise ConfigError(f"environment variable {ENV_EVENT_BUS_NAME} must be set")
        return cls(bus_name=name)


@dataclass(frozen=True)
class DeliveryConfig:
    """Where events go. No URL = no deliveries (events still reach the bus). The secret is validated here."""

    url: str | None
    secret: str | None  # a plain value (local runs)
    secret_param: str | None  # an SSM SecureString name (deployed)
    queue_url: str | None
    retry_base_seconds: int
    retry_max_seconds: int
    timeout_seconds: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DeliveryConfig:
        env = os.environ if env is None else env
        url = env.get(ENV_OUTBOUND_WEBHOOK_URL, "").strip() or None
        if url is not None and not _URL.match(url):
            raise ConfigError(f"{ENV_OUTBOUND_WEBHOOK_URL} must be an http(s) URL")
        secret = env.get(ENV_OUTBOUND_WEBHOOK_SECRET, "").strip() or None
        if secret is not None:
            validate_outbound_secret(secret, ENV_OUTBOUND_WEBHOOK_SECRET)
        param = env.get(ENV_OUTBOUND_WEBHOOK_SECRET_PARAM, "").strip() or None
        if url is not None and secret is None and param is None:
            raise ConfigError(f"set {ENV_OUTBOUND_WEBHOOK_SECRET} or {ENV_OUTBOUND_WEBHOOK_SECRET_PARAM}")
        timeout = _seconds(env, ENV_DELIVERY_TIMEOUT_SECONDS, 10)
        if not 1 <= timeout <= 60:
            raise ConfigError(f"{ENV_DELIVERY_TIMEOUT_SECONDS} must be 1-60 seconds")
        return cls(
            url=url,
            secret=secret,
            secret_param=param,
            queue_url=env.get(ENV_DELIVERY_QUEUE_URL, "").strip() or None,
            retry_base_seconds=_seconds(env, ENV_DELIVERY_RETRY_BASE_SECONDS, 10),
            retry_max_seconds=_seconds(env, ENV_DELIVERY_RETRY_MAX_SECONDS, 3600),
            timeout_seconds=timeout,
        )
