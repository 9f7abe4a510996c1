"""Typed domain errors. Each carries the HTTP status and snake_case code of the contract's error envelope."""

from __future__ import annotations

from typing import Any


class CreditsError(Exception):
    """Base of every error the API turns into ``{"error": {"code", "message", ...}}``."""

    status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra

    def envelope(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, **self.extra}}


class InvalidRequest(CreditsError):
    status = 400
    code = "invalid_request"


class UnknownBundle(CreditsError):
    status = 400
    code = "unknown_bundle"


class UnknownFeature(CreditsError):
    status = 400
    code = "unknown_feature"


class Unauthorized(CreditsError):
    status = 401
    code = "unauthorized"


class Forbidden(CreditsError):
    """Authenticated, but not allowed here (an IAM caller missing from INTERNAL_PRINCIPALS)."""

    status = 403
    code = "forbidden"


class InsufficientCredits(CreditsError):
    status = 402
    code = "insufficient_credits"

    def __init__(self, available: int, required: int) -> None:
        super().__init__(
            f"Not enough credits: {required} required, {available} available.",
            available=available,
            required=required,
        )
        self.available = available
        self.required = required


class NotFound(CreditsError):
    status = 404
    code = "not_found"


class IdempotencyKeyReused(CreditsError):
    status = 409
    code = "idempotency_key_reused"


class HoldNotPending(CreditsError):
    status = 409
    code = "hold_not_pending"


class HoldExpired(CreditsError):
    status = 409
    code = "hold_expired"


class GrantNotActive(CreditsError):
    status = 409
    code = "grant_not_active"


class TooManyGrants(CreditsError):
    status = 409
    code = "too_many_grants"
class PaymentMethodRequired(CreditsError):
    """Auto-recharge was switched on for a user without a saved payment method (nothing was saved)."""

    status = 409
    code = "payment_method_required"


class PayloadTooLarge(CreditsError):
    status = 413
    code = "payload_too_large"


class WebhookSignatureInvalid(CreditsError):
    status = 400
    code = "invalid_signature"


class PaymentProviderError(CreditsError):
    """Stripe refused or could not be reached; the message is safe to show (no secrets, no raw payloads)."""

    status = 502
    code = "payment_provider_error"


class TransientStoreError(CreditsError):
    """DynamoDB was throttled or contended beyond our bounded retries; the caller may retry."""

    status = 503
    code = "temporarily_unavailable"


class ConfigError(RuntimeError):
    """Raised at cold start when a required setting is missing or malformed."""
