"""Typed results: frozen dataclasses whose attributes are the API's field names.

Each ``from_json`` reads the fields the contract names and ignores any others (the API may add fields). Fields the
contract added after the first release (``replayed``, ``expiring``, ``feature``...) default when a server omits
them, so the client also works against an older deployment. ``UsageReport.from_`` stands for ``from`` (a keyword).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def _opt_int(value: Any) -> int | None:
    return value if isinstance(value, int) else None


@dataclass(frozen=True, slots=True)
class Expiring:
    """The next expiry that will remove credits: ``amount`` credits at ``at``."""

    amount: int
    at: str

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Expiring:
        return cls(amount=d["amount"], at=d["at"])


@dataclass(frozen=True, slots=True)
class Balance:
    user_id: str
    balance: int
    held: int
    available: int
    updated_at: str | None
    expiring: Expiring | None = None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Balance:
        exp = d.get("expiring")
        return cls(d["user_id"], d["balance"], d["held"], d["available"], d.get("updated_at"),
                   Expiring.from_json(exp) if isinstance(exp, dict) else None)


@dataclass(frozen=True, slots=True)
class ConsumeResult:
    """A spend. ``balance``/``available`` are set only with ``return_balance=True`` (and None if that read failed);
    ``user_id`` only on the internal route."""

    transaction_id: str
    amount: int
    replayed: bool = False
    balance: int | None = None
    available: int | None = None
    user_id: str | None = None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ConsumeResult:
        return cls(d["transaction_id"], d["amount"], bool(d.get("replayed", False)),
                   _opt_int(d.get("balance")), _opt_int(d.get("available")), d.get("user_id"))


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One ledger entry; ``amount`` is signed. ``grant_id``, ``feature`` and ``quantity`` appear on some types."""

    id: str
    type: str
    amount: int
    description: str
    created_at: str
    reference: str | None = None
    grant_id: str | None = None
    feature: str | None = None
    quantity: int | None = None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> HistoryEntry:
        return cls(d["id"], d["type"], d["amount"], d.get("description", ""), d["created_at"], d.get("reference"),
                   d.get("grant_id"), d.get("feature"), _opt_int(d.get("quantity")))


@dataclass(frozen=True, slots=True)
class HistoryPage:
    items: tuple[HistoryEntry, ...]
    next_cursor: str | None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> HistoryPage:
        return cls(tuple(HistoryEntry.from_json(e) for e in d["items"]), d.get("next_cursor"))


@dataclass(frozen=True, slots=True)
class HoldState:
    """A hold as ``GET /credits/holds/{hold_id}`` reads it now."""

    hold_id: str
    amount: int
    status: str
    expires_at: str
    captured: int | None = None
    released: int | None = None
    description: str = ""
    created_at: str | None = None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> HoldState:
        return cls(d["hold_id"], d["amount"], d["status"], d["expires_at"], _opt_int(d.get("captured")),
                   _opt_int(d.get("released")), d.get("description", ""), d.get("created_at"))


@dataclass(frozen=True, slots=True)
class HoldPlaced:
    """The answer to placing a hold (a replay answers the hold as it is now, so ``status`` may not be pending)."""

    hold_id: str
    amount: int
    status: str
    expires_at: str
    available: int | None
    replayed: bool = False

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> HoldPlaced:
        return cls(d["hold_id"], d["amount"], d.get("status", "pending"), d["expires_at"],
                   _opt_int(d.get("available")), bool(d.get("replayed", False)))


@dataclass(frozen=True, slots=True)
class CaptureResult:
    hold_id: str
    status: str
    captured: int
    released: int
    balance: int | None
    available: int | None
    transaction_id: str | None = None
    replayed: bool = False

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> CaptureResult:
        return cls(d["hold_id"], d["status"], d["captured"], d["released"], _opt_int(d.get("balance")),
                   _opt_int(d.get("available")), d.get("transaction_id"), bool(d.get("replayed", False)))


@dataclass(frozen=True, slots=True)
class ReleaseResult:
    hold_id: str
    status: str
    released: int
    available: int | None
    balance: int | None = None
    replayed: bool = False

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ReleaseResult:
        return cls(d["hold_id"], d["status"], d["released"], _opt_int(d.get("available")),
                   _opt_int(d.get("balance")), bool(d.get("replayed", False)))


@dataclass(frozen=True, slots=True)
class Bundle:
    id: str
    name: str
    credits: int
    unit_amount: int
    currency: str
    expires_after_days: int | None = None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Bundle:
        return cls(d["id"], d["name"], d["credits"], d["unit_amount"], d["currency"],
                   _opt_int(d.get("expires_after_days")))


@dataclass(frozen=True, slots=True)
class Feature:
    """One line of the server-side price list: a spend of ``quantity`` costs ``quantity * credits_per_unit``."""

    id: str
    name: str
    credits_per_unit: int
    unit: str

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Feature:
        return cls(d["id"], d["name"], d["credits_per_unit"], d["unit"])


@dataclass(frozen=True, slots=True)
class CheckoutSession:
    """A Stripe Checkout session to send the user to (``url``)."""

    url: str
    session_id: str
    replayed: bool = False

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> CheckoutSession:
        return cls(d["url"], d["session_id"], bool(d.get("replayed", False)))


@dataclass(frozen=True, slots=True)
class Purchase:
    session_id: str
    bundle: str
    credits: int
    status: str

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Purchase:
        return cls(d["session_id"], d["bundle"], d["credits"], d["status"])


@dataclass(frozen=True, slots=True)
class Grant:
    """A credit lot. ``amount + restored = remaining + spent + held + expired + voided + clawed_back + repaid_debt``.

    ``replayed`` is set by the internal grant route when its Idempotency-Key was seen before.
    """

    grant_id: str
    category: str
    source: str
    amount: int
    remaining: int
    priority: int
    expires_at: str | None
    created_at: str
    status: str
    description: str = ""
    reference: str | None = None
    spent: int = 0
    held: int = 0
    expired: int = 0
    voided: int = 0
    clawed_back: int = 0
    repaid_debt: int = 0
    restored: int = 0
    replayed: bool = False

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Grant:
        counters = {k: d.get(k, 0) for k in
                    ("spent", "held", "expired", "voided", "clawed_back", "repaid_debt", "restored")}
        return cls(d["grant_id"], d["category"], d["source"], d["amount"], d["remaining"], d["priority"],
                   d.get("expires_at"), d["created_at"], d["status"], d.get("description", ""), d.get("reference"),
                   replayed=bool(d.get("replayed", False)), **counters)


@dataclass(frozen=True, slots=True)
class GrantPage:
    grants: tuple[Grant, ...]
    next_cursor: str | None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> GrantPage:
        return cls(tuple(Grant.from_json(g) for g in d["grants"]), d.get("next_cursor"))


@dataclass(frozen=True, slots=True)
class UsageItem:
    """Credits spent on one UTC ``day`` (``group_by="day"``) or for one ``feature`` (``group_by="feature"``)."""

    day: str | None
    feature: str | None
    credits: int
    count: int

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> UsageItem:
        return cls(d.get("day"), d.get("feature"), d["credits"], d["count"])


@dataclass(frozen=True, slots=True)
class UsageReport:
    from_: str
    to: str
    group_by: str
    items: tuple[UsageItem, ...]

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> UsageReport:
        return cls(d["from"], d["to"], d["group_by"], tuple(UsageItem.from_json(i) for i in d["items"]))


@dataclass(frozen=True, slots=True)
class PaymentMethod:
    brand: str
    last4: str


@dataclass(frozen=True, slots=True)
class RechargeFailure:
    """The last failed auto-recharge: Stripe's ``decline_code`` (else its error ``code``) and when it failed."""

    reason: str
    at: str


@dataclass(frozen=True, slots=True)
class AlertSettings:
    thresholds: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class AutoRecharge:
    enabled: bool
    threshold: int
    bundle: str
    monthly_limit: int
    recharges_this_month: int
    payment_method: PaymentMethod | None
    status: str
    last_failure: RechargeFailure | None = None


@dataclass(frozen=True, slots=True)
class Settings:
    alerts: AlertSettings
    auto_recharge: AutoRecharge

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Settings:
        a, r = d["alerts"], d["auto_recharge"]
        pm, failure = r.get("payment_method"), r.get("last_failure")
        return cls(
            AlertSettings(tuple(a["thresholds"])),
            AutoRecharge(r["enabled"], r["threshold"], r["bundle"], r["monthly_limit"],
                         r.get("recharges_this_month", 0),
                         PaymentMethod(pm["brand"], pm["last4"]) if isinstance(pm, dict) else None, r["status"],
                         RechargeFailure(failure["reason"], failure["at"]) if isinstance(failure, dict) else None),
        )


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """A verified outbound webhook. ``id`` is the ``webhook-id`` header: stable per event, dedupe by it."""

    id: str
    type: str
    timestamp: str
    data: dict[str, Any]
