"""Stateful property test of auto-recharge: random interleavings on the in-memory store with the fake Stripe.

Rules: spends (and 402 refusals) that trigger, redelivered triggers, executes (first runs and redeliveries), webhooks
(also of intents whose id was never stored), cards that succeed, decline, need authentication, vanish or stay
``processing`` until Stripe finishes them, crashes at the two dangerous points, ``retry_stuck``, re-enabling, new cards
and the clock moving (minutes to weeks, so months change).

After every step: at most one recharge in flight (and it is the state's ``in_flight``); never more started in a UTC month
than the limit; no recharge id started twice; Stripe created at most one PaymentIntent per recharge; each succeeded
recharge is credited exactly once and no failed one at all; no refused or processing intent credited; the balance is
the seed + the credited recharges − the spends. At the end, once Stripe has finished and the webhooks and reconciliation
have run, every PaymentIntent Stripe took money for is credited exactly once and nothing is left in flight.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from recharge_world import (
    AUTH_REQUIRED,
    CREDITS,
    DECLINED,
    DETACHED,
    HOUR,
    PROCESSING,
    SETTINGS,
    SUCCEEDS,
    Crash,
    CrashingStore,
    make_world,
)

from credits.errors import PaymentProviderError
from credits.recharge import MAX_FAILURES, month_of

SEED = 300  # below the threshold: the first qualifying change starts a recharge
LIMIT = 4
RETRY = 60  # seconds: short, so pacing, its end and three failures in a month all happen in a few steps
POLICY = replace(SETTINGS, monthly_limit=LIMIT)
OUTCOMES = st.sampled_from([SUCCEEDS, SUCCEEDS, DECLINED, AUTH_REQUIRED, DETACHED, PROCESSING])


class RechargeMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.store = CrashingStore()
        self.w = make_world(self.store, retry_seconds=RETRY)
        self.w.ready(SEED)
        self.user = self.w.user
        self.spent = 0
        self.triggers: list[str] = []
        self.started: list[str] = []
        self.cards = 1
        self.keys = 0

    # --- helpers ---------------------------------------------------------------------------------------------------
    def consider(self, trigger: str) -> None:
        before = self.w.state()
        now = self.w.clock[0]
        available = self.w.available()
        recharge_id = self.w.service.consider(self.user, available, trigger, POLICY)
        if recharge_id is None:
            return
        # A restatement of the policy, checked against the state just before the start.
        assert available < POLICY.threshold and available >= 0
        assert before.in_flight is None and before.payment_method and not before.needs_payment_method
        assert before.failures < MAX_FAILURES
        assert before.last_failure_ms is None or now - before.last_failure_ms >= RETRY * 1000
        assert recharge_id not in self.started, "a recharge id started twice"
        self.started.append(recharge_id)

    def records(self) -> list[Any]:
        return [r for r in (self.w.record(rid) for rid in self.started) if r is not None]

    def execute(self, recharge_id: str) -> None:
        try:
            self.w.service.execute(self.user, recharge_id)
        except (Crash, PaymentProviderError):
            pass  # the queue retries the message later (or reconciliation does)

    # --- the world's moves -----------------------------------------------------------------------------------------
    @initialize(outcome=OUTCOMES)
    def first_card_and_the_seed_write(self, outcome: str) -> None:
        self.w.stripe.outcomes["pm_good"] = outcome
        self.triggers.append("balance:seed")  # the seed grant left available below the threshold
        self.consider("balance:seed")

    @rule(amount=st.integers(1, 2_500))
    def spend_or_refuse(self, amount: int) -> None:
        self.keys += 1
        if amount <= self.w.available():
            self.w.ledger.consume(self.user, amount, idempotency_key=f"spend-{self.keys}")
            self.spent += amount
        trigger = f"balance:{self.keys}"  # a committed write, or a 402 refusal recorded with one small write
        self.triggers.append(trigger)
        self.consider(trigger)

    @rule(amount=st.integers(1, 2_500))
    def spend_then_the_queue_runs_the_recharge(self, amount: int) -> None:
        """The usual sequence in one step: a write, the change path's start, the recharge function's charge."""
        self.spend_or_refuse(amount)
        in_flight = self.w.state().in_flight
        if in_flight:
            self.execute(in_flight)

    @precondition(lambda self: self.triggers)
    @rule(data=st.data())
    def redelivered_trigger(self, data: st.DataObject) -> None:
        self.consider(data.draw(st.sampled_from(self.triggers)))

    @precondition(lambda self: self.w.state().in_flight)
    @rule()
    def queue_delivers(self) -> None:
        self.execute(self.w.state().in_flight)

    @precondition(lambda self: self.started)
    @rule(data=st.data())
    def queue_redelivers(self, data: st.DataObject) -> None:
        self.execute(data.draw(st.sampled_from(self.started)))

    @precondition(lambda self: self.w.stripe.intents)
    @rule(data=st.data())
    def webhook(self, data: st.DataObject) -> None:
        pi = data.draw(st.sampled_from(sorted(self.w.stripe.intents)))
        try:
            self.w.service.on_intent(self.w.stripe.retrieve_payment_intent(pi))
        except Crash:
            pass  # answered 5xx: Stripe delivers it again

    @precondition(lambda self: any(i["status"] == "processing" for i in self.w.stripe.intents.values()))
    @rule(data=st.data(), succeeded=st.booleans())
    def stripe_finishes_processing(self, data: st.DataObject, succeeded: bool) -> None:
        pending = sorted(pi for pi, i in self.w.stripe.intents.items() if i["status"] == "processing")
        self.w.stripe.settle_processing(data.draw(st.sampled_from(pending)), succeeded)

    @rule(outcome=OUTCOMES)
    def card_behaves(self, outcome: str) -> None:
        self.w.stripe.outcomes[self.w.state().payment_method] = outcome

    @rule(outcome=OUTCOMES)
    def new_card(self, outcome: str) -> None:
        self.cards += 1
        self.w.save_card(f"pm_{self.cards}", outcome=outcome)

    @rule()
    def re_enable(self) -> None:
        self.w.service.re_enable(self.user)

    @rule(step=st.sampled_from(["set_payment_intent", "settle"]))
    def next_write_crashes(self, step: str) -> None:
        self.store.crash_at.add(step)

    @rule()
    def reconcile(self) -> None:
        try:
            self.w.service.retry_stuck()
        except (Crash, PaymentProviderError):
            pass

    @rule(ms=st.sampled_from([1_000, 30_000, 60_000, HOUR, 20 * 86_400_000]))
    def time_passes(self, ms: int) -> None:
        self.w.later(ms)

    # --- invariants ------------------------------------------------------------------------------------------------
    @invariant()
    def recharges_hold_their_guarantees(self) -> None:
        records = self.records()
        state = self.w.state()
        # At most one in flight, and it is the state's in_flight.
        requested = [r.recharge_id for r in records if r.status == "requested"]
        assert len(requested) <= 1
        assert state.in_flight == (requested[0] if requested else None)
        # Never more than the monthly limit started in a UTC month; the state's count is this month's.
        per_month = Counter(month_of(r.created_ms) for r in records)
        assert all(n <= LIMIT for n in per_month.values()), per_month
        assert state.started == per_month.get(state.month or "", 0)
        assert state.failures <= MAX_FAILURES
        # One PaymentIntent per recharge at most (the idempotency key); credited once, and only for money taken.
        intents: dict[str, list[dict[str, Any]]] = {}
        for intent in self.w.stripe.intents.values():
            intents.setdefault(intent["metadata"]["recharge_id"], []).append(intent)
        purchases = self.w.entries("purchase")
        credited = Counter(e.extra.get("recharge_id") for e in purchases)
        succeeded = 0
        for r in records:
            mine = intents.get(r.recharge_id, [])
            assert len(mine) <= 1
            if r.status == "succeeded":
                succeeded += 1
                assert credited[r.recharge_id] == 1
                assert [i["status"] for i in mine] == ["succeeded"] and r.payment_intent == mine[0]["id"]
            else:
                assert credited[r.recharge_id] == 0
            if r.status == "failed":
                assert all(i["status"] != "succeeded" for i in mine), "charged but recorded as failed"
        assert all(e.amount == CREDITS for e in purchases) and len(purchases) == succeeded
        assert self.w.available() == SEED + succeeded * CREDITS - self.spent

    def teardown(self) -> None:
        """Stripe finishes, every webhook arrives, reconciliation runs: all money taken is credited once."""
        self.store.crash_at.clear()
        self.w.later(HOUR)
        self.reconcile()  # what never reached Stripe (a lost message) is charged now
        for pi, intent in list(self.w.stripe.intents.items()):
            if intent["status"] == "processing":
                self.w.stripe.settle_processing(pi, succeeded=True)
        for pi in sorted(self.w.stripe.intents):
            self.w.service.on_intent(self.w.stripe.retrieve_payment_intent(pi))
        self.w.later(HOUR)
        self.reconcile()
        purchases = self.w.entries("purchase")
        for pi, intent in self.w.stripe.intents.items():
            entries = [e for e in purchases if e.reference == pi]
            assert len(entries) == (1 if intent["status"] == "succeeded" else 0), (pi, intent["status"])
        assert self.w.state().in_flight is None
        self.recharges_hold_their_guarantees()


RechargeMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=60, deadline=None, derandomize=True,
                                             suppress_health_check=list(HealthCheck))
test_auto_recharge_random_interleavings = pytest.mark.filterwarnings("ignore")(RechargeMachine.TestCase)
