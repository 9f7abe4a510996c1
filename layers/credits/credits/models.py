"""Domain records returned by the ledger: plain frozen dataclasses, free of HTTP and DynamoDB details."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

# Limits of the contract, shared by request validation (api.py) and the domain's own checks (ledger.py).
MAX_AMOUNT = 1_000_000_000
MAX_IDEMPOTENCY_KEY = 255
MAX_DESCRIPTION = 200
DEFAULT_HOLD_TTL = 300
MAX_HOLD_TTL = 86_400
MIN_PRIORITY, MAX_PRIORITY, DEFAULT_PRIORITY = 0, 100, 50
MAX_GRANT_DAYS = 3650

EntryType = Literal["purchase", "usage", "refund", "adjustment", "grant", "expiry", "void", "restore"]
ENTRY_TYPES: tuple[str, ...] = ("purchase", "usage", "refund", "adjustment", "grant", "expiry", "void", "restore")
HoldStatus = Literal["pending", "captured", "released", "expired"]
PurchaseStatus = Literal["pending", "fulfilled", "failed", "expired", "refunded"]
GrantCategory = Literal["paid", "promotional"]
GrantSource = Literal["purchase", "grant", "welcome", "adjustment", "migration"]
GrantStatus = Literal["active", "depleted", "expired", "voided"]


@dataclass(frozen=True)
class Expiring:
    amount: int
    at: str


@dataclass(frozen=True)
class Balance:
    user_id: str
    available: int
    held: int
    updated_at: str | None
    expiring: Expiring | None = None

    @property
    def balance(self) -> int:
        return self.available + self.held

    def to_dict(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "balance": self.balance,
            "held": self.held,
            "available": self.available,
            "updated_at": self.updated_at,
            "expiring": {"amount": self.expiring.amount, "at": self.expiring.at} if self.expiring else None,
        }


@dataclass(frozen=True)
class Entry:
    """One immutable ledger line. ``amount`` is signed: + adds credits to the balance, - removes them.

    ``extra`` carries what downstream consumers need and the API may show (hold_id, session_id, payment_intent,
    total_clawed_back, recharge_id); it never changes the entry's meaning.
    """

    id: str
    type: str
    amount: int
    description: str
    created_at: str
    reference: str | None = None
    grant_id: str | None = None
    feature: str | None = None
    quantity: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "type": self.type,
            "amount": self.amount,
            "description": self.description,
            "created_at": self.created_at,
            "reference": self.reference,
        }
        if self.grant_id is not None:
            data["grant_id"] = self.grant_id
        if self.feature is not None:
            data["feature"] = self.feature
            data["quantity"] = self.quantity
        for key in ("hold_id", "session_id", "payment_intent", "total_clawed_back"):
            if self.extra.get(key) is not None:
                data[key] = self.extra[key]
        return data


@dataclass(frozen=True)
class EntryPage:
    items: list[Entry]
    next_cursor: str | None


@dataclass(frozen=True)
class Hold:
    hold_id: str
    user_id: str
    amount: int
    status: str
    expires_at: str
    expires_epoch: int
    created_at: str
    description: str = ""
    captured: int | None = None
    released: int | None = None
    resolved_at: str | None = None
    # Which grants the held credits came from, in spend order; None for holds placed before grants existed
    # (they belong to the migration grant).
    allocation: tuple[tuple[str, int], ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "hold_id": self.hold_id,
            "amount": self.amount,
            "status": self.status,
            "expires_at": self.expires_at,
            "created_at": self.created_at,
            "description": self.description,
            "captured": self.captured,
            "released": self.released,
            "resolved_at": self.resolved_at,
        }
        return {k: v for k, v in data.items() if v is not None}


@dataclass(frozen=True)
class Grant:
    """A credit lot as the API shows it. ``amount + restored = remaining + spent + held + expired + voided +
    clawed_back + repaid_debt`` always holds."""

    grant_id: str
    category: str
    source: str
    amount: int
    remaining: int
    priority: int
    expires_at: str | None
    created_at: str
    status: str
    description: str
    reference: str | None
    spent: int
    held: int
    expired: int
    voided: int
    clawed_back: int
    repaid_debt: int
    restored: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class GrantPage:
    grants: list[Grant]
    next_cursor: str | None


def _totals(balance: Balance | None) -> dict[str, int | None]:
    """Response fields after a write; null only when the balance could not be read back (the write stands)."""
    if balance is None:
        return {"balance": None, "available": None}
    return {"balance": balance.balance, "available": balance.available}


@dataclass(frozen=True)
class ConsumeResult:
    transaction_id: str
    amount: int
    replayed: bool = False
    feature: str | None = None
    quantity: int | None = None
    # Only when the caller asked for it (return_balance); ``balance_read`` False means "not asked".
    balance: Balance | None = None
    balance_read: bool = False

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"transaction_id": self.transaction_id, "amount": self.amount,
                                "replayed": self.replayed}
        if self.feature is not None:
            data["feature"] = self.feature
            data["quantity"] = self.quantity
        if self.balance_read:
            data.update(_totals(self.balance))
        return data


@dataclass(frozen=True)
class HoldPlaced:
    hold: Hold
    available: int | None
    replayed: bool = False

    def to_dict(self) -> dict[str, Any]:
        data = self.hold.to_dict()
        data.update({"available": self.available, "replayed": self.replayed})
        return data


@dataclass(frozen=True)
class HoldResolved:
    hold_id: str
    status: str
    captured: int
    released: int
    balance: Balance | None
    transaction_id: str | None = None
    replayed: bool = False

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "hold_id": self.hold_id,
            "status": self.status,
            "released": self.released,
            "replayed": self.replayed,
            **_totals(self.balance),
        }
        if self.status == "captured":
            data["captured"] = self.captured
            data["transaction_id"] = self.transaction_id
        return data


@dataclass(frozen=True)
class GrantCreated:
    grant: Grant
    replayed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {**self.grant.to_dict(), "replayed": self.replayed}


@dataclass(frozen=True)
class GrantVoided:
    grant: Grant
    voided: int
    replayed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {**self.grant.to_dict(), "voided": self.voided, "replayed": self.replayed}


@dataclass(frozen=True)
class AdjustmentResult:
    transaction_id: str
    amount: int
    balance: Balance | None
    grant_id: str | None = None
    replayed: bool = False


@dataclass(frozen=True)
class Purchase:
    session_id: str
    user_id: str
    bundle: str
    credits: int
    amount: int
    currency: str
    status: str
    created_at: str
    fulfilled_at: str | None = None
    payment_intent: str | None = None
    refunded_amount: int = 0
    credits_clawed_back: int = 0
    mismatch: str | None = None
    grant_id: str | None = None
    expires_after_days: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "bundle": self.bundle,
            "credits": self.credits,
            "status": self.status,
            "amount": self.amount,
            "currency": self.currency,
            "created_at": self.created_at,
            "fulfilled_at": self.fulfilled_at,
            "refunded_amount": self.refunded_amount,
            "credits_clawed_back": self.credits_clawed_back,
            "grant_id": self.grant_id,
        }
