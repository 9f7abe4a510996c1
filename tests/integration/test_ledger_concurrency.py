"""Invariant 1 under load: through the local API on DynamoDB Local, credits are never overdrawn, lost or doubled."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

THREADS = 48


def all_entries(stack: Any, http: requests.Session, user: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = http.get(stack.url("/credits/history"), params=params, headers=stack.headers(user)).json()
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


def balance(stack: Any, http: requests.Session, user: str) -> dict[str, Any]:
    resp = http.get(stack.url("/credits/balance"), headers=stack.headers(user))
    assert resp.status_code == 200
    return resp.json()


def test_500_concurrent_consumes_of_1_against_100_credits_spend_exactly_100(stack, http, user):
    stack.seed(user, 100, "seed")
    headers = stack.headers(user)

    def consume(_: int) -> int:
        return http.post(stack.url("/credits/consume"), json={"amount": 1}, headers=headers).status_code

    with ThreadPoolExecutor(THREADS) as pool:
        statuses = Counter(pool.map(consume, range(500)))

    assert statuses == {200: 100, 402: 400}
    bal = balance(stack, http, user)
    assert (bal["balance"], bal["available"], bal["held"]) == (0, 0, 0)
    entries = all_entries(stack, http, user)
    assert sum(e["amount"] for e in entries) == bal["balance"]
    assert Counter(e["type"] for e in entries) == {"usage": 100, "adjustment": 1}


def test_holds_racing_consumes_never_overdraw_and_ledger_sums_to_balance(stack, http, user):
    stack.seed(user, 100, "seed")
    headers = stack.headers(user)

    def act(i: int) -> tuple[str, int, dict[str, Any]]:
        if i % 2:
            r = http.post(stack.url("/credits/consume"), json={"amount": 1}, headers=headers)
            return "consume", r.status_code, r.json()
        r = http.post(stack.url("/credits/holds"), json={"amount": 1, "ttl_seconds": 600}, headers=headers)
        return "hold", r.status_code, r.json()

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(act, range(300)))

    ok = Counter(kind for kind, status, _ in results if status in (200, 201))
    refused = [body for _, status, body in results if status == 402]
    assert ok["consume"] + ok["hold"] == 100
    assert len(refused) == 200 and all(b["error"]["code"] == "insufficient_credits" for b in refused)
    bal = balance(stack, http, user)
    assert (bal["available"], bal["held"]) == (0, ok["hold"])

    hold_ids = [body["hold_id"] for kind, status, body in results if kind == "hold" and status == 201]
    with ThreadPoolExecutor(THREADS) as pool:
        captures = list(pool.map(
            lambda h: http.post(stack.url(f"/credits/holds/{h}/capture"), json={}, headers=headers).status_code,
            hold_ids,
        ))
    assert captures == [200] * len(hold_ids)
    bal = balance(stack, http, user)
    assert (bal["balance"], bal["held"]) == (0, 0)
    assert sum(e["amount"] for e in all_entries(stack, http, user)) == 0


def test_20_concurrent_requests_with_one_idempotency_key_move_credits_once(stack, http, user):
    stack.seed(user, 50, "seed")
    headers = stack.headers(user, **{"Idempotency-Key": "order-42"})

    def consume(_: int) -> requests.Response:
        return http.post(stack.url("/credits/consume"), json={"amount": 5, "description": "x"}, headers=headers)

    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(consume, range(20)))

    assert [r.status_code for r in responses] == [200] * 20
    assert len({r.json()["transaction_id"] for r in responses}) == 1
    assert balance(stack, http, user)["balance"] == 45
    usage = [e for e in all_entries(stack, http, user) if e["type"] == "usage"]
    assert len(usage) == 1 and usage[0]["id"] == responses[0].json()["transaction_id"]


def test_same_idempotency_key_with_another_amount_is_409_and_changes_nothing(stack, http, user):
    stack.seed(user, 50, "seed")
    headers = stack.headers(user, **{"Idempotency-Key": "k-1"})
    first = http.post(stack.url("/credits/consume"), json={"amount": 5}, headers=headers)
    again = http.post(stack.url("/credits/consume"), json={"amount": 5}, headers=headers)
    other = http.post(stack.url("/credits/consume"), json={"amount": 6}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json()["transaction_id"] == first.json()["transaction_id"]
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"
    assert balance(stack, http, user)["balance"] == 45


def test_idempotency_keys_are_scoped_per_user(stack, http, user):
    other = user + "-b"
    for u in (user, other):
        stack.seed(u, 10, "seed")
    a = http.post(stack.url("/credits/consume"), json={"amount": 1}, headers=stack.headers(user, **{"Idempotency-Key": "same"}))
    b = http.post(stack.url("/credits/consume"), json={"amount": 2}, headers=stack.headers(other, **{"Idempotency-Key": "same"}))
    assert a.status_code == b.status_code == 200
    assert a.json()["transaction_id"] != b.json()["transaction_id"]
    assert balance(stack, http, other)["balance"] == 8
