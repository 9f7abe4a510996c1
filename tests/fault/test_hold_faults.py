"""Scenario 2: holds placed, captured (all or part) and released with keys under faults, racing keyed consumes.

Afterwards, with faults off: every hold resolved once and as its client asked, ``held`` back to 0 (so no placement
made a second hold), captured credits in history once each as usage, and the ledger identities hold.
"""

from __future__ import annotations

import random
from functools import partial

from .schedule import Fault, RandomFaults
from .support import check_ledger
from .workload import (
    check_consumes,
    check_holds,
    consume_tasks,
    make_consumes,
    make_holds,
    run_concurrently,
    settle_consumes,
    settle_holds,
)

DDB_FAULTS = {Fault.LATENCY: 0.04, Fault.RESET_BEFORE_SEND: 0.02, Fault.DROP_AFTER_SEND: 0.03,
              Fault.TRUNCATE_RESPONSE: 0.02, Fault.DUPLICATE_REQUEST: 0.03}
EDGE_FAULTS = {Fault.RESET_BEFORE_SEND: 0.03, Fault.DROP_AFTER_SEND: 0.06, Fault.TRUNCATE_RESPONSE: 0.03}


def test_holds_and_consumes_under_faults_resolve_once_and_return_held_to_zero(api, faults, user):
    rng = random.Random(2)
    bought = api.fund(user)
    holds = make_holds(rng, "holds", 28, amounts=(10, 60))
    consumes = make_consumes(rng, "holds-spend", keyed=16, unkeyed=0, duplicated=4, amounts=(5, 25))
    tasks = consume_tasks(api, user, consumes) + [partial(op.run, api, user) for op in holds]

    with faults.inject(ddb=RandomFaults(DDB_FAULTS, seed=21), edge=RandomFaults(EDGE_FAULTS, seed=22),
                       label="holds + consumes") as window:
        run_concurrently(tasks, rng, threads=12)
    settle_consumes(api, user, consumes)
    settle_holds(api, user, holds)

    bal, entries = check_ledger(api, user, expect_held=0)
    spends = check_consumes(consumes, entries)
    outcome = check_holds(api, user, holds, entries, {op.description for op in consumes})
    spent = sum(op.amount for op in consumes if any(e["description"] == op.description for e in entries))
    captured = sum(op.captured for op in holds if op.hold_id is not None)
    assert bal["balance"] == bal["available"] == bought - spent - captured
    server_errors = [e for e in api.tally.server_errors if e[1] != 503 or e[2] != "temporarily_unavailable"]
    assert not server_errors, f"5xx other than 503 temporarily_unavailable: {server_errors}"
    assert outcome["placed"] > 0 and outcome["captured"] > 0 and outcome["released"] > 0
    # A capture/release resent with its key after an unknown outcome is replayed, never refused 409.
    assert outcome["lost_replays"] == 0, outcome
    window.notes += [
        f"holds placed {outcome['placed']}, captured {outcome['captured']}, released {outcome['released']}, "
        f"refused {outcome['refused']}; captures/releases whose retry was refused 409 hold_not_pending although "
        f"their own earlier attempt had applied: {outcome['lost_replays']}",
        spends.describe(),
        f"answers: {api.tally.describe()}",
    ]
    assert all(window.ddb.injected.get(kind, 0) > 0 for kind in DDB_FAULTS), f"not every kind fired: {window.ddb}"
    assert all(window.edge.injected.get(kind, 0) > 0 for kind in EDGE_FAULTS), f"edge kinds missing: {window.edge}"
