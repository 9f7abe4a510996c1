"""``CreditsAdminClient``: the internal routes (``/internal/...``) for the operator's backend services.

Requests are SigV4-signed for ``execute-api`` with credentials from the standard AWS credential chain (or the
``credentials``/``profile`` given), so the caller needs ``execute-api:Invoke`` on those routes. Needs the extra
``credits-client[aws]``; without it, constructing the client raises ``ConfigurationError`` naming the extra.
The user is a body field here (``user_id``), and idempotency keys live in a namespace apart from the user routes'.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from credits_client import _calls as calls
from credits_client._http import SyncEngine
from credits_client._retry import RetryPolicy
from credits_client._sigv4 import SigV4Auth
from credits_client.client import DEFAULT_PRICE_CACHE_SECONDS
from credits_client.models import ConsumeResult, Feature, Grant


class CreditsAdminClient:
    """Spend, grant and void credits on any user's behalf (internal routes, IAM-authorised).

    ``region`` defaults to the one in an ``execute-api`` URL, then ``AWS_REGION`` / ``AWS_DEFAULT_REGION`` / the
    profile. ``credentials`` is any botocore credentials object (e.g. ``boto3.Session().get_credentials()``).
    ``timeout``, ``max_retries``, ``retry``, ``http_client`` and ``transport`` are as in ``CreditsClient``.
    """

    def __init__(self, base_url: str, *, region: str | None = None, profile: str | None = None,
                 credentials: Any = None, timeout: float | httpx.Timeout | None = None,
                 max_retries: int | None = None, retry: RetryPolicy | None = None,
                 http_client: httpx.Client | None = None, transport: httpx.BaseTransport | None = None,
                 price_cache_seconds: float = DEFAULT_PRICE_CACHE_SECONDS) -> None:
        self._auth = SigV4Auth(base_url, region=region, profile=profile, credentials=credentials)
        self._engine = SyncEngine(base_url, timeout=timeout, max_retries=max_retries, retry=retry,
                                  http_client=http_client, transport=transport, auth=self._auth)
        self._prices = calls.PriceList(price_cache_seconds)

    @property
    def base_url(self) -> str:
        return self._engine.base_url

    @property
    def region(self) -> str:
        return str(self._auth.region)

    def features(self, *, refresh: bool = False) -> tuple[Feature, ...]:
        """The price list (public route), cached to check ``consume(feature=...)`` before sending it."""
        cached = None if refresh else self._prices.get()
        if cached is not None:
            return tuple(cached.values())
        result = self._engine.run(calls.features())
        self._prices.put(result)
        return result

    def consume(self, user_id: str, amount: int | None = None, *, feature: str | None = None,
                quantity: int | None = None, description: str | None = None, idempotency_key: str | None = None,
                return_balance: bool = False) -> ConsumeResult:
        """As ``CreditsClient.consume``, for ``user_id``; the result carries ``user_id``."""
        return self._engine.run(calls.internal_consume(
            user_id, amount, feature=feature, quantity=quantity, description=description,
            idempotency_key=idempotency_key, return_balance=return_balance, prices=self._prices.get()))

    def grant(self, user_id: str, amount: int, *, category: str | None = None, priority: int | None = None,
              expires_at: dt.datetime | str | None = None, expires_in_days: int | None = None,
              description: str | None = None, idempotency_key: str | None = None) -> Grant:
        """Give ``user_id`` a grant (``category`` promotional by default, ``priority`` 0-100, default 50).

        Pass your own ``idempotency_key`` (e.g. derived from the promotion and the user) to make the grant
        exactly-once across restarts; a repeat answers the same grant with ``replayed`` True.
        """
        return self._engine.run(calls.internal_grant(
            user_id, amount, category=category, priority=priority, expires_at=expires_at,
            expires_in_days=expires_in_days, description=description, idempotency_key=idempotency_key))

    def void_grant(self, user_id: str, grant_id: str, *, reason: str, idempotency_key: str | None = None) -> Grant:
        """Void a grant: its unspent ``remaining`` leaves now; ``.voided`` is how much. ``GrantNotActive`` if not
        active, ``NotFound`` if unknown or another user's."""
        return self._engine.run(calls.void_grant(user_id, grant_id, reason=reason, idempotency_key=idempotency_key))

    def close(self) -> None:
        self._engine.close()

    def __enter__(self) -> CreditsAdminClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
