"""GET /credits/usage through the local stack: aggregates kept by the change stream, range rules, 400s."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from credits.engine import AccountEngine
from credits.ledger import Ledger


def usage(stack: Any, http: Any, user: str, query: str = "") -> Any:
    return http.get(stack.url(f"/credits/usage{query}"), headers=stack.headers(user))


def eventually(fn: Any, expected: Any, timeout: float = 10.0) -> Any:
    """Usage is exact within seconds of each spend (locally within 10 s): poll until it is."""
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got == expected or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def test_defaults_are_the_last_30_days_by_day(stack, http, user):
    body = usage(stack, http, user).json()
    end = datetime.now(UTC).date()
    assert body == {"from": (end - timedelta(days=29)).isoformat(), "to": end.isoformat(), "group_by": "day",
                    "items": []}
    assert usage(stack, http, user, "?to=2026-03-31").json()["from"] == "2026-03-02"


def test_consumes_and_captures_count_releases_do_not(stack, http, user):
    stack.seed(user, 1000, "seed")
    h = stack.headers(user)
    assert http.post(stack.url("/credits/consume"), json={"amount": 25}, headers=h).status_code == 200
    assert http.post(stack.url("/credits/consume"), json={"amount": 5}, headers=h).status_code == 200
    hold = http.post(stack.url("/credits/holds"), json={"amount": 100}, headers=h).json()["hold_id"]
    http.post(stack.url(f"/credits/holds/{hold}/capture"), json={"amount": 60}, headers=h)
    other = http.post(stack.url("/credits/holds"), json={"amount": 50}, headers=h).json()["hold_id"]
    http.post(stack.url(f"/credits/holds/{other}/release"), headers=h)

    expected = [{"day": today(), "feature": None, "credits": 90, "count": 3}]
    assert eventually(lambda: usage(stack, http, user).json()["items"], expected) == expected
    by_feature = usage(stack, http, user, "?group_by=feature").json()
    assert by_feature["group_by"] == "feature"
    assert by_feature["items"] == [{"day": None, "feature": None, "credits": 90, "count": 3}]


def test_days_are_utc_days_oldest_first_and_the_range_is_inclusive(stack, http, user):
    base = datetime(2026, 2, 26, 23, 59, 59, tzinfo=UTC).timestamp()
    stack.seed(user, 1000, "seed")
    for offset, amount in [(0, 7), (1, 3), (1, 4), (86400 * 3, 10)]:  # Feb 26 23:59:59, Feb 27 x2, Mar 1
        Ledger(AccountEngine(stack.ledger.store, clock=lambda o=offset: base + o)).consume(user, amount)
    expected = [{"day": "2026-02-26", "feature": None, "credits": 7, "count": 1},
                {"day": "2026-02-27", "feature": None, "credits": 7, "count": 2},
                {"day": "2026-03-01", "feature": None, "credits": 10, "count": 1}]
    got = eventually(lambda: usage(stack, http, user, "?from=2026-02-01&to=2026-03-31").json()["items"], expected)
    assert got == expected
    assert usage(stack, http, user, "?from=2026-02-27&to=2026-02-28").json()["items"] == expected[1:2]
    assert usage(stack, http, user, "?from=2026-03-01&to=2026-03-01").json()["items"] == expected[2:]
    assert usage(stack, http, user, "?from=2026-02-26&to=2026-03-31&group_by=feature").json()["items"] == [
        {"day": None, "feature": None, "credits": 24, "count": 4}]


def test_a_366_day_range_is_allowed(stack, http, user):
    resp = usage(stack, http, user, "?from=2024-01-01&to=2024-12-31")  # a leap year: 366 days
    assert resp.status_code == 200 and resp.json()["from"] == "2024-01-01"


BAD = [
    ("?from=2026-03-02&to=2026-03-01", "from"),
    ("?from=2024-01-01&to=2025-01-01", "366"),
    ("?from=2026-3-01", "from"),
    ("?to=2026-02-30", "to"),
    ("?to=20260301", "to"),
    ("?to=0001-01-05", "to"),  # the default 30 days would start before year 1
    ("?from=", "from"),
    ("?from=2026-03-01T00:00:00Z", "from"),
    ("?group_by=week", "group_by"),
    ("?group_by=", "group_by"),
    (f"?from={(datetime.now(UTC).date() + timedelta(days=2)).isoformat()}", "from"),  # after the default to
]


@pytest.mark.parametrize(("query", "field"), BAD, ids=[q for q, _ in BAD])
def test_bad_ranges_are_400_naming_the_parameter(stack, http, user, query, field):
    resp = usage(stack, http, user, query)
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["code"] == "invalid_request" and field in error["message"]


def test_usage_needs_a_token_and_is_per_user(stack, http, user):
    assert http.get(stack.url("/credits/usage")).status_code == 401
    stack.seed(user, 100, "seed")
    stack.ledger.consume(user, 10)
    eventually(lambda: usage(stack, http, user).json()["items"], [{"day": today(), "feature": None, "credits": 10,
                                                                  "count": 1}])
    assert usage(stack, http, f"{user}-other").json()["items"] == []
