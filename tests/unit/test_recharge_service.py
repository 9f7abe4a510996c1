"""Auto-recharge's policy (``RechargeService.consider``) and what ``view`` shows, one case each.

In-memory store, the fake Stripe of ``recharge_world`` and an injected clock. The policy (docs/api.md, "Alerts and
auto-recharge"): a recharge starts when a qualifying change leaves ``available`` below the threshold while the status is
``active``, none is in flight, fewer than ``monthly_limit`` started this UTC month, and the last failure is older than
``RECHARGE_RETRY_SECONDS``; never while ``available < 0``.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from recharge_world import (
    AMOUNT,
    APRIL,
    CREDITS,
    DECLINED,
    DETACHED,
    HOUR,
    RETRY_SECONDS,
    SETTINGS,
    T0,
    World,
    make_world,
)

from credits.ids import iso_ms


@pytest.fixture
def w() -> World:
    world = make_world()
    world.ready()
    return world


def run(w: World, recharge_id: str | None) -> str:
    assert recharge_id is not None
    return w.service.execute(w.user, recharge_id)


def fail_once(w: World) -> None:
    """One recharge that the card declines (the card stays the one saved)."""
    w.stripe.outcomes[w.state().payment_method] = DECLINED
    assert run(w, w.trigger()) == "failed"


# --- the threshold ----------------------------------------------------------------------------------------------
def test_available_below_the_threshold_starts_a_recharge(w):
    recharge_id = w.trigger(available=SETTINGS.threshold - 1)
    assert recharge_id is not None and recharge_id.startswith("rc_")
    record = w.record(recharge_id)
    assert (record.status, record.bundle, record.credits, record.amount, record.currency) == (
        "requested", "standard", CREDITS, AMOUNT, "usd")
    assert record.created_ms == T0 and record.payment_intent is None
    assert w.state().in_flight == recharge_id and w.state().started == 1


def test_available_at_the_threshold_starts_nothing(w):
    assert w.trigger(available=SETTINGS.threshold) is None
    assert w.state().in_flight is None and w.state().started == 0


def test_available_above_the_threshold_starts_nothing(w):
    assert w.trigger(available=SETTINGS.threshold + 1_000) is None
    assert w.state().in_flight is None


def test_negative_available_starts_nothing(w):
    assert w.trigger(available=-1) is None
    assert w.trigger(available=0) is not None  # zero is below the threshold and not debt


# --- off, no card -------------------------------------------------------------------------------------------------
def test_disabled_in_the_settings_starts_nothing(w):
    assert w.trigger(settings=replace(SETTINGS, enabled=False)) is None
    assert w.state().in_flight is None


def test_disabled_in_the_stored_settings_starts_nothing_even_if_the_caller_says_enabled():
    """The start's own condition reads the settings item (the memory store's ``recharge_enabled``)."""
    w = make_world()
    w.save_card()
    assert w.trigger() is None
    assert w.state().in_flight is None


def test_no_saved_card_starts_nothing():
    w = make_world()
    w.enable()
    assert w.trigger() is None
    assert w.state() is None


def test_needs_payment_method_starts_nothing_until_a_new_card_is_saved(w):
    w.stripe.outcomes["pm_good"] = DETACHED
    assert run(w, w.trigger()) == "failed"
    assert w.state().needs_payment_method
    w.later(RETRY_SECONDS * 1000 * 2)  # pacing is over; the missing card still blocks
    assert w.trigger() is None
    w.save_card("pm_new", last4="1111")
    assert w.trigger() is not None


def test_unknown_bundle_starts_nothing(w):
    assert w.trigger(settings=replace(SETTINGS, bundle="no-such-bundle")) is None
    assert w.state().in_flight is None and w.state().started == 0


# --- in flight, monthly limit -------------------------------------------------------------------------------------
def test_a_recharge_in_flight_blocks_another(w):
    first = w.trigger()
    assert first is not None
    assert w.trigger() is None
    assert w.trigger(available=0) is None
    assert w.state().in_flight == first and w.state().started == 1


def test_a_settled_recharge_frees_the_next_one(w):
    assert run(w, w.trigger()) == "succeeded"
    assert w.state().in_flight is None
    assert w.trigger() is not None
    assert w.state().started == 2


def test_monthly_limit_reached_starts_nothing_more_this_month(w):
    limit = replace(SETTINGS, monthly_limit=2)
    for _ in range(2):
        assert run(w, w.trigger(settings=limit)) == "succeeded"
    assert w.trigger(settings=limit) is None
    assert w.state().started == 2


def test_monthly_limit_counts_failed_recharges_too(w):
    limit = replace(SETTINGS, monthly_limit=1)
    w.stripe.outcomes["pm_good"] = DECLINED
    assert run(w, w.trigger(settings=limit)) == "failed"
    w.later(RETRY_SECONDS * 1000)
    assert w.trigger(settings=limit) is None


def test_monthly_limit_resets_on_the_first_of_the_next_month_utc(w):
    limit = replace(SETTINGS, monthly_limit=1)
    assert run(w, w.trigger(settings=limit)) == "succeeded"
    w.at(APRIL - 1)
    assert w.trigger(settings=limit) is None
    w.at(APRIL)
    assert w.trigger(settings=limit) is not None
    assert (w.state().month, w.state().started) == ("2027-04", 1)


def test_raising_the_monthly_limit_allows_more_this_month(w):
    assert run(w, w.trigger(settings=replace(SETTINGS, monthly_limit=1))) == "succeeded"
    assert w.trigger(settings=replace(SETTINGS, monthly_limit=1)) is None
    assert w.trigger(settings=replace(SETTINGS, monthly_limit=2)) is not None


# --- failures: pacing and disabling -------------------------------------------------------------------------------
def test_after_a_failure_nothing_starts_until_retry_seconds_have_passed(w):
    fail_once(w)
    w.stripe.outcomes["pm_good"] = "succeeds"
    w.later(RETRY_SECONDS * 1000 - 1)
    assert w.trigger() is None
    w.later(1)
    assert w.trigger() is not None


def test_three_failures_in_a_row_disable_auto_recharge(w):
    for _ in range(3):
        fail_once(w)
        w.later(RETRY_SECONDS * 1000)
    assert w.state().failures == 3
    assert w.service.view(w.user, True)["status"] == "disabled_after_failures"
    w.later(RETRY_SECONDS * 1000 * 24)
    assert w.trigger() is None


def test_two_failures_then_a_success_start_the_count_over(w):
    for _ in range(2):
        fail_once(w)
        w.later(RETRY_SECONDS * 1000)
    w.stripe.outcomes["pm_good"] = "succeeds"
    assert run(w, w.trigger()) == "succeeded"
    assert w.state().failures == 0
    w.stripe.outcomes["pm_good"] = DECLINED
    for _ in range(2):
        w.later(RETRY_SECONDS * 1000)
        assert run(w, w.trigger()) == "failed"
    assert w.service.view(w.user, True)["status"] == "active"


def test_re_enable_resets_the_failure_count_and_the_pacing(w):
    for _ in range(3):
        fail_once(w)
        w.later(RETRY_SECONDS * 1000)
    assert w.trigger() is None
    w.service.re_enable(w.user)
    assert (w.state().failures, w.state().last_failure_ms) == (0, None)
    assert w.service.view(w.user, True)["status"] == "active"
    assert w.trigger() is not None


def test_re_enable_right_after_a_failure_lifts_the_pacing(w):
    fail_once(w)
    assert w.trigger() is None
    w.service.re_enable(w.user)
    assert w.trigger() is not None


def test_a_new_card_clears_the_failures_and_needs_payment_method(w):
    fail_once(w)
    fail_time = w.state().last_failure_ms
    assert fail_time == T0
    w.stripe.outcomes["pm_good"] = DETACHED
    w.later(RETRY_SECONDS * 1000)
    assert run(w, w.trigger()) == "failed"
    assert (w.state().failures, w.state().needs_payment_method) == (2, True)
    w.save_card("pm_other", brand="mastercard", last4="4444")
    state = w.state()
    assert (state.failures, state.needs_payment_method, state.last_failure_ms) == (0, False, None)
    assert state.payment_method == "pm_other"
    assert w.trigger() is not None  # no pacing either


# --- the view -----------------------------------------------------------------------------------------------------
def test_view_of_a_user_without_a_card():
    w = make_world()
    assert w.service.view(w.user, False) == {"recharges_this_month": 0, "payment_method": None, "status": "off",
                                             "last_failure": None}
    assert w.service.view(w.user, True)["status"] == "needs_payment_method"


def test_view_shows_the_card_brand_and_last4_only(w):
    w.save_card("pm_mc", brand="mastercard", last4="4444")
    view = w.service.view(w.user, True)
    assert view["payment_method"] == {"brand": "mastercard", "last4": "4444"}
    assert view["status"] == "active"
    assert "pm_mc" not in str(view)


def test_view_status_is_off_whenever_disabled_whatever_the_state(w):
    for _ in range(3):
        fail_once(w)
        w.later(RETRY_SECONDS * 1000)
    assert w.service.view(w.user, False)["status"] == "off"


def test_view_status_needs_payment_method_after_a_missing_card(w):
    w.stripe.outcomes["pm_good"] = DETACHED
    assert run(w, w.trigger()) == "failed"
    view = w.service.view(w.user, True)
    assert view["status"] == "needs_payment_method"
    assert view["last_failure"] == {"reason": "resource_missing", "at": iso_ms(T0)}


def test_view_counts_this_months_recharges_and_resets_next_month(w):
    assert run(w, w.trigger()) == "succeeded"
    w.later(HOUR)
    fail_once(w)
    assert w.service.view(w.user, True)["recharges_this_month"] == 2
    w.at(APRIL)
    assert w.service.view(w.user, True)["recharges_this_month"] == 0


def test_view_last_failure_has_the_decline_code_and_when(w):
    w.later(HOUR)
    fail_once(w)
    assert w.service.view(w.user, True)["last_failure"] == {"reason": DECLINED, "at": iso_ms(T0 + HOUR)}
    w.service.re_enable(w.user)
    assert w.service.view(w.user, True)["last_failure"] is None


def test_has_card(w):
    assert w.service.has_card(w.user)
    assert not w.service.has_card("someone-else")


def test_customer_is_created_once_and_reused():
    w = make_world()
    first = w.service.customer_for(w.user, "a@example.test")
    again = w.service.customer_for(w.user, "a@example.test")
    assert first == again
    assert w.stripe.calls["create_customer"] == 1
    assert w.service.customer_for("u2", None) != first


def test_a_customer_created_concurrently_elsewhere_wins_and_is_kept():
    """Two purchases race: the second store write keeps the first customer (and Stripe's key made it the same)."""
    w = make_world()
    w.store.set_customer(w.user, "cus_first", iso_ms(T0))
    assert w.service.customer_for(w.user, None) == "cus_first"
    assert w.store.set_customer(w.user, "cus_second", iso_ms(T0)) == "cus_first"
