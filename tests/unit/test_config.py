"""Config is validated once, at cold start; nothing that must be set in production has a silent default."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from credits import bootstrap
from credits.config import StoreConfig, StripeConfig
from credits.errors import ConfigError


def test_table_name_is_required():
    with pytest.raises(ConfigError, match="TABLE_NAME"):
        StoreConfig.from_env({})
    assert StoreConfig.from_env({"TABLE_NAME": "t"}).endpoint_url is None


def test_stripe_key_source_is_required():
    with pytest.raises(ConfigError, match="STRIPE_SECRET_KEY"):
        StripeConfig.from_env({}).require_api_key_source()
    StripeConfig.from_env({"STRIPE_SECRET_KEY_PARAM": "/credits/key"}).require_api_key_source()


@pytest.mark.parametrize("hours", ["0", "abc", "100000", "-1"])
def test_reconcile_lookback_is_validated(hours):
    with pytest.raises(ConfigError):
        StripeConfig.from_env({"RECONCILE_LOOKBACK_HOURS": hours})


def test_webhook_function_refuses_to_start_without_a_signing_secret(monkeypatch):
    monkeypatch.setenv("TABLE_NAME", "t")
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_x")
    monkeypatch.setenv("DASHBOARD_URL", "http://x")
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET", raising=False)
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET_PARAM", raising=False)
    saved = dict(bootstrap._services)
    bootstrap.reset()
    bootstrap.configure(ledger=SimpleNamespace(store=None))
    try:
        with pytest.raises(ConfigError, match="STRIPE_WEBHOOK_SECRET"):
            bootstrap.purchases(receives_webhooks=True)
        bootstrap.purchases()  # the purchase function does not need the webhook secret
        with pytest.raises(ConfigError, match="STRIPE_WEBHOOK_SECRET"):
            bootstrap.purchases(receives_webhooks=True)
    finally:
        bootstrap.reset()
        bootstrap.configure(**saved)
