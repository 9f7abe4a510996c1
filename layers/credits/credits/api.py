"""Request models of the HTTP API (pydantic, strict): the contract's input rules in one place."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from credits.models import (
    DEFAULT_HOLD_TTL,
    DEFAULT_PRIORITY,
    MAX_AMOUNT,
    MAX_DESCRIPTION,
    MAX_GRANT_DAYS,
    MAX_HOLD_TTL,
    MAX_PRIORITY,
    MIN_PRIORITY,
    EntryType,
)

Amount = Field(ge=1, le=MAX_AMOUNT)
Description = Field(default="", max_length=MAX_DESCRIPTION)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        # An explicit null is a wrong type, not "left out": the contract answers it with a 400.
        nulls = [k for k, v in data.items() if v is None] if isinstance(data, dict) else []
        if nulls:
            raise ValueError(f"{nulls[0]} must not be null (leave it out instead)")
        return data


def _valid_user_id(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode") from None
    return value


class ConsumeRequest(_Body):
    amount: int | None = Field(default=None, ge=1, le=MAX_AMOUNT)
    # No length cap of its own: any name the price list lacks is `unknown_feature`, however long (the body limit
    # bounds it).
    feature: str | None = Field(default=None, min_length=1)
    quantity: int | None = Field(default=None, ge=1, le=MAX_AMOUNT)
    description: str = Description
    return_balance: bool = False

    @model_validator(mode="after")
    def _amount_or_feature(self) -> ConsumeRequest:
        if (self.amount is None) == (self.feature is None):
            raise ValueError("give exactly one of amount and feature")
        if self.quantity is not None and self.feature is None:
            raise ValueError("quantity is only allowed with feature")
        return self


class HoldRequest(_Body):
    amount: int = Amount
    ttl_seconds: int = Field(default=DEFAULT_HOLD_TTL, ge=1, le=MAX_HOLD_TTL)
    description: str = Description


class CaptureRequest(_Body):
    amount: int | None = Field(default=None, ge=0, le=MAX_AMOUNT)


class ReleaseRequest(_Body):
    pass


class PurchaseRequest(_Body):
    bundle: str = Field(min_length=1)  # any other string is an unknown bundle (400 unknown_bundle)
    save_payment_method: bool = False


class _Internal(_Body):
    user_id: str = Field(min_length=1, max_length=256)

    @field_validator("user_id")
    @classmethod
    def _unicode(cls, value: str) -> str:
        return _valid_user_id(value)


class InternalConsumeRequest(ConsumeRequest, _Internal):
    pass


class InternalGrantRequest(_Internal):
    amount: int = Amount
    category: Literal["promotional", "paid"] = "promotional"
    priority: int = Field(default=DEFAULT_PRIORITY, ge=MIN_PRIORITY, le=MAX_PRIORITY)
    expires_at: str | None = Field(default=None, min_length=1, max_length=40)
    expires_in_days: int | None = Field(default=None, ge=1, le=MAX_GRANT_DAYS)
    description: str = Description

    @model_validator(mode="after")
    def _one_expiry(self) -> InternalGrantRequest:
        if self.expires_at is not None and self.expires_in_days is not None:
            raise ValueError("give at most one of expires_at and expires_in_days")
        return self


class VoidRequest(_Internal):
    reason: str = Field(min_length=1, max_length=MAX_DESCRIPTION)


class HistoryQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    limit: int = Field(default=25, ge=1, le=100)
    cursor: str | None = Field(default=None, min_length=1, max_length=1024)
    type: EntryType | None = None


class GrantsQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Literal["active", "all"] = "active"
    limit: int = Field(default=100, ge=1, le=100)
    cursor: str | None = Field(default=None, min_length=1, max_length=1024)
