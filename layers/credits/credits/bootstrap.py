"""The one place that wires adapters to the domain. Handlers ask it for services; tests hand it their own.

Services are built on first use (the cold start, since handlers warm them at import) from validated config.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from credits.config import InternalAccess
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


def internal_access() -> InternalAccess:
    """Who may call /internal/ routes (INTERNAL_PRINCIPALS), parsed once; internal handlers ask at cold start."""
    if "internal_access" not in _services:
        from credits.config import InternalAccess

        _services["internal_access"] = InternalAccess.from_env()
    return _services["internal_access"]  # type: ignore[no-any-return]


@contextmanager
def override(**services: Any) -> Iterator[None]:
    """``configure`` for the duration of a block, then the previous wiring again (tests inject failing services)."""
    saved = dict(_services)
    _services.update(services)
    try:
        yield
    finally:
        _services.clear()
        _services.update(saved)
