"""The usage totals' month items on DynamoDB Local: each entry counted exactly once, under duplicates, concurrent
writers, parts that fill up and conflicts; a report reads one Query of the months, whatever the entries.

The guarantees are numbered in ``credits.events.usage_store``'s docstring; each test names the one it checks.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credits.errors import TransientStoreError
from credits.events.model import UsageDelta
from credits.events.usage_store import (
    MAX_ENTRIES_PER_WRITE,
    USAGE_MONTH_PREFIX,
    UsageStore,
    UsageWriteRefused,
    write_groups,
)
from credits.keys import user_pk

NOW = 1_790_000_000.0


def uid() -> str:
    return f"us-{uuid.uuid4().hex[:10]}"


def d(user: str, n: int, day: str, feature: str | None = None, credits: int = 10) -> UsageDelta:
    return UsageDelta(user, f"tx_{user}_{n}", day, feature, credits)


def parts(ddb_client: Any, table: str, user: str) -> list[dict[str, Any]]:
    resp = ddb_client.query(TableName=table, KeyConditionExpression="PK = :pk AND begins_with(SK, :p)",
                            ExpressionAttributeValues={":pk": {"S": user_pk(user)}, ":p": {"S": USAGE_MONTH_PREFIX}},
                            ConsistentRead=True)
    return list(resp["Items"])


def report(store: UsageStore, user: str, first: str, last: str) -> list[tuple[str, int, int, dict[Any, Any]]]:
    return [(x.day, x.credits, x.count, x.by_feature) for x in store.days(user, first, last)]


def test_entries_add_up_per_day_and_feature_and_a_duplicate_adds_nothing(table: str, ddb_client: Any) -> None:
    """Guarantee 1 and 3."""
    store, user = UsageStore(table, ddb_client), uid()
    assert store.apply(d(user, 1, "2026-03-04", "render", 25), NOW) is True
    assert store.apply(d(user, 2, "2026-03-04", None, 5), NOW) is True
    assert store.apply(d(user, 3, "2026-03-04", "render", 7), NOW) is True
    assert store.apply(d(user, 4, "2026-03-31", "export", 1), NOW) is True
    assert store.apply(d(user, 1, "2026-03-04", "render", 25), NOW) is False  # the same entry again
    assert report(store, user, "2026-03-01", "2026-03-31") == [
        ("2026-03-04", 37, 3, {None: (5, 1), "render": (32, 2)}),
        ("2026-03-31", 1, 1, {"export": (1, 1)}),
    ]
    (item,) = parts(ddb_client, table, user)
    assert item["SK"]["S"] == "USAGE#MONTH#2026-03#000" and item["v"]["N"] == "4"


def test_a_group_with_counted_entries_counts_only_the_new_ones(table: str, ddb_client: Any) -> None:
    """Guarantee 1: the duplicates cancel the transaction, are dropped, and the rest is written once."""
    store, user = UsageStore(table, ddb_client), uid()
    assert store.apply_group([d(user, 1, "2026-05-01"), d(user, 2, "2026-05-02")], NOW) == {f"tx_{user}_1",
                                                                                           f"tx_{user}_2"}
    again = [d(user, 1, "2026-05-01"), d(user, 3, "2026-05-02"), d(user, 2, "2026-05-02"), d(user, 4, "2026-05-03")]
    assert store.apply_group(again, NOW) == {f"tx_{user}_3", f"tx_{user}_4"}
    assert store.apply_group(again, NOW) == set()
    assert [(day, c, n) for day, c, n, _ in report(store, user, "2026-05-01", "2026-05-31")] == [
        ("2026-05-01", 10, 1), ("2026-05-02", 20, 2), ("2026-05-03", 10, 1)]


def test_a_report_keeps_only_the_days_of_its_range_across_months_and_years(table: str, ddb_client: Any) -> None:
    store, user = UsageStore(table, ddb_client), uid()
    days = ["2026-11-30", "2026-12-01", "2026-12-31", "2027-01-01", "2027-01-02", "2027-02-01"]
    for i, day in enumerate(days):
        store.apply(d(user, i, day, credits=i + 1), NOW)
    assert [r[0] for r in report(store, user, "2026-12-01", "2027-01-01")] == ["2026-12-01", "2026-12-31",
                                                                               "2027-01-01"]
    assert [r[:3] for r in report(store, user, "2027-01-02", "2027-01-02")] == [("2027-01-02", 5, 1)]
    assert report(store, user, "2026-10-01", "2026-11-29") == []
    assert report(store, uid(), "2026-01-01", "2026-12-31") == []


def test_a_full_part_starts_the_next_and_a_report_sums_the_parts(table: str, ddb_client: Any) -> None:
    """Guarantee 4, with a part budget of 60 bytes so that a few entries fill a part."""
    store, user = UsageStore(table, ddb_client, part_budget=60), uid()
    features = [f"feature-{i}" for i in range(6)]
    for i, feature in enumerate(features * 2):  # the same day and features, spread over parts
        store.apply(d(user, i, "2026-07-09", feature, credits=i + 1), NOW)
    store.apply(d(user, 99, "2026-07-10", None, credits=3), NOW)
    sks = [p["SK"]["S"] for p in parts(ddb_client, table, user)]
    assert len(sks) > 2 and sks == [f"USAGE#MONTH#2026-07#{i:03d}" for i in range(len(sks))]
    assert all(len(p["days"]["S"]) <= 60 for p in parts(ddb_client, table, user))
    expected = {f: (i + 1 + i + 7, 2) for i, f in enumerate(features)}
    assert report(store, user, "2026-07-01", "2026-07-31") == [
        ("2026-07-09", sum(c for c, _ in expected.values()), 12, expected),
        ("2026-07-10", 3, 1, {None: (3, 1)}),
    ]


def test_concurrent_writers_to_one_month_lose_nothing_and_double_nothing(table: str, ddb_client: Any) -> None:
    """Guarantee 2: 8 threads write 200 entries (each entry twice) to one month; busy writes are retried as the
    stream would retry the record."""
    store, user = UsageStore(table, ddb_client), uid()
    deltas = [d(user, i, f"2026-08-{1 + i % 28:02d}", ["a", "b", None][i % 3], credits=1 + i % 5) for i in range(200)]
    busy = Counter[str]()
    lock = threading.Lock()

    def write(delta: UsageDelta) -> None:
        while True:
            try:
                store.apply(delta, NOW)
                return
            except TransientStoreError:
                with lock:
                    busy["retried"] += 1

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, deltas + deltas[::-1]))
    got = report(store, user, "2026-08-01", "2026-08-31")
    assert sum(r[1] for r in got) == sum(x.credits for x in deltas)
    assert sum(r[2] for r in got) == len(deltas)
    per_day = Counter[str]()
    for x in deltas:
        per_day[x.day] += x.credits
    assert {r[0]: r[1] for r in got} == dict(per_day)
    (item,) = parts(ddb_client, table, user)
    assert int(item["v"]["N"]) == len(deltas)  # one version per counted entry: no write was lost or applied twice


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 30), st.sampled_from(["2026-01-31", "2026-02-01", "2026-02-28"]),
                          st.sampled_from([None, "render", "export.pdf"]), st.integers(1, 1_000_000_000)),
                min_size=1, max_size=40),
       st.integers(40, 400), st.randoms(use_true_random=False))
def test_any_sequence_of_groups_with_duplicates_equals_counting_each_entry_once(
        table: str, ddb_client: Any, raw: list[tuple[int, str, str | None, int]], budget: int, rnd: Any) -> None:
    """Guarantees 1, 3, 4 against a model: entries identified by number (a number seen again is a redelivery of
    the same entry, with its first values), written in random groups, with small parts."""
    store, user = UsageStore(table, ddb_client, part_budget=budget), uid()
    first: dict[int, tuple[str, str | None, int]] = {}
    deltas = []
    for n, day, feature, credits in raw:
        first.setdefault(n, (day, feature, credits))
        day, feature, credits = first[n]
        deltas.append(d(user, n, day, feature, credits))
    rnd.shuffle(deltas)
    while deltas:
        cut = rnd.randint(1, len(deltas))
        for group in write_groups(deltas[:cut]):
            store.apply_group(group, NOW)
        deltas = deltas[cut:]
    model: dict[str, dict[str | None, list[int]]] = {}
    for day, feature, credits in first.values():
        cell = model.setdefault(day, {}).setdefault(feature, [0, 0])
        cell[0] += credits
        cell[1] += 1
    expected = [(day, sum(c for c, _ in fs.values()), sum(n for _, n in fs.values()),
                 {f: (c, n) for f, (c, n) in fs.items()}) for day, fs in sorted(model.items())]
    assert report(store, user, "2026-01-01", "2026-02-28") == expected


class StubbedClient:
    """DynamoDB Local never answers TransactionConflict: the transaction's answers are stubbed here."""

    def __init__(self, real: Any, answers: list[str | list[str]]) -> None:
        self.real, self.answers, self.transactions = real, answers, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def transact_write_items(self, **kwargs: Any) -> Any:
        """An answer is the part's reason (the markers' are None) or the whole list of reasons."""
        self.transactions += 1
        if self.answers:
            answer = self.answers.pop(0)
            reasons = answer if isinstance(answer, list) else [answer] + ["None"] * (len(kwargs["TransactItems"]) - 1)
            raise ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "stubbed"},
                               "CancellationReasons": [{"Code": r} for r in reasons]}, "TransactWriteItems")
        return self.real.transact_write_items(**kwargs)


def test_transaction_conflicts_are_retried_then_reported_as_transient(table: str, ddb_client: Any) -> None:
    user, sleeps = uid(), []
    client = StubbedClient(ddb_client, ["TransactionConflict", "TransactionConflict"])
    store = UsageStore(table, client, sleep=sleeps.append)
    assert store.apply(d(user, 1, "2026-09-01"), NOW) is True and client.transactions == 3 and len(sleeps) == 2
    client = StubbedClient(ddb_client, ["TransactionConflict"] * 10)
    with pytest.raises(TransientStoreError):
        UsageStore(table, client, sleep=sleeps.append).apply(d(user, 2, "2026-09-01"), NOW)
    assert client.transactions == 5
    client = StubbedClient(ddb_client, ["ValidationError"])  # not a conflict: retrying cannot help
    with pytest.raises(UsageWriteRefused, match="ValidationError"):
        UsageStore(table, client, sleep=sleeps.append).apply(d(user, 3, "2026-09-01"), NOW)
    assert client.transactions == 1
    client = StubbedClient(ddb_client, [["None", "ValidationError", "None"]])  # refused at a marker
    with pytest.raises(UsageWriteRefused, match="ValidationError"):
        UsageStore(table, client).apply_group([d(user, 5, "2026-09-01"), d(user, 6, "2026-09-01")], NOW)
    for reasons in ([], ["ConditionalCheckFailed"], ["None", "ConditionalCheckFailed", "None"]):
        # without a reason per item, which item failed is unknown: never read as duplicates
        client = StubbedClient(ddb_client, [reasons])
        with pytest.raises(TransientStoreError, match="without its reasons"):
            UsageStore(table, client, sleep=sleeps.append).apply(d(user, 4, "2026-09-01"), NOW)
        assert client.transactions == 1
    assert [r[:3] for r in report(UsageStore(table, ddb_client), user, "2026-09-01", "2026-09-01")] == [
        ("2026-09-01", 10, 1)]


def test_groups_are_per_user_and_month_at_most_99_entries_each_entry_once() -> None:
    a, b = uid(), uid()
    deltas = ([d(a, i, "2026-01-15") for i in range(150)] + [d(b, 0, "2026-01-15"), d(a, 0, "2026-01-15"),
                                                              d(a, 200, "2026-02-01")])
    groups = write_groups(deltas)
    assert [(g[0].user_id, g[0].day[:7], len(g)) for g in groups] == [
        (a, "2026-01", MAX_ENTRIES_PER_WRITE), (a, "2026-01", 51), (b, "2026-01", 1), (a, "2026-02", 1)]
    with pytest.raises(ValueError, match="one user and month"):
        UsageStore("unused", client=None).apply_group([d(a, 1, "2026-01-01"), d(a, 2, "2026-02-01")], NOW)  # type: ignore[arg-type]


def test_a_90_day_report_is_one_query_of_4_month_items_at_10_and_at_2000_entries(table: str, ddb_client: Any) -> None:
    """What the bench measures, counted: the read does not grow with the entries or with the days that had usage."""
    store = UsageStore(table, ddb_client)
    light, heavy = uid(), uid()
    days = [f"2026-{m:02d}-{dd:02d}" for m, last in ((9, 30), (10, 31), (11, 30), (12, 31)) for dd in range(1, last + 1)]
    window = days[2:92]
    for i in range(10):
        store.apply(d(light, i, window[round(i * 89 / 9)]), NOW)  # the first and the last day too
    for chunk in write_groups(d(heavy, i, window[i % 90], ["a", None][i % 2]) for i in range(2000)):
        store.apply_group(chunk, NOW)
    calls: list[tuple[str, int]] = []

    def count(**kwargs: Any) -> None:
        if kwargs["model"].name == "Query":
            calls.append(("Query", len(kwargs["parsed"].get("Items", []))))

    ddb_client.meta.events.register("after-call.dynamodb.Query", count)
    try:
        small = store.days(light, window[0], window[-1])
        big = store.days(heavy, window[0], window[-1])
    finally:
        ddb_client.meta.events.unregister("after-call.dynamodb.Query", count)
    assert calls == [("Query", 4), ("Query", 4)]
    assert (len(small), sum(x.count for x in small)) == (10, 10)
    assert (len(big), sum(x.count for x in big), sum(x.credits for x in big)) == (90, 2000, 20000)


def test_a_cancellation_naming_the_part_and_a_duplicate_drops_the_duplicate_and_writes_the_rest(
        table: str, ddb_client: Any) -> None:
    """Guarantees 1 and 2 together: the part's version moved and one entry was counted before."""
    user = uid()
    UsageStore(table, ddb_client).apply(d(user, 1, "2026-06-01"), NOW)
    client = StubbedClient(ddb_client, [["ConditionalCheckFailed", "ConditionalCheckFailed", "None"]])
    store = UsageStore(table, client, sleep=lambda _s: None)
    assert store.apply_group([d(user, 1, "2026-06-01"), d(user, 2, "2026-06-01")], NOW) == {f"tx_{user}_2"}
    assert client.transactions == 2
    assert [r[:3] for r in report(store, user, "2026-06-01", "2026-06-30")] == [("2026-06-01", 20, 2)]


def test_a_new_part_holds_a_write_bigger_than_the_budget_rather_than_failing_it(table: str, ddb_client: Any) -> None:
    """Guarantee 4's exception: a part's first write is never split (at most 99 entries, about 9 KB)."""
    store, user = UsageStore(table, ddb_client, part_budget=60), uid()
    store.apply(d(user, 0, "2026-04-01", "seed"), NOW)
    group = [d(user, i, "2026-04-02", f"feature-with-a-long-id-{i}") for i in range(1, 6)]
    assert store.apply_group(group, NOW) == {x.entry_id for x in group}
    sizes = [len(p["days"]["S"]) for p in parts(ddb_client, table, user)]
    assert len(sizes) == 2 and sizes[1] > 60
    assert report(store, user, "2026-04-02", "2026-04-02")[0][1:3] == (50, 5)
