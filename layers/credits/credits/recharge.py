"""Auto-recharge: saved cards and off-session top-ups that never double-charge.

The path (docs/api.md, "Alerts and auto-recharge"):

1. **Trigger, off the change stream.** The events function hands every qualifying change (a write that changed
   ``balance`` or ``available``, a 402 refusal, a ``PUT`` enabling auto-recharge) to ``consider``, which checks the
   policy and makes one conditional write: the recharge state's ``in_flight`` is set (only if none is), the month's
   count goes up (only while under the limit), and a ``RECHARGE#<id>`` record is created. That write is the only way
   a recharge starts, so two never run at once for a user, however many spenders cross the threshold together. The
   recharge id is derived from the change that triggered it, so a redelivered stream record starts nothing new.
2. **Charge, from a queue.** The record's creation is on the stream too; the events function enqueues it, and the
   recharge function (``execute``) confirms an off-session PaymentIntent with an idempotency key derived from the
   user and the recharge id: a crash after Stripe answered and before our write retries into the same PaymentIntent.
   The PaymentIntent id is stored as soon as it is known and retrieved before anything is ever created again.
3. **Outcome.** Success credits the bundle once (a ``purchase`` entry whose reference is the payment intent, a paid
   grant, in the same transaction that settles the record and frees ``in_flight``); the webhook's
   ``payment_intent.succeeded`` and reconciliation take the same path. A failure records its reason and frees
   ``in_flight``; three in a row disable auto-recharge until a new card is saved or it is enabled again; a missing or
   detached card sets ``needs_payment_method``. There are no timed retries: the next qualifying write retries, once
   ``RECHARGE_RETRY_SECONDS`` have passed since the last failure.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from credits.grant_lot import LiveGrant
from credits.ids import iso_ms, new_id
from credits.models import DEFAULT_PRIORITY, Purchase
from credits.observability import count
from credits.ports import PurchaseAlreadyFulfilled, PurchaseFulfil, RechargeRecord, RechargeSettle, RechargeState

if TYPE_CHECKING:
    from credits.catalog import Catalog
    from credits.grants import GrantService
    from credits.ports import RechargeStore

logger = Logger(service="credits")
MAX_FAILURES = 3
# Stripe's codes that mean "there is no usable card", not "this charge was declined".
MISSING_CARD_CODES = ("resource_missing", "payment_method_unactivated", "payment_method_missing",
                      "payment_method_not_available")


@dataclass(frozen=True)
class RechargeSettings:
    enabled: bool
    threshold: int
    bundle: str
    monthly_limit: int


def month_of(now_ms: int) -> str:
    return datetime.fromtimestamp(now_ms / 1000, UTC).strftime("%Y-%m")


def status_of(enabled: bool, state: RechargeState | None) -> str:
    if not enabled:
        return "off"
    if state is None or not state.payment_method:
        return "needs_payment_method"
    if state.needs_payment_method:
        return "needs_payment_method"
    if state.failures >= MAX_FAILURES:
        return "disabled_after_failures"
    return "active"


def stripe_key(user_id: str, purpose: str) -> str:
    """Stripe idempotency keys derived from the user (and what is being done), never random."""
    return f"credits-{purpose}-" + hashlib.sha256(f"{user_id}\x00{purpose}".encode()).hexdigest()


class RechargeService:
    def __init__(
        self,
        store: RechargeStore,
        grants: GrantService,
        catalog: Catalog,
        gateway: Callable[[], Any],
        *,
        retry_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.grants = grants
        self.catalog = catalog
        self._gateway = gateway
        self.retry_seconds = retry_seconds
        self.clock = clock

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    # --- cards -----------------------------------------------------------------------------------------------------
    def customer_for(self, user_id: str, email: str | None) -> str:
        """The user's one Stripe Customer: created once (Stripe's idempotency key is the user's), stored with a
        conditional write, so concurrent purchases never make two."""
        state = self.store.state(user_id)
        if state is not None and state.customer_id:
            return state.customer_id
        created = self._gateway().create_customer(user_id=user_id, email=email,
                                                  idempotency_key=stripe_key(user_id, "customer"))
        return self.store.set_customer(user_id, created, iso_ms(self._now_ms()))

    def save_card(self, user_id: str, customer_id: str | None, payment_method: str) -> None:
        """A Checkout that saved a card: remember its id, brand and last four digits (nothing else of it); a new
        card clears ``needs_payment_method`` and the failure count."""
        method = self._gateway().retrieve_payment_method(payment_method)
        card = method.get("card") or {}
        self.store.save_card(user_id, customer_id, payment_method, str(card.get("brand") or "card"),
                             str(card.get("last4") or ""), iso_ms(self._now_ms()))
        logger.info("card saved for auto-recharge", extra={"user_id": user_id})

    def view(self, user_id: str, enabled: bool) -> dict[str, Any]:
        """The read-only part of ``GET /credits/settings``'s ``auto_recharge``."""
        state = self.store.state(user_id)
        month = month_of(self._now_ms())
        started = state.started if state is not None and state.month == month else 0
        failure = None
        if state is not None and state.last_failure_ms is not None and state.last_failure_reason:
            failure = {"reason": state.last_failure_reason, "at": iso_ms(state.last_failure_ms)}
        return {
            "recharges_this_month": started,
            "payment_method": ({"brand": state.brand, "last4": state.last4}
                               if state is not None and state.payment_method else None),
            "status": status_of(enabled, state),
            "last_failure": failure,
        }

    def has_card(self, user_id: str) -> bool:
        state = self.store.state(user_id)
        return state is not None and bool(state.payment_method)

    def re_enable(self, user_id: str) -> None:
        """``PUT`` with ``enabled: true``: the failure count and the pacing start over."""
        self.store.reset_failures(user_id, iso_ms(self._now_ms()))

    # --- the trigger (called by the events function) ----------------------------------------------------------------
    def consider(self, user_id: str, available: int, trigger: str, settings: RechargeSettings) -> str | None:
        """Start a recharge if the policy allows it now. Returns the recharge id started, else None."""
        if not settings.enabled or available < 0 or available >= settings.threshold:
            return None
        bundle = self.catalog.get(settings.bundle)
        if bundle is None:
            return None
        state = self.store.state(user_id)
        now_ms = self._now_ms()
        if status_of(True, state) != "active" or state is None or state.in_flight:
            return None
        month = month_of(now_ms)
        if state.month == month and state.started >= settings.monthly_limit:
            return None
        if state.last_failure_ms is not None and now_ms - state.last_failure_ms < self.retry_seconds * 1000:
            return None
        recharge_id = "rc_" + hashlib.sha256(f"{user_id}\x00{trigger}".encode()).hexdigest()[:24]
        record = RechargeRecord(user_id, recharge_id, "requested", bundle.id, bundle.credits, bundle.unit_amount,
                                bundle.currency, None, None, iso_ms(now_ms), now_ms, customer_id=state.customer_id,
                                payment_method=state.payment_method, expires_after_days=bundle.expires_after_days)
        started = self.store.start(record, month=month, monthly_limit=settings.monthly_limit,
                                   retry_cutoff_ms=now_ms - self.retry_seconds * 1000)
        if started:
            count("RechargesStarted")
            logger.info("auto-recharge started", extra={"user_id": user_id, "recharge_id": recharge_id,
                                                         "available": available})
        return recharge_id if started else None

    # --- the charge (called by the recharge function) ---------------------------------------------------------------
    def execute(self, user_id: str, recharge_id: str) -> str:
        record = self.store.record(user_id, recharge_id)
        if record is None:
            return "unknown"
        if record.status in ("succeeded", "failed"):
            return record.status
        if record.payment_intent:
            intent = self._gateway().retrieve_payment_intent(record.payment_intent)
            return self.outcome(record, intent)
        if not self.store.auto_recharge_enabled(user_id):
            # Switched off since it started (or a retry long after): nothing was charged, and nothing will be.
            return self._failed(record, "auto_recharge_disabled", missing_card=False)
        # The card the recharge started with (records from before it was stored fall back to the saved one): a
        # retry must send Stripe the same parameters with the same idempotency key to get the same PaymentIntent.
        state = self.store.state(user_id)
        customer = record.customer_id or (state.customer_id if state is not None else None)
        card = record.payment_method or (state.payment_method if state is not None else None)
        if not card or not customer:
            return self._failed(record, "payment_method_missing", missing_card=True)
        else:
            intent = self._gateway().charge_off_session(
                amount=record.amount, currency=record.currency, customer=customer,
                payment_method=card,
                metadata={"kind": "recharge", "recharge_id": recharge_id, "user_id": user_id,
                          "bundle": record.bundle, "credits": str(record.credits)},
                description=f"Auto-recharge: {record.credits:,} credits",
                idempotency_key=stripe_key(user_id, recharge_id),
            )
            if intent.get("id"):
                self.store.set_payment_intent(user_id, recharge_id, str(intent["id"]))
        return self.outcome(record, intent)

    def on_intent(self, intent: dict[str, Any]) -> str:
        """``payment_intent.*`` from the webhook (or reconciliation): act on a recharge's intent as Stripe has it."""
        meta = intent.get("metadata") or {}
        user_id, recharge_id = meta.get("user_id"), meta.get("recharge_id")
        if meta.get("kind") != "recharge" or not isinstance(user_id, str) or not isinstance(recharge_id, str):
            return "ignored: not a recharge"
        record = self.store.record(user_id, recharge_id)
        if record is None:
            return "ignored: unknown recharge"
        if record.payment_intent and intent.get("id") != record.payment_intent:
            return "ignored: not this recharge's payment intent"
        if not record.payment_intent and intent.get("id"):
            self.store.set_payment_intent(user_id, recharge_id, str(intent["id"]))
        return self.outcome(record, intent)

    def outcome(self, record: RechargeRecord, intent: dict[str, Any]) -> str:
        status = intent.get("status")
        if status == "succeeded":
            return self._succeeded(record, intent)
        if status in ("requires_payment_method", "canceled"):
            error = intent.get("last_payment_error") or {}
            reason = str(error.get("decline_code") or error.get("code") or status)
            return self._failed(record, reason, missing_card=error.get("code") in MISSING_CARD_CODES)
        return "processing"  # requires_action etc.: the webhook will tell

    def _succeeded(self, record: RechargeRecord, intent: dict[str, Any]) -> str:
        if intent.get("amount_received") != record.amount or intent.get("currency") != record.currency:
            # Alarmed (FulfilmentMismatches) for a person to look at; the recharge ends as failed, so auto-recharge
            # is not blocked behind it and the user hears of it (credits.recharge.failed).
            logger.error("recharge intent does not match its record: not credited",
                         extra={"recharge_id": record.recharge_id, "payment_intent": intent.get("id")})
            count("FulfilmentMismatches")
            self._failed(record, "amount_mismatch", missing_card=False)
            return "mismatch"
        pi = str(intent["id"])
        now_ms = self._now_ms()
        days = record.expires_after_days
        purchase = Purchase(pi, record.user_id, record.bundle, record.credits, record.amount, record.currency,
                            "pending", record.created_at, expires_after_days=days)
        expires_ms = now_ms + days * 86_400_000 if days else None
        grant = LiveGrant(new_id("gr", now_ms / 1000), "paid", "purchase", record.credits, DEFAULT_PRIORITY,
                          expires_ms, now_ms, f"Auto-recharge: {record.credits:,} credits", pi)
        purchase = Purchase(**{**purchase.__dict__, "grant_id": grant.id})
        try:
            self.grants.fulfil_purchase(PurchaseFulfil(purchase, pi), grant,
                                        {"session_id": None, "payment_intent": pi,
                                         "recharge_id": record.recharge_id},
                                        recharge=RechargeSettle(record.user_id, record.recharge_id))
        except PurchaseAlreadyFulfilled:
            return "duplicate"
        count("RechargesSucceeded")
        count("CreditsPurchased", record.credits)
        return "succeeded"

    def _failed(self, record: RechargeRecord, reason: str, *, missing_card: bool) -> str:
        if self.store.fail(record.user_id, record.recharge_id, reason, missing_card, self._now_ms()):
            count("RechargesFailed")
            logger.warning("auto-recharge failed", extra={"user_id": record.user_id, "reason": reason,
                                                           "recharge_id": record.recharge_id})
        return "failed"

    # --- reconciliation -----------------------------------------------------------------------------------------------
    def retry_stuck(self, older_than_seconds: int = 600) -> list[str]:
        """Recharges still in flight after a while (a lost queue message, a crash): run them again (idempotent)."""
        done = []
        for user_id, recharge_id in self.store.in_flight(self._now_ms() - older_than_seconds * 1000):
            done.append(f"{recharge_id}:{self.execute(user_id, recharge_id)}")
        return done
