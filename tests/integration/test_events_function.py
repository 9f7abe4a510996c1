"""The events function's handler on DynamoDB Local: partial batch responses, duplicates, usage idempotency.

The handler is loaded by file path (as Lambda and the local stack load it) after ``credits.bootstrap`` is given a
consumer whose stores use the test table and whose publisher can be told to fail for one user.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from botocore.exceptions import ClientError

from credits import bootstrap
from credits.errors import TransientStoreError
from credits.events.consumer import StreamConsumer
from credits.events.model import DomainEvent, UsageDelta
from credits.events.publisher import PublishFailed
from credits.events.store import EventMarkers
from credits.events.usage import UsageService
from credits.events.usage_store import UsageStore, UsageWriteRefused
from local.lambda_host import FunctionPool
from local.template import ROOT
from tests.stream_records import balance, entry, record


class FlakyPublisher:
    def __init__(self) -> None:
        self.published: list[DomainEvent] = []
        self.failing_users: set[str] = set()

    def publish(self, events: Sequence[DomainEvent]) -> None:
        if any(e.user_id in self.failing_users for e in events):
            raise PublishFailed("bus unavailable (injected)")
        self.published.extend(events)


class Thresholds:
    def __init__(self, value: tuple[int, ...]) -> None:
        self.value = value
        self.reads = 0

    def thresholds(self, user_id: str) -> tuple[int, ...]:
        self.reads += 1
        return self.value


@pytest.fixture
def world(table: str, ddb_client: Any) -> Iterator[Any]:
    publisher, thresholds = FlakyPublisher(), Thresholds((500, 100))
    consumer = StreamConsumer(markers=EventMarkers(table, ddb_client), usage=UsageStore(table, ddb_client),
                              thresholds=thresholds, publisher=publisher)
    saved = bootstrap.snapshot()
    bootstrap.configure(stream_consumer=consumer)
    try:
        pool = FunctionPool("EventsFunction", ROOT / "functions" / "events", "app.lambda_handler")
        pool.warm()  # the module captures the consumer at import, as a cold start would
        yield pool, publisher, thresholds, UsageService(UsageStore(table, ddb_client))
    finally:
        bootstrap.restore(saved)


def uid() -> str:
    return f"ev-{uuid.uuid4().hex[:10]}"


def crossing(user: str, seq: int) -> dict[str, Any]:
    """A spend from 600 to 50: crosses 500 and 100."""
    return balance({"available": 600, "seq": seq}, {"available": 50, "seq": seq + 1, "updated_at": "T"},
                   user=user, seq=f"{seq:021d}")


def test_failure_mid_batch_names_exactly_that_record_and_the_rest_emit_once(world):
    pool, publisher, _, _ = world
    users = [uid() for _ in range(5)]
    batch = [crossing(u, 10 * i) for i, u in enumerate(users)]
    publisher.failing_users = {users[2]}

    result = pool.invoke({"Records": batch})

    assert result == {"batchItemFailures": [{"itemIdentifier": batch[2]["dynamodb"]["SequenceNumber"]}]}
    assert sorted({e.user_id for e in publisher.published}) == sorted(users[:2] + users[3:])
    assert len(publisher.published) == 8  # two thresholds for each of the four good records
    # The mapping retries from the failed record: it and everything after it come again.
    publisher.failing_users = set()
    assert pool.invoke({"Records": batch[2:]}) == {"batchItemFailures": []}
    assert len(publisher.published) == 10
    per_user = {u: [e.id for e in publisher.published if e.user_id == u] for u in users}
    assert all(len(ids) == 2 == len(set(ids)) for ids in per_user.values())  # nothing twice


def test_a_batch_that_fails_entirely_raises_so_the_mapping_bisects_and_retries(world):
    pool, publisher, _, _ = world
    user = uid()
    publisher.failing_users = {user}
    with pytest.raises(Exception, match="All records failed"):
        pool.invoke({"Records": [crossing(user, 1)]})
    assert publisher.published == []


def test_the_same_records_delivered_twice_publish_and_count_usage_once(world):
    pool, publisher, _, usage = world
    user = uid()
    batch = [
        crossing(user, 1),
        entry("usage", -30, user=user, entry_id="tx_a", feature="render", seq="000000000000000000005"),
        entry("usage", -12, user=user, entry_id="tx_b", seq="000000000000000000006"),
        entry("purchase", 2000, user=user, entry_id="tx_c", session_id="cs_1", seq="000000000000000000007"),
    ]
    assert pool.invoke({"Records": batch}) == {"batchItemFailures": []}
    assert pool.invoke({"Records": batch}) == {"batchItemFailures": []}  # a redelivery, e.g. after a restart
    assert pool.invoke({"Records": batch[1:2]}) == {"batchItemFailures": []}

    assert sorted(e.type for e in publisher.published) == [
        "credits.balance.low", "credits.balance.low", "credits.purchase.fulfilled"]
    report = usage.report(user, from_day="2026-03-01", to_day="2026-03-31", group_by="day")
    assert report["items"] == [{"day": "2026-03-04", "feature": None, "credits": 42, "count": 2}]
    by_feature = usage.report(user, from_day="2026-03-01", to_day="2026-03-31", group_by="feature")["items"]
    assert by_feature == [{"day": None, "feature": "render", "credits": 30, "count": 1},
                          {"day": None, "feature": None, "credits": 12, "count": 1}]


def test_thresholds_are_read_once_per_user_and_batch_and_not_for_rises(world):
    pool, _, thresholds, _ = world
    user = uid()
    batch = [crossing(user, 1), crossing(user, 3),
             balance({"available": 50, "seq": 9}, {"available": 900, "seq": 10}, user=user, seq="9" * 21)]
    pool.invoke({"Records": batch})
    assert thresholds.reads == 1
    pool.invoke({"Records": batch[2:]})
    assert thresholds.reads == 1


def test_remove_records_and_own_writes_are_acknowledged_without_effects(world):
    pool, publisher, _, usage = world
    user = uid()
    batch = [
        record("REMOVE", "BALANCE", None, {"available": 600}, user=user, seq="1"),
        record("INSERT", "USAGE#MONTH#2026-03#000", {"days": '{"04":[5,1]}', "v": 1}, user=user, seq="2"),
        record("REMOVE", "EVT#abc", None, {"event_ids": ["e"], "expires_at_ttl": 1}, user=user, seq="3"),
    ]
    assert pool.invoke({"Records": batch}) == {"batchItemFailures": []}
    assert publisher.published == []
    assert usage.report(user, from_day="2026-03-01", to_day="2026-03-31", group_by="day")["items"] == []


class FlakyUsage(UsageStore):
    """The real store, busy for some users' months and refusing any write that holds a poisoned entry."""

    failing_users: set[str] = set()
    poisoned: set[str] = set()  # entry ids
    denied_users: set[str] = set()

    def apply_group(self, deltas: Sequence[UsageDelta], now: float) -> set[str]:
        if deltas and deltas[0].user_id in self.failing_users:
            raise TransientStoreError("The usage totals are busy; retry. (injected)")
        if deltas and deltas[0].user_id in self.denied_users:
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "injected"}}, "Query")
        if any(x.entry_id in self.poisoned for x in deltas):
            raise UsageWriteRefused("DynamoDB refused the usage write: ValidationError (injected)")
        return super().apply_group(deltas, now)


@pytest.fixture
def usage_world(table: str, ddb_client: Any) -> Iterator[Any]:
    usage = FlakyUsage(table, ddb_client)
    usage.failing_users, usage.poisoned, usage.denied_users = set(), set(), set()
    consumer = StreamConsumer(markers=EventMarkers(table, ddb_client), usage=usage,
                              thresholds=Thresholds((500, 100)), publisher=FlakyPublisher())
    saved = bootstrap.snapshot()
    bootstrap.configure(stream_consumer=consumer)
    transactions: list[int] = []

    def count(**kwargs: Any) -> None:
        transactions.append(len(kwargs["params"]["TransactItems"]))

    ddb_client.meta.events.register("before-parameter-build.dynamodb.TransactWriteItems", count)
    try:
        pool = FunctionPool("EventsFunction", ROOT / "functions" / "events", "app.lambda_handler")
        pool.warm()
        yield pool, usage, transactions, UsageService(UsageStore(table, ddb_client))
    finally:
        ddb_client.meta.events.unregister("before-parameter-build.dynamodb.TransactWriteItems", count)
        bootstrap.restore(saved)


def spends(user: str, n: int, first_seq: int, day: str = "2026-03-04") -> list[dict[str, Any]]:
    return [entry("usage", -(i + 1), user=user, entry_id=f"tx_{user}_{first_seq + i}", created_at=f"{day}T10:00:00.000Z",
                  seq=f"{first_seq + i:021d}") for i in range(n)]


def test_a_batch_counts_each_users_month_in_one_transaction(usage_world):
    pool, _, transactions, usage = usage_world
    a, b = uid(), uid()
    batch = spends(a, 30, 100) + spends(b, 3, 200) + spends(a, 2, 300, day="2026-04-01")
    assert pool.invoke({"Records": batch}) == {"batchItemFailures": []}
    # one transaction per user and month: its 30 (3, 2) markers and the month item
    assert sorted(transactions) == [3, 4, 31]
    march = usage.report(a, from_day="2026-03-01", to_day="2026-04-30", group_by="day")["items"]
    assert march == [{"day": "2026-03-04", "feature": None, "credits": 465, "count": 30},
                     {"day": "2026-04-01", "feature": None, "credits": 3, "count": 2}]
    transactions.clear()
    assert pool.invoke({"Records": batch}) == {"batchItemFailures": []}  # redelivered: counted before, nothing added
    assert sorted(transactions) == [3, 4, 31]  # each group's write is cancelled by its markers, and nothing follows
    assert usage.report(a, from_day="2026-03-01", to_day="2026-04-30", group_by="day")["items"] == march


def test_the_same_record_twice_in_one_batch_counts_once(usage_world):
    pool, _, transactions, usage = usage_world
    user = uid()
    batch = spends(user, 3, 100)
    assert pool.invoke({"Records": batch + batch[1:2]}) == {"batchItemFailures": []}
    assert transactions == [4]
    (day,) = usage.report(user, from_day="2026-03-04", to_day="2026-03-04", group_by="day")["items"]
    assert (day["credits"], day["count"]) == (6, 3)


def test_a_record_that_cannot_be_read_fails_alone_and_the_batch_goes_on(usage_world):
    pool, _, _, usage = usage_world
    user = uid()
    bad = entry("usage", 0, user=user, entry_id="tx_bad", seq="000000000000000000150")
    bad["dynamodb"]["NewImage"]["amount"] = {"S": "NaN"}  # derive cannot make an integer of it
    batch = [*spends(user, 2, 100), bad, *spends(user, 2, 200)]
    assert pool.invoke({"Records": batch}) == {"batchItemFailures": [{"itemIdentifier": "000000000000000000150"}]}
    (day,) = usage.report(user, from_day="2026-03-04", to_day="2026-03-04", group_by="day")["items"]
    assert day["count"] == 4


def test_a_refused_entry_fails_alone_while_its_group_is_counted_entry_by_entry(usage_world):
    pool, store, transactions, usage = usage_world
    user = uid()
    batch = [*spends(user, 5, 100), crossing(user, 500)]
    store.poisoned = {f"tx_{user}_102"}
    result = pool.invoke({"Records": [*batch, batch[0]]})  # the first spend twice
    assert result == {"batchItemFailures": [{"itemIdentifier": batch[2]["dynamodb"]["SequenceNumber"]}]}
    # the group was refused, then the good entries one by one (the duplicate's write is cancelled by its marker)
    assert transactions == [2, 2, 2, 2, 2]
    published = bootstrap.stream_consumer().publisher.published  # type: ignore[attr-defined]
    assert sorted(e.type for e in published if e.user_id == user) == ["credits.balance.low"] * 2  # once each
    (day,) = usage.report(user, from_day="2026-03-04", to_day="2026-03-04", group_by="day")["items"]
    assert (day["credits"], day["count"]) == (1 + 2 + 4 + 5, 4)


def test_a_failed_usage_write_fails_exactly_its_records_and_the_retry_counts_them_once(usage_world):
    pool, store, _, usage = usage_world
    a, b = uid(), uid()
    batch = spends(a, 4, 100) + spends(b, 4, 200) + [crossing(a, 300)]
    store.failing_users = {b}
    result = pool.invoke({"Records": batch})
    assert result == {"batchItemFailures": [{"itemIdentifier": r["dynamodb"]["SequenceNumber"]} for r in batch[4:8]]}
    assert usage.report(a, from_day="2026-03-04", to_day="2026-03-04", group_by="day")["items"][0]["count"] == 4
    assert usage.report(b, from_day="2026-03-04", to_day="2026-03-04", group_by="day")["items"] == []
    store.failing_users = set()
    assert pool.invoke({"Records": batch[4:]}) == {"batchItemFailures": []}  # the mapping retries from the first
    for user in (a, b):
        (day,) = usage.report(user, from_day="2026-03-04", to_day="2026-03-04", group_by="day")["items"]
        assert (day["credits"], day["count"]) == (10, 4)


def test_a_group_that_fails_for_another_reason_fails_its_records_without_writing_them_one_by_one(usage_world):
    pool, store, transactions, usage = usage_world
    user, other = uid(), uid()
    batch = [*spends(user, 3, 100), *spends(other, 1, 200)]
    store.denied_users = {user}
    result = pool.invoke({"Records": batch})
    assert result == {"batchItemFailures": [{"itemIdentifier": r["dynamodb"]["SequenceNumber"]} for r in batch[:3]]}
    assert transactions == [2]  # the other user's entry; none of the denied group's, one by one or together
    store.denied_users = set()
    assert pool.invoke({"Records": batch}) == {"batchItemFailures": []}
    assert usage.report(user, from_day="2026-03-04", to_day="2026-03-04", group_by="day")["items"][0]["count"] == 3
