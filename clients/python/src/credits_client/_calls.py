"""Every API call as data: method, path, body, query, idempotency key and the parser of its answer.

The sync and async clients only execute these ``Call`` objects (``_http``), so both validate the same input, send
the same bytes and build the same results: parity by construction. Builders validate their arguments and raise
``InvalidRequest`` before anything is sent. A write's Idempotency-Key is fixed here, once per logical call, and the
engine reuses it on every retry.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from credits_client import _validate as v
from credits_client.errors import InvalidRequest
from credits_client.models import (
    Balance,
    Bundle,
    CaptureResult,
    CheckoutSession,
    ConsumeResult,
    Feature,
    Grant,
    GrantPage,
    HistoryPage,
    HoldPlaced,
    HoldState,
    Purchase,
    ReleaseResult,
    Settings,
    UsageReport,
)

T = TypeVar("T")
GRANT_STATUSES = ("active", "all")
GROUP_BY = ("day", "feature")
CATEGORIES = ("promotional", "paid")


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    method: str
    path: str
    parse: Callable[[Any], T]
    body: bytes | None = None
    params: Mapping[str, str] | None = None
    idempotency_key: str | None = None
    auth: bool = True


def new_key() -> str:
    return str(uuid.uuid4())


def _key(given: str | None) -> str:
    return new_key() if given is None else v.idempotency_key(given)


def _json(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def _seg(name: str, value: Any) -> str:
    return quote(v.identifier(name, value), safe="")


class PriceList:
    """The cached ``GET /credits/features`` answer, so ``consume(feature=...)`` can refuse an unknown feature (or a
    cost above the limit) before any request. Stale after ``ttl`` seconds: an operator may change the price list."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl, self._clock = ttl, clock
        self._features: dict[str, Feature] | None = None
        self._at = 0.0

    def get(self) -> dict[str, Feature] | None:
        if self._features is not None and self._clock() - self._at < self._ttl:
            return self._features
        return None

    def put(self, features: Sequence[Feature]) -> None:
        self._features, self._at = {f.id: f for f in features}, self._clock()


# --- catalog (no auth) -------------------------------------------------------------------------------------------
def health() -> Call[str]:
    return Call("GET", "/health", lambda d: str(d["status"]), auth=False)


def bundles() -> Call[tuple[Bundle, ...]]:
    return Call("GET", "/credits/bundles", lambda d: tuple(Bundle.from_json(b) for b in d["bundles"]), auth=False)


def features() -> Call[tuple[Feature, ...]]:
    return Call("GET", "/credits/features", lambda d: tuple(Feature.from_json(f) for f in d["features"]), auth=False)


# --- balance, spending, history ----------------------------------------------------------------------------------
def balance() -> Call[Balance]:
    return Call("GET", "/credits/balance", Balance.from_json)


def consume_body(
    amount: Any, feature: Any, quantity: Any, description: Any, return_balance: Any,
    prices: Mapping[str, Feature] | None,
) -> dict[str, Any]:
    if (amount is None) == (feature is None):
        raise InvalidRequest("Pass exactly one of amount and feature.")
    body: dict[str, Any]
    if amount is not None:
        if quantity is not None:
            raise InvalidRequest("quantity goes with feature, not with amount.")
        body = {"amount": v.amount(amount)}
    else:
        body = {"feature": v.identifier("feature", feature)}
        if quantity is not None:
            body["quantity"] = v.amount(quantity, "quantity")
        if prices is not None:
            price = prices.get(body["feature"])
            if price is None:
                known = ", ".join(sorted(prices)) or "none"
                raise InvalidRequest(f"feature: unknown feature {body['feature']!r} (known: {known}).",
                                     code="unknown_feature")
            if body.get("quantity", 1) * price.credits_per_unit > v.MAX_AMOUNT:
                raise InvalidRequest(f"quantity: the cost would exceed {v.MAX_AMOUNT:,} credits.")
    if description is not None:
        body["description"] = v.description(description)
    if v.flag("return_balance", return_balance):
        body["return_balance"] = True  # sent only when asked: the default answer costs the service no read
    return body


def consume(
    amount: Any = None, *, feature: Any = None, quantity: Any = None, description: Any = None,
    idempotency_key: str | None = None, return_balance: Any = False, prices: Mapping[str, Feature] | None = None,
) -> Call[ConsumeResult]:
    body = consume_body(amount, feature, quantity, description, return_balance, prices)
    return Call("POST", "/credits/consume", ConsumeResult.from_json, _json(body), idempotency_key=_key(idempotency_key))


def history_page(*, limit: Any = 25, cursor: Any = None, type: Any = None) -> Call[HistoryPage]:
    params = {"limit": str(v.integer("limit", limit, 1, 100))}
    if cursor is not None:
        params["cursor"] = v.identifier("cursor", cursor)
    if type is not None:
        params["type"] = v.identifier("type", type)  # the service may add entry types: it checks the value
    return Call("GET", "/credits/history", HistoryPage.from_json, params=params)


def grants_page(*, status: Any = "active", limit: Any = 100, cursor: Any = None) -> Call[GrantPage]:
    params = {"status": v.choice("status", status, GRANT_STATUSES), "limit": str(v.integer("limit", limit, 1, 100))}
    if cursor is not None:
        params["cursor"] = v.identifier("cursor", cursor)
    return Call("GET", "/credits/grants", GrantPage.from_json, params=params)


def usage(*, from_date: Any = None, to_date: Any = None, group_by: Any = "day") -> Call[UsageReport]:
    params = {"group_by": v.choice("group_by", group_by, GROUP_BY)}
    if from_date is not None:
        params["from"] = v.day("from_date", from_date)
    if to_date is not None:
        params["to"] = v.day("to_date", to_date)
    if "from" in params and "to" in params and params["from"] > params["to"]:
        raise InvalidRequest("from_date must not be after to_date.")
    return Call("GET", "/credits/usage", UsageReport.from_json, params=params)


# --- settings -----------------------------------------------------------------------------------------------------
def settings() -> Call[Settings]:
    return Call("GET", "/credits/settings", Settings.from_json)


def update_settings(
    *, alert_thresholds: Any = None, auto_recharge_enabled: Any = None, auto_recharge_threshold: Any = None,
    auto_recharge_bundle: Any = None, auto_recharge_monthly_limit: Any = None,
) -> Call[Settings]:
    body: dict[str, Any] = {}
    if alert_thresholds is not None:
        body["alerts"] = {"thresholds": v.thresholds(alert_thresholds)}
    recharge: dict[str, Any] = {}
    if auto_recharge_enabled is not None:
        recharge["enabled"] = v.flag("auto_recharge_enabled", auto_recharge_enabled)
    if auto_recharge_threshold is not None:
        recharge["threshold"] = v.integer("auto_recharge_threshold", auto_recharge_threshold, 0)
    if auto_recharge_bundle is not None:
        recharge["bundle"] = v.identifier("auto_recharge_bundle", auto_recharge_bundle)
    if auto_recharge_monthly_limit is not None:
        recharge["monthly_limit"] = v.integer("auto_recharge_monthly_limit", auto_recharge_monthly_limit, 1, 100)
    if recharge:
        body["auto_recharge"] = recharge
    # PUT merges the fields it is given, so repeating it is harmless: retried like a read, no key needed.
    return Call("PUT", "/credits/settings", Settings.from_json, _json(body))


# --- holds --------------------------------------------------------------------------------------------------------
def place_hold(amount: Any, *, ttl_seconds: Any = None, description: Any = None,
               idempotency_key: str | None = None) -> Call[HoldPlaced]:
    body: dict[str, Any] = {"amount": v.amount(amount)}
    if ttl_seconds is not None:
        body["ttl_seconds"] = v.integer("ttl_seconds", ttl_seconds, 1, v.MAX_HOLD_TTL)
    if description is not None:
        body["description"] = v.description(description)
    return Call("POST", "/credits/holds", HoldPlaced.from_json, _json(body), idempotency_key=_key(idempotency_key))


def get_hold(hold_id: Any) -> Call[HoldState]:
    return Call("GET", f"/credits/holds/{_seg('hold_id', hold_id)}", HoldState.from_json)


def capture_hold(hold_id: Any, amount: Any = None, *, limit: int | None = None,
                 idempotency_key: str | None = None) -> Call[CaptureResult]:
    body: dict[str, Any] = {}
    if amount is not None:
        body["amount"] = v.integer("amount", amount, 0, v.MAX_AMOUNT if limit is None else limit)
    return Call("POST", f"/credits/holds/{_seg('hold_id', hold_id)}/capture", CaptureResult.from_json, _json(body),
                idempotency_key=_key(idempotency_key))


def release_hold(hold_id: Any, *, idempotency_key: str | None = None) -> Call[ReleaseResult]:
    return Call("POST", f"/credits/holds/{_seg('hold_id', hold_id)}/release", ReleaseResult.from_json, b"{}",
                idempotency_key=_key(idempotency_key))


# --- purchases ----------------------------------------------------------------------------------------------------
def purchase(bundle: Any, *, save_payment_method: Any = False,
             idempotency_key: str | None = None) -> Call[CheckoutSession]:
    body: dict[str, Any] = {"bundle": v.identifier("bundle", bundle)}
    if v.flag("save_payment_method", save_payment_method):
        body["save_payment_method"] = True
    return Call("POST", "/credits/purchase", CheckoutSession.from_json, _json(body),
                idempotency_key=_key(idempotency_key))


def purchase_status(session_id: Any) -> Call[Purchase]:
    return Call("GET", f"/credits/purchases/{_seg('session_id', session_id)}", Purchase.from_json)


# --- internal routes (SigV4) ------------------------------------------------------------------------------------
def internal_consume(
    user_id: Any, amount: Any = None, *, feature: Any = None, quantity: Any = None, description: Any = None,
    idempotency_key: str | None = None, return_balance: Any = False, prices: Mapping[str, Feature] | None = None,
) -> Call[ConsumeResult]:
    body = {"user_id": v.user_id(user_id),
            **consume_body(amount, feature, quantity, description, return_balance, prices)}
    return Call("POST", "/internal/credits/consume", ConsumeResult.from_json, _json(body),
                idempotency_key=_key(idempotency_key))


def internal_grant(
    user_id: Any, amount: Any, *, category: Any = None, priority: Any = None, expires_at: Any = None,
    expires_in_days: Any = None, description: Any = None, idempotency_key: str | None = None,
) -> Call[Grant]:
    body: dict[str, Any] = {"user_id": v.user_id(user_id), "amount": v.amount(amount)}
    if category is not None:
        body["category"] = v.choice("category", category, CATEGORIES)
    if priority is not None:
        body["priority"] = v.integer("priority", priority, 0, 100)
    if expires_at is not None and expires_in_days is not None:
        raise InvalidRequest("Pass at most one of expires_at and expires_in_days.")
    if expires_at is not None:
        body["expires_at"] = v.timestamp("expires_at", expires_at)
    if expires_in_days is not None:
        body["expires_in_days"] = v.integer("expires_in_days", expires_in_days, 1, 3650)
    if description is not None:
        body["description"] = v.description(description)
    # The route requires a key; one generated here still makes this call's retries safe. Pass your own (e.g. the
    # promotion's id) to make the grant exactly-once across processes too.
    return Call("POST", "/internal/credits/grants", Grant.from_json, _json(body),
                idempotency_key=_key(idempotency_key))


def void_grant(user_id: Any, grant_id: Any, *, reason: Any, idempotency_key: str | None = None) -> Call[Grant]:
    body = {"user_id": v.user_id(user_id), "reason": v.text("reason", reason, v.MAX_DESCRIPTION, allow_empty=False)}
    return Call("POST", f"/internal/credits/grants/{_seg('grant_id', grant_id)}/void", Grant.from_json, _json(body),
                idempotency_key=_key(idempotency_key))
