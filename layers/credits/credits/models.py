"""Domain records returned by the ledger: plain frozen dataclasses, free of HTTP and DynamoDB details."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

# Limits of the contract, shared by request validation (api.py) and the domain's own checks (ledger.py).
MAX_AMOUNT = 1_000_000_000
MAX_IDEMPOTENCY_KEY = 255
DEFAULT_HOLD_TTL = 300
MAX_HOLD_TTL = 86_400

EntryType = Literal["purchase", "usage", "refund", "adjustment"]
HoldStatus = Literal["pending", "captured", "released", "expired"]
PurchaseStatus = Literal["pending", "fulfilled", "failed", "expired", "refunded"]


@dataclass(frozen=True)
class Balance:
    user_id: str
    available: int
    held: int
    updated_at: str | None

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
        }


@dataclass(frozen=True)
class Entry:
    id: str
    type: str
    amount: int
    description: str
    created_at: str
    reference: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("expires_epoch")
        data.pop("user_id")
        return {k: v for k, v in data.items() if v is not None}


def _totals(balance: Balance | None) -> dict[str, int | None]:
    """Response fields after a write; null only when the balance could not be read back (the write stands)."""
    if balance is None:
        return {"balance": None, "available": None}
    return {"balance": balance.balance, "available": balance.available}


@dataclass(frozen=True)
class ConsumeResult:
    transaction_id: str
    amount: int
    balance: Balance | None
    replayed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"transaction_id": self.transaction_id, "amount": self.amount, **_totals(self.balance)}


@dataclass(frozen=True)
class HoldPlaced:
    hold: Hold
    balance: Balance | None
    replayed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "hold_id": self.hold.hold_id,
            "amount": self.hold.amount,
            "status": "pending",
            "expires_at": self.hold.expires_at,
            "available": _totals(self.balance)["available"],
        }


@dataclass(frozen=True)
class HoldResolved:
    hold_id: str
    status: str
    captured: int
    released: int
    balance: Balance | None
    transaction_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "hold_id": self.hold_id,
            "status": self.status,
            "released": self.released,
            **_totals(self.balance),
        }
        if self.status == "captured":
            data["captured"] = self.captured
            data["transaction_id"] = self.transaction_id
        return data


AdjustmentResult = ConsumeResult  # same shape: an entry id, its amount, the balance after

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
        }
