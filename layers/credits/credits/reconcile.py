"""Reconciliation: what webhooks missed is replayed from Stripe's lists through the same idempotent paths.

1. Completed, paid Checkout sessions of the last ``lookback_hours`` that no webhook fulfilled are fulfilled.
2. Events of the types the service handles, of the last 30 days (Stripe keeps events that long), are replayed
   oldest first from a checkpoint kept in the table. Each names an object that is re-read from Stripe, and every path
   is state-based, so a replay of something already applied changes nothing. Several events about one object are
   applied once per run. A run stops at its time budget and continues from the checkpoint next time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from credits.observability import count
from credits.stripe_events import CHECKOUT_EVENTS, HANDLED_EVENTS, PAID, PAYMENT_EVENTS, _is_ours, _payment_intent_of

if TYPE_CHECKING:
    from credits.purchases import PurchaseService

logger = Logger(service="credits")
EVENTS_CHECKPOINT = "stripe-events"
EVENTS_LOOKBACK_SECONDS = 30 * 86_400


class Reconciler:
    def __init__(
        self,
        purchases: PurchaseService,
        *,
        lookback_hours: int = 72,
        budget_seconds: float = 240.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.purchases = purchases
        self.lookback_hours = lookback_hours
        self.budget_seconds = budget_seconds
        self.clock = clock

    def run(self) -> dict[str, Any]:
        started = time.monotonic()
        sessions = self._sessions()
        replayed = self._events(started)
        recharges = self._recharges()
        return {**sessions, **replayed, "recharges_retried": recharges}

    def _recharges(self) -> list[str]:
        """Recharges requested more than 10 minutes ago and never settled (a lost queue message, a crash between
        Stripe's answer and our write): run again, into the same PaymentIntent (its idempotency key)."""
        if self.purchases._recharges is None:
            return []
        return self.purchases.recharges.retry_stuck()

    def _sessions(self) -> dict[str, Any]:
        since = int(self.clock()) - self.lookback_hours * 3600
        seen, fixed = 0, []
        for session in self.purchases.gateway.list_completed_sessions(created_after=since):
            if session.get("payment_status") not in PAID or not _is_ours(session):
                continue
            seen += 1
            existing = self.purchases.store.get_purchase(session["id"])
            if existing is not None and (existing.fulfilled_at or existing.mismatch):
                continue  # done, or already alarmed once and waiting for a person
            if self.purchases.fulfil(session) == "fulfilled":
                fixed.append(session["id"])
                logger.warning("reconciliation fulfilled a session the webhook missed",
                               extra={"session_id": session["id"]})
        count("ReconciledSessions", len(fixed))
        return {"checked": seen, "fulfilled": fixed}

    def _events(self, started: float) -> dict[str, Any]:
        store = self.purchases.store
        now = int(self.clock())
        floor = now - EVENTS_LOOKBACK_SECONDS
        checkpoint = max(store.get_checkpoint(EVENTS_CHECKPOINT) or floor, floor)
        events = sorted(self.purchases.gateway.list_events(types=HANDLED_EVENTS, created_gte=checkpoint),
                        key=lambda e: (int(e.get("created") or 0), str(e.get("id"))))
        done: set[tuple[str, str]] = set()
        applied, outcomes = 0, dict[str, int]()
        reached = checkpoint
        for event in events:
            if time.monotonic() - started > self.budget_seconds:
                break
            target = _target(event)
            if target is not None and target not in done:
                done.add(target)
                kind, object_id = target
                outcome = (self.purchases.session_changed(object_id) if kind == "session"
                           else self.purchases.payment_changed(object_id))
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
                applied += 1
            reached = max(reached, int(event.get("created") or 0))
        else:
            reached = max(reached, now - 60)  # everything listed was seen; keep a minute of overlap
        store.put_checkpoint(EVENTS_CHECKPOINT, reached)
        return {"events_seen": len(events), "objects_replayed": applied, "replay_outcomes": outcomes,
                "checkpoint": reached}


def _target(event: dict[str, Any]) -> tuple[str, str] | None:
    obj = (event.get("data") or {}).get("object") or {}
    if not isinstance(obj, dict):
        return None
    if event.get("type") in CHECKOUT_EVENTS and isinstance(obj.get("id"), str):
        return "session", obj["id"]
    if event.get("type") in PAYMENT_EVENTS:
        intent = _payment_intent_of(obj)
        return ("payment", intent) if intent else None
    return None
