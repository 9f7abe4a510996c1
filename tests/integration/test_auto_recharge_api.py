"""Auto-recharge end to end through the local stack, the change path and the Stripe simulator's test cards."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

SK = {"Authorization": "Bearer sk_test_inspect"}
ENABLE = {"auto_recharge": {"enabled": True, "threshold": 500, "bundle": "standard", "monthly_limit": 5}}


def buy_saving_card(stack: Any, http: Any, user: str, card: str = "4242424242424242") -> dict[str, Any]:
    started = http.post(stack.url("/credits/purchase"), json={"bundle": "standard", "save_payment_method": True},
                        headers=stack.headers(user, **{"Idempotency-Key": f"save-{user}"}))
    assert started.status_code == 200, started.text
    paid = http.post(stack.url(f"/_stripe/checkout/{started.json()['session_id']}/pay"), json={"card": card})
    assert paid.status_code == 200, paid.text
    return paid.json()


def settings(stack: Any, http: Any, user: str) -> dict[str, Any]:
    r = http.get(stack.url("/credits/settings"), headers=stack.headers(user))
    assert r.status_code == 200, r.text
    return r.json()["auto_recharge"]


def balance(stack: Any, http: Any, user: str) -> dict[str, Any]:
    return http.get(stack.url("/credits/balance"), headers=stack.headers(user)).json()


def spend(stack: Any, http: Any, user: str, amount: int) -> Any:
    return http.post(stack.url("/credits/consume"), json={"amount": amount}, headers=stack.headers(user))


def wait_for(predicate: Any, seconds: float = 10.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    return predicate()


def recharge_events(stack: Any, user: str) -> list[dict[str, Any]]:
    return [e for e in stack.stack.change_path.events(user) if e["type"].startswith("credits.recharge.")]


def test_enabling_without_a_saved_card_is_409_and_saves_nothing(stack, http, user):
    r = http.put(stack.url("/credits/settings"), json=ENABLE, headers=stack.headers(user))
    assert r.status_code == 409 and r.json()["error"]["code"] == "payment_method_required"
    assert settings(stack, http, user)["enabled"] is False


def test_a_saved_card_refills_the_balance_within_seconds_once(stack, http, user):
    buy_saving_card(stack, http, user)
    s = settings(stack, http, user)
    assert s["payment_method"] == {"brand": "visa", "last4": "4242"} and s["status"] == "off"
    r = http.put(stack.url("/credits/settings"), json=ENABLE, headers=stack.headers(user))
    assert r.status_code == 200 and r.json()["auto_recharge"]["status"] == "active", r.text
    assert spend(stack, http, user, 1600).status_code == 200  # 2000 -> 400: below 500
    refilled = wait_for(lambda: balance(stack, http, user)["available"] == 2400)
    assert refilled, balance(stack, http, user)
    time.sleep(1.0)  # the credit itself (2400 > 500) starts nothing, and nothing runs twice
    assert balance(stack, http, user)["available"] == 2400
    purchases = http.get(stack.url("/credits/history?type=purchase"), headers=stack.headers(user)).json()["items"]
    recharge = [p for p in purchases if (p["reference"] or "").startswith("pi_")]
    assert len(recharge) == 1 and recharge[0]["amount"] == 2000 and recharge[0]["grant_id"]
    grants = http.get(stack.url("/credits/grants?status=all"), headers=stack.headers(user)).json()["grants"]
    assert [g["category"] for g in grants if g["reference"] == recharge[0]["reference"]] == ["paid"]
    events = wait_for(lambda: recharge_events(stack, user))
    assert [(e["type"], e["data"]["credits"]) for e in events] == [("credits.recharge.succeeded", 2000)]
    fulfilled = [e for e in stack.stack.change_path.events(user) if e["type"] == "credits.purchase.fulfilled"
                 and e["data"]["payment_intent"] == recharge[0]["reference"]]
    assert len(fulfilled) == 1 and fulfilled[0]["data"]["session_id"] is None
    assert settings(stack, http, user)["recharges_this_month"] == 1


def test_an_off_session_card_that_needs_authentication_fails_is_paced_and_disables_after_three(stack, http, user):
    buy_saving_card(stack, http, user, card="4000002760003184")  # Checkout succeeds after 3D Secure
    assert http.put(stack.url("/credits/settings"), json={"auto_recharge": {**ENABLE["auto_recharge"],
                    "monthly_limit": 10}}, headers=stack.headers(user)).status_code == 200
    assert spend(stack, http, user, 1600).status_code == 200
    first = wait_for(lambda: recharge_events(stack, user))
    assert [(e["type"], e["data"]["reason"]) for e in first] == [("credits.recharge.failed", "authentication_required")]
    assert balance(stack, http, user)["available"] == 400  # a failed recharge credits nothing
    assert spend(stack, http, user, 1).status_code == 200  # within RECHARGE_RETRY_SECONDS: no new attempt
    time.sleep(0.8)
    assert len(recharge_events(stack, user)) == 1
    for n in (2, 3):
        time.sleep(2.1)  # past the pacing: the next qualifying write retries
        assert spend(stack, http, user, 1).status_code == 200
        assert wait_for(lambda n=n: len(recharge_events(stack, user)) == n), recharge_events(stack, user)
    s = settings(stack, http, user)
    assert s["status"] == "disabled_after_failures" and s["enabled"] is True
    assert s["last_failure"]["reason"] == "authentication_required"
    time.sleep(2.1)
    spend(stack, http, user, 1)
    time.sleep(1.0)
    assert len(recharge_events(stack, user)) == 3  # disabled: nothing more
    again = http.put(stack.url("/credits/settings"), json={"auto_recharge": {"enabled": True}},
                     headers=stack.headers(user))
    assert again.json()["auto_recharge"]["status"] == "active"  # enabled: true again resets the count
    assert wait_for(lambda: len(recharge_events(stack, user)) == 4)  # and, below the threshold, tries at once


def test_a_declined_card_at_checkout_saves_nothing_and_credits_nothing(stack, http, user):
    started = http.post(stack.url("/credits/purchase"), json={"bundle": "standard", "save_payment_method": True},
                        headers=stack.headers(user)).json()
    paid = http.post(stack.url(f"/_stripe/checkout/{started['session_id']}/pay"),
                     json={"card": "4000000000009995"})
    assert paid.status_code == 402 and paid.json()["error"]["decline_code"] == "insufficient_funds"
    assert balance(stack, http, user)["balance"] == 0
    assert settings(stack, http, user)["payment_method"] is None


def test_a_402_refusal_below_the_threshold_is_a_qualifying_write_and_retries_a_recharge(stack, http, user):
    buy_saving_card(stack, http, user, card="4000002760003184")  # every off-session charge fails
    assert http.put(stack.url("/credits/settings"), json=ENABLE, headers=stack.headers(user)).status_code == 200
    assert spend(stack, http, user, 1600).status_code == 200  # 400 left: the first attempt fails
    assert wait_for(lambda: len(recharge_events(stack, user)) == 1)
    time.sleep(2.5)  # past the pacing; nothing retries by itself (no timed retries)
    assert len(recharge_events(stack, user)) == 1
    refused = spend(stack, http, user, 5000)
    assert refused.status_code == 402 and balance(stack, http, user)["available"] == 400
    assert wait_for(lambda: len(recharge_events(stack, user)) == 2), recharge_events(stack, user)  # the 402 retried
    assert settings(stack, http, user)["recharges_this_month"] == 2


def test_a_refusal_above_the_threshold_starts_nothing(stack, http, user):
    buy_saving_card(stack, http, user)
    assert http.put(stack.url("/credits/settings"), json={"auto_recharge": {**ENABLE["auto_recharge"],
                    "threshold": 100}}, headers=stack.headers(user)).status_code == 200
    assert spend(stack, http, user, 5000).status_code == 402  # 2,000 available: above the threshold
    time.sleep(1.0)
    assert balance(stack, http, user)["available"] == 2000
    assert settings(stack, http, user)["recharges_this_month"] == 0


@pytest.mark.timeout(120)
def test_thirty_two_concurrent_spenders_crossing_start_exactly_one_recharge(stack, http, user):
    buy_saving_card(stack, http, user)
    assert http.put(stack.url("/credits/settings"), json=ENABLE, headers=stack.headers(user)).status_code == 200
    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(lambda _: spend(stack, http, user, 50).status_code, range(32)))
    assert answers.count(200) == 32  # 2000 - 1600 = 400: every spend below 500 after the 30th crossing
    assert wait_for(lambda: balance(stack, http, user)["available"] == 2400, 20)
    time.sleep(1.5)
    purchases = http.get(stack.url("/credits/history?type=purchase"), headers=stack.headers(user)).json()["items"]
    assert len([p for p in purchases if (p["reference"] or "").startswith("pi_")]) == 1
    assert settings(stack, http, user)["recharges_this_month"] == 1


def test_redelivered_payment_intent_webhooks_credit_nothing_more_and_a_refund_claws_the_recharge_back(
        stack, http, user):
    buy_saving_card(stack, http, user)
    assert http.put(stack.url("/credits/settings"), json=ENABLE, headers=stack.headers(user)).status_code == 200
    assert spend(stack, http, user, 1600).status_code == 200
    assert wait_for(lambda: balance(stack, http, user)["available"] == 2400)
    purchases = http.get(stack.url("/credits/history?type=purchase"), headers=stack.headers(user)).json()["items"]
    (pi,) = [p["reference"] for p in purchases if (p["reference"] or "").startswith("pi_")]
    sent = http.get(stack.url("/_stripe/v1/events?type=payment_intent.succeeded&limit=100"), headers=SK).json()["data"]
    (event,) = [e for e in sent if e["data"]["object"]["id"] == pi]
    assert event["data"]["object"]["metadata"]["kind"] == "recharge"

    def resend(_: int) -> dict[str, Any]:
        r = http.post(stack.url(f"/_stripe/events/{event['id']}/resend"))
        assert r.status_code == 200, r.text
        return r.json()

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(resend, range(8)))
    assert all(a["status"] == 200 for a in answers), answers
    assert balance(stack, http, user)["available"] == 2400  # credited once, whatever the deliveries
    refunded = http.post(stack.url(f"/_stripe/payment_intents/{pi}/refund"), json={})
    assert refunded.status_code == 200, refunded.text
    assert wait_for(lambda: balance(stack, http, user)["available"] == 400)  # the recharge's 2,000 taken back
    entries = http.get(stack.url("/credits/history?type=refund"), headers=stack.headers(user)).json()["items"]
    assert [(e["amount"], e["reference"]) for e in entries] == [(-2000, pi)]
    # The clawback is a write that leaves `available` below the threshold, so it qualifies like any other: a new
    # recharge (the month's second) refills the balance with a new payment intent.
    assert wait_for(lambda: balance(stack, http, user)["available"] == 2400)
    assert settings(stack, http, user)["recharges_this_month"] == 2
