"""A small in-memory ``PaymentGateway`` for unit tests of the purchase service, and a world that wires it.

It holds Checkout sessions, payment intents, refunds and disputes as Stripe's API would return them (only the fields
the service reads), so a test can produce what the local simulator refuses to: sessions paid with a promotion code or
with tax (``amount_total`` != ``amount_subtotal``), sessions made at an old price, refunds that end ``canceled``.
The service under test is the real ``PurchaseService`` on the in-memory store, built directly (no patching).
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from credits.adapters.memory import MemoryStore
from credits.catalog import Bundle, Catalog, load_catalog
from credits.engine import AccountEngine
from credits.errors import PaymentProviderError
from credits.grants import GrantService
from credits.ledger import Ledger
from credits.ports import CheckoutSessionRef
from credits.purchases import PurchaseService
from credits.stripe_events import client_reference

WEBHOOK_SECRET = "whsec_unit_tests_fake_gateway_secret_0000"
T0 = 1_800_000_000.0  # seconds


class NotAtStripe(PaymentProviderError):
    """What the real gateway raises for an object Stripe does not know (the service reads ``http_status``)."""

    http_status = 404


class FakeGateway:
    """The PaymentGateway methods PurchaseService and the clawback rule call, over plain dicts."""

    def __init__(self) -> None:
        self.sessions: dict[str, dict[str, Any]] = {}
        self.intents: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, list[dict[str, Any]]] = {}
        self.disputes: dict[str, list[dict[str, Any]]] = {}
        self.line_items: dict[str, list[dict[str, Any]]] = {}
        self._ids = itertools.count(1)

    def _id(self, prefix: str) -> str:
        return f"{prefix}_fake_{next(self._ids):04d}"

    # --- the port -------------------------------------------------------------------------------------------------
    def create_checkout_session(
        self, *, user_id: str, email: str | None, bundle: Bundle, success_url: str, cancel_url: str,
        idempotency_key: str | None, customer: str | None = None,
    ) -> CheckoutSessionRef:
        # The fields StripeGateway sends, and the amounts Stripe derives from the bundle's price as it is now.
        session_id = self._id("cs_test")
        metadata = {"user_id": user_id, "bundle": bundle.id, "credits": str(bundle.credits)}
        self.sessions[session_id] = {
            "id": session_id, "object": "checkout.session", "mode": "payment", "status": "open",
            "payment_status": "unpaid", "client_reference_id": client_reference(user_id), "metadata": metadata,
            "amount_subtotal": bundle.unit_amount, "amount_total": bundle.unit_amount, "currency": bundle.currency,
            "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0}, "discounts": [],
            "payment_intent": None, "customer": customer, "customer_email": email,
        }
        self.line_items[session_id] = [{"quantity": 1, "price": {"lookup_key": bundle.lookup_key,
                                                                 "unit_amount": bundle.unit_amount,
                                                                 "currency": bundle.currency}}]
        return CheckoutSessionRef(session_id, f"https://checkout.stripe.test/c/{session_id}")

    def retrieve_checkout_session(self, session_id: str) -> dict[str, Any]:
        if session_id not in self.sessions:
            raise NotAtStripe(f"No such checkout.session: {session_id}")
        return copy.deepcopy(self.sessions[session_id])

    def retrieve_payment_intent(self, payment_intent: str) -> dict[str, Any]:
        if payment_intent not in self.intents:
            raise NotAtStripe(f"No such payment_intent: {payment_intent}")
        return copy.deepcopy(self.intents[payment_intent])

    def list_refunds(self, *, payment_intent: str) -> list[dict[str, Any]]:
        return copy.deepcopy(self.refunds.get(payment_intent, []))

    def list_disputes(self, *, payment_intent: str) -> list[dict[str, Any]]:
        return copy.deepcopy(self.disputes.get(payment_intent, []))

    def list_sessions_for_payment(self, payment_intent: str) -> list[dict[str, Any]]:
        return [copy.deepcopy(s) for s in self.sessions.values() if s["payment_intent"] == payment_intent]

    def list_line_items(self, session_id: str) -> list[dict[str, Any]]:
        return copy.deepcopy(self.line_items.get(session_id, []))

    def list_completed_sessions(self, *, created_after: int) -> Iterator[dict[str, Any]]:
        return iter([copy.deepcopy(s) for s in self.sessions.values() if s["status"] == "complete"])

    def list_events(self, *, types: tuple[str, ...], created_gte: int) -> Iterator[dict[str, Any]]:
        return iter([])

    # --- what happens at Stripe (the test's side) -------------------------------------------------------------------
    def pay(self, session_id: str, *, discount: int = 0, tax: int = 0, **override: Any) -> str:
        """The customer pays the session (less a promotion code's ``discount``, plus ``tax``); answers the intent."""
        session = self.sessions[session_id]
        total = session["amount_subtotal"] - discount + tax
        intent = self._id("pi")
        self.intents[intent] = {"id": intent, "object": "payment_intent", "status": "succeeded",
                                "amount": total, "amount_received": total, "currency": session["currency"],
                                "metadata": dict(session["metadata"])}
        session.update({"status": "complete", "payment_status": "paid", "payment_intent": intent,
                        "amount_total": total,
                        "total_details": {"amount_discount": discount, "amount_shipping": 0, "amount_tax": tax}})
        if discount:
            session["discounts"] = [{"promotion_code": "promo_fake_SPRING", "coupon": None}]
        session.update(override)
        return intent

    def refund(self, payment_intent: str, amount: int, status: str = "succeeded") -> dict[str, Any]:
        refund = {"id": self._id("re"), "object": "refund", "amount": amount, "status": status,
                  "payment_intent": payment_intent, "currency": self.intents[payment_intent]["currency"]}
        self.refunds.setdefault(payment_intent, []).append(refund)
        return refund

    def set_refund_status(self, payment_intent: str, refund_id: str, status: str) -> None:
        next(r for r in self.refunds[payment_intent] if r["id"] == refund_id)["status"] = status


def event(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    return {"id": f"evt_fake_{obj.get('id')}_{type_}", "object": "event", "type": type_, "data": {"object": obj}}


@dataclass
class World:
    """The real purchase service on the in-memory store, with the fake gateway and a clock the test moves."""

    store: MemoryStore
    gateway: FakeGateway
    clock: list[float]
    engine: AccountEngine
    ledger: Ledger
    grants: GrantService
    purchases: PurchaseService
    catalog: Catalog = field(default_factory=load_catalog)

    def later(self, seconds: float) -> None:
        self.clock[0] += seconds

    def with_catalog(self, catalog: Catalog) -> PurchaseService:
        """Another instance of the service on the same store and gateway (a deploy with a changed catalog)."""
        return service(self.grants, self.store, self.gateway, catalog, self.clock)

    def entries(self, user: str, entry_type: str | None = None) -> list[Any]:
        out: list[Any] = []
        after = None
        while True:
            items, after = self.store.query_entries(user, entry_type, 100, after)
            out += items
            if after is None:
                return out


def service(grants: GrantService, store: MemoryStore, gateway: FakeGateway, catalog: Catalog,
            clock: list[float]) -> PurchaseService:
    return PurchaseService(grants, store, catalog, lambda: gateway, dashboard_url="https://app.example.test",
                           webhook_secret=lambda: WEBHOOK_SECRET, clock=lambda: clock[0])


def make_world(catalog: Catalog | None = None) -> World:
    catalog = catalog or load_catalog()
    store, gateway, clock = MemoryStore(), FakeGateway(), [T0]
    engine = AccountEngine(store, clock=lambda: clock[0], welcome=None)
    grants = GrantService(engine)
    ledger = Ledger(engine, feature_price=lambda _feature: None)
    return World(store, gateway, clock, engine, ledger, grants, service(grants, store, gateway, catalog, clock),
                 catalog)


def catalog_with(**changes: dict[str, Any]) -> Catalog:
    """The shipped catalog with some bundles changed (``standard={"unit_amount": 2490}``) or added."""
    base = load_catalog()
    bundles = [b.model_dump() for b in base.bundles]
    for bundle_id, change in changes.items():
        found = next((b for b in bundles if b["id"] == bundle_id), None)
        if found is None:
            bundles.append({"id": bundle_id, **change})
        else:
            found.update(change)
    return Catalog.model_validate({"bundles": bundles, "features": [f.model_dump() for f in base.features]})
