"""Holds through the local API: capture part or all, release, resolve once, expiry without a sweeper."""

from __future__ import annotations

import time
from typing import Any

import pytest


def place(stack: Any, http: Any, user: str, amount: int, ttl: int = 600) -> dict[str, Any]:
    r = http.post(stack.url("/credits/holds"), json={"amount": amount, "ttl_seconds": ttl}, headers=stack.headers(user))
    assert r.status_code == 201, r.text
    return r.json()


def bal(stack: Any, http: Any, user: str) -> dict[str, Any]:
    return http.get(stack.url("/credits/balance"), headers=stack.headers(user)).json()


def history(stack: Any, http: Any, user: str) -> list[dict[str, Any]]:
    return http.get(stack.url("/credits/history?limit=100"), headers=stack.headers(user)).json()["items"]


@pytest.fixture
def funded(stack, user):
    stack.seed(user, 100, "seed")
    return user


def test_hold_moves_available_to_held_without_a_history_entry(stack, http, funded):
    hold = place(stack, http, funded, 30)
    assert hold["status"] == "pending" and hold["amount"] == 30 and hold["available"] == 70
    b = bal(stack, http, funded)
    assert (b["balance"], b["available"], b["held"]) == (100, 70, 30)
    assert [e["type"] for e in history(stack, http, funded)] == ["adjustment"]


def test_partial_capture_writes_one_usage_entry_and_returns_the_rest(stack, http, funded):
    hold = place(stack, http, funded, 30)
    r = http.post(stack.url(f"/credits/holds/{hold['hold_id']}/capture"), json={"amount": 12},
                  headers=stack.headers(funded))
    assert r.status_code == 200
    body = r.json()
    assert (body["status"], body["captured"], body["released"], body["balance"], body["available"]) == (
        "captured", 12, 18, 88, 88)
    usage = [e for e in history(stack, http, funded) if e["type"] == "usage"]
    assert [(e["amount"], e["reference"]) for e in usage] == [(-12, hold["hold_id"])]
    got = http.get(stack.url(f"/credits/holds/{hold['hold_id']}"), headers=stack.headers(funded)).json()
    assert (got["status"], got["captured"], got["released"]) == ("captured", 12, 18)


def test_full_capture_defaults_to_the_hold_amount(stack, http, funded):
    hold = place(stack, http, funded, 30)
    body = http.post(stack.url(f"/credits/holds/{hold['hold_id']}/capture"), headers=stack.headers(funded)).json()
    assert (body["captured"], body["released"], body["balance"], body["available"]) == (30, 0, 70, 70)
    assert bal(stack, http, funded)["held"] == 0


def test_capture_of_zero_writes_no_entry(stack, http, funded):
    hold = place(stack, http, funded, 30)
    body = http.post(stack.url(f"/credits/holds/{hold['hold_id']}/capture"), json={"amount": 0},
                     headers=stack.headers(funded)).json()
    assert (body["captured"], body["released"], body["available"]) == (0, 30, 100)
    assert [e["type"] for e in history(stack, http, funded)] == ["adjustment"]


def test_capture_more_than_the_hold_is_400(stack, http, funded):
    hold = place(stack, http, funded, 30)
    r = http.post(stack.url(f"/credits/holds/{hold['hold_id']}/capture"), json={"amount": 31},
                  headers=stack.headers(funded))
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_request"
    assert bal(stack, http, funded)["held"] == 30


def test_release_returns_credits_and_a_hold_resolves_only_once(stack, http, funded):
    hold = place(stack, http, funded, 30)
    url = stack.url(f"/credits/holds/{hold['hold_id']}")
    r = http.post(url + "/release", headers=stack.headers(funded))
    assert r.status_code == 200
    assert (r.json()["status"], r.json()["released"], r.json()["available"]) == ("released", 30, 100)
    for action in ("/release", "/capture"):
        again = http.post(url + action, json={}, headers=stack.headers(funded))
        assert again.status_code == 409 and again.json()["error"]["code"] == "hold_not_pending"
    assert bal(stack, http, funded) | {"updated_at": None, "expiring": None} == {
        "user_id": funded, "balance": 100, "held": 0, "available": 100, "updated_at": None, "expiring": None}


def test_double_capture_is_409(stack, http, funded):
    hold = place(stack, http, funded, 30)
    url = stack.url(f"/credits/holds/{hold['hold_id']}/capture")
    assert http.post(url, json={"amount": 10}, headers=stack.headers(funded)).status_code == 200
    second = http.post(url, json={"amount": 10}, headers=stack.headers(funded))
    assert second.status_code == 409 and second.json()["error"]["code"] == "hold_not_pending"
    assert bal(stack, http, funded)["balance"] == 90


def test_expired_hold_gives_credits_back_at_once_and_cannot_be_captured(stack, http, funded):
    hold = place(stack, http, funded, 60, ttl=1)
    assert bal(stack, http, funded)["available"] == 40
    time.sleep(2.1)  # ttl is whole seconds; no sweeper runs in this test
    b = bal(stack, http, funded)
    assert (b["available"], b["held"], b["balance"]) == (100, 0, 100)
    got = http.get(stack.url(f"/credits/holds/{hold['hold_id']}"), headers=stack.headers(funded)).json()
    assert got["status"] == "expired"
    r = http.post(stack.url(f"/credits/holds/{hold['hold_id']}/capture"), json={}, headers=stack.headers(funded))
    assert r.status_code == 409 and r.json()["error"]["code"] == "hold_expired"
    # The expired hold's credits can really be spent, not just displayed.
    spend = http.post(stack.url("/credits/consume"), json={"amount": 100, "return_balance": True},
                      headers=stack.headers(funded))
    assert spend.status_code == 200 and spend.json()["balance"] == 0


def test_consume_settles_expired_holds_lazily(stack, http, funded):
    place(stack, http, funded, 100, ttl=1)
    time.sleep(2.1)
    r = http.post(stack.url("/credits/consume"), json={"amount": 70, "return_balance": True},
                  headers=stack.headers(funded))
    assert r.status_code == 200 and r.json()["available"] == 30
    assert bal(stack, http, funded)["held"] == 0


def test_sweeper_settles_expired_holds_of_all_users(stack, http, funded):
    hold = place(stack, http, funded, 10, ttl=1)
    time.sleep(2.1)
    assert stack.ledger.engine.sweep()["holds_tidied"] >= 1
    assert stack.ledger.store.get_hold(funded, hold["hold_id"]).status == "expired"
    assert stack.ledger.store.load_account(funded).held == 0


def test_hold_idempotency_key_returns_the_same_hold(stack, http, funded):
    headers = stack.headers(funded, **{"Idempotency-Key": "h1"})
    a = http.post(stack.url("/credits/holds"), json={"amount": 5}, headers=headers)
    b = http.post(stack.url("/credits/holds"), json={"amount": 5}, headers=headers)
    c = http.post(stack.url("/credits/holds"), json={"amount": 6}, headers=headers)
    assert a.json()["hold_id"] == b.json()["hold_id"]
    assert c.status_code == 409
    assert bal(stack, http, funded)["held"] == 5


def test_hold_without_enough_credits_is_402(stack, http, funded):
    r = http.post(stack.url("/credits/holds"), json={"amount": 101}, headers=stack.headers(funded))
    assert r.status_code == 402
    assert r.json()["error"] | {"message": ""} == {
        "code": "insufficient_credits", "message": "", "available": 100, "required": 101}


def test_another_users_hold_is_404_for_read_capture_and_release(stack, http, funded):
    hold = place(stack, http, funded, 10)
    intruder = stack.headers(funded + "-intruder")
    url = stack.url(f"/credits/holds/{hold['hold_id']}")
    assert http.get(url, headers=intruder).status_code == 404
    assert http.post(url + "/capture", json={}, headers=intruder).status_code == 404
    assert http.post(url + "/release", headers=intruder).status_code == 404
    assert bal(stack, http, funded)["held"] == 10
