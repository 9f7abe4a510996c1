"""Verification of the service's outbound webhooks (Standard Webhooks), wrapping ``standardwebhooks``.

``WebhookVerifier(secret).verify(body, headers)`` checks the ``webhook-signature`` over the raw body with the
``whsec_...`` secret, refuses a ``webhook-timestamp`` more than 5 minutes away, and returns a typed
``WebhookEvent``. Anything else raises ``WebhookVerificationError``: answer 400 and do not act on the body.
Deliveries are at least once and in no guaranteed order: dedupe by ``event.id`` (the ``webhook-id``).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

import standardwebhooks

from credits_client.errors import ConfigurationError, WebhookVerificationError
from credits_client.models import WebhookEvent

PREFIX = "whsec_"
MIN_SECRET_BYTES = 24


def _secret_bytes(secret: str) -> bytes:
    # standardwebhooks decodes leniently: a non-base64 secret would silently become unrelated bytes and every
    # signature would fail (or, worse, match a different key). Refuse it here with a clear message.
    if not isinstance(secret, str) or not secret.startswith(PREFIX) or "placeholder" in secret:
        raise ConfigurationError("The webhook secret must be the service's whsec_... value.", code="invalid_secret")
    try:
        raw = base64.b64decode(secret[len(PREFIX):], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigurationError("The webhook secret after whsec_ must be base64.", code="invalid_secret") from exc
    if len(raw) < MIN_SECRET_BYTES:
        raise ConfigurationError(f"The webhook secret must encode at least {MIN_SECRET_BYTES} bytes.",
                                 code="invalid_secret")
    return raw


class WebhookVerifier:
    def __init__(self, secret: str) -> None:
        self._webhook = standardwebhooks.Webhook(_secret_bytes(secret))

    def verify(self, body: bytes | str, headers: Mapping[str, str] | Any) -> WebhookEvent:
        """``body`` exactly as received (bytes, before any JSON parsing); ``headers`` any mapping or object with
        ``.items()`` (names are matched case-insensitively)."""
        lowered = {str(k).lower(): str(v) for k, v in headers.items()}
        try:
            payload = self._webhook.verify(body, lowered)
        except (standardwebhooks.WebhookVerificationError, ValueError, TypeError, binascii.Error) as exc:
            # ValueError also covers a malformed signature list, bad base64, a body that is not UTF-8 or JSON
            raise WebhookVerificationError(f"Webhook not verified: {exc}") from exc
        if not isinstance(payload, dict) or not isinstance(payload.get("type"), str) \
                or not isinstance(payload.get("data"), dict):
            raise WebhookVerificationError("Webhook body is not an event ({type, timestamp, data}).")
        return WebhookEvent(id=lowered["webhook-id"], type=payload["type"], timestamp=str(payload.get("timestamp", "")),
                            data=payload["data"])
