"""Money in: start Checkout for a catalog bundle, and turn Stripe's confirmed state into ledger movements once.

Stripe's API, not a webhook payload, is the source of truth (guarantee 8, docs/ledger.md): a verified event only says
*which* object to look at; the service retrieves that session (or payment intent, its refunds and disputes) from
Stripe and acts on what Stripe answers. Every path is keyed by Stripe's own ids and is state-based, so any number of
deliveries, in any order, concurrently, converge on the same ledger.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from credits.catalog import Bundle, Catalog
from credits.errors import NotFound, PaymentProviderError, TransientStoreError, UnknownBundle
from credits.grant_lot import LiveGrant
from credits.ids import iso, new_id
from credits.models import DEFAULT_PRIORITY, Purchase
from credits.observability import count
from credits.ports import PurchaseAlreadyFulfilled, PurchaseFulfil, PurchaseMismatch
from credits.stripe_events import (
    CHECKOUT_EVENTS,
    MAX_STRIPE_ID,
    PAID,
    PAYMENT_EVENTS,
    RECHARGE_EVENTS,
    _is_ours,
    _payment_intent_of,
    _stripe_id,
    client_reference,
    verify_stripe_event,
)

if TYPE_CHECKING:
    from credits.grants import GrantService
    from credits.ports import PaymentGateway, PurchaseStore
    from credits.recharge import RechargeService

logger = Logger(service="credits")


@dataclass(frozen=True)
class CheckoutStarted:
    session_id: str
    url: str
    replayed: bool = False


class PurchaseService:
    def __init__(
        self,
        grants: GrantService,
        store: PurchaseStore,
        catalog: Catalog,
        gateway: Callable[[], PaymentGateway],
        *,
        dashboard_url: str,
        webhook_secret: Callable[[], str],
        clock: Callable[[], float] = time.time,
        recharges: Callable[[], RechargeService] | None = None,
    ) -> None:
        self._recharges = recharges
        self.grants = grants
        self.store = store
        self.catalog = catalog
        self._gateway = gateway  # built lazily: the status route never needs Stripe
        self.dashboard_url = dashboard_url.rstrip("/")
        self._webhook_secret = webhook_secret
        self.clock = clock

    @property
    def gateway(self) -> PaymentGateway:
        return self._gateway()

    @property
    def recharges(self) -> RechargeService:
        if self._recharges is None:
            raise RuntimeError("auto-recharge is not wired into this purchase service")
        return self._recharges()

    # --- purchase ---------------------------------------------------------------------------------------------
    def start_checkout(
        self,
        user_id: str,
        bundle_id: str,
        *,
        email: str | None,
        idempotency_key: str | None,
        save_payment_method: bool = False,
    ) -> CheckoutStarted:
        """A Checkout session for a catalog bundle. With a key: the same key and body answer the same session for
        7 days (``replayed``); the same key with another body is ``409 idempotency_key_reused``."""
        from credits.engine import idempotency

        engine = self.grants.engine
        idem = idempotency("purchase", idempotency_key, {"bundle": bundle_id,
                                                         "save_payment_method": save_payment_method})
        replay = engine.replayed(user_id, idem)
        if replay is not None:
            return CheckoutStarted(replay["session_id"], replay["url"], replayed=True)
        bundle = self.catalog.get(bundle_id)
        if bundle is None:
            known = ", ".join(b.id for b in self.catalog.bundles)
            raise UnknownBundle(f"Unknown bundle {bundle_id[:40]!r}; choose one of: {known}.")
        engine.ensure_user(user_id)
        stripe_key = None
        if idempotency_key:
            # Per user (one user's key can never replay another's session); Stripe remembers it 24 hours, our
            # record 7 days, and ours answers first.
            raw = f"{user_id}\x00{idempotency_key}".encode()
            stripe_key = "credits-purchase-" + hashlib.sha256(raw).hexdigest()
        # Saving the card needs the user's one Stripe Customer (created once, the only other Stripe call a user's
        # request ever makes).
        customer = self.recharges.customer_for(user_id, email) if save_payment_method else None
        session = self.gateway.create_checkout_session(
            user_id=user_id,
            email=email,
            bundle=bundle,
            success_url=f"{self.dashboard_url}/?success=true&session_id={{CHECKOUT_SESSION_ID}}",
            cancel_url=f"{self.dashboard_url}/?canceled=true",
            idempotency_key=stripe_key,
            customer=customer,
        )
        self.store.put_purchase(self._record(session.id, user_id, bundle, "pending"))
        logger.info("checkout started", extra={"session_id": session.id, "bundle": bundle.id})
        if idem is not None:
            first = engine.store.remember(user_id, idem.write({"session_id": session.id, "url": session.url}),
                                          engine.now_ms())
            if first is not None:  # a concurrent twin recorded its session first
                if first.request_hash != idem.hash:
                    from credits.errors import IdempotencyKeyReused

                    raise IdempotencyKeyReused("This Idempotency-Key was already used with a different request.")
                return CheckoutStarted(first.result["session_id"], first.result["url"], replayed=True)
        return CheckoutStarted(session.id, session.url)

    def _record(self, session_id: str, user_id: str, bundle: Bundle, status: str) -> Purchase:
        # What was sold, as the customer saw it: verification later compares Stripe's session with this record.
        return Purchase(session_id, user_id, bundle.id, bundle.credits, bundle.unit_amount, bundle.currency, status,
                        iso(self.clock()), expires_after_days=bundle.expires_after_days)

    def purchase_status(self, user_id: str, session_id: str) -> Purchase:
        self.grants.engine.ensure_user(user_id)
        purchase = self.store.get_purchase(session_id) if 0 < len(session_id) <= 255 else None
        if purchase is None or purchase.user_id != user_id:
            raise NotFound(f"No purchase {session_id!r}.")  # another user's session looks like no session
        return purchase

    # --- webhook ----------------------------------------------------------------------------------------------
    def receive_webhook(self, payload: bytes, signature: str | None) -> str:
        """Verify the signature on the exact bytes, then apply the event. Returns what happened (for logs)."""
        event = verify_stripe_event(payload, signature, self._webhook_secret())
        return self.handle_event(event)

    def handle_event(self, event: dict[str, Any]) -> str:
        kind = event.get("type")
        data = event.get("data")
        obj = data.get("object") if isinstance(data, dict) else None
        object_id = obj.get("id") if isinstance(obj, dict) else None
        log = {"event_id": event.get("id"), "event_type": kind,
               "object_id": object_id[:MAX_STRIPE_ID] if isinstance(object_id, str) else None}
        if not isinstance(kind, str) or not isinstance(obj, dict) or not _stripe_id(object_id):
            outcome = "ignored: malformed"
        elif kind in CHECKOUT_EVENTS:
            outcome = self.session_changed(object_id)
        elif kind in PAYMENT_EVENTS:
            outcome = self.payment_changed(_payment_intent_of(obj))
        elif kind in RECHARGE_EVENTS:
            outcome = self.intent_changed(object_id)
        else:
            outcome = "ignored: event type"
        if outcome.startswith("ignored"):
            count("WebhookIgnored")
        elif outcome == "duplicate":
            count("WebhookDuplicates")
        logger.info("stripe event handled", extra={**log, "outcome": outcome})
        return outcome

    def intent_changed(self, payment_intent: str) -> str:
        """``payment_intent.*``: only intents this service started as recharges credit anything (a Checkout
        payment's intent is credited by its session); acted on as Stripe has it now."""
        intent = self._retrieve(lambda: self.gateway.retrieve_payment_intent(payment_intent))
        if intent is None:
            return "ignored: unknown to Stripe"
        if (intent.get("metadata") or {}).get("kind") != "recharge" or self._recharges is None:
            return "ignored: not a recharge"
        return self.recharges.on_intent(intent)

    def session_changed(self, session_id: str) -> str:
        """Act on the session as Stripe's API reports it now (not on the event's copy)."""
        session = self._retrieve(lambda: self.gateway.retrieve_checkout_session(session_id))
        if session is None:
            return "ignored: unknown to Stripe"
        if not _is_ours(session):
            return "ignored: not ours"
        if session.get("status") == "complete" and session.get("payment_status") in PAID:
            return self.fulfil(session)
        if session.get("status") == "expired":
            return self._mark(session_id, "expired")
        if session.get("status") == "complete":
            # Completed but unpaid: an async method pending (stays pending), or it failed.
            failed = self._async_failed(session)
            return self._mark(session_id, "failed") if failed else self._record_pending(session)
        return "pending"

    def _async_failed(self, session: dict[str, Any]) -> bool:
        intent = session.get("payment_intent")
        intent_id = intent.get("id") if isinstance(intent, dict) else intent
        if not isinstance(intent_id, str):
            return False
        pi = self._retrieve(lambda: self.gateway.retrieve_payment_intent(intent_id))
        return bool(pi) and pi.get("status") in ("requires_payment_method", "canceled")

    def fulfil(self, session: dict[str, Any]) -> str:
        """Credit a paid session once: 'fulfilled', 'duplicate', 'ignored' (not one of ours) or 'mismatch'
        (ours, but it does not verify: nothing credited, logged, alarmed)."""
        record = self.store.get_purchase(str(session["id"]))
        checked = self._verify_session(session, record)
        if isinstance(checked, str):
            return self._mismatch(session, checked)
        purchase = checked
        intent = session.get("payment_intent")
        intent_id = intent.get("id") if isinstance(intent, dict) else intent
        now = self.clock()
        now_ms = int(now * 1000)
        expires_ms = (now_ms + purchase.expires_after_days * 86_400_000) if purchase.expires_after_days else None
        bundle = self.catalog.get(purchase.bundle)
        name = bundle.name if bundle else purchase.bundle
        grant = LiveGrant(new_id("gr", now), "paid", "purchase", purchase.credits, DEFAULT_PRIORITY, expires_ms,
                          now_ms, f"{name} bundle: {purchase.credits:,} credits", purchase.session_id)
        purchase = Purchase(**{**purchase.__dict__, "grant_id": grant.id})
        try:
            self.grants.fulfil_purchase(
                PurchaseFulfil(purchase, intent_id if isinstance(intent_id, str) else None), grant,
                {"session_id": purchase.session_id, "payment_intent": intent_id},
            )
        except PurchaseAlreadyFulfilled:
            self._save_card(session, purchase.user_id, intent_id)
            return "duplicate"
        except PurchaseMismatch:
            return self._mismatch(session, "the purchase record names another user or bundle")
        count("CreditsPurchased", purchase.credits)
        self._save_card(session, purchase.user_id, intent_id)
        return "fulfilled"

    def _save_card(self, session: dict[str, Any], user_id: str, intent_id: Any) -> None:
        """A session created to save the card (it has our customer): remember the card its payment used."""
        customer = session.get("customer")
        customer_id = customer.get("id") if isinstance(customer, dict) else customer
        if not isinstance(customer_id, str) or not isinstance(intent_id, str) or self._recharges is None:
            return
        intent = self.gateway.retrieve_payment_intent(intent_id)
        method = intent.get("payment_method")
        method_id = method.get("id") if isinstance(method, dict) else method
        if intent.get("setup_future_usage") == "off_session" and isinstance(method_id, str):
            self.recharges.save_card(user_id, customer_id, method_id)

    def payment_changed(self, payment_intent: str | None) -> str:
        """A refund or dispute of a payment changed: recompute its clawback from Stripe's state (clawbacks.py)."""
        from credits.clawbacks import recompute_clawback

        if not payment_intent:
            return "ignored: no payment intent"
        purchase = self.store.find_purchase_by_payment(payment_intent)
        if purchase is None and self._recharges is not None:
            # A refund or dispute of a recharge that is not credited yet (events out of order): credit it first.
            intent = self._retrieve(lambda: self.gateway.retrieve_payment_intent(payment_intent))
            if intent is not None and (intent.get("metadata") or {}).get("kind") == "recharge":
                self.recharges.on_intent(intent)
                purchase = self.store.find_purchase_by_payment(payment_intent)
        if purchase is None:
            purchase_or_outcome = self._purchase_from_stripe(payment_intent)
            if isinstance(purchase_or_outcome, str):
                return purchase_or_outcome
            purchase = purchase_or_outcome
        return recompute_clawback(self, purchase)

    def _purchase_from_stripe(self, payment_intent: str) -> Purchase | str:
        """A refund/dispute arrived before we fulfilled its purchase (events out of order, or a lost webhook): find
        the session at Stripe and fulfil it now if it verifies, so the clawback applies on top of it."""
        sessions = self._retrieve(lambda: self.gateway.list_sessions_for_payment(payment_intent))
        ours = [s for s in sessions or [] if _is_ours(s)]
        if not ours:
            return "ignored: not ours"
        session = ours[0]
        if session.get("status") == "complete" and session.get("payment_status") in PAID:
            if self.fulfil(session) == "mismatch":
                return "ignored: purchase failed verification"  # alarmed once; a retry would not change it
        purchase = self.store.find_purchase_by_payment(payment_intent)
        if purchase is None or not purchase.fulfilled_at:
            record = self.store.get_purchase(str(session["id"]))
            if record is not None and record.mismatch:
                return "ignored: purchase failed verification"
            # Paid later (async) or a transient gap: Stripe will deliver it again and then the purchase exists.
            raise TransientStoreError("The purchase for this payment is not fulfilled yet; retry later.")
        return purchase

    # --- internals --------------------------------------------------------------------------------------------
    def _retrieve(self, call: Callable[[], Any]) -> Any:
        """Stripe's object, or None when Stripe does not know it (a signed event about a made-up object)."""
        try:
            return call()
        except PaymentProviderError as exc:
            if getattr(exc, "http_status", None) == 404:
                return None
            raise

    def _verify_session(self, session: dict[str, Any], record: Purchase | None) -> Purchase | str:
        """Compare Stripe's session with what we sold (our record; else the session's own line items)."""
        meta = session.get("metadata") or {}
        user_id = record.user_id if record else meta.get("user_id")
        if not isinstance(user_id, str) or not user_id:
            return "no user in the purchase record or metadata"
        if meta.get("user_id") != user_id or meta.get("bundle") != (record.bundle if record else meta.get("bundle")):
            return "metadata does not match the purchase record"
        reference = session.get("client_reference_id")
        if reference is not None and reference != client_reference(user_id):
            return "client_reference_id does not match the user"
        if session.get("mode") not in (None, "payment"):
            return f"unexpected mode {session.get('mode')!r}"
        if record is None:
            sold = self._sold_by_line_items(session, str(meta.get("bundle", "")))
            if isinstance(sold, str):
                return sold
            record = self._record(str(session["id"]), user_id, sold, "pending")
        # amount_subtotal is before discounts and taxes: promotion codes and tax do not change what was sold.
        if session.get("amount_subtotal") != record.amount or session.get("currency") != record.currency:
            return (f"subtotal {session.get('amount_subtotal')} {session.get('currency')} does not match what was "
                    f"sold: {record.amount} {record.currency}")
        return record

    def _sold_by_line_items(self, session: dict[str, Any], bundle_id: str) -> Bundle | str:
        bundle = self.catalog.get(bundle_id)
        if bundle is None:
            return f"unknown bundle {bundle_id!r}"
        items = self.gateway.list_line_items(str(session["id"]))
        prices = [(i.get("price") or {}) for i in items]
        if len(items) != 1 or items[0].get("quantity") != 1 or prices[0].get("lookup_key") != bundle.lookup_key:
            return "line items do not match the bundle"
        unit = prices[0].get("unit_amount")
        if not isinstance(unit, int):
            return "line item has no unit amount"
        # The price of the bundle when the session was created (the catalog's credits for it).
        return Bundle(**{**bundle.model_dump(), "unit_amount": unit, "currency": prices[0].get("currency")})

    def _mismatch(self, session: dict[str, Any], why: str) -> str:
        count("FulfilmentMismatches")
        logger.error("checkout session NOT credited: verification failed",
                     extra={"session_id": session.get("id"), "reason": why})
        if session.get("id"):
            self.store.mark_mismatch(str(session["id"]), why, iso(self.clock()))
        return "mismatch"

    def _record_pending(self, session: dict[str, Any]) -> str:
        meta = session.get("metadata") or {}
        bundle = self.catalog.get(str(meta.get("bundle", "")))
        user_id = meta.get("user_id")
        if bundle is not None and isinstance(user_id, str) and user_id:
            self.store.put_purchase(self._record(str(session["id"]), user_id, bundle, "pending"))
        return "pending"

    def _mark(self, session_id: str, status: str) -> str:
        changed = self.store.set_purchase_status(session_id, status, iso(self.clock()))
        return status if changed else "unchanged"
