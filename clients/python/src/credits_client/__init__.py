"""Typed Python client for the prepaid credits service.

``CreditsClient`` / ``AsyncCreditsClient`` call the user routes with a bearer token; ``CreditsAdminClient`` calls
the internal routes with SigV4 (extra ``credits-client[aws]``); ``WebhookVerifier`` checks outbound webhooks.
Importing this package never imports botocore.
"""

from __future__ import annotations

from credits_client._retry import RetryPolicy
from credits_client._version import __version__
from credits_client.admin import CreditsAdminClient
from credits_client.aio import AsyncCreditsClient, AsyncHold
from credits_client.client import CreditsClient, Hold
from credits_client.dev import dev_token
from credits_client.errors import (
    ConfigurationError,
    CreditsError,
    Forbidden,
    GrantNotActive,
    HoldExpired,
    HoldNotPending,
    IdempotencyKeyReused,
    InsufficientCredits,
    InvalidRequest,
    NotFound,
    PaymentMethodRequired,
    ServiceUnavailable,
    Unauthorized,
    WebhookVerificationError,
)
from credits_client.models import (
    AlertSettings,
    AutoRecharge,
    Balance,
    Bundle,
    CaptureResult,
    CheckoutSession,
    ConsumeResult,
    Expiring,
    Feature,
    Grant,
    GrantPage,
    HistoryEntry,
    HistoryPage,
    HoldPlaced,
    HoldState,
    PaymentMethod,
    Purchase,
    RechargeFailure,
    ReleaseResult,
    Settings,
    UsageItem,
    UsageReport,
    WebhookEvent,
)
from credits_client.webhooks import WebhookVerifier

__all__ = [
    "AlertSettings",
    "AsyncCreditsClient",
    "AsyncHold",
    "AutoRecharge",
    "Balance",
    "Bundle",
    "CaptureResult",
    "CheckoutSession",
    "ConfigurationError",
    "ConsumeResult",
    "CreditsAdminClient",
    "CreditsClient",
    "CreditsError",
    "Expiring",
    "Feature",
    "Forbidden",
    "Grant",
    "GrantNotActive",
    "GrantPage",
    "HistoryEntry",
    "HistoryPage",
    "Hold",
    "HoldExpired",
    "HoldNotPending",
    "HoldPlaced",
    "HoldState",
    "IdempotencyKeyReused",
    "InsufficientCredits",
    "InvalidRequest",
    "NotFound",
    "PaymentMethod",
    "PaymentMethodRequired",
    "Purchase",
    "RechargeFailure",
    "ReleaseResult",
    "RetryPolicy",
    "ServiceUnavailable",
    "Settings",
    "Unauthorized",
    "UsageItem",
    "UsageReport",
    "WebhookEvent",
    "WebhookVerificationError",
    "WebhookVerifier",
    "__version__",
    "dev_token",
]
