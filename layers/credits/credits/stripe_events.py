"""What the service reads in Stripe's objects: the webhook events it acts on and their signature check, and how its
own Checkout sessions and users appear at Stripe (metadata, ``client_reference_id``). No I/O; the Stripe SDK is loaded
only by the signature check."""

from __future__ import annotations

import hashlib
from typing import Any, TypeGuard

from credits.errors import WebhookSignatureInvalid

# Exactly the events the service acts on (the webhook endpoint subscribes to these and nothing else).
CHECKOUT_EVENTS = (
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
)
PAYMENT_EVENTS = (
    "charge.refunded",
    "refund.created",
    "refund.updated",
    "refund.failed",
    "charge.dispute.created",
    "charge.dispute.updated",
    "charge.dispute.closed",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.funds_reinstated",
)
RECHARGE_EVENTS = ("payment_intent.succeeded", "payment_intent.payment_failed")
HANDLED_EVENTS = (*CHECKOUT_EVENTS, *PAYMENT_EVENTS, *RECHARGE_EVENTS)
PAID = ("paid", "no_payment_required")
MAX_CLIENT_REFERENCE = 200  # Stripe's limit on client_reference_id


def client_reference(user_id: str) -> str:
    """The user as Stripe's ``client_reference_id`` (at most 200 characters): the id itself when it fits, else a
    digest of it. The user is also in metadata (500 characters) and in our purchase record."""
    if len(user_id) <= MAX_CLIENT_REFERENCE:
        return user_id
    return "sha256_" + hashlib.sha256(user_id.encode()).hexdigest()


def _is_ours(session: dict[str, Any]) -> bool:
    """Sessions this service created carry our bundle in metadata; others share the account and are ignored."""
    meta = session.get("metadata") or {}
    return isinstance(meta, dict) and bool(meta.get("bundle")) and meta.get("kind", "purchase") == "purchase"


# Stripe's ids are at most 255 characters; a signed event naming something longer is not one of Stripe's objects
# (and its key would exceed DynamoDB's 2 KB key limit).
MAX_STRIPE_ID = 255


def _stripe_id(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and 0 < len(value) <= MAX_STRIPE_ID


def _payment_intent_of(obj: dict[str, Any]) -> str | None:
    value = obj.get("payment_intent")
    if isinstance(value, dict):
        value = value.get("id")
    return value if _stripe_id(value) else None


def verify_stripe_event(payload: bytes, signature: str | None, secret: str) -> dict[str, Any]:
    """Stripe's own signature check (HMAC-SHA256 over ``t.payload``, 300 s tolerance) on the exact raw bytes.

    A signed body that is not JSON is refused (400: only a holder of the secret can sign one, so it is worth an alarm);
    signed JSON that is not an event object comes back as ``{}`` and is acknowledged and ignored by ``handle_event``.
    """
    import json

    import stripe

    if not signature:
        raise WebhookSignatureInvalid("Missing Stripe-Signature header.")
    try:
        text = payload.decode("utf-8")
        stripe.WebhookSignature.verify_header(text, signature, secret, stripe.Webhook.DEFAULT_TOLERANCE)
    except (stripe.SignatureVerificationError, UnicodeDecodeError) as exc:
        raise WebhookSignatureInvalid("Invalid Stripe signature or payload.") from exc
    try:
        event = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise WebhookSignatureInvalid("The signed payload is not JSON.") from exc
    return event if isinstance(event, dict) else {}
