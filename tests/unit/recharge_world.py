"""Auto-recharge test support: a fake Stripe that honours idempotency keys like Stripe, and a memory-backed world.

``FakeStripe`` implements what ``RechargeService`` calls (``create_customer``, ``retrieve_payment_method``,
``charge_off_session``, ``retrieve_payment_intent``) and answers as ``credits.stripe_gateway`` does after its error
translation: a card refusal is a failed PaymentIntent (``requires_payment_method`` with ``last_payment_error``), a missing
or detached card an intent-less failure with Stripe's ``resource_missing``. The same idempotency key answers the same
response (Stripe replays the first result) and other parameters under it are refused, as Stripe does.

``CrashingStore`` is the in-memory store dying once at a named step (after Stripe answered, before the settling write).
``World`` is one user's service over the in-memory store (or any store given) with an injected clock: no sleeping, no
network.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from credits.adapters.memory import MemoryStore
from credits.catalog import Catalog, load_catalog
from credits.engine import AccountEngine
from credits.errors import PaymentProviderError
from credits.grants import GrantService
from credits.ledger import Ledger
from credits.ports import AccountWrite
from credits.recharge import RechargeService, RechargeSettings

T0 = int(datetime(2027, 3, 10, 12, 0, tzinfo=UTC).timestamp() * 1000)  # ms, mid-month
APRIL = int(datetime(2027, 4, 1, 0, 0, tzinfo=UTC).timestamp() * 1000)
HOUR = 3_600_000
RETRY_SECONDS = 3600
SETTINGS = RechargeSettings(enabled=True, threshold=500, bundle="standard", monthly_limit=5)
STANDARD = load_catalog().get("standard")
assert STANDARD is not None
CREDITS, AMOUNT = STANDARD.credits, STANDARD.unit_amount

# What a card does when charged off-session (set per payment method id).
SUCCEEDS, PROCESSING = "succeeds", "processing"
DECLINED = "insufficient_funds"  # card_declined with this decline_code
AUTH_REQUIRED = "authentication_required"
DETACHED = "detached"  # resource_missing: no PaymentIntent is created


class FakeStripe:
    def __init__(self) -> None:
        self.customers: dict[str, str] = {}  # idempotency key -> customer id
        self.methods: dict[str, dict[str, Any]] = {}
        self.outcomes: dict[str, str] = {}  # payment method -> what charging it does
        self.intents: dict[str, dict[str, Any]] = {}
        self._replies: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}  # key -> (params, first response)
        self.tamper: dict[str, Any] = {}  # fields overwritten in every new intent (a mismatch)
        self.calls: Counter[str] = Counter()
        # Runs after Stripe created an intent and before the caller sees the answer (a webhook racing the charge).
        self.on_created: Callable[[dict[str, Any]], None] | None = None

    # --- set-up ---------------------------------------------------------------------------------------------------
    def add_card(self, pm: str, brand: str = "visa", last4: str = "4242", outcome: str = SUCCEEDS) -> str:
        self.methods[pm] = {"id": pm, "object": "payment_method", "type": "card",
                            "card": {"brand": brand, "last4": last4, "exp_month": 12, "exp_year": 2030}}
        self.outcomes[pm] = outcome
        return pm

    def settle_processing(self, pi: str, succeeded: bool) -> dict[str, Any]:
        """A ``processing`` intent reaches its end (as Stripe would, later)."""
        intent = self.intents[pi]
        assert intent["status"] == "processing"
        if succeeded:
            intent.update(status="succeeded", amount_received=intent["amount"])
        else:
            intent.update(status="requires_payment_method",
                          last_payment_error={"code": "card_declined", "decline_code": DECLINED})
        return copy.deepcopy(intent)

    # --- what RechargeService calls --------------------------------------------------------------------------------
    def create_customer(self, *, user_id: str, email: str | None, idempotency_key: str) -> str:
        self.calls["create_customer"] += 1
        return self.customers.setdefault(idempotency_key, f"cus_{len(self.customers) + 1:04d}")

    def retrieve_payment_method(self, payment_method: str) -> dict[str, Any]:
        self.calls["retrieve_payment_method"] += 1
        return copy.deepcopy(self.methods[payment_method])

    def retrieve_payment_intent(self, payment_intent: str) -> dict[str, Any]:
        self.calls["retrieve_payment_intent"] += 1
        return copy.deepcopy(self.intents[payment_intent])

    def charge_off_session(
        self, *, amount: int, currency: str, customer: str, payment_method: str, metadata: dict[str, str],
        description: str, idempotency_key: str,
    ) -> dict[str, Any]:
        self.calls["charge_off_session"] += 1
        params = {"amount": amount, "currency": currency, "customer": customer, "payment_method": payment_method,
                  "metadata": dict(metadata), "description": description}
        if idempotency_key in self._replies:
            first, reply = self._replies[idempotency_key]
            if first != params:
                raise PaymentProviderError("an idempotency key was reused with different parameters")
            return copy.deepcopy(reply)
        self.calls["charges_created"] += 1
        reply = self._charge(params)
        self._replies[idempotency_key] = (params, copy.deepcopy(reply))
        if self.on_created is not None and reply.get("id"):
            self.on_created(copy.deepcopy(reply))
        return reply

    def _charge(self, params: dict[str, Any]) -> dict[str, Any]:
        outcome = self.outcomes.get(params["payment_method"], DETACHED)
        if outcome == DETACHED:
            return {"status": "requires_payment_method", "id": None,
                    "last_payment_error": {"code": "resource_missing", "decline_code": None}}
        pi = f"pi_{len(self.intents) + 1:04d}"
        intent: dict[str, Any] = {"id": pi, "object": "payment_intent", "amount": params["amount"],
                                  "amount_received": 0, "currency": params["currency"],
                                  "customer": params["customer"], "payment_method": params["payment_method"],
                                  "metadata": params["metadata"], "description": params["description"],
                                  "status": "processing", "last_payment_error": None}
        if outcome == SUCCEEDS:
            intent.update(status="succeeded", amount_received=params["amount"])
        elif outcome == DECLINED:
            intent.update(status="requires_payment_method",
                          last_payment_error={"code": "card_declined", "decline_code": DECLINED})
        elif outcome == AUTH_REQUIRED:
            intent.update(status="requires_payment_method",
                          last_payment_error={"code": AUTH_REQUIRED, "decline_code": AUTH_REQUIRED})
        intent.update(self.tamper)
        self.intents[pi] = intent
        return copy.deepcopy(intent)


class Crash(Exception):
    """A process dying mid-way (Lambda timeout, lost connection)."""


class CrashingStore(MemoryStore):
    """Raises once at the named step: ``set_payment_intent`` (after Stripe answered) or ``settle`` (the commit that
    credits the recharge, after the intent id was stored)."""

    def __init__(self) -> None:
        super().__init__()
        self.crash_at: set[str] = set()

    def set_payment_intent(self, user_id: str, recharge_id: str, payment_intent: str) -> None:
        if "set_payment_intent" in self.crash_at:
            self.crash_at.discard("set_payment_intent")
            raise Crash("died before storing the payment intent")
        super().set_payment_intent(user_id, recharge_id, payment_intent)

    def commit(self, write: AccountWrite) -> None:
        if write.recharge is not None and "settle" in self.crash_at:
            self.crash_at.discard("settle")
            raise Crash("died before the settling write")
        super().commit(write)


@dataclass
class World:
    store: Any
    stripe: FakeStripe
    clock: list[int]
    ledger: Ledger
    grants: GrantService
    service: RechargeService
    user: str = "u1"
    triggers: list[int] = field(default_factory=lambda: [0])

    def later(self, ms: int) -> None:
        self.clock[0] += ms

    def at(self, ms: int) -> None:
        self.clock[0] = ms

    def enable(self, user: str | None = None) -> None:
        """The settings item's ``recharge_enabled`` (the memory store's stand-in for the settings service)."""
        self.store.set_auto_recharge_enabled(user or self.user, True)

    def save_card(self, pm: str = "pm_good", outcome: str = SUCCEEDS, last4: str = "4242",
                  brand: str = "visa", user: str | None = None) -> None:
        self.stripe.add_card(pm, brand, last4, outcome)
        user = user or self.user
        customer = self.service.customer_for(user, None)
        self.service.save_card(user, customer, pm)

    def ready(self, credits: int = 0, **card: Any) -> None:
        """Auto-recharge on, a saved card, and ``credits`` to spend."""
        self.enable()
        self.save_card(**card)
        if credits:
            self.grants.create_grant(self.user, credits, idempotency_key=f"seed-{credits}",
                                     description="seed", source="adjustment", entry_type="adjustment")

    def trigger(self, available: int = 100, settings: RechargeSettings = SETTINGS) -> str | None:
        """A new qualifying change (its own trigger key)."""
        self.triggers[0] += 1
        return self.service.consider(self.user, available, f"balance:{self.triggers[0]}", settings)

    def available(self) -> int:
        return self.ledger.balance(self.user).available

    def entries(self, entry_type: str) -> list[Any]:
        out, after = [], None
        while True:
            items, after = self.store.query_entries(self.user, entry_type, 100, after)
            out += items
            if after is None:
                return out

    def purchases_of(self, pi: str | None) -> list[Any]:
        return [e for e in self.entries("purchase") if e.reference == pi]

    def state(self) -> Any:
        return self.store.state(self.user)

    def record(self, recharge_id: str) -> Any:
        return self.store.record(self.user, recharge_id)


def make_world(store: Any = None, *, catalog: Catalog | None = None, retry_seconds: int = RETRY_SECONDS,
               stripe: FakeStripe | None = None, user: str = "u1") -> World:
    store = store if store is not None else MemoryStore()
    clock = [T0]
    engine = AccountEngine(store, clock=lambda: clock[0] / 1000)
    grants = GrantService(engine)
    stripe = stripe or FakeStripe()
    service = RechargeService(store, grants, catalog or load_catalog(), lambda: stripe,
                              retry_seconds=retry_seconds, clock=lambda: clock[0] / 1000)
    return World(store, stripe, clock, Ledger(engine), grants, service, user)
