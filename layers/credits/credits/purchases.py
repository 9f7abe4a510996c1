"""Money in: start Checkout for a catalog bundle, and turn verified Stripe events into ledger movements once.

Every event is handled by an idempotent path keyed by Stripe's own ids (checkout session, refund, dispute), so any
number of deliveries, in any order, concurrently, move credits once. Verification comes before crediting: the
amount, currency and bundle must match the server-side catalog, and an existing record must name the same user.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from credits.catalog import Bundle, Catalog, load_catalog
from credits.dynamodb import PurchaseChanged, PurchaseMismatch
from credits.errors import NotFound, TransientStoreError, UnknownBundle, WebhookSignatureInvalid
from credits.ids import iso, new_id
from credits.models import Entry, Purchase
from credits.observability import count

if TYPE_CHECKING:
    from credits.ledger import Ledger
    from credits.ports import PaymentGateway

logger = Logger(service="credits")
CLAWBACK_ATTEMPTS = 5
# A refund moves credits once its money has really gone back; pending ones are applied by refund.updated later.
REFUND_APPLIES = ("succeeded",)


@dataclass(frozen=True)
class CheckoutStarted:
    session_id: str
    url: str


class PurchaseService:
    def __init__(
        self,
        ledger: Ledger,
        catalog: Catalog,
        gateway: Callable[[], PaymentGateway],
        *,
        dashboard_url: str,
        webhook_secret: Callable[[], str],
        reconcile_lookback_hours: int = 72,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.reconcile_lookback_hours = reconcile_lookback_hours
        self.ledger = ledger
        self.store = ledger.store
        self.catalog = catalog
        self._gateway = gateway  # built lazily: the status route never needs Stripe
        self.dashboard_url = dashboard_url.rstrip("/")
        self._webhook_secret = webhook_secret
        self.clock = clock

    # --- purchase ---------------------------------------------------------------------------------------------
    def start_checkout(
        self, user_id: str, bundle_id: str, *, email: str | None, idempotency_key: str | None
    ) -> CheckoutStarted:
        bundle = self.catalog.get(bundle_id)
        if bundle is None:
            known = ", ".join(b.id for b in self.catalog.bundles)
            raise UnknownBundle(f"Unknown bundle {bundle_id[:40]!r}; choose one of: {known}.")
        stripe_key = None
        if idempotency_key:
            # Scoped to user and bundle, so one user's key can never replay another's session.
            raw = f"{user_id}\x00{bundle.id}\x00{idempotency_key}".encode()
            stripe_key = "credits-purchase-" + hashlib.sha256(raw).hexdigest()
        session = self._gateway().create_checkout_session(
            user_id=user_id,
            email=email,
            bundle=bundle,
            success_url=f"{self.dashboard_url}/?success=true&session_id={{CHECKOUT_SESSION_ID}}",
            cancel_url=f"{self.dashboard_url}/?canceled=true",
            idempotency_key=stripe_key,
        )
        now = self.clock()
        self.store.put_purchase(
            Purchase(session.id, user_id, bundle.id, bundle.credits, bundle.unit_amount, bundle.currency,
                     "pending", iso(now))
        )
        logger.info("checkout started", extra={"session_id": session.id, "bundle": bundle.id})
        return CheckoutStarted(session.id, session.url)

    def purchase_status(self, user_id: str, session_id: str) -> Purchase:
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
        kind = event.get("type", "")
        obj = (event.get("data") or {}).get("object") or {}
        log = {"event_id": event.get("id"), "event_type": kind, "object_id": obj.get("id")}
        if kind == "checkout.session.completed":
            outcome = self.fulfil(obj) if obj.get("payment_status") in ("paid", "no_payment_required") else (
                self._record_pending(obj))
        elif kind == "checkout.session.async_payment_succeeded":
            outcome = self.fulfil(obj)
        elif kind == "checkout.session.async_payment_failed":
            outcome = self._mark(obj, "failed")
        elif kind == "checkout.session.expired":
            outcome = self._mark(obj, "expired")
        elif kind == "charge.refunded":
            outcome = self._refunds_for(obj.get("payment_intent"), obj.get("metadata") or {})
        elif kind in ("refund.created", "refund.updated", "charge.refund.updated"):
            outcome = self._refund(obj)
        elif kind == "charge.dispute.created":
            outcome = self._dispute(obj)
        else:
            outcome = "ignored"
        if outcome == "duplicate":
            count("WebhookDuplicates")
        logger.info("stripe event handled", extra={**log, "outcome": outcome})
        return outcome

    def fulfil(self, session: dict[str, Any]) -> str:
        """Credit a paid session once: 'fulfilled', 'duplicate', 'ignored' (not one of ours) or 'mismatch'
        (ours, but it does not verify: nothing credited, logged, alarmed)."""
        now = self.clock()
        purchase = self._checked_purchase(session, "fulfilled", now)
        if isinstance(purchase, str):
            return purchase
        bundle = self.catalog.get(purchase.bundle)
        assert bundle is not None  # _checked_purchase found it
        description = f"{bundle.name} bundle: {bundle.credits:,} credits"
        entry = Entry(new_id("tx", now), "purchase", bundle.credits, description, iso(now), session["id"])
        try:
            applied = self.store.fulfil_purchase(purchase, entry, session.get("payment_intent"))
        except PurchaseMismatch:
            return self._mismatch(session, "the purchase record names another user or bundle")
        if applied:
            count("CreditsPurchased", bundle.credits)
            return "fulfilled"
        return "duplicate"

    def reconcile(self, lookback_hours: int | None = None) -> dict[str, Any]:
        """Fulfil completed, paid sessions that no webhook fulfilled (lost or not yet delivered)."""
        since = int(self.clock()) - (lookback_hours or self.reconcile_lookback_hours) * 3600
        seen, fixed = 0, []
        for session in self._gateway().list_completed_sessions(created_after=since):
            if session.get("payment_status") not in ("paid", "no_payment_required"):
                continue
            if not _is_ours(session):
                continue
            seen += 1
            existing = self.store.get_purchase(session["id"])
            if existing is not None and (existing.fulfilled_at or existing.mismatch):
                continue  # done, or already alarmed once and waiting for a person
            if self.fulfil(session) == "fulfilled":
                fixed.append(session["id"])
                logger.warning("reconciliation fulfilled a session the webhook missed",
                               extra={"session_id": session["id"]})
        count("ReconciledSessions", len(fixed))
        return {"checked": seen, "fulfilled": fixed}

    # --- internals --------------------------------------------------------------------------------------------
    def _verify_session(self, session: dict[str, Any]) -> tuple[str, Bundle] | str:
        meta = session.get("metadata") or {}
        bundle = self.catalog.get(str(meta.get("bundle", "")))
        user_id = session.get("client_reference_id") or meta.get("user_id")
        if bundle is None:
            return f"unknown bundle {meta.get('bundle')!r}"
        if not user_id or (meta.get("user_id") and meta["user_id"] != user_id):
            return "no consistent user in client_reference_id / metadata"
        if session.get("amount_total") != bundle.unit_amount or session.get("currency") != bundle.currency:
            return (f"amount {session.get('amount_total')} {session.get('currency')} does not match the catalog's "
                    f"{bundle.unit_amount} {bundle.currency}")
        if session.get("mode") not in (None, "payment"):
            return f"unexpected mode {session.get('mode')!r}"
        return str(user_id), bundle

    def _mismatch(self, session: dict[str, Any], why: str) -> str:
        count("FulfilmentMismatches")
        logger.error("checkout session NOT credited: verification failed",
                     extra={"session_id": session.get("id"), "reason": why})
        if session.get("id"):
            self.store.mark_mismatch(str(session["id"]), why, iso(self.clock()))
        return "mismatch"

    def _record_pending(self, session: dict[str, Any]) -> str:
        purchase = self._checked_purchase(session, "pending", self.clock())
        if isinstance(purchase, str):
            return purchase
        self.store.put_purchase(purchase)
        return "pending"

    def _checked_purchase(self, session: dict[str, Any], status: str, now: float) -> Purchase | str:
        """The purchase a session stands for, or the outcome when it is not ours ('ignored') or fails ('mismatch')."""
        if not _is_ours(session):
            return "ignored"
        checked = self._verify_session(session)
        if isinstance(checked, str):
            return self._mismatch(session, checked)
        user_id, bundle = checked
        return Purchase(session["id"], user_id, bundle.id, bundle.credits, bundle.unit_amount, bundle.currency,
                        status, iso(now))

    def _mark(self, session: dict[str, Any], status: str) -> str:
        changed = self.store.set_purchase_status(str(session.get("id", "")), status, iso(self.clock()))
        return status if changed else "unchanged"

    def _purchase_for_payment(self, payment_intent: str | None, metadata: dict[str, Any]) -> Purchase | None:
        """The fulfilled purchase a refund/dispute belongs to; None when the payment is not one of ours.

        Refund and dispute objects carry no metadata, so an unknown payment is looked up at Stripe: if it is ours
        but not fulfilled yet (events out of order, or a webhook still to be reconciled), answer 503 so that
        Stripe delivers the event again later instead of the clawback being lost.
        """
        if not payment_intent:
            return None
        purchase = self.store.find_purchase_by_payment(payment_intent)
        if purchase is not None:
            return purchase
        if not (metadata.get("bundle") and metadata.get("user_id")):
            metadata = self._gateway().retrieve_payment_intent(payment_intent).get("metadata") or {}
        if metadata.get("bundle") and metadata.get("user_id"):
            raise TransientStoreError("The purchase for this payment is not fulfilled yet; retry later.")
        return None

    def _refunds_for(self, payment_intent: str | None, metadata: dict[str, Any]) -> str:
        if self._purchase_for_payment(payment_intent, metadata) is None or not payment_intent:
            return "ignored"
        # Each refund re-reads the purchase: the previous one just changed its totals.
        outcomes = [self._refund(r) for r in self._gateway().list_refunds(payment_intent=payment_intent)]
        return "refunded" if "refunded" in outcomes else ("duplicate" if outcomes else "ignored")

    def _refund(self, refund: dict[str, Any]) -> str:
        if refund.get("status") not in REFUND_APPLIES:
            return "ignored"
        purchase = self._purchase_for_payment(refund.get("payment_intent"), refund.get("metadata") or {})
        if purchase is None:
            return "ignored"
        amount = int(refund.get("amount") or 0)

        def totals(p: Purchase) -> tuple[int, int, str]:
            refunded = min(p.amount, p.refunded_amount + amount)
            full = refunded >= p.amount
            clawed = p.credits if full else p.credits * refunded // p.amount
            return refunded, max(clawed, p.credits_clawed_back), "refunded" if full else p.status

        return self._clawback(purchase, f"REFUND#{refund['id']}", totals, f"Refund {refund['id']}")

    def _dispute(self, dispute: dict[str, Any]) -> str:
        purchase = self._purchase_for_payment(dispute.get("payment_intent"), dispute.get("metadata") or {})
        if purchase is None:
            return "ignored"
        return self._clawback(
            purchase, f"DISPUTE#{dispute['id']}", lambda p: (p.refunded_amount, p.credits, "refunded"),
            f"Dispute {dispute['id']}",
        )

    def _clawback(
        self, purchase: Purchase, marker: str, totals: Callable[[Purchase], tuple[int, int, str]], label: str
    ) -> str:
        """Claw back credits once per refund/dispute; may take available below zero (debt, see README)."""
        for _ in range(CLAWBACK_ATTEMPTS):
            refunded, clawed_total, status = totals(purchase)
            delta = clawed_total - purchase.credits_clawed_back
            now = self.clock()
            entry = Entry(new_id("tx", now), "refund", -delta, f"{label}: {delta:,} credits clawed back", iso(now),
                          purchase.session_id) if delta else None
            try:
                applied = self.store.apply_clawback(purchase, marker_sk=marker, refunded_amount=refunded,
                                                    clawed_total=clawed_total, status=status, entry=entry,
                                                    now_iso=iso(now))
            except PurchaseChanged:
                fresh = self.store.get_purchase(purchase.session_id)
                if fresh is None:
                    raise TransientStoreError("The purchase vanished while applying a refund.") from None
                purchase = fresh
                continue
            if not applied:
                return "duplicate"
            count("CreditsRefunded", delta)
            return "refunded"
        raise TransientStoreError("The purchase kept changing while applying a refund; retry.")


def _is_ours(session: dict[str, Any]) -> bool:
    """Sessions this service created carry our bundle in metadata; others share the account and are ignored."""
    return bool((session.get("metadata") or {}).get("bundle"))


def verify_stripe_event(payload: bytes, signature: str | None, secret: str) -> dict[str, Any]:
    """Stripe's own verification (HMAC-SHA256 over ``t.payload``, 300 s tolerance) on the exact raw bytes."""
    import stripe

    if not signature:
        raise WebhookSignatureInvalid("Missing Stripe-Signature header.")
    try:
        event = stripe.Webhook.construct_event(payload.decode("utf-8"), signature, secret)
    except (stripe.SignatureVerificationError, ValueError, UnicodeDecodeError) as exc:
        raise WebhookSignatureInvalid("Invalid Stripe signature or payload.") from exc
    data: dict[str, Any] = event.to_dict()
    return data


def build_purchase_service(
    ledger: Ledger, gateway: PaymentGateway | None = None, *, receives_webhooks: bool = False
) -> PurchaseService:
    """Wire the service from validated config. Secrets are read (and cached) only when first needed.

    ``receives_webhooks``: the webhook function refuses to start without a signing secret source, so an
    unverified event can never be processed; the other functions never read that secret.
    """
    from credits.config import StripeConfig
    from credits.secrets import secret_value

    cfg = StripeConfig.from_env()
    cfg.require_api_key_source()
    if receives_webhooks:
        cfg.require_webhook_secret_source()
    dashboard = cfg.require_dashboard_url()
    cache: dict[str, Any] = {}

    def make_gateway() -> PaymentGateway:
        if gateway is not None:
            return gateway
        # secret_value is cached by Powertools for 5 minutes; a rotated key gets a new client, not a redeploy.
        key = secret_value(cfg.secret_key, cfg.secret_key_param)
        if cache.get("key") != key:
            from credits.stripe_gateway import StripeGateway

            cache["gateway"] = StripeGateway(key, api_base=cfg.api_base, catalog=load_catalog())
            cache["key"] = key
        return cache["gateway"]  # type: ignore[no-any-return]

    return PurchaseService(
        ledger,
        load_catalog(),
        make_gateway,
        dashboard_url=dashboard,
        webhook_secret=lambda: secret_value(cfg.webhook_secret, cfg.webhook_secret_param),
        reconcile_lookback_hours=cfg.reconcile_lookback_hours,
    )
