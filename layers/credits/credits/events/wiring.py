"""Builds the change path's services from validated config (called by ``credits.bootstrap``, once per cold start).

Clients may be injected (the local stack passes its in-process bus and queue; tests pass theirs); otherwise boto3
clients are created with bounded retries and timeouts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from credits.config import StoreConfig
from credits.events.config import AlertConfig, BusConfig, DeliveryConfig, validate_outbound_secret
from credits.events.consumer import StreamConsumer
from credits.events.delivery import Backoff, QueueDelivery, WebhookSender
from credits.events.publisher import EventBridgePublisher
from credits.events.settings import SettingsService
from credits.events.store import EventMarkers, SettingsStore
from credits.events.usage import UsageService
from credits.events.usage_store import UsageStore


def _client(service: str, endpoint_url: str | None, region: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(  # type: ignore[call-overload]
        service,
        endpoint_url=endpoint_url,
        region_name=region,
        config=Config(retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=1, read_timeout=2),
    )


def dynamodb_client(store: StoreConfig) -> Any:
    return _client("dynamodb", store.endpoint_url, store.region)


def build_settings(
    client: Any = None, ensure_user: Callable[[str], None] | None = None, recharges: Any = None
) -> SettingsService:
    from credits.catalog import load_catalog

    store = StoreConfig.from_env()
    catalog = load_catalog()

    def bundle_credits(bundle_id: str) -> int | None:
        bundle = catalog.get(bundle_id)
        return bundle.credits if bundle else None

    return SettingsService(
        SettingsStore(store.table_name, client or dynamodb_client(store)),
        default_thresholds=AlertConfig.from_env().default_thresholds,
        bundle_credits=bundle_credits,
        ensure_user=ensure_user or (lambda _user: None),
        recharges=recharges,
    )


def build_usage(client: Any = None, ensure_user: Callable[[str], None] | None = None) -> UsageService:
    store = StoreConfig.from_env()
    service = UsageService(UsageStore(store.table_name, client or dynamodb_client(store)))
    if ensure_user is not None:
        service.ensure_user = ensure_user
    return service


class _StoredThresholds:
    """Thresholds without pydantic or the catalog (the events function's cold start stays small)."""

    def __init__(self, store: SettingsStore, defaults: tuple[int, ...]) -> None:
        self.store = store
        self.defaults = defaults

    def thresholds(self, user_id: str) -> tuple[int, ...]:
        stored = (self.store.get(user_id) or {}).get("alert_thresholds")
        return tuple(int(t) for t in stored) if isinstance(stored, list) else self.defaults


def build_stream_consumer(
    *, eventbridge: Any = None, client: Any = None, sqs: Any = None, recharges: Any = None
) -> StreamConsumer:
    """``recharges``: the auto-recharge side (``ChangePathRecharges``); None = built from the environment."""
    import os

    from credits.events.recharges import ChangePathRecharges

    store = StoreConfig.from_env()
    bus = BusConfig.from_env()
    ddb = client or dynamodb_client(store)
    settings = SettingsStore(store.table_name, ddb)
    if recharges is None:
        from credits import bootstrap

        queue_url = os.environ.get("RECHARGE_QUEUE_URL") or None
        if sqs is None and queue_url:
            sqs = _client("sqs", None, store.region)
        recharges = ChangePathRecharges(settings, lambda user: bootstrap.ledger_store().load_account(user).available,
                                        bootstrap.recharge, sqs=sqs, queue_url=queue_url)
    return StreamConsumer(
        markers=EventMarkers(store.table_name, ddb),
        usage=UsageStore(store.table_name, ddb),
        thresholds=_StoredThresholds(settings, AlertConfig.from_env().default_thresholds),
        publisher=EventBridgePublisher(eventbridge or _client("events", None, store.region), bus.bus_name),
        recharges=recharges,
    )


def build_delivery(*, sqs: Any = None) -> QueueDelivery:
    """No URL = no sender (events are acknowledged undelivered). With a URL the secret must validate now."""
    import os

    from credits.events.config import ENV_OUTBOUND_WEBHOOK_SECRET, ENV_OUTBOUND_WEBHOOK_SECRET_PARAM
    from credits.secrets import secret_value

    cfg = DeliveryConfig.from_env()
    sender = None
    if cfg.url is not None:
        setting = (ENV_OUTBOUND_WEBHOOK_SECRET if cfg.secret
                   else f"{ENV_OUTBOUND_WEBHOOK_SECRET_PARAM} ({cfg.secret_param})")

        def secret() -> str:
            return validate_outbound_secret(secret_value(cfg.secret, cfg.secret_param), setting)

        secret()  # a missing or malformed secret fails the cold start, not the first delivery
        sender = WebhookSender(cfg.url, secret, timeout=cfg.timeout_seconds)
    if sqs is None and cfg.queue_url:
        sqs = _client("sqs", None, os.environ.get("AWS_REGION") or "us-east-1")
    return QueueDelivery(sender, sqs=sqs, queue_url=cfg.queue_url,
                         backoff=Backoff(cfg.retry_base_seconds, cfg.retry_max_seconds))
