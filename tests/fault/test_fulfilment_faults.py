"""Scenario 3: Checkout fulfilments under faults, each event redelivered several times at once.

The simulator delivers the signed webhook (and retries a 5xx a few times by itself); the test also resends every event
concurrently while faults are injected, then, as Stripe would, keeps resending an event until one delivery got a 2xx.
Afterwards, with faults off: each paid session credited exactly once, whatever the deliveries answered.
"""

from __future__ import annotations

import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from .schedule import Fault, RandomFaults
from .support import check_ledger
from .workload import run_concurrently

SESSIONS = 3
RESENDS = 3  # concurrent redeliveries per event, on top of the first delivery
DDB_FAULTS = {Fault.LATENCY: 0.04, Fault.RESET_BEFORE_SEND: 0.03, Fault.DROP_AFTER_SEND: 0.06,
              Fault.TRUNCATE_RESPONSE: 0.03, Fault.DUPLICATE_REQUEST: 0.04}


def test_fulfilments_redelivered_concurrently_under_faults_credit_each_session_once(api, faults, user):
    rng = random.Random(3)
    credits = next(b["credits"] for b in api.get_ok("/credits/bundles")["bundles"] if b["id"] == "standard")

    with faults.inject(ddb=RandomFaults(DDB_FAULTS, seed=31), label="purchases + redeliveries") as window:
        with ThreadPoolExecutor(SESSIONS) as pool:
            sessions = list(pool.map(lambda i: api.start_purchase(user, f"fulfil-{i}"), range(SESSIONS)))
        events = [api.pay(sid, deliver=False) for sid in sessions]
        deliveries = [lambda e=e: api.resend(e) for e in events for _ in range(1 + RESENDS)]
        run_concurrently(deliveries, rng, threads=10)
        # Stripe retries until an endpoint answers 2xx; so does the test (bounded), faults still on.
        for event_id in events:
            for _ in range(20):
                if any(s is not None and 200 <= s < 300 for s in api.delivery_statuses(event_id)):
                    break
                api.resend(event_id)
            else:
                raise AssertionError(f"no delivery of {event_id} was ever answered 2xx")

    attempts = Counter(
        "no answer" if s is None else str(s) for e in events for s in api.delivery_statuses(e)
    )
    bal, entries = check_ledger(api, user, expect_held=0)
    purchases = [e for e in entries if e["type"] == "purchase"]
    assert len(purchases) == SESSIONS, f"{SESSIONS} sessions paid, {len(purchases)} purchase entries: {purchases}"
    assert all(e["amount"] == credits for e in purchases), purchases
    references = [e["reference"] for e in purchases if e.get("reference") is not None]
    assert len(references) == len(set(references)) and set(references) <= set(sessions), references
    assert bal["balance"] == SESSIONS * credits
    for sid in sessions:
        assert api.get_ok(f"/credits/purchases/{sid}", user=user)["status"] == "fulfilled"
    window.notes += [
        f"{SESSIONS} sessions, {sum(attempts.values())} webhook deliveries answered {dict(attempts)}",
        f"answers: {api.tally.describe()}",
    ]
    assert all(window.ddb.injected.get(kind, 0) > 0 for kind in DDB_FAULTS), f"not every kind fired: {window.ddb}"
