"""One lost answer at a time, on purpose: the paths the random scenarios hit only by chance, made deterministic.

Between the service and DynamoDB, botocore resends a request whose answer was lost, with the same
``ClientRequestToken``: the spend must apply once and be acknowledged. Between the client and the service, the client
resends with its ``Idempotency-Key``: the contract says the first result comes back (capture and release included).
"""

from __future__ import annotations

import pytest

from .schedule import Fault, Scripted
from .support import check_ledger
from .workload import usage_by_description

DDB_LOST = [Fault.DROP_AFTER_SEND, Fault.TRUNCATE_RESPONSE, Fault.DUPLICATE_REQUEST, Fault.RESET_BEFORE_SEND]


@pytest.mark.parametrize("fault", DDB_LOST, ids=[f.value for f in DDB_LOST])
def test_consume_without_key_whose_transaction_answer_is_lost_applies_once_and_answers_200(fault, api, faults, user):
    bought = api.fund(user)
    with faults.inject(ddb=Scripted([fault], operations={"TransactWriteItems"}), label=fault.value) as window:
        answer = api.request("POST", "/credits/consume", user=user, json={"amount": 7, "description": "once"})
    assert window.ddb.injected == {fault: 1}
    assert answer.status == 200, answer
    bal, entries = check_ledger(api, user)
    assert [e["amount"] for e in usage_by_description(entries)["once"]] == [-7]
    assert bal["balance"] == bought - 7


def lose_next_answer(path_prefix: str) -> Scripted:
    """The service's next answer on a route, lost after the service finished (the client hears nothing)."""
    return Scripted([Fault.DROP_AFTER_SEND], operations=lambda op: op.startswith(f"POST {path_prefix}"))


def test_consume_whose_answer_is_lost_on_the_way_to_the_client_is_replayed_for_its_key(api, faults, user):
    bought = api.fund(user)
    body = {"amount": 11, "description": "lost answer"}
    with faults.inject(edge=lose_next_answer("/credits/consume"), label="consume") as window:
        first = api.request("POST", "/credits/consume", user=user, json=body, key="c-1")
    again = api.request("POST", "/credits/consume", user=user, json=body, key="c-1")
    assert window.edge.injected == {Fault.DROP_AFTER_SEND: 1}
    assert first.status is None and again.status == 200, (first, again)
    assert again.body is not None and again.body.get("replayed", True) is True
    bal, entries = check_ledger(api, user)
    found = usage_by_description(entries)["lost answer"]
    assert [e["amount"] for e in found] == [-11]
    assert bal["balance"] == bought - 11


def test_hold_whose_answer_is_lost_is_one_hold_when_retried_with_its_key(api, faults, user):
    api.fund(user)
    body = {"amount": 40, "ttl_seconds": 600}
    with faults.inject(edge=lose_next_answer("/credits/holds"), label="hold"):
        first = api.request("POST", "/credits/holds", user=user, json=body, key="h-1")
    again = api.request("POST", "/credits/holds", user=user, json=body, key="h-1")
    assert first.status is None and again.status in (200, 201), (first, again)
    assert again.body is not None
    check_ledger(api, user, expect_held=40)  # one hold of 40, not two
    assert api.hold(user, again.body["hold_id"])["status"] == "pending"


def _placed_hold(api, user: str, amount: int) -> str:
    placed = api.request("POST", "/credits/holds", user=user, json={"amount": amount, "ttl_seconds": 600})
    assert placed.status == 201 and placed.body is not None, placed
    return str(placed.body["hold_id"])




@pytest.mark.parametrize("action", ["capture", "release"])
def test_capture_or_release_whose_answer_is_lost_is_replayed_for_its_key(action, api, faults, user):
    bought = api.fund(user)
    hold_id = _placed_hold(api, user, 30)
    body = {"amount": 12} if action == "capture" else {}
    path = f"/credits/holds/{hold_id}/{action}"
    with faults.inject(edge=lose_next_answer(path), label=action) as window:
        first = api.request("POST", path, user=user, json=body, key=f"{action}-1")
    assert window.edge.injected == {Fault.DROP_AFTER_SEND: 1}
    assert first.status is None
    # The resolution applied once, whatever the retry answers.
    bal, _ = check_ledger(api, user, expect_held=0)
    assert bal["balance"] == bought - (12 if action == "capture" else 0)
    again = api.request("POST", path, user=user, json=body, key=f"{action}-1")
    assert again.status == 200, f"resent with its key after a lost answer: {again}"
    assert again.body is not None and again.body["status"] == ("captured" if action == "capture" else "released")
