"""Builds the purchase service from validated config: Stripe key and webhook secret sources, checked at cold start.

A key or secret of the wrong shape, or one containing ``placeholder``, stops the cold start with a message naming the
setting (never the value): an unverifiable webhook must never be processed, and a deploy with placeholder secrets
fails loudly instead of half-working.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from credits.catalog import load_catalog
from credits.config import (
    ENV_STRIPE_SECRET_KEY,
    ENV_STRIPE_SECRET_KEY_PARAM,
    ENV_STRIPE_WEBHOOK_SECRET,
    ENV_STRIPE_WEBHOOK_SECRET_PARAM,
    StripeConfig,
    check_stripe_secret_key,
    check_stripe_webhook_secret,
)
from credits.secrets import secret_value

if TYPE_CHECKING:
    from credits.grants import GrantService
    from credits.ports import PaymentGateway, PurchaseStore
    from credits.purchases import PurchaseService


def _key_setting(cfg: StripeConfig) -> str:
    if cfg.secret_key:
        return ENV_STRIPE_SECRET_KEY
    return f"SSM parameter {cfg.secret_key_param} ({ENV_STRIPE_SECRET_KEY_PARAM})"


def _webhook_setting(cfg: StripeConfig) -> str:
    if cfg.webhook_secret:
        return ENV_STRIPE_WEBHOOK_SECRET
    return f"SSM parameter {cfg.webhook_secret_param} ({ENV_STRIPE_WEBHOOK_SECRET_PARAM})"


def api_key(cfg: StripeConfig) -> str:
    return check_stripe_secret_key(secret_value(cfg.secret_key, cfg.secret_key_param), _key_setting(cfg))


def webhook_secret(cfg: StripeConfig) -> str:
    return check_stripe_webhook_secret(secret_value(cfg.webhook_secret, cfg.webhook_secret_param),
                                       _webhook_setting(cfg))


def check_webhook_secret() -> None:
    cfg = StripeConfig.from_env()
    cfg.require_webhook_secret_source()
    webhook_secret(cfg)


def build_purchase_service(
    grants: GrantService,
    store: PurchaseStore,
    gateway: PaymentGateway | None = None,
    *,
    receives_webhooks: bool = False,
    clock: Callable[[], float] | None = None,
    recharges: Callable[[], Any] | None = None,
) -> PurchaseService:
    """Wire the service. ``receives_webhooks``: the webhook function refuses to start without a well-formed signing
    secret, so an unverified event can never be processed; the other functions never read that secret."""
    from credits.purchases import PurchaseService

    cfg = StripeConfig.from_env()
    cfg.require_api_key_source()
    if gateway is None:
        api_key(cfg)  # checked now, at cold start; read again (cached 5 minutes) when used
    if receives_webhooks:
        cfg.require_webhook_secret_source()
        webhook_secret(cfg)
    dashboard = cfg.require_dashboard_url()
    cache: dict[str, Any] = {}

    def make_gateway() -> PaymentGateway:
        if gateway is not None:
            return gateway
        # secret_value is cached by Powertools for 5 minutes; a rotated key gets a new client, not a redeploy.
        key = api_key(cfg)
        if cache.get("key") != key:
            from credits.stripe_gateway import StripeGateway

            cache["gateway"] = StripeGateway(key, api_base=cfg.api_base, catalog=load_catalog())
            cache["key"] = key
        return cache["gateway"]  # type: ignore[no-any-return]

    kwargs: dict[str, Any] = {"clock": clock} if clock else {}
    if recharges is not None:
        kwargs["recharges"] = recharges
    return PurchaseService(
        grants, store, load_catalog(), make_gateway, dashboard_url=dashboard,
        webhook_secret=lambda: webhook_secret(cfg), **kwargs,
    )
