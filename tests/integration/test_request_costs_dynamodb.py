"""What each operation costs in DynamoDB requests, on DynamoDB Local with the real adapter (its own Table, so only
this test's requests are counted), including the slow paths a local run would hide: many live grants, and a
thousand expired holds settled inside one user's request."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from credits.adapters.dynamo import Table
from credits.adapters.dynamo_ledger import DynamoLedgerStore
from credits.engine import AccountEngine
from credits.grants import GrantService
from credits.ledger import Ledger

T0 = 1_780_000_000_000


class Clock:
    def __init__(self) -> None:
        self.ms = T0

    def __call__(self) -> float:
        return self.ms / 1000


@pytest.fixture
def world(ddb_client: Any, table: str) -> Iterator[tuple[Table, Ledger, GrantService, Clock, str]]:
    clock = Clock()
    t = Table(table, client=ddb_client)
    engine = AccountEngine(DynamoLedgerStore(t), clock=clock)
    yield t, Ledger(engine, feature_price=lambda _f: None), GrantService(engine), clock, f"cost-{uuid.uuid4().hex}"
    # This test's clock is months behind the real one: tidy its hold and grant markers now (30 days on covers every
    # expiry these tests set, and is still months before real time, so the sweep sees only markers like these), so
    # the shared table's sweeper tests find no backlog of them.
    clock.ms += 30 * 86_400_000
    assert clock.ms < time.time() * 1000 - 86_400_000
    for _ in range(20):
        done = engine.sweep()
        if not done["holds_tidied"] and not done["grant_markers"]:
            break


def cost(t: Table, action: Any) -> int:
    before = t.requests
    action()
    return t.requests - before


def test_consume_and_balance_are_one_request_each_even_with_a_hundred_live_grants(world):
    t, ledger, grants, _, user = world
    for i in range(100):
        grants.create_grant(user, 10, idempotency_key=f"g{i}", priority=i % 7, expires_in_days=1 + i % 9)
    assert cost(t, lambda: ledger.consume(user, 555)) == 1
    assert cost(t, lambda: ledger.balance(user)) == 1
    assert ledger.balance(user).available == 1000 - 555
    assert cost(t, lambda: ledger.consume(user, 1, return_balance=True)) == 2  # the write, then one read


def test_holds_read_the_account_once_and_write_once_and_resolving_one_reads_the_hold_first(world):
    """They touch grants (a hold records which grants its credits came from): one Query, one transaction; a capture
    or release also reads the hold (one GetItem). Their answers' balances come from the write, not a read after."""
    t, ledger, grants, _, user = world
    grants.create_grant(user, 100, idempotency_key="g")
    placed: list[Any] = []
    assert cost(t, lambda: placed.append(ledger.place_hold(user, 30, 600).hold)) == 2
    assert cost(t, lambda: ledger.capture_hold(user, placed[0].hold_id, 10)) == 3
    assert cost(t, lambda: placed.append(ledger.place_hold(user, 30, 600).hold)) == 2
    assert cost(t, lambda: ledger.release_hold(user, placed[1].hold_id)) == 3
    assert ledger.balance(user).available == 90
    resolved = ledger.capture_hold(user, ledger.place_hold(user, 5, 600).hold.hold_id)
    assert (resolved.balance.available, resolved.balance.held) == (85, 0)


@pytest.mark.timeout(240)
def test_a_thousand_expired_holds_are_settled_in_a_bounded_number_of_requests(world):
    """Expired holds come back by a watermark, in bulk: not one request per hold inside the user's request."""
    t, ledger, grants, clock, user = world
    grants.create_grant(user, 100_000, idempotency_key="g")
    for _ in range(1000):
        ledger.place_hold(user, 1, 1)
    clock.ms += 2_000
    spent = cost(t, lambda: ledger.consume(user, 100_000))  # needs every expired hold's credit back
    assert spent <= 6, spent
    b = ledger.balance(user)
    assert (b.available, b.held, b.balance) == (0, 0, 0)


# --- writes larger than one transaction -------------------------------------------------------------------------
def test_a_spend_that_uses_up_hundreds_of_grants_is_archived_over_several_writes(world):
    """One fold can use up more grants than a transaction holds records (100 items): the slow path still commits,
    grants over its budget stay in the book reading `depleted`, and later writes archive them."""
    _, ledger, grants, clock, user = world
    for i in range(150):
        grants.create_grant(user, 1, idempotency_key=f"g{i}")
    ledger.consume(user, 150)  # the fast path: no grant touched yet
    grants.create_grant(user, 7, idempotency_key="after")  # the slow path folds 150 spends into 150 grants
    page = grants.list_grants(user, status="all", limit=100, cursor=None)
    statuses = [g.status for g in page.grants]
    while page.next_cursor:
        page = grants.list_grants(user, status="all", limit=100, cursor=page.next_cursor)
        statuses += [g.status for g in page.grants]
    assert sorted(statuses) == ["active"] + ["depleted"] * 150
    for _ in range(4):
        clock.ms += 1
        ledger.release_hold(user, ledger.place_hold(user, 1, 60).hold.hold_id)  # slow-path writes archive the rest
    account, _ = ledger.engine.account(user)
    assert [g.remaining for g in account.grants] == [7]
    assert ledger.balance(user).available == 7


def test_hundreds_of_grants_expiring_at_once_are_recorded_in_parts_by_one_read(world):
    _, ledger, grants, clock, user = world
    for i in range(150):
        grants.create_grant(user, 2, idempotency_key=f"g{i}", expires_in_days=1)
    ledger.consume(user, 100)  # uses up the first 50 grants
    clock.ms += 86_400_000
    assert ledger.balance(user).available == 0  # 100 credits of 100 grants expired, recorded in parts
    page = ledger.history(user, limit=100, cursor=None, entry_type="expiry")
    expired = list(page.items)
    while page.next_cursor:
        page = ledger.history(user, limit=100, cursor=page.next_cursor, entry_type="expiry")
        expired += page.items
    assert len(expired) == 100 and sum(e.amount for e in expired) == -200
