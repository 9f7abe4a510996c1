"""The one place that wires adapters to the domain. Handlers ask it for services; tests hand it their own.

Services are built on first use (the cold start, since handlers warm them at import) from validated config.
``configure`` takes typed overrides: a store (the in-memory one, or a DynamoDB adapter on DynamoDB Local), a payment
gateway, a clock, or whole services.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from credits.config import InternalAccess
    from credits.engine import AccountEngine, WelcomeGrant
    from credits.events.consumer import StreamConsumer
    from credits.events.delivery import QueueDelivery
    from credits.events.settings import SettingsService
    from credits.events.usage import UsageService
    from credits.grants import GrantService
    from credits.ledger import Ledger
    from credits.ports import LedgerStore, PaymentGateway, PurchaseStore, RechargeStore
    from credits.purchases import PurchaseService
    from credits.recharge import RechargeService
    from credits.reconcile import Reconciler


@dataclass
class _Wiring:
    ledger_store: LedgerStore | None = None
    purchase_store: PurchaseStore | None = None
    gateway: PaymentGateway | None = None
    clock: Callable[[], float] | None = None
    welcome: WelcomeGrant | None = None
    welcome_set: bool = False
    # Clients of the change path the local stack replaces with its in-process bus and queue (None = boto3's).
    eventbridge_client: Any = None
    sqs_client: Any = None
    dynamodb_client: Any = None
    built: dict[str, Any] = field(default_factory=dict)


_wiring = _Wiring()


def configure(
    *,
    ledger_store: LedgerStore | None = None,
    purchase_store: PurchaseStore | None = None,
    gateway: PaymentGateway | None = None,
    clock: Callable[[], float] | None = None,
    welcome: WelcomeGrant | bool | None = False,
    ledger: Ledger | None = None,
    grants: GrantService | None = None,
    purchases: PurchaseService | None = None,
    internal_access: InternalAccess | None = None,
    eventbridge_client: Any = None,
    sqs_client: Any = None,
    dynamodb_client: Any = None,
    stream_consumer: StreamConsumer | None = None,
    delivery: QueueDelivery | None = None,
    settings: SettingsService | None = None,
    usage: UsageService | None = None,
) -> None:
    """Replace parts of the wiring (what is given), and forget the services built from the parts replaced.

    ``welcome``: a ``WelcomeGrant``, or None for none; left out (False) = from the environment.
    """
    global _wiring
    w = _wiring
    # A new wiring object: a snapshot taken before stays what it was.
    _wiring = _Wiring(
        ledger_store=ledger_store or w.ledger_store,
        purchase_store=purchase_store or w.purchase_store,
        gateway=gateway or w.gateway,
        clock=clock or w.clock,
        welcome=w.welcome if welcome is False else (welcome if not isinstance(welcome, bool) else None),
        welcome_set=w.welcome_set or welcome is not False,
        eventbridge_client=eventbridge_client or w.eventbridge_client,
        sqs_client=sqs_client or w.sqs_client,
        dynamodb_client=dynamodb_client or w.dynamodb_client,
    )
    core = (ledger_store, purchase_store, gateway, clock)
    if any(part is not None for part in core) or welcome is not False:
        kept: dict[str, Any] = {}  # everything was built from the old parts
    elif any(c is not None for c in (eventbridge_client, sqs_client, dynamodb_client)):
        kept = {k: v for k, v in w.built.items() if k not in ("stream_consumer", "delivery", "settings", "usage")}
    else:
        kept = dict(w.built)
    named: dict[str, Any] = {"ledger": ledger, "grants": grants, "purchases": purchases,
                             "internal_access": internal_access, "stream_consumer": stream_consumer,
                             "delivery": delivery, "settings": settings, "usage": usage}
    _wiring.built.update(kept)
    _wiring.built.update({name: service for name, service in named.items() if service is not None})


def reset() -> None:
    global _wiring
    _wiring = _Wiring()


def _table() -> Any:
    if "table" not in _wiring.built:
        from credits.adapters.dynamo import Table
        from credits.config import StoreConfig

        cfg = StoreConfig.from_env()
        _wiring.built["table"] = Table(cfg.table_name, endpoint_url=cfg.endpoint_url, region=cfg.region)
    return _wiring.built["table"]


def ledger_store() -> LedgerStore:
    if _wiring.ledger_store is None:
        from credits.adapters.dynamo_ledger import DynamoLedgerStore

        _wiring.ledger_store = DynamoLedgerStore(_table())
    return _wiring.ledger_store


def purchase_store() -> PurchaseStore:
    if _wiring.purchase_store is None:
        from credits.adapters.dynamo_purchases import DynamoPurchaseStore

        _wiring.purchase_store = DynamoPurchaseStore(_table())
    return _wiring.purchase_store


def engine() -> AccountEngine:
    if "engine" not in _wiring.built:
        import time

        from credits.config import LedgerConfig
        from credits.engine import AccountEngine, WelcomeGrant

        welcome = _wiring.welcome
        if not _wiring.welcome_set:
            cfg = LedgerConfig.from_env()
            welcome = WelcomeGrant(cfg.welcome_credits, cfg.welcome_days) if cfg.welcome_credits else None
        _wiring.built["engine"] = AccountEngine(ledger_store(), _wiring.clock or time.time, welcome=welcome)
    return _wiring.built["engine"]  # type: ignore[no-any-return]


def _feature_price(feature_id: str) -> int | None:
    # The catalog (and pydantic) load on the first consume by feature, not at every cold start.
    from credits.catalog import load_catalog

    return load_catalog().credits_per_unit(feature_id)


def _note_refusal(user_id: str) -> None:
    """A 402 of a user with auto-recharge on is recorded (one small write), so the change path can top them up."""
    from credits.events.recharges import recharge_settings
    from credits.ids import iso

    if recharge_settings(settings().store.get(user_id)).enabled:
        ledger_store().note_refusal(user_id, iso(time.time()))


def ledger() -> Ledger:
    if "ledger" not in _wiring.built:
        from credits.ledger import Ledger

        _wiring.built["ledger"] = Ledger(engine(), _feature_price, on_refusal=_note_refusal)
    return _wiring.built["ledger"]  # type: ignore[no-any-return]


def grants() -> GrantService:
    if "grants" not in _wiring.built:
        from credits.grants import GrantService

        _wiring.built["grants"] = GrantService(engine())
    return _wiring.built["grants"]  # type: ignore[no-any-return]


def purchases(*, receives_webhooks: bool = False) -> PurchaseService:
    """The purchase service; the webhook function asks with ``receives_webhooks=True`` at cold start, which reads and
    checks the signing secret then (a missing, malformed or placeholder secret stops the cold start)."""
    if "purchases" not in _wiring.built:
        from credits.purchases_wiring import build_purchase_service

        _wiring.built["purchases"] = build_purchase_service(
            grants(), purchase_store(), _wiring.gateway, receives_webhooks=receives_webhooks,
            clock=_wiring.clock, recharges=recharge,
        )
    elif receives_webhooks:
        from credits.purchases_wiring import check_webhook_secret

        check_webhook_secret()
    return _wiring.built["purchases"]  # type: ignore[no-any-return]


def reconciler() -> Reconciler:
    if "reconciler" not in _wiring.built:
        import time

        from credits.config import StripeConfig
        from credits.reconcile import Reconciler

        _wiring.built["reconciler"] = Reconciler(
            purchases(), lookback_hours=StripeConfig.from_env().reconcile_lookback_hours,
            clock=_wiring.clock or time.time,
        )
    return _wiring.built["reconciler"]  # type: ignore[no-any-return]


# --- the change path, settings and usage (built by credits.events.wiring) ------------------------------------------
def stream_consumer() -> StreamConsumer:
    if "stream_consumer" not in _wiring.built:
        from credits.events.wiring import build_stream_consumer

        _wiring.built["stream_consumer"] = build_stream_consumer(
            eventbridge=_wiring.eventbridge_client, client=_wiring.dynamodb_client, sqs=_wiring.sqs_client
        )
    return _wiring.built["stream_consumer"]  # type: ignore[no-any-return]


def delivery() -> QueueDelivery:
    if "delivery" not in _wiring.built:
        from credits.events.wiring import build_delivery

        _wiring.built["delivery"] = build_delivery(sqs=_wiring.sqs_client)
    return _wiring.built["delivery"]  # type: ignore[no-any-return]


def settings() -> SettingsService:
    if "settings" not in _wiring.built:
        from credits.events.wiring import build_settings

        _wiring.built["settings"] = build_settings(client=_wiring.dynamodb_client, ensure_user=engine().ensure_user,
                                                   recharges=_LazyRecharge())
    return _wiring.built["settings"]  # type: ignore[no-any-return]


def usage() -> UsageService:
    if "usage" not in _wiring.built:
        from credits.events.wiring import build_usage

        _wiring.built["usage"] = build_usage(client=_wiring.dynamodb_client, ensure_user=engine().ensure_user)
    return _wiring.built["usage"]  # type: ignore[no-any-return]


class _LazyRecharge:
    """Settings reach auto-recharge only when asked (the recharge service loads the catalog)."""

    def has_card(self, user_id: str) -> bool:
        return recharge().has_card(user_id)

    def view(self, user_id: str, enabled: bool) -> dict[str, Any]:
        return recharge().view(user_id, enabled)

    def re_enable(self, user_id: str) -> None:
        recharge().re_enable(user_id)


def recharge_store() -> RechargeStore:
    if "recharge_store" not in _wiring.built:
        store = _wiring.ledger_store
        if store is not None and hasattr(store, "start") and hasattr(store, "fail"):
            _wiring.built["recharge_store"] = store  # the in-memory store is every store
        else:
            from credits.adapters.dynamo_recharge import DynamoRechargeStore

            _wiring.built["recharge_store"] = DynamoRechargeStore(_table())
    return _wiring.built["recharge_store"]  # type: ignore[no-any-return]


def recharge() -> RechargeService:
    """Auto-recharge. Stripe is reached through the purchase service's gateway, only when a charge is made (the
    events function decides without it)."""
    if "recharge" not in _wiring.built:
        import time

        from credits.catalog import load_catalog
        from credits.config import RechargeConfig
        from credits.recharge import RechargeService

        _wiring.built["recharge"] = RechargeService(
            recharge_store(), grants(), load_catalog(), lambda: purchases().gateway,
            retry_seconds=RechargeConfig.from_env().retry_seconds, clock=_wiring.clock or time.time,
        )
    return _wiring.built["recharge"]  # type: ignore[no-any-return]


def snapshot() -> object:
    """The current wiring, to hand back to ``restore`` (tests that rewire temporarily)."""
    return _wiring


def restore(saved: object) -> None:
    global _wiring
    assert isinstance(saved, _Wiring)
    _wiring = saved


def internal_access() -> InternalAccess:
    """Who may call /internal/ routes (INTERNAL_PRINCIPALS), parsed once; internal handlers ask at cold start."""
    if "internal_access" not in _wiring.built:
        from credits.config import InternalAccess

        _wiring.built["internal_access"] = InternalAccess.from_env()
    return _wiring.built["internal_access"]  # type: ignore[no-any-return]


@contextmanager
def override(**services: Any) -> Iterator[None]:
    """``configure`` for the duration of a block, then the previous wiring again (tests inject failing services)."""
    saved = snapshot()
    configure(**services)
    try:
        yield
    finally:
        restore(saved)
