"""``StripeSimulator``: the resources, the event bus and the dispatcher wired together behind one object.

The local server forwards every ``/_stripe/...`` request to :meth:`StripeSimulator.handle`; events are
delivered synchronously by HTTP POST once the request's state change is saved.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from local.stripe_sim import (
    charges,
    checkout,
    customers,
    disputes,
    events,
    pages,
    payment_intents,
    payment_methods,
    prices,
    products,
    refunds,
    sim_routes,
    webhook_endpoints,
)
from local.stripe_sim.core import PREFIX, Context, Dispatcher, Response, Route
from local.stripe_sim.errors import JsonDict
from local.stripe_sim.events import EventBus
from local.stripe_sim.state import Store

ROUTES: list[Route] = [
    *products.ROUTES,
    *prices.ROUTES,
    *checkout.ROUTES,
    *payment_intents.ROUTES,
    *charges.ROUTES,
    *refunds.ROUTES,
    *disputes.ROUTES,
    *customers.ROUTES,
    *payment_methods.ROUTES,
    *webhook_endpoints.ROUTES,
    *events.ROUTES,
    *sim_routes.ROUTES,
    *pages.ROUTES,
]


class StripeSimulator:
    """Stripe test mode for the local stack and the tests, in memory and optionally persisted to JSON.

    Thread-safe: one lock guards the state; webhooks are sent outside it.
    """

    def __init__(
        self,
        *,
        public_base: str,
        webhook_url: str | None,
        webhook_secret: str,
        state_path: Path | None = None,
        delivery_attempts: int = 3,
        retry_backoff: float = 0.25,
        delivery_timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
        signing_clock: Callable[[], float] = time.time,
    ) -> None:
        self.public_base = public_base.rstrip("/")
        self.state_path = Path(state_path) if state_path is not None else None
        # `clock` drives object timestamps and session expiry; signatures use `signing_clock` (wall time by
        # default) because receivers check them against their own clock.
        self._store = Store(self.state_path, clock)
        self._bus = EventBus(
            self._store,
            webhook_url=webhook_url,
            webhook_secret=webhook_secret,
            attempts=delivery_attempts,
            backoff=retry_backoff,
            timeout=delivery_timeout,
            signing_clock=signing_clock,
        )
        self._ctx = Context(self._store, self._bus, self.public_base)
        self._store.includers[("checkout.session", "line_items")] = lambda s: checkout.line_items_page(self._ctx, s)
        self._dispatcher = Dispatcher(self._ctx, ROUTES, before=[checkout.sweep_expired])

    # --- where it is served and where events go

    @property
    def api_base(self) -> str:
        """What to pass to ``StripeClient(base_addresses={"api": ...})`` to talk to this simulator."""
        return self.public_base + PREFIX

    @property
    def webhook_url(self) -> str | None:
        return self._bus.webhook_url

    @webhook_url.setter
    def webhook_url(self, url: str | None) -> None:
        self._bus.webhook_url = url or None

    @property
    def webhook_secret(self) -> str:
        return self._bus.webhook_secret

    @property
    def routes(self) -> list[Route]:
        return list(ROUTES)

    # --- serving

    def handle(self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes) -> Response:
        """Serve one HTTP request whose path starts with ``/_stripe/``; returns (status, headers, body)."""
        return self._dispatcher.handle(method, path, query, headers, body)

    # --- inspection

    def deliver(self, event_id: str) -> int | None:
        """POST the event, freshly signed, to the default webhook and every endpoint it was sent to.

        Returns the default webhook's final HTTP status, or None when nothing answered.
        """
        return self._bus.deliver(event_id)["status"]  # type: ignore[no-any-return]

    def delivery(self, event_id: str, webhook_endpoint: str | None = None) -> JsonDict | None:
        """The recorded delivery attempts of an event (a copy), or None if there are none.

        Without ``webhook_endpoint``: the default webhook's; with it, that endpoint's.
        """
        with self._store.lock:
            if webhook_endpoint is None:
                record = self._store["deliveries"].get(event_id)
            else:
                record = self._store["endpoint_deliveries"].get(event_id, {}).get(webhook_endpoint)
            return copy.deepcopy(record) if record is not None else None

    def events(self, type_: str | None = None) -> list[JsonDict]:
        """All events, oldest first (copies), optionally of one type."""
        with self._store.lock:
            return [
                self._store.public("events", e)
                for e in self._store["events"].values()
                if type_ is None or e["type"] == type_
            ]

    def requests_received(self) -> list[JsonDict]:
        """Every Stripe API request (``/v1/...``) received, oldest first: method, path, raw query and body,
        the ``Stripe-Version`` / ``Idempotency-Key`` / ``Content-Type`` headers, and the answer's status.

        Kept in memory only (the last 10,000), so a test can check what a client sent against Stripe's spec.
        """
        return self._dispatcher.requests()
