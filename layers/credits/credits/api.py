"""Request models of the HTTP API (pydantic, strict): the contract's input rules in one place."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from credits.models import DEFAULT_HOLD_TTL, MAX_AMOUNT, MAX_HOLD_TTL, EntryType

Amount = Field(ge=1, le=MAX_AMOUNT)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ConsumeRequest(_Body):
    amount: int = Amount
    description: str = Field(default="", max_length=200)


class HoldRequest(_Body):
    amount: int = Amount
    ttl_seconds: int = Field(default=DEFAULT_HOLD_TTL, ge=1, le=MAX_HOLD_TTL)
    description: str = Field(default="", max_length=200)


class CaptureRequest(_Body):
    amount: int | None = Field(default=None, ge=0, le=MAX_AMOUNT)


class ReleaseRequest(_Body):
    pass


class PurchaseRequest(_Body):
    bundle: str = Field(min_length=1)  # any other string is an unknown bundle (400 unknown_bundle)


class InternalConsumeRequest(ConsumeRequest):
    user_id: str = Field(min_length=1, max_length=256)


class HistoryQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    limit: int = Field(default=25, ge=1, le=100)
    cursor: str | None = Field(default=None, min_length=1, max_length=1024)
    type: EntryType | None = None
