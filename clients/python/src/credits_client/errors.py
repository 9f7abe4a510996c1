"""The client's typed exceptions, and the one mapping from an error response to them.

Every exception the client raises on purpose is a ``CreditsError`` with ``.status`` (the HTTP status, ``None`` when
no response was involved: input refused before any request, a connection that failed on every attempt, a
configuration problem), ``.code`` (the service's snake_case code), ``.message`` and ``.details`` (the other fields of
the error envelope). ``.idempotency_key`` is the key the failed call sent, so a caller whose consume ended in
``ServiceUnavailable`` can retry later with the same key and still spend at most once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


class CreditsError(Exception):
    """Base of every error the client raises."""

    default_code = "error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        details: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code or self.default_code
        self.details: dict[str, Any] = dict(details or {})
        self.idempotency_key = idempotency_key

    def __str__(self) -> str:
        where = f"HTTP {self.status}, " if self.status is not None else ""
        return f"{self.message} ({where}{self.code})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, message={self.message!r})"


class InvalidRequest(CreditsError):
    """Malformed input, refused by the client before sending it (``status`` None) or by the service (400)."""

    default_code = "invalid_request"


class Unauthorized(CreditsError):
    """401: missing, expired or invalid bearer token."""

    default_code = "unauthorized"


class Forbidden(CreditsError):
    """403: e.g. an internal route called without a valid SigV4 signature or IAM permission."""

    default_code = "forbidden"


class NotFound(CreditsError):
    """404: no such hold, purchase or grant for this user (another user's ids are 404 too)."""

    default_code = "not_found"


class InsufficientCredits(CreditsError):
    """402: not enough available credits; nothing changed."""

    default_code = "insufficient_credits"

    def __init__(self, message: str, *, available: int, required: int, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.available = available
        self.required = required


class IdempotencyKeyReused(CreditsError):
    """409: the same Idempotency-Key was sent earlier with another body or on another path of the operation."""

    default_code = "idempotency_key_reused"


class HoldNotPending(CreditsError):
    """409: the hold was already captured or released (``hold_not_pending``) or has expired (``HoldExpired``)."""

    default_code = "hold_not_pending"


class HoldExpired(HoldNotPending):
    """409 ``hold_expired``: the hold passed its ``expires_at``; its credits are available again."""

    default_code = "hold_expired"


class GrantNotActive(CreditsError):
    """409 ``grant_not_active``: the grant to void is already expired, voided or depleted."""

    default_code = "grant_not_active"


class PaymentMethodRequired(CreditsError):
    """409 ``payment_method_required``: auto-recharge needs a saved payment method first."""

    default_code = "payment_method_required"


class ServiceUnavailable(CreditsError):
    """429, a 5xx, a timeout or a connection failure, on every attempt the retry policy allowed.

    For a write the outcome may be unknown (the request may have been applied before the connection dropped):
    retrying later with ``.idempotency_key`` answers the first result instead of applying it twice.
    """

    default_code = "service_unavailable"


class ConfigurationError(CreditsError):
    """The client cannot be used as configured: a missing extra (``credits-client[aws]``), credentials or region."""

    default_code = "configuration_error"


class WebhookVerificationError(CreditsError):
    """An outbound webhook whose signature, timestamp or body does not verify; answer it with a 400."""

    default_code = "invalid_signature"


_BY_CODE: dict[str, type[CreditsError]] = {
    "insufficient_credits": InsufficientCredits,
    "idempotency_key_reused": IdempotencyKeyReused,
    "hold_not_pending": HoldNotPending,
    "hold_expired": HoldExpired,
    "grant_not_active": GrantNotActive,
    "payment_method_required": PaymentMethodRequired,
    "unknown_feature": InvalidRequest,
    "unknown_bundle": InvalidRequest,
}
_BY_STATUS: dict[int, type[CreditsError]] = {
    400: InvalidRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    413: InvalidRequest,
    422: InvalidRequest,
    429: ServiceUnavailable,
}


def from_response(status: int, body: bytes, *, idempotency_key: str | None = None) -> CreditsError:
    """The typed exception for an error response: by the envelope's ``code`` first, then by status.

    Tolerates bodies that are not the service's envelope (API Gateway's own ``{"message": "Forbidden"}``, a proxy's
    HTML page), so a gateway or load balancer failure still maps to a typed error.
    """
    code, message, details = _envelope(body)
    cls = _BY_CODE.get(code or "") or _BY_STATUS.get(status)
    if cls is None:
        cls = ServiceUnavailable if status >= 500 else CreditsError
    message = message or f"The service answered HTTP {status}."
    kwargs: dict[str, Any] = {"status": status, "code": code, "details": details, "idempotency_key": idempotency_key}
    if cls is InsufficientCredits:
        available, required = details.get("available"), details.get("required")
        if isinstance(available, int) and isinstance(required, int):
            return InsufficientCredits(message, available=available, required=required, **kwargs)
        cls = CreditsError  # a 402 without the contract's fields: still an error, but not one we can describe
    return cls(message, **kwargs)


def _envelope(body: bytes) -> tuple[str | None, str | None, dict[str, Any]]:
    try:
        data = json.loads(body) if body else None
    except ValueError:
        return None, None, {}
    if not isinstance(data, dict):
        return None, None, {}
    err = data.get("error")
    if isinstance(err, dict):
        code, message = err.get("code"), err.get("message")
        details = {k: v for k, v in err.items() if k not in ("code", "message")}
        return (code if isinstance(code, str) else None, message if isinstance(message, str) else None, details)
    message = data.get("message")  # API Gateway's own answers (e.g. a 403 from the IAM authorizer)
    return None, message if isinstance(message, str) else None, {}
