"""``CreditsClient``: the user routes, called with the user's bearer token, and the ``Hold`` context manager."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from types import TracebackType

import httpx

from credits_client import _calls as calls
from credits_client._hold import HoldBase
from credits_client._http import SyncEngine, TokenSource
from credits_client._retry import RetryPolicy
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

DEFAULT_PRICE_CACHE_SECONDS = 300.0


class CreditsClient:
    """A client of the credits API for one user (the token's ``sub``).

    ``token`` is the user's JWT, or a callable returning a fresh one per call. ``timeout`` (seconds, or an
    ``httpx.Timeout``) applies per attempt; ``max_retries`` (default 3) or a full ``RetryPolicy`` bounds the retries
    of connection errors, 429 and 5xx. Pass ``http_client`` (yours stays open on ``close()``) or ``transport`` to
    control the connection. Thread-safe like ``httpx.Client``; reuse one instance (it keeps connections alive).
    """

    def __init__(self, base_url: str, *, token: TokenSource, timeout: float | httpx.Timeout | None = None,
                 max_retries: int | None = None, retry: RetryPolicy | None = None,
                 http_client: httpx.Client | None = None, transport: httpx.BaseTransport | None = None,
                 price_cache_seconds: float = DEFAULT_PRICE_CACHE_SECONDS) -> None:
        self._engine = SyncEngine(base_url, token=token, timeout=timeout, max_retries=max_retries, retry=retry,
                                  http_client=http_client, transport=transport)
        self._prices = calls.PriceList(price_cache_seconds)

    @property
    def base_url(self) -> str:
        return self._engine.base_url

    # --- catalog ---------------------------------------------------------------------------------------------------
    def health(self) -> str:
        """``"ok"`` once the service can serve requests."""
        return self._engine.run(calls.health())

    def bundles(self) -> tuple[Bundle, ...]:
        return self._engine.run(calls.bundles())

    def features(self, *, refresh: bool = False) -> tuple[Feature, ...]:
        """The price list; cached (also for checking ``consume(feature=...)`` before sending it)."""
        cached = None if refresh else self._prices.get()
        if cached is not None:
            return tuple(cached.values())
        result = self._engine.run(calls.features())
        self._prices.put(result)
        return result

    # --- balance, spending, history --------------------------------------------------------------------------------
    def balance(self) -> Balance:
        return self._engine.run(calls.balance())

    def consume(self, amount: int | None = None, *, feature: str | None = None, quantity: int | None = None,
                description: str | None = None, idempotency_key: str | None = None,
                return_balance: bool = False) -> ConsumeResult:
        """Spend ``amount`` credits, or ``quantity`` (default 1) units of a priced ``feature``.

        Raises ``InsufficientCredits`` (nothing spent) or ``InvalidRequest`` before any request for bad input.
        One Idempotency-Key (yours, or a generated one) covers every retry of this call: it spends at most once.
        """
        return self._engine.run(calls.consume(amount, feature=feature, quantity=quantity, description=description,
                                              idempotency_key=idempotency_key, return_balance=return_balance,
                                              prices=self._prices.get()))

    def history(self, *, type: str | None = None, page_size: int = 100) -> Iterator[HistoryEntry]:
        """Every entry, newest first, fetching pages of ``page_size`` as the iteration goes."""
        calls.history_page(limit=page_size, type=type)  # validates now, not at the first next()
        return self._history(page_size, type)

    def _history(self, page_size: int, type: str | None) -> Iterator[HistoryEntry]:
        cursor = None
        while True:
            page = self.history_page(limit=page_size, cursor=cursor, type=type)
            yield from page.items
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def history_page(self, *, limit: int = 25, cursor: str | None = None, type: str | None = None) -> HistoryPage:
        return self._engine.run(calls.history_page(limit=limit, cursor=cursor, type=type))

    def grants(self, *, status: str = "active", page_size: int = 100) -> Iterator[Grant]:
        """Active grants in spend order (``status="all"``: then the others, newest first), across all pages."""
        calls.grants_page(status=status, limit=page_size)
        return self._grants(status, page_size)

    def _grants(self, status: str, page_size: int) -> Iterator[Grant]:
        cursor = None
        while True:
            page = self.grants_page(status=status, limit=page_size, cursor=cursor)
            yield from page.grants
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def grants_page(self, *, status: str = "active", limit: int = 100, cursor: str | None = None) -> GrantPage:
        return self._engine.run(calls.grants_page(status=status, limit=limit, cursor=cursor))

    def usage(self, *, from_date: dt.date | str | None = None, to_date: dt.date | str | None = None,
              group_by: str = "day") -> UsageReport:
        """Credits spent per UTC day (``group_by="day"``) or per feature; dates inclusive, default the last 30 days."""
        return self._engine.run(calls.usage(from_date=from_date, to_date=to_date, group_by=group_by))

    # --- settings --------------------------------------------------------------------------------------------------
    def settings(self) -> Settings:
        return self._engine.run(calls.settings())

    def update_settings(self, *, alert_thresholds: list[int] | None = None, auto_recharge_enabled: bool | None = None,
                        auto_recharge_threshold: int | None = None, auto_recharge_bundle: str | None = None,
                        auto_recharge_monthly_limit: int | None = None) -> Settings:
        """Change only the fields given (``alert_thresholds`` replaces the list); answers the whole settings."""
        return self._engine.run(calls.update_settings(
            alert_thresholds=alert_thresholds, auto_recharge_enabled=auto_recharge_enabled,
            auto_recharge_threshold=auto_recharge_threshold, auto_recharge_bundle=auto_recharge_bundle,
            auto_recharge_monthly_limit=auto_recharge_monthly_limit))

    # --- holds -----------------------------------------------------------------------------------------------------
    def hold(self, amount: int, *, ttl_seconds: int | None = None, description: str | None = None,
             idempotency_key: str | None = None) -> Hold:
        """Reserve ``amount`` credits now; use the result as a context manager (see ``Hold``)."""
        placed = self._engine.run(calls.place_hold(amount, ttl_seconds=ttl_seconds, description=description,
                                                   idempotency_key=idempotency_key))
        return Hold(self, placed)

    def get_hold(self, hold_id: str) -> HoldState:
        return self._engine.run(calls.get_hold(hold_id))

    def capture_hold(self, hold_id: str, amount: int | None = None, *,
                     idempotency_key: str | None = None) -> CaptureResult:
        """Spend ``amount`` (0 up to the hold's amount; default all) of a pending hold; the rest is released."""
        return self._engine.run(calls.capture_hold(hold_id, amount, idempotency_key=idempotency_key))

    def release_hold(self, hold_id: str, *, idempotency_key: str | None = None) -> ReleaseResult:
        return self._engine.run(calls.release_hold(hold_id, idempotency_key=idempotency_key))

    # --- purchases -------------------------------------------------------------------------------------------------
    def purchase(self, bundle: str, *, save_payment_method: bool = False,
                 idempotency_key: str | None = None) -> CheckoutSession:
        """A Stripe Checkout session for ``bundle``; send the user to ``.url``."""
        return self._engine.run(calls.purchase(bundle, save_payment_method=save_payment_method,
                                               idempotency_key=idempotency_key))

    def purchase_status(self, session_id: str) -> Purchase:
        return self._engine.run(calls.purchase_status(session_id))

    # --- lifecycle -------------------------------------------------------------------------------------------------
    def close(self) -> None:
        self._engine.close()

    def __enter__(self) -> CreditsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Hold(HoldBase):
    """A placed hold, as returned by ``CreditsClient.hold``. Attributes are the API's fields.

    Call ``capture(n)`` (spend n of the held credits, release the rest) or ``release()``. Used as a context
    manager, the hold is released on exit when neither was called, and when the block raises: credits are never
    left reserved until the TTL because of an error. If the exit's release fails while the block raised, the
    block's exception propagates (with a note); on a clean exit the release error is raised. A hold that already
    expired or was resolved elsewhere needs no release and raises nothing.
    """

    def __init__(self, client: CreditsClient, placed: HoldPlaced) -> None:
        super().__init__(placed)
        self._client = client

    def capture(self, amount: int | None = None, *, idempotency_key: str | None = None) -> CaptureResult:
        self._check_pending()
        result = self._client._engine.run(calls.capture_hold(self.hold_id, amount, limit=self.amount,
                                                             idempotency_key=idempotency_key))
        return self._resolved(result)

    def release(self, *, idempotency_key: str | None = None) -> ReleaseResult:
        self._check_pending()
        result = self._client._engine.run(calls.release_hold(self.hold_id, idempotency_key=idempotency_key))
        return self._resolved(result)

    def refresh(self) -> HoldState:
        """Read the hold as the service sees it now (e.g. ``expired``) and update ``status``."""
        state = self._client.get_hold(self.hold_id)
        self.status = state.status
        return state

    def __enter__(self) -> Hold:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.status != "pending":
            return
        try:
            self.release()
        except CreditsError as err:
            if not self._absorb_exit_error(err, exc):
                raise
