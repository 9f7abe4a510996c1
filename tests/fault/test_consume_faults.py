"""Scenario 1: concurrent consumes under each fault kind and under a mix, then every spend accounted for.

12 threads spend from one user (demand a little above the credits, so the last spends are refused) with keys, some
keys sent twice at once on purpose, and some spends without a key. Afterwards, with faults off: no spend moved
credits twice, every 200 is in history exactly once, a 402 moved nothing, an unanswered spend without a key applied
once or not at all, and balance = Σ history = the credits bought − Σ applied spends, never below zero.
"""

from __future__ import annotations

import random

import pytest

from .schedule import Fault, RandomFaults, Schedule
from .support import check_ledger
from .workload import check_consumes, consume_tasks, make_consumes, run_concurrently, settle_consumes

# Per DynamoDB request. Low enough that botocore's own retries (6 attempts, exponential backoff) usually win, so
# the scenario stays short; the outage test covers what happens when they all fail.
VARIANTS: dict[str, tuple[dict[Fault, float], dict[Fault, float]]] = {
    "latency": ({Fault.LATENCY: 0.3}, {}),
    "reset_before_send": ({Fault.RESET_BEFORE_SEND: 0.12}, {}),
    "drop_after_send": ({Fault.DROP_AFTER_SEND: 0.12}, {}),
    "truncate_response": ({Fault.TRUNCATE_RESPONSE: 0.12}, {}),
    "duplicate_request": ({Fault.DUPLICATE_REQUEST: 0.25}, {}),
    # Everything at once, and the service's answers lost on the way to the client as well.
    "mix": (
        {Fault.LATENCY: 0.05, Fault.RESET_BEFORE_SEND: 0.03, Fault.DROP_AFTER_SEND: 0.04,
         Fault.TRUNCATE_RESPONSE: 0.03, Fault.DUPLICATE_REQUEST: 0.05},
        {Fault.RESET_BEFORE_SEND: 0.04, Fault.DROP_AFTER_SEND: 0.06, Fault.TRUNCATE_RESPONSE: 0.03},
    ),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_concurrent_consumes_under_faults_move_each_spend_at_most_once(variant, api, faults, user):
    seed = sum(map(ord, variant))
    rng = random.Random(seed)
    bought = api.fund(user)
    ops = make_consumes(rng, variant, keyed=32, unkeyed=8, duplicated=6, amounts=(40, 80))
    assert sum(op.amount for op in ops) > bought + 150, "the demand must exceed the credits, or nothing is refused"
    ddb_faults, edge_faults = VARIANTS[variant]
    edge: Schedule | None = RandomFaults(edge_faults, seed=seed + 1) if edge_faults else None

    with faults.inject(ddb=RandomFaults(ddb_faults, seed=seed), edge=edge, label=variant) as window:
        run_concurrently(consume_tasks(api, user, ops), rng, threads=12)
    settled = settle_consumes(api, user, ops)

    bal, entries = check_ledger(api, user, expect_held=0)
    report = check_consumes(ops, entries)
    spent = sum(op.amount for op in ops if any(e["description"] == op.description for e in entries))
    assert bal["balance"] == bought - spent
    assert report.refused > 0, "demand exceeds the credits: some spends must have been refused"
    server_errors = [e for e in api.tally.server_errors if e[1] != 503 or e[2] != "temporarily_unavailable"]
    assert not server_errors, f"5xx other than 503 temporarily_unavailable: {server_errors}"
    window.notes += [report.describe(), f"client resent {settled} keyed spends after faults stopped",
                     f"answers: {api.tally.describe()}"]
    assert all(window.ddb.injected.get(kind, 0) > 0 for kind in ddb_faults), f"not every kind fired: {window.ddb}"
    assert all(window.edge.injected.get(kind, 0) > 0 for kind in edge_faults), f"edge kinds missing: {window.edge}"
