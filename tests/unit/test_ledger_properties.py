"""Stateful property test: random sequences of grants, purchases, consumes, holds, captures, releases, voids,
clawbacks/restores and clock jumps, on the real ledger and on the plain reference model (tests/ledger_model.py).

After every step every guarantee of docs/ledger.md is checked: conservation (balance = sum of entries = sum of the
grants' remaining + held - debt), every grant's own identity, no spend below zero, spend order (the per-grant
counters equal the model's, which spends grant by grant), holds resolving once, and ``expiring``.
It runs on the in-memory store here; tests/integration/test_ledger_properties_dynamodb.py runs it on DynamoDB Local.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, initialize, invariant, precondition, rule
from ledger_model import Model

from credits.adapters.memory import MemoryStore
from credits.engine import AccountEngine
from credits.errors import GrantNotActive, HoldExpired, HoldNotPending, InsufficientCredits
from credits.grant_lot import LiveGrant
from credits.grants import GrantService
from credits.ids import iso_ms, ms_of, new_id
from credits.ledger import Ledger
from credits.models import Purchase
from credits.ports import PurchaseClawback, PurchaseFulfil

START = 1_800_000_000_000
PRIORITIES = st.sampled_from([0, 10, 50, 50, 90])


class LedgerMachine(RuleBasedStateMachine):
    """``store_factory`` is swapped by the DynamoDB Local variant."""

    store_factory: Callable[[], Any] = MemoryStore

    grants_b = Bundle("grants")
    holds_b = Bundle("holds")
    purchases_b = Bundle("purchases")

    @initialize()
    def setup(self) -> None:
        self.now = START
        self.store = self.store_factory()
        self.engine = AccountEngine(self.store, clock=lambda: self.now / 1000)
        self.ledger = Ledger(self.engine, feature_price=lambda f: {"img": 5}.get(f))
        self.grants = GrantService(self.engine)
        self.user = new_id("u")
        self.model = Model(now_ms=self.now)
        self.keys = 0
        self.taken: dict[str, int] = {}  # purchase session -> credits clawed back now

    def key(self) -> str:
        self.keys += 1
        return f"k{self.keys}"

    # --- rules ------------------------------------------------------------------------------------------------------
    @rule(target=grants_b, amount=st.integers(1, 400), priority=PRIORITIES,
          expires_in=st.one_of(st.none(), st.integers(1, 120_000)))
    def grant(self, amount: int, priority: int, expires_in: int | None) -> str:
        expires_at = iso_ms(self.now + expires_in) if expires_in else None
        created = self.grants.create_grant(self.user, amount, idempotency_key=self.key(), priority=priority,
                                           expires_at=expires_at)
        gid = created.grant.grant_id
        self.model.add_grant(gid, amount, priority, ms_of(expires_at) if expires_at else None, self.now)
        self.now += 1  # "then the oldest": two grants of one millisecond have no defined order
        return gid

    @rule(target=purchases_b, credits=st.integers(1, 500), expires_in=st.one_of(st.none(), st.integers(1, 120_000)))
    def purchase(self, credits: int, expires_in: int | None) -> str:
        session = new_id("cs")
        record = Purchase(session, self.user, "standard", credits, 1000, "usd", "pending", iso_ms(self.now))
        self.store.put_purchase(record)
        expires_ms = self.now + expires_in if expires_in else None
        grant = LiveGrant(new_id("gr", self.now / 1000), "paid", "purchase", credits, 50, expires_ms, self.now,
                          "bundle", session)
        self.grants.fulfil_purchase(PurchaseFulfil(Purchase(**{**record.__dict__, "grant_id": grant.id}), "pi_" + session),
                                    grant, {"session_id": session})
        self.model.add_grant(grant.id, credits, 50, expires_ms, self.now)
        self.taken[session] = 0
        self.now += 1
        return session

    @rule(amount=st.integers(1, 300))
    def consume(self, amount: int) -> None:
        expected = self.model.consume(amount, self.now)
        try:
            self.ledger.consume(self.user, amount)
            assert expected, "the ledger spent what the model refused"
        except InsufficientCredits as exc:
            assert not expected, "the ledger refused what the model spent"
            assert exc.available == self.model.available

    @rule(quantity=st.integers(1, 20))
    def consume_feature(self, quantity: int) -> None:
        expected = self.model.consume(5 * quantity, self.now)
        try:
            self.ledger.consume(self.user, feature="img", quantity=quantity)
            assert expected
        except InsufficientCredits:
            assert not expected

    @rule(target=holds_b, amount=st.integers(1, 300), ttl=st.integers(1, 90))
    def hold(self, amount: int, ttl: int) -> str:
        try:
            placed = self.ledger.place_hold(self.user, amount, ttl, idempotency_key=self.key())
        except InsufficientCredits:
            assert not self.model.hold("x", amount, ttl, self.now)
            return "none"
        assert self.model.hold(placed.hold.hold_id, amount, ttl, self.now)
        return placed.hold.hold_id

    @rule(hold=consumes(holds_b), fraction=st.floats(0, 1), release=st.booleans())
    def resolve(self, hold: str, fraction: float, release: bool) -> None:
        if hold == "none":
            return
        amount = self.model.holds[hold].amount
        captured = 0 if release else int(amount * fraction)
        expected = self.model.resolve(hold, "released" if release else "captured", captured, self.now)
        try:
            if release:
                self.ledger.release_hold(self.user, hold)
            else:
                self.ledger.capture_hold(self.user, hold, captured)
            assert expected == "ok"
        except HoldExpired:
            assert expected == "expired"
        except HoldNotPending:
            assert expected in ("captured", "released")

    @rule(grant=grants_b)
    def void(self, grant: str) -> None:
        expected = self.model.void(grant, self.now)
        try:
            self.grants.void_grant(self.user, grant, "test void", idempotency_key=self.key())
            assert expected == "ok"
        except GrantNotActive:
            assert expected == "not_active"

    @rule(session=purchases_b, clawed=st.integers(0, 500))
    def clawback(self, session: str, clawed: int) -> None:
        """A refund, a dispute, a won dispute or a failed refund: the purchase's clawback moves to a new target."""
        purchase = self.store.get_purchase(session)
        assert purchase is not None and purchase.grant_id is not None
        clawed = min(clawed, purchase.credits)
        self.model.advance(self.now)
        own = self.model.grants[purchase.grant_id]
        target = max(0, clawed - own.expired - own.voided)

        def decide(grant: LiveGrant | None) -> tuple[PurchaseClawback, dict[str, Any]] | None:
            assert grant is not None and grant.id == purchase.grant_id
            real_target = max(0, clawed - grant.expired - grant.voided)
            assert real_target == target
            if real_target == purchase.credits_clawed_back:
                return None
            return PurchaseClawback(session, purchase.credits_clawed_back, real_target, "refunded", 0), {}

        moved = self.grants.apply_clawback(self.user, purchase.grant_id, decide, "Refund")
        assert moved == self.model.move_clawback(purchase.grant_id, self.taken[session], target, self.now)
        self.taken[session] = target

    @rule(ms=st.integers(1, 150_000))
    def advance(self, ms: int) -> None:
        self.now += ms

    @precondition(lambda self: hasattr(self, "store") and isinstance(self.store, MemoryStore))
    @rule()
    def sweep(self) -> None:
        self.engine.sweep()

    def teardown(self) -> None:
        from credits.observability import metrics

        metrics.clear_metrics()  # counts of thousands of operations; nothing flushes them here

    # --- invariants ---------------------------------------------------------------------------------------------------
    @invariant()
    def matches_the_model(self) -> None:
        m = self.model
        m.advance(self.now)
        balance = self.ledger.balance(self.user)
        assert (balance.available, balance.held) == (m.available, m.held)
        expiring = m.expiring()
        got = (balance.expiring.amount, ms_of(balance.expiring.at)) if balance.expiring else None
        assert got == expiring
        # Every grant, through the paged listing (small pages exercise the cursors).
        seen: dict[str, Any] = {}
        cursor = None
        while True:
            page = self.grants.list_grants(self.user, status="all", limit=3, cursor=cursor)
            for g in page.grants:
                assert g.grant_id not in seen, "a grant was listed twice"
                seen[g.grant_id] = g
            cursor = page.next_cursor
            if cursor is None:
                break
        assert set(seen) == set(m.grants)
        debt = max(0, -balance.available)
        for gid, g in seen.items():
            r = m.grants[gid]
            assert (g.remaining, g.spent, g.held, g.expired, g.voided, g.clawed_back, g.repaid_debt, g.restored) == (
                r.remaining, r.spent, r.held, r.expired, r.voided, r.clawed_back, r.repaid_debt, r.restored), gid
            assert g.status == r.status(self.now), gid
            assert g.amount + g.restored == (g.remaining + g.spent + g.held + g.expired + g.voided + g.clawed_back
                                             + g.repaid_debt)
            assert min(g.remaining, g.spent, g.held, g.expired, g.voided, g.clawed_back, g.repaid_debt) >= 0
            if debt:
                assert g.remaining == 0, "debt and grants with remaining credits never coexist"
        active = [g for g in seen.values() if g.status in ("active", "expired", "voided")]
        assert sum(g.remaining for g in active) + balance.held - debt == balance.balance
        # Conservation: the entries sum to the balance.
        total, after = 0, None
        while True:
            items, after = self.store.query_entries(self.user, None, 100, after)
            total += sum(e.amount for e in items)
            if after is None:
                break
        assert total == balance.balance == m.entries_total


LedgerMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=40, deadline=None,
                                           suppress_health_check=list(HealthCheck))
test_ledger_matches_the_reference_model = pytest.mark.filterwarnings("ignore")(LedgerMachine.TestCase)
