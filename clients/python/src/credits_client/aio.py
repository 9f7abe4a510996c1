"""``AsyncCreditsClient``: the same methods as ``CreditsClient``, as coroutines (``history``/``grants`` are async
iterators), and ``AsyncHold``. Both clients execute the same ``_calls`` builders, so they validate and send alike.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Generator
from types import TracebackType
from typing import Any

import httpx

from credits_client import _calls as calls
from credits_client._hold import HoldBase
from credits_client._http import AsyncEngine, TokenSource
from credits_client._retry import RetryPolicy
from credits_client.client import DEFAULT_PRICE_CACHE_SECONDS
from credits_client.errors import CreditsError
from credits_client.models import (
    Balance,
    Bundle,
    CaptureResult,
    CheckoutSession,
    ConsumeResult,
    Feature,
    Grant,
    GrantPage,
    HistoryEntry,
    HistoryPage,
    HoldPlaced,
    HoldState,
    Purchase,
    ReleaseResult,
    Settings,
    UsageReport,
)


class AsyncCreditsClient:
    """The asyncio twin of ``CreditsClient`` (same arguments; ``http_client`` is an ``httpx.AsyncClient``).

    ``async with AsyncCreditsClient(url, token=t) as c: ...``, or call ``await c.aclose()``.
    """

    def __init__(self, base_url: str, *, token: TokenSource, timeout: float | httpx.Timeout | None = None,
                 max_retries: int | None = None, retry: RetryPolicy | None = None,
                 http_client: httpx.AsyncClient | None = None, transport: httpx.AsyncBaseTransport | None = None,
                 price_cache_seconds: float = DEFAULT_PRICE_CACHE_SECONDS) -> None:
        self._engine = AsyncEngine(base_url, token=token, timeout=timeout, max_retries=max_retries, retry=retry,
                                   http_client=http_client, transport=transport)
        self._prices = calls.PriceList(price_cache_seconds)

    @property
    def base_url(self) -> str:
        return self._engine.base_url

    async def health(self) -> str:
        return await self._engine.run(calls.health())

    async def bundles(self) -> tuple[Bundle, ...]:
        return await self._engine.run(calls.bundles())

    async def features(self, *, refresh: bool = False) -> tuple[Feature, ...]:
        cached = None if refresh else self._prices.get()
        if cached is not None:
            return tuple(cached.values())
        result = await self._engine.run(calls.features())
        self._prices.put(result)
        return result

    async def balance(self) -> Balance:
        return await self._engine.run(calls.balance())

    async def consume(self, amount: int | None = None, *, feature: str | None = None, quantity: int | None = None,
                      description: str | None = None, idempotency_key: str | None = None,
                      return_balance: bool = False) -> ConsumeResult:
        return await self._engine.run(calls.consume(
            amount, feature=feature, quantity=quantity, description=description, idempotency_key=idempotency_key,
            return_balance=return_balance, prices=self._prices.get()))

    def history(self, *, type: str | None = None, page_size: int = 100) -> AsyncIterator[HistoryEntry]:
        """``async for entry in client.history(): ...`` over every page, newest first."""
        calls.history_page(limit=page_size, type=type)
        return self._history(page_size, type)

    async def _history(self, page_size: int, type: str | None) -> AsyncIterator[HistoryEntry]:
        cursor = None
        while True:
            page = await self.history_page(limit=page_size, cursor=cursor, type=type)
            for entry in page.items:
                yield entry
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    async def history_page(self, *, limit: int = 25, cursor: str | None = None,
                           type: str | None = None) -> HistoryPage:
        return await self._engine.run(calls.history_page(limit=limit, cursor=cursor, type=type))

    def grants(self, *, status: str = "active", page_size: int = 100) -> AsyncIterator[Grant]:
        calls.grants_page(status=status, limit=page_size)
        return self._grants(status, page_size)

    async def _grants(self, status: str, page_size: int) -> AsyncIterator[Grant]:
        cursor = None
        while True:
            page = await self.grants_page(status=status, limit=page_size, cursor=cursor)
            for grant in page.grants:
                yield grant
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    async def grants_page(self, *, status: str = "active", limit: int = 100,
                          cursor: str | None = None) -> GrantPage:
        return await self._engine.run(calls.grants_page(status=status, limit=limit, cursor=cursor))

    async def usage(self, *, from_date: dt.date | str | None = None, to_date: dt.date | str | None = None,
                    group_by: str = "day") -> UsageReport:
        return await self._engine.run(calls.usage(from_date=from_date, to_date=to_date, group_by=group_by))

    async def settings(self) -> Settings:
        return await self._engine.run(calls.settings())

    async def update_settings(self, *, alert_thresholds: list[int] | None = None,
                              auto_recharge_enabled: bool | None = None, auto_recharge_threshold: int | None = None,
                              auto_recharge_bundle: str | None = None,
                              auto_recharge_monthly_limit: int | None = None) -> Settings:
        return await self._engine.run(calls.update_settings(
            alert_thresholds=alert_thresholds, auto_recharge_enabled=auto_recharge_enabled,
            auto_recharge_threshold=auto_recharge_threshold, auto_recharge_bundle=auto_recharge_bundle,
            auto_recharge_monthly_limit=auto_recharge_monthly_limit))

    def hold(self, amount: int, *, ttl_seconds: int | None = None, description: str | None = None,
             idempotency_key: str | None = None) -> _HoldOpener:
        """``h = await client.hold(n)``, or ``async with client.hold(n) as h:`` (released on exit if unresolved)."""
        call = calls.place_hold(amount, ttl_seconds=ttl_seconds, description=description,
                                idempotency_key=idempotency_key)
        return _HoldOpener(self, call)

    async def get_hold(self, hold_id: str) -> HoldState:
        return await self._engine.run(calls.get_hold(hold_id))

    async def capture_hold(self, hold_id: str, amount: int | None = None, *,
                           idempotency_key: str | None = None) -> CaptureResult:
        return await self._engine.run(calls.capture_hold(hold_id, amount, idempotency_key=idempotency_key))

    async def release_hold(self, hold_id: str, *, idempotency_key: str | None = None) -> ReleaseResult:
        return await self._engine.run(calls.release_hold(hold_id, idempotency_key=idempotency_key))

    async def purchase(self, bundle: str, *, save_payment_method: bool = False,
                       idempotency_key: str | None = None) -> CheckoutSession:
        return await self._engine.run(calls.purchase(bundle, save_payment_method=save_payment_method,
                                                     idempotency_key=idempotency_key))

    async def purchase_status(self, session_id: str) -> Purchase:
        return await self._engine.run(calls.purchase_status(session_id))

    async def aclose(self) -> None:
        await self._engine.aclose()

    async def __aenter__(self) -> AsyncCreditsClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class _HoldOpener:
    """What ``AsyncCreditsClient.hold`` returns: awaitable (places the hold) and an async context manager."""

    def __init__(self, client: AsyncCreditsClient, call: calls.Call[HoldPlaced]) -> None:
        self._client, self._call = client, call
        self._hold: AsyncHold | None = None

    async def _place(self) -> AsyncHold:
        return AsyncHold(self._client, await self._client._engine.run(self._call))

    def __await__(self) -> Generator[Any, None, AsyncHold]:
        return self._place().__await__()

    async def __aenter__(self) -> AsyncHold:
        self._hold = await self._place()
        return self._hold

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._hold is not None:
            await self._hold.__aexit__(exc_type, exc, tb)


class AsyncHold(HoldBase):
    """The async ``Hold``: ``await h.capture(n)`` / ``await h.release()``; same exit rules."""

    def __init__(self, client: AsyncCreditsClient, placed: HoldPlaced) -> None:
        super().__init__(placed)
        self._client = client

    async def capture(self, amount: int | None = None, *, idempotency_key: str | None = None) -> CaptureResult:
        self._check_pending()
        result = await self._client._engine.run(calls.capture_hold(self.hold_id, amount, limit=self.amount,
                                                                   idempotency_key=idempotency_key))
        return self._resolved(result)

    async def release(self, *, idempotency_key: str | None = None) -> ReleaseResult:
        self._check_pending()
        result = await self._client._engine.run(calls.release_hold(self.hold_id, idempotency_key=idempotency_key))
        return self._resolved(result)

    async def refresh(self) -> HoldState:
        state = await self._client.get_hold(self.hold_id)
        self.status = state.status
        return state

    async def __aenter__(self) -> AsyncHold:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self.status != "pending":
            return
        try:
            await self.release()
        except CreditsError as err:
            if not self._absorb_exit_error(err, exc):
                raise
