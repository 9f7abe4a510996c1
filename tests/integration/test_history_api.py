"""History paging through the local API: newest first, no duplicates or gaps, filters, cursor binding."""

from __future__ import annotations

import base64
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from credits import ids


@pytest.fixture(scope="module")
def busy_user(stack) -> tuple[str, int, int]:
    """A user with exactly 1,000 ledger entries: 1 seed + 399 adjustments + 600 usages."""
    user = "history-" + ids.ulid().lower()
    stack.seed(user, 10_000, "seed")
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: stack.seed(user, 1, f"bonus {i}"), range(399)))
        list(pool.map(lambda i: stack.ledger.consume(user, 1, f"call {i}"), range(600)))
    return user, 400, 600


def pages(stack: Any, http: Any, user: str, limit: int, type_: str | None = None) -> list[list[dict[str, Any]]]:
    out, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        if type_:
            params["type"] = type_
        r = http.get(stack.url("/credits/history"), params=params, headers=stack.headers(user))
        assert r.status_code == 200, r.text
        body = r.json()
        out.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return out
        assert len(out) < 2000


@pytest.mark.parametrize("limit", [100, 37])
def test_paging_over_1000_entries_has_no_duplicates_or_gaps(stack, http, busy_user, limit):
    user, _, _ = busy_user
    got = pages(stack, http, user, limit)
    items = [e for page in got for e in page]
    assert len(items) == 1000
    assert len({e["id"] for e in items}) == 1000
    assert all(len(p) == limit for p in got[:-1]) and 0 < len(got[-1]) <= limit
    assert [e["created_at"] for e in items] == sorted((e["created_at"] for e in items), reverse=True)
    assert sum(e["amount"] for e in items) == stack.ledger.balance(user).balance == 10_000 + 399 - 600


@pytest.mark.parametrize(("type_", "count"), [("usage", 600), ("adjustment", 400), ("purchase", 0)])
def test_type_filter_pages_correctly(stack, http, busy_user, type_, count):
    user, _, _ = busy_user
    items = [e for page in pages(stack, http, user, 45, type_) for e in page]
    assert len(items) == count and len({e["id"] for e in items}) == count
    assert {e["type"] for e in items} <= {type_}


def test_default_limit_is_25_and_entries_have_the_contract_shape(stack, http, busy_user):
    user, _, _ = busy_user
    body = http.get(stack.url("/credits/history"), headers=stack.headers(user)).json()
    assert len(body["items"]) == 25 and isinstance(body["next_cursor"], str)
    entry = body["items"][0]
    assert set(entry) == {"id", "type", "amount", "description", "created_at", "reference"}
    assert entry["type"] == "usage" and entry["amount"] == -1 and entry["created_at"].endswith("Z")


def _tamper(cursor: str) -> str:
    body, mac = cursor.rsplit(".", 1)
    data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    data["k"] = data["k"][:-1] + ("A" if data["k"][-1] != "A" else "B")
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=") + "." + mac


def test_tampered_or_foreign_or_garbage_cursor_is_400(stack, http, busy_user):
    user, _, _ = busy_user
    cursor = http.get(stack.url("/credits/history?limit=5"), headers=stack.headers(user)).json()["next_cursor"]
    cases = {
        "tampered": (user, {"cursor": _tamper(cursor)}),
        "foreign": ("someone-else", {"cursor": cursor}),
        "garbage": (user, {"cursor": "not-a-cursor"}),
        "other filter": (user, {"cursor": cursor, "type": "usage"}),
    }
    for name, (who, params) in cases.items():
        r = http.get(stack.url("/credits/history"), params=params, headers=stack.headers(who))
        assert r.status_code == 400, name
        assert r.json()["error"]["code"] == "invalid_request", name
        assert "cursor" in r.json()["error"]["message"], name


def test_users_never_see_each_others_history(stack, http, busy_user):
    user, _, _ = busy_user
    other = user + "-other"
    assert http.get(stack.url("/credits/history"), headers=stack.headers(other)).json() == {
        "items": [], "next_cursor": None}
    assert http.get(stack.url("/credits/balance"), headers=stack.headers(other)).json()["balance"] == 0


def test_history_query_cost_is_one_page_not_all_entries(stack, busy_user):
    """O(page): DynamoDB reads at most limit+1 entries for a page, whatever the total (plus the account itself, one
    request, to record expiries that are due before answering)."""
    user, _, _ = busy_user
    calls: list[dict[str, Any]] = []
    client = stack.ledger.store.table.client

    def record(params: dict[str, Any], **_: Any) -> None:
        calls.append(params)

    client.meta.events.register("provide-client-params.dynamodb.Query", record)
    try:
        stack.ledger.history(user, limit=10, cursor=None, entry_type="usage")
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb.Query", record)
    entry_pages = [c for c in calls if c.get("IndexName") == "GSI1"]
    assert len(entry_pages) == 1 and entry_pages[0]["Limit"] == 11
    assert len(calls) == 2 and "Limit" not in next(c for c in calls if c not in entry_pages)
