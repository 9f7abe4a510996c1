"""End to end through the local stack: HTTP writes -> DynamoDB Local stream -> poller -> events function ->
in-process bus and queue -> deliver function -> a receiver that verifies each POST with standardwebhooks."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

from standardwebhooks.webhooks import Webhook

from local.server import DEV_OUTBOUND_SECRET


def consume(stack: Any, http: Any, user: str, amount: int) -> int:
    return int(http.post(stack.url("/credits/consume"), json={"amount": amount},
                         headers=stack.headers(user)).status_code)


def thresholds(stack: Any, http: Any, user: str, values: list[int]) -> None:
    resp = http.put(stack.url("/credits/settings"), json={"alerts": {"thresholds": values}},
                    headers=stack.headers(user))
    assert resp.status_code == 200, resp.text


def local_events(stack: Any, http: Any, user: str) -> list[dict[str, Any]]:
    resp = http.get(stack.url(f"/_local/events?user_id={user}"))
    assert resp.status_code == 200
    return resp.json()["events"]  # type: ignore[no-any-return]


def test_a_spend_across_a_threshold_arrives_signed_within_seconds(stack, http, receiver, user):
    thresholds(stack, http, user, [100])
    stack.seed(user, 150, "seed")
    started = time.monotonic()
    assert consume(stack, http, user, 80) == 200
    (delivery,) = receiver.wait_for(1, timeout=10, user_id=user, event_type="credits.balance.low")
    assert delivery.arrived_at - started < 10
    # verified by the receiver; verified again here exactly as an operator's app would
    event = Webhook(DEV_OUTBOUND_SECRET).verify(delivery.body, delivery.headers)
    assert event["data"] == {"user_id": user, "available": 70, "threshold": 100}
    listed = local_events(stack, http, user)
    assert [(e["id"], e["type"]) for e in listed] == [(delivery.webhook_id, "credits.balance.low")]
    assert listed[0]["data"] == event["data"] and listed[0]["timestamp"] == event["timestamp"]


def test_spending_everything_is_depleted_once_and_recovery_rearms_the_alert(stack, http, receiver, user):
    thresholds(stack, http, user, [50])
    stack.seed(user, 100, "seed")
    assert consume(stack, http, user, 60) == 200  # low (50)
    assert consume(stack, http, user, 40) == 200  # depleted
    assert consume(stack, http, user, 1) == 402
    stack.seed(user, 100, "top up")  # back to 100: re-armed
    assert consume(stack, http, user, 70) == 200  # low again
    found = receiver.wait_for(3, timeout=10, user_id=user)
    time.sleep(0.5)
    assert [d.event["type"] for d in receiver.events(user_id=user)] == [
        "credits.balance.low", "credits.balance.depleted", "credits.balance.low"]
    assert len({d.webhook_id for d in found}) == 3


def test_a_purchase_and_its_refund_arrive_as_events(stack, http, receiver, user):
    sid = http.post(stack.url("/credits/purchase"), json={"bundle": "standard"},
                    headers=stack.headers(user)).json()["session_id"]
    pi = http.post(stack.url(f"/_stripe/checkout/{sid}/pay"), json={}).json()["payment_intent"]
    (fulfilled,) = receiver.wait_for(1, timeout=10, user_id=user, event_type="credits.purchase.fulfilled")
    assert {k: fulfilled.event["data"][k] for k in ("user_id", "session_id", "credits")} == {
        "user_id": user, "session_id": sid, "credits": 2000}
    assert http.post(stack.url(f"/_stripe/payment_intents/{pi}/refund"), json={"amount": 995}).status_code == 200
    (refunded,) = receiver.wait_for(1, timeout=10, user_id=user, event_type="credits.purchase.refunded")
    assert (refunded.event["data"]["credits_clawed_back"], refunded.event["data"]["session_id"]) == (1000, sid)


def test_32_concurrent_spenders_crossing_thresholds_yield_exactly_one_event_per_crossing(stack, http, receiver):
    users = [f"spend32-{i}-{time.monotonic_ns()}" for i in range(4)]
    levels = [300, 100]
    for u in users:
        thresholds(stack, http, u, levels)

    def round_of_spending() -> None:
        for u in users:
            stack.seed(u, 400, "fund")

        def spender(u: str) -> None:
            while consume(stack, http, u, 8) == 200:
                pass

        threads = [threading.Thread(target=spender, args=(u,)) for u in users for _ in range(8)]  # 32 spenders
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    round_of_spending()
    round_of_spending()  # refunded to 400: every threshold re-armed and crossed again
    expected = 4 * 2 * (len(levels) + 1)  # per user and round: two lows and one depleted
    receiver.wait_for(expected, timeout=30, match=lambda e: e["data"]["user_id"] in users)
    time.sleep(1.0)  # anything extra (a duplicate) would have arrived by now
    mine = [d for d in receiver.deliveries if d.verified and d.event["data"]["user_id"] in users]
    assert len(mine) == expected, Counter((d.event["data"]["user_id"], d.event["type"]) for d in mine)
    assert len({d.webhook_id for d in mine}) == expected
    per_user = Counter((d.event["data"]["user_id"], d.event["type"], d.event["data"].get("threshold")) for d in mine)
    assert set(per_user.values()) == {2}  # each (user, crossing) once per round
    assert all(sum(1 for e in local_events(stack, http, u)) == 6 for u in users)
