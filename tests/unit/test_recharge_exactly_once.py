"""Auto-recharge charges once and credits once, whatever repeats, races or crashes; a failure credits nothing.

In-memory store, the fake Stripe of ``recharge_world`` (the same idempotency key answers the same PaymentIntent) and an
injected clock. Crashes are injected through ``recharge_world.CrashingStore`` (``set_payment_intent`` or the settling
commit raising once), as a Lambda timeout or a lost connection would leave things.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import pytest
from recharge_world import (
    AMOUNT,
    AUTH_REQUIRED,
    CREDITS,
    DECLINED,
    DETACHED,
    PROCESSING,
    SETTINGS,
    T0,
    Crash,
    CrashingStore,
    World,
    make_world,
)

from credits.catalog import Catalog, load_catalog
from credits.ids import iso_ms
from credits.recharge import MISSING_CARD_CODES, stripe_key

SEED = 300  # below the threshold (500): every trigger of these tests is a true one


@pytest.fixture
def w() -> World:
    world = make_world(CrashingStore())
    world.ready(SEED)
    return world


def started(w: World) -> str:
    recharge_id = w.trigger()
    assert recharge_id is not None
    return recharge_id


def credited_once(w: World, pi: str) -> None:
    """One purchase entry of the bundle referencing the intent, one paid grant, the balance up by the bundle once."""
    entries = w.purchases_of(pi)
    assert [e.amount for e in entries] == [CREDITS]
    grant = w.grants.grant(w.user, entries[0].grant_id)
    assert (grant.category, grant.source, grant.amount, grant.reference) == ("paid", "purchase", CREDITS, pi)
    assert len(w.entries("purchase")) == 1
    assert w.available() == SEED + CREDITS
    assert w.store.get_purchase(pi).fulfilled_at is not None


def nothing_credited(w: World) -> None:
    assert w.entries("purchase") == []
    assert w.available() == SEED


# --- one start per trigger ----------------------------------------------------------------------------------------
def test_the_same_trigger_twice_starts_one_recharge():
    w = make_world()
    w.ready(SEED)
    first = w.service.consider(w.user, SEED, "balance:v7", SETTINGS)
    assert first is not None
    assert w.service.consider(w.user, SEED, "balance:v7", SETTINGS) is None
    assert w.service.execute(w.user, first) == "succeeded"
    # Settled and no longer in flight: a redelivery of the same change still starts nothing (the record exists).
    assert w.service.consider(w.user, SEED, "balance:v7", SETTINGS) is None
    assert w.state().started == 1


def test_the_recharge_id_is_derived_from_the_user_and_the_trigger():
    a, b = make_world(), make_world()
    for world in (a, b):
        world.ready()
    first = a.service.consider(a.user, 0, "balance:42", SETTINGS)
    assert first == b.service.consider(b.user, 0, "balance:42", SETTINGS)
    other = make_world(user="u2")
    other.ready()
    assert other.service.consider("u2", 0, "balance:42", SETTINGS) not in (None, first)


def test_many_different_triggers_at_once_start_one_recharge(w):
    barrier = threading.Barrier(16)
    results: list[str | None] = []

    def spender(i: int) -> None:
        barrier.wait()
        results.append(w.service.consider(w.user, 10, f"balance:{i}", SETTINGS))

    threads = [threading.Thread(target=spender, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len([r for r in results if r is not None]) == 1
    assert w.state().started == 1


# --- one charge, one credit ----------------------------------------------------------------------------------------
def test_a_recharge_charges_the_saved_card_off_session_and_credits_the_bundle(w):
    recharge_id = started(w)
    assert w.service.execute(w.user, recharge_id) == "succeeded"
    record = w.record(recharge_id)
    intent = w.stripe.intents[record.payment_intent]
    assert (intent["amount"], intent["currency"], intent["payment_method"]) == (AMOUNT, "usd", "pm_good")
    assert intent["customer"] == w.state().customer_id
    assert intent["metadata"] == {"kind": "recharge", "recharge_id": recharge_id, "user_id": w.user,
                                  "bundle": "standard", "credits": str(CREDITS)}
    assert record.status == "succeeded" and w.state().in_flight is None
    credited_once(w, record.payment_intent)
    entry = w.purchases_of(record.payment_intent)[0]
    assert entry.extra == {"session_id": None, "payment_intent": record.payment_intent, "recharge_id": recharge_id}


def test_execute_twice_charges_and_credits_once(w):
    recharge_id = started(w)
    assert w.service.execute(w.user, recharge_id) == "succeeded"
    assert w.service.execute(w.user, recharge_id) == "succeeded"
    assert w.stripe.calls["charge_off_session"] == 1
    credited_once(w, w.record(recharge_id).payment_intent)


def test_execute_of_an_unknown_recharge_does_nothing(w):
    assert w.service.execute(w.user, "rc_unknown") == "unknown"
    assert w.stripe.calls["charge_off_session"] == 0


def test_the_webhook_after_execute_credits_nothing_more(w):
    recharge_id = started(w)
    w.service.execute(w.user, recharge_id)
    pi = w.record(recharge_id).payment_intent
    assert w.service.on_intent(w.stripe.retrieve_payment_intent(pi)) == "duplicate"
    credited_once(w, pi)


def test_the_webhook_first_then_execute_credits_once(w):
    """``payment_intent.succeeded`` lands between Stripe's answer and execute's own write."""
    recharge_id = started(w)
    outcomes: list[str] = []
    w.stripe.on_created = lambda intent: outcomes.append(w.service.on_intent(intent))
    assert w.service.execute(w.user, recharge_id) == "duplicate"
    assert outcomes == ["succeeded"]
    credited_once(w, w.record(recharge_id).payment_intent)


def test_execute_and_the_webhook_racing_in_threads_credit_once(w):
    """Stripe answered ``processing``; it then succeeds, and the webhook and a redelivered job settle together."""
    w.stripe.outcomes["pm_good"] = PROCESSING
    recharge_id = started(w)
    assert w.service.execute(w.user, recharge_id) == "processing"
    pi = w.record(recharge_id).payment_intent
    intent = w.stripe.settle_processing(pi, succeeded=True)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def webhook() -> None:
        barrier.wait()
        outcomes.append(w.service.on_intent(intent))

    def redelivery() -> None:
        barrier.wait()
        outcomes.append(w.service.execute(w.user, recharge_id))

    threads = [threading.Thread(target=webhook), threading.Thread(target=redelivery)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) in (["duplicate", "succeeded"], ["succeeded", "succeeded"])
    assert w.stripe.calls["charges_created"] == 1
    credited_once(w, pi)


def test_a_crash_after_stripe_answered_retries_into_the_same_payment_intent(w):
    recharge_id = started(w)
    w.store.crash_at.add("set_payment_intent")
    with pytest.raises(Crash):
        w.service.execute(w.user, recharge_id)
    assert w.record(recharge_id).payment_intent is None
    assert w.state().in_flight == recharge_id
    assert w.service.execute(w.user, recharge_id) == "succeeded"  # the queue's retry
    assert w.stripe.calls["charge_off_session"] == 2
    assert w.stripe.calls["charges_created"] == 1  # Stripe replayed the first answer for the same key
    assert len(w.stripe.intents) == 1
    credited_once(w, w.record(recharge_id).payment_intent)


def test_a_retry_after_a_crash_gets_the_same_intent_even_if_a_new_card_was_saved_meanwhile(w):
    recharge_id = started(w)
    w.store.crash_at.add("set_payment_intent")
    with pytest.raises(Crash):
        w.service.execute(w.user, recharge_id)
    w.save_card("pm_new", last4="0077")  # the user saves another card before the queue's retry
    assert w.service.execute(w.user, recharge_id) == "succeeded"
    assert w.stripe.calls["charges_created"] == 1
    credited_once(w, w.record(recharge_id).payment_intent)


def test_the_idempotency_key_is_derived_from_the_user_and_the_recharge():
    assert stripe_key("u1", "rc_1") == stripe_key("u1", "rc_1")
    assert len({stripe_key("u1", "rc_1"), stripe_key("u1", "rc_2"), stripe_key("u2", "rc_1")}) == 3
    assert len(stripe_key("u" * 200, "rc_" + "f" * 24)) <= 255  # Stripe's limit on keys


def test_a_crash_before_the_settling_write_is_settled_once_by_retry_stuck(w):
    recharge_id = started(w)
    w.store.crash_at.add("settle")
    with pytest.raises(Crash):
        w.service.execute(w.user, recharge_id)
    pi = w.record(recharge_id).payment_intent
    assert pi is not None and w.state().in_flight == recharge_id
    nothing_credited(w)
    assert w.service.retry_stuck() == []  # younger than ten minutes: the queue may still be retrying it
    w.later(600_000)
    assert w.service.retry_stuck() == [f"{recharge_id}:succeeded"]
    assert w.service.retry_stuck() == []
    assert w.stripe.calls["charges_created"] == 1
    credited_once(w, pi)


def test_retry_stuck_charges_a_recharge_whose_queue_message_was_lost(w):
    recharge_id = started(w)
    w.later(600_000)
    assert w.service.retry_stuck() == [f"{recharge_id}:succeeded"]
    credited_once(w, w.record(recharge_id).payment_intent)


def test_processing_then_the_succeeded_webhook_credits_once(w):
    w.stripe.outcomes["pm_good"] = PROCESSING
    recharge_id = started(w)
    assert w.service.execute(w.user, recharge_id) == "processing"
    assert w.state().in_flight == recharge_id
    assert w.trigger() is None  # still in flight
    pi = w.record(recharge_id).payment_intent
    nothing_credited(w)
    intent = w.stripe.settle_processing(pi, succeeded=True)
    assert w.service.on_intent(intent) == "succeeded"
    assert w.service.on_intent(intent) == "duplicate"
    assert w.service.execute(w.user, recharge_id) == "succeeded"
    credited_once(w, pi)


def test_a_recharge_of_a_bundle_whose_purchases_expire_gives_an_expiring_grant():
    """docs/api.md: bundles may carry ``expires_after_days``; their purchases' grants expire that long after
    fulfilment. A recharge is a purchase of the bundle."""
    raw = load_catalog().model_dump()
    raw["bundles"] = [{**b, "expires_after_days": 30} if b["id"] == "standard" else b for b in raw["bundles"]]
    w = make_world(catalog=Catalog.model_validate(raw))
    w.ready(SEED)
    recharge_id = started(w)
    w.service.execute(w.user, recharge_id)
    grant = w.grants.grant(w.user, w.purchases_of(w.record(recharge_id).payment_intent)[0].grant_id)
    assert grant.expires_at == iso_ms(T0 + 30 * 86_400_000)


# --- failures ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("outcome", "reason"), [(DECLINED, DECLINED), (AUTH_REQUIRED, AUTH_REQUIRED)])
def test_a_refused_card_fails_the_recharge_and_credits_nothing(w, outcome, reason):
    w.stripe.outcomes["pm_good"] = outcome
    recharge_id = started(w)
    assert w.service.execute(w.user, recharge_id) == "failed"
    record, state = w.record(recharge_id), w.state()
    assert (record.status, record.reason) == ("failed", reason)
    assert record.payment_intent is not None  # the refused intent is remembered
    assert (state.in_flight, state.failures, state.last_failure_reason, state.last_failure_ms) == (
        None, 1, reason, T0)
    assert not state.needs_payment_method
    assert w.service.view(w.user, True)["status"] == "active"
    nothing_credited(w)


def test_a_failed_recharge_is_not_charged_again_by_a_redelivery(w):
    w.stripe.outcomes["pm_good"] = DECLINED
    recharge_id = started(w)
    w.service.execute(w.user, recharge_id)
    assert w.service.execute(w.user, recharge_id) == "failed"
    assert w.service.on_intent(w.stripe.retrieve_payment_intent(w.record(recharge_id).payment_intent)) == "failed"
    assert w.stripe.calls["charge_off_session"] == 1
    assert w.state().failures == 1  # counted once
    nothing_credited(w)


def test_a_detached_card_fails_and_needs_a_payment_method(w):
    w.stripe.outcomes["pm_good"] = DETACHED
    recharge_id = started(w)
    assert w.service.execute(w.user, recharge_id) == "failed"
    record, state = w.record(recharge_id), w.state()
    assert (record.status, record.reason, record.payment_intent) == ("failed", "resource_missing", None)
    assert (state.in_flight, state.failures, state.needs_payment_method) == (None, 1, True)
    assert w.service.view(w.user, True)["status"] == "needs_payment_method"
    nothing_credited(w)


@pytest.mark.parametrize("code", MISSING_CARD_CODES)
def test_each_missing_card_code_sets_needs_payment_method(w, code):
    recharge_id = started(w)
    intent = {"id": None, "status": "requires_payment_method", "last_payment_error": {"code": code}}
    assert w.service.outcome(w.record(recharge_id), intent) == "failed"
    assert w.state().needs_payment_method
    assert w.record(recharge_id).reason == code


def test_a_canceled_intent_fails_the_recharge(w):
    w.stripe.outcomes["pm_good"] = PROCESSING
    recharge_id = started(w)
    w.service.execute(w.user, recharge_id)
    intent = w.stripe.retrieve_payment_intent(w.record(recharge_id).payment_intent)
    assert w.service.on_intent({**intent, "status": "canceled"}) == "failed"
    assert (w.record(recharge_id).reason, w.state().in_flight) == ("canceled", None)
    nothing_credited(w)


def test_processing_then_the_failed_webhook_fails_and_frees_in_flight(w):
    w.stripe.outcomes["pm_good"] = PROCESSING
    recharge_id = started(w)
    w.service.execute(w.user, recharge_id)
    intent = w.stripe.settle_processing(w.record(recharge_id).payment_intent, succeeded=False)
    assert w.service.on_intent(intent) == "failed"
    assert (w.state().in_flight, w.state().failures, w.record(recharge_id).reason) == (None, 1, DECLINED)
    nothing_credited(w)


@pytest.mark.parametrize("tamper", [{"amount_received": AMOUNT - 1}, {"currency": "eur"}])
def test_an_intent_whose_amount_or_currency_differs_credits_nothing(w, tamper):
    w.stripe.tamper = tamper
    recharge_id = started(w)
    assert w.service.execute(w.user, recharge_id) == "mismatch"
    pi = w.record(recharge_id).payment_intent
    assert w.service.on_intent(w.stripe.retrieve_payment_intent(pi)) == "mismatch"
    # Alarmed and ended as failed: auto-recharge is not blocked behind a recharge that can never settle.
    record, state = w.record(recharge_id), w.state()
    assert (record.status, record.reason, state.in_flight, state.failures) == ("failed", "amount_mismatch", None, 1)
    nothing_credited(w)


def test_a_recharge_switched_off_before_it_was_charged_charges_nothing(w):
    recharge_id = started(w)
    w.store.set_auto_recharge_enabled(w.user, False)
    assert w.service.execute(w.user, recharge_id) == "failed"
    assert w.stripe.calls["charges_created"] == 0
    assert (w.record(recharge_id).reason, w.state().in_flight) == ("auto_recharge_disabled", None)
    nothing_credited(w)


def test_an_intent_other_than_the_one_a_recharge_created_is_ignored(w):
    recharge_id = started(w)
    w.stripe.outcomes["pm_good"] = "processing"
    assert w.service.execute(w.user, recharge_id) == "processing"
    pi = w.record(recharge_id).payment_intent
    other = {**w.stripe.retrieve_payment_intent(pi), "id": "pi_someone_else", "status": "succeeded"}
    assert w.service.on_intent(other) == "ignored: not this recharge's payment intent"
    nothing_credited(w)


@pytest.mark.parametrize("meta", [{}, {"kind": "checkout", "user_id": "u1", "recharge_id": "rc_x"},
                                  {"kind": "recharge", "user_id": "u1"}, {"kind": "recharge", "recharge_id": "rc_x"}])
def test_an_intent_that_is_not_one_of_our_recharges_is_ignored(w, meta):
    started(w)
    outcome = w.service.on_intent({"id": "pi_other", "status": "succeeded", "amount_received": AMOUNT,
                                   "currency": "usd", "metadata": meta})
    assert outcome == "ignored: not a recharge"
    nothing_credited(w)


def test_an_intent_naming_an_unknown_recharge_is_ignored(w):
    outcome = w.service.on_intent({"id": "pi_other", "status": "succeeded", "amount_received": AMOUNT,
                                   "currency": "usd",
                                   "metadata": {"kind": "recharge", "user_id": w.user, "recharge_id": "rc_nope"}})
    assert outcome == "ignored: unknown recharge"
    nothing_credited(w)


def test_a_failure_after_the_success_changes_nothing(w):
    """A stale ``payment_failed`` delivered after the recharge was credited (out of order)."""
    recharge_id = started(w)
    w.service.execute(w.user, recharge_id)
    pi = w.record(recharge_id).payment_intent
    stale: dict[str, Any] = {**w.stripe.retrieve_payment_intent(pi), "status": "requires_payment_method",
                             "last_payment_error": {"code": "card_declined", "decline_code": DECLINED}}
    w.service.on_intent(stale)
    state = w.state()
    assert (w.record(recharge_id).status, state.failures, state.last_failure_reason) == ("succeeded", 0, None)
    credited_once(w, pi)


def test_a_card_saved_while_a_recharge_is_in_flight_keeps_it_in_flight(w):
    recharge_id = started(w)
    w.save_card("pm_new", last4="0005")
    assert w.state().in_flight == recharge_id
    assert w.trigger() is None
    assert w.service.execute(w.user, recharge_id) == "succeeded"
    credited_once(w, w.record(recharge_id).payment_intent)


def test_settings_passed_to_consider_are_the_recharge_bundle(w):
    recharge_id = w.service.consider(w.user, 0, "balance:starter", replace(SETTINGS, bundle="starter"))
    assert recharge_id is not None
    assert w.service.execute(w.user, recharge_id) == "succeeded"
    starter = load_catalog().get("starter")
    assert starter is not None
    assert w.available() == SEED + starter.credits
