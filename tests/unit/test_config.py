"""Config is validated once, at cold start; nothing that must be set in production has a silent default."""

from __future__ import annotations

import pytest

from credits import bootstrap
from credits.adapters.memory import MemoryStore
from credits.config import LedgerConfig, StoreConfig, StripeConfig, check_stripe_secret_key, check_stripe_webhook_secret
from credits.errors import ConfigError

GOOD_KEY = "sk_test_" + "a1B2" * 6
GOOD_WHSEC = "whsec_" + "x_Y9" * 6


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


@pytest.mark.parametrize("value", ["sk_test_x", "sk_test_placeholderplaceholderplaceholder", "pk_test_" + "a" * 30,
                                   "sk_test_" + "a" * 23, "sk_test_" + "a_" * 20, " " + GOOD_KEY])
def test_malformed_or_placeholder_stripe_keys_are_refused_naming_the_setting(value):
    with pytest.raises(ConfigError, match="STRIPE_SECRET_KEY") as err:
        check_stripe_secret_key(value, "STRIPE_SECRET_KEY")
    assert value.strip() not in str(err.value)


@pytest.mark.parametrize("value", ["sk_test_" + "a" * 24, "sk_live_" + "Z9" * 12, "rk_test_" + "b" * 30,
                                   "rk_live_" + "c" * 99])
def test_well_formed_stripe_keys_pass(value):
    assert check_stripe_secret_key(value, "X") == value


@pytest.mark.parametrize("value", ["whsec_placeholder", "whsec_" + "a" * 23, "whsec_placeholder_" + "a" * 30,
                                   "whsec_" + "a-" * 20, "wh_" + "a" * 30])
def test_malformed_or_placeholder_webhook_secrets_are_refused(value):
    with pytest.raises(ConfigError, match="STRIPE_WEBHOOK_SECRET"):
        check_stripe_webhook_secret(value, "STRIPE_WEBHOOK_SECRET")
    assert check_stripe_webhook_secret(GOOD_WHSEC, "S") == GOOD_WHSEC


@pytest.mark.parametrize("env", [{"WELCOME_CREDITS": "-1"}, {"WELCOME_CREDITS": "ten"},
                                 {"WELCOME_CREDITS": "5", "WELCOME_CREDITS_DAYS": "0"},
                                 {"WELCOME_CREDITS_DAYS": "99999"}])
def test_welcome_settings_are_validated(env):
    with pytest.raises(ConfigError):
        LedgerConfig.from_env(env)


def test_welcome_unset_or_zero_means_none():
    assert LedgerConfig.from_env({}).welcome_credits == 0
    assert LedgerConfig.from_env({"WELCOME_CREDITS": "0"}).welcome_credits == 0
    cfg = LedgerConfig.from_env({"WELCOME_CREDITS": "100", "WELCOME_CREDITS_DAYS": "14"})
    assert (cfg.welcome_credits, cfg.welcome_days) == (100, 14)


@pytest.fixture
def rewired():
    saved = bootstrap.snapshot()
    bootstrap.reset()
    store = MemoryStore()
    bootstrap.configure(ledger_store=store, purchase_store=store)
    yield
    bootstrap.restore(saved)


def test_webhook_function_refuses_to_start_without_a_signing_secret(monkeypatch, rewired):
    monkeypatch.setenv("TABLE_NAME", "t")
    monkeypatch.setenv("STRIPE_SECRET_KEY", GOOD_KEY)
    monkeypatch.setenv("DASHBOARD_URL", "http://x")
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET", raising=False)
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET_PARAM", raising=False)
    with pytest.raises(ConfigError, match="STRIPE_WEBHOOK_SECRET"):
        bootstrap.purchases(receives_webhooks=True)
    bootstrap.purchases()  # the purchase function does not need the webhook secret
    with pytest.raises(ConfigError, match="STRIPE_WEBHOOK_SECRET"):
        bootstrap.purchases(receives_webhooks=True)


def test_webhook_function_refuses_a_placeholder_secret_at_cold_start(monkeypatch, rewired):
    monkeypatch.setenv("STRIPE_SECRET_KEY", GOOD_KEY)
    monkeypatch.setenv("DASHBOARD_URL", "http://x")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_placeholder")
    with pytest.raises(ConfigError, match="STRIPE_WEBHOOK_SECRET"):
        bootstrap.purchases(receives_webhooks=True)


def test_purchase_function_refuses_a_placeholder_key_at_cold_start(monkeypatch, rewired):
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_placeholder")
    monkeypatch.setenv("DASHBOARD_URL", "http://x")
    with pytest.raises(ConfigError, match="STRIPE_SECRET_KEY"):
        bootstrap.purchases()
