"""Stripe-shaped errors: the ``{"error": {...}}`` bodies and HTTP statuses Stripe answers with."""

from __future__ import annotations

from typing import Any

JsonDict = dict[str, Any]


def doc_url(code: str) -> str:
    return f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"


class StripeApiError(Exception):
    """A Stripe error: rendered as ``{"error": {"type", "message", "code", "param", ...}}``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        extra: JsonDict | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code
        self.param = param
        self.extra = extra or {}

    def body(self) -> JsonDict:
        error: JsonDict = {"type": self.type, "message": self.message}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = doc_url(self.code)
        if self.param is not None:
            error["param"] = self.param
        error.update(self.extra)
        return {"error": error}


def missing(kind: str, obj_id: str, param: str | None) -> StripeApiError:
    return StripeApiError(404, f"No such {kind}: '{obj_id}'", code="resource_missing", param=param)


def invalid(message: str, param: str | None = None, code: str | None = "parameter_invalid") -> StripeApiError:
    return StripeApiError(400, message, code=code, param=param)


def unsupported(what: str, param: str | None = None) -> StripeApiError:
    """Valid on Stripe, but not simulated: say so instead of silently ignoring it."""
    return StripeApiError(400, f"The Stripe simulator does not support {what}.", code="parameter_invalid", param=param)


def unrecognized(method: str, path: str) -> StripeApiError:
    return StripeApiError(
        404,
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can "
        "help at https://support.stripe.com/.",
    )


def card_error(
    code: str,
    message: str,
    *,
    decline_code: str | None = None,
    advice_code: str | None = None,
    extra: JsonDict | None = None,
) -> StripeApiError:
    """A 402 ``card_error``, optionally carrying the PaymentIntent / PaymentMethod / charge it concerns."""
    fields: JsonDict = {}
    if decline_code is not None:
        fields["decline_code"] = decline_code
    if advice_code is not None:
        fields["advice_code"] = advice_code
    fields.update(extra or {})
    return StripeApiError(402, message, type_="card_error", code=code, extra=fields)
