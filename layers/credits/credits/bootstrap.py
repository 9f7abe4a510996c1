"""The one place that wires adapters to the domain. Handlers ask it for services; tests hand it their own.

Services are built on first use (the cold start, since handlers warm them at import) from validated config.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from credits.events.consumer import StreamConsumer
    from credits.events.delivery import QueueDelivery
    from credits.events.settings import SettingsService
    from credits.events.usage import UsageService
    from credits.ledger import Ledger
    from credits.purchases import PurchaseService

_services: dict[str, Any] = {}


def configure(**services: Any) -> None:
    """Inject services (a Ledger, a PurchaseService, a gateway...) instead of building them from the env."""
    _services.update(services)


def reset() -> None:
    _services.clear()


def ledger() -> Ledger:
    if "ledger" not in _services:
        from credits.config import StoreConfig
        from credits.dynamodb import DynamoLedgerStore
        from credits.ledger import Ledger

        cfg = StoreConfig.from_env()
        _services["ledger"] = Ledger(
            DynamoLedgerStore(cfg.table_name, endpoint_url=cfg.endpoint_url, region=cfg.region)
        )
    return _services["ledger"]  # type: ignore[no-any-return]


def purchases(*, receives_webhooks: bool = False) -> PurchaseService:
    """The purchase service; the webhook function asks with ``receives_webhooks=True`` at cold start."""
    if "purchases" not in _services:
        from credits.purchases import build_purchase_service

        _services["purchases"] = build_purchase_service(
            ledger(), _services.get("gateway"), receives_webhooks=receives_webhooks
        )
    elif receives_webhooks:
        from credits.config import StripeConfig

        StripeConfig.from_env().require_webhook_secret_source()
    return _services["purchases"]  # type: ignore[no-any-return]


# --- the change path, settings and usage (built by credits.events.wiring) ------------------------------------------
# Optional injected clients: "dynamodb_client", "eventbridge_client" (the local stack's in-process bus),
# "sqs_client" (its in-process queue).
def stream_consumer() -> StreamConsumer:
    if "stream_consumer" not in _services:
        from credits.events.wiring import build_stream_consumer

        _services["stream_consumer"] = build_stream_consumer(
            eventbridge=_services.get("eventbridge_client"), client=_services.get("dynamodb_client")
        )
    return _services["stream_consumer"]  # type: ignore[no-any-return]


def delivery() -> QueueDelivery:
    if "delivery" not in _services:
        from credits.events.wiring import build_delivery

        _services["delivery"] = build_delivery(sqs=_services.get("sqs_client"))
    return _services["delivery"]  # type: ignore[no-any-return]


def settings() -> SettingsService:
    if "settings" not in _services:
        from credits.events.wiring import build_settings

        _services["settings"] = build_settings(client=_services.get("dynamodb_client"))
    return _services["settings"]  # type: ignore[no-any-return]


def usage() -> UsageService:
    if "usage" not in _services:
        from credits.events.wiring import build_usage

        _services["usage"] = build_usage(client=_services.get("dynamodb_client"))
    return _services["usage"]  # type: ignore[no-any-return]
