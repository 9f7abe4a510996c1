"""One contract for ``RechargeStore``, run against both adapters: the in-memory one and DynamoDB (DynamoDB Local).

The in-memory store stands in for DynamoDB in every fast test, so it must keep the same conditions: what may start a
recharge, what a failure records, what the ledger's settling write requires. Each case runs on both (``backend`` is
parametrised); the DynamoDB cases use the session's DynamoDB Local (tests/conftest.py), a table of their own and a new user id per
case. The
last cases drive the whole ``RechargeService`` (fake Stripe) on each backend, so the settlement inside the ledger's
transaction (``dynamo_ledger`` + ``dynamo_recharge.settle_items``) is held to the same outcome as the memory store's.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from recharge_world import CREDITS, DECLINED, HOUR, T0, World, make_world

from credits.adapters.dynamo import Table
from credits.adapters.dynamo_ledger import DynamoLedgerStore
from credits.adapters.dynamo_purchases import DynamoPurchaseStore
from credits.adapters.dynamo_recharge import DynamoRechargeStore
from credits.adapters.memory import MemoryStore
from credits.events.store import SettingsStore
from credits.ids import iso_ms
from credits.ports import RechargeRecord
from local.template import create_table

MONTH = "2027-03"
NOW = iso_ms(T0)


class DynamoStores(DynamoLedgerStore, DynamoPurchaseStore, DynamoRechargeStore):
    """The three adapters over one table, as deployed (bootstrap builds each on the same table)."""


@dataclass
class Backend:
    name: str
    store: Any  # a RechargeStore that is also the ledger and purchase store
    enable: Callable[[str], None]  # the settings item's recharge_enabled = true, as the settings service writes it


@pytest.fixture(scope="module")
def own_table(ddb_client: Any) -> Iterator[str]:
    """A table of this module's own: the session's table is watched by the local stack's change path, which would
    act on these records (enqueue and charge them) while a case checks them."""
    name = f"recharge-contract-{uuid.uuid4().hex[:8]}"
    create_table(ddb_client, name)
    yield name
    ddb_client.delete_table(TableName=name)


@pytest.fixture(params=["memory", "dynamodb"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    if request.param == "memory":
        memory = MemoryStore()
        yield Backend("memory", memory, lambda user: memory.set_auto_recharge_enabled(user, True))
        return
    client, table = request.getfixturevalue("ddb_client"), request.getfixturevalue("own_table")
    settings = SettingsStore(table, client)

    def enable(user: str) -> None:
        assert settings.update(user, {"recharge_enabled": True}, None, NOW) is not None

    yield Backend("dynamodb", DynamoStores(Table(table, client=client)), enable)


@pytest.fixture
def user() -> str:
    return f"rc-{uuid.uuid4().hex[:12]}"


def record(user: str, recharge_id: str = "rc_a", created_ms: int = T0) -> RechargeRecord:
    return RechargeRecord(user, recharge_id, "requested", "standard", CREDITS, 1990, "usd", None, None,
                          iso_ms(created_ms), created_ms)


def start(b: Backend, user: str, recharge_id: str = "rc_a", *, month: str = MONTH, limit: int = 5,
          cutoff: int = T0 - HOUR, created_ms: int = T0) -> bool:
    return b.store.start(record(user, recharge_id, created_ms), month=month, monthly_limit=limit,
                         retry_cutoff_ms=cutoff)


def ready(b: Backend, user: str) -> None:
    b.enable(user)
    b.store.save_card(user, "cus_1", "pm_1", "visa", "4242", NOW)


# --- customer and card --------------------------------------------------------------------------------------------
def test_a_new_user_has_no_state_and_no_records(backend, user):
    assert backend.store.state(user) is None
    assert backend.store.record(user, "rc_a") is None


def test_the_first_customer_stored_wins(backend, user):
    assert backend.store.set_customer(user, "cus_first", NOW) == "cus_first"
    assert backend.store.set_customer(user, "cus_second", NOW) == "cus_first"
    assert backend.store.state(user).customer_id == "cus_first"


def test_save_card_stores_id_brand_last4_and_keeps_the_customer(backend, user):
    backend.store.set_customer(user, "cus_first", NOW)
    backend.store.save_card(user, "cus_other", "pm_1", "mastercard", "4444", NOW)
    state = backend.store.state(user)
    assert (state.customer_id, state.payment_method, state.brand, state.last4) == ("cus_first", "pm_1",
                                                                                 "mastercard", "4444")
    assert (state.failures, state.needs_payment_method, state.in_flight, state.started) == (0, False, None, 0)


def test_save_card_of_a_user_without_a_customer_stores_the_one_given(backend, user):
    backend.store.save_card(user, "cus_given", "pm_1", "visa", "0005", NOW)
    assert backend.store.state(user).customer_id == "cus_given"


def test_save_card_clears_failures_needs_payment_method_and_the_last_failure(backend, user):
    ready(backend, user)
    assert start(backend, user)
    assert backend.store.fail(user, "rc_a", "resource_missing", True, T0)
    backend.store.save_card(user, None, "pm_2", "visa", "1111", NOW)
    state = backend.store.state(user)
    assert (state.failures, state.needs_payment_method, state.last_failure_ms, state.last_failure_reason) == (
        0, False, None, None)
    assert (state.payment_method, state.customer_id) == ("pm_2", "cus_1")


# --- start --------------------------------------------------------------------------------------------------------
def test_start_creates_the_record_sets_in_flight_and_counts_the_month(backend, user):
    ready(backend, user)
    assert start(backend, user)
    assert backend.store.record(user, "rc_a") == record(user)
    state = backend.store.state(user)
    assert (state.in_flight, state.month, state.started) == ("rc_a", MONTH, 1)


def test_a_record_keeps_the_card_customer_and_expiry_it_started_with(backend, user):
    ready(backend, user)
    full = RechargeRecord(user, "rc_full", "requested", "standard", CREDITS, 1990, "usd", None, None, iso_ms(T0), T0,
                          customer_id="cus_1", payment_method="pm_1", expires_after_days=30)
    assert backend.store.start(full, month=MONTH, monthly_limit=5, retry_cutoff_ms=T0 - HOUR)
    assert backend.store.record(user, "rc_full") == full


def test_auto_recharge_enabled_reads_the_settings_as_stored(backend, user):
    assert backend.store.auto_recharge_enabled(user) is False
    backend.enable(user)
    assert backend.store.auto_recharge_enabled(user) is True


def test_start_needs_auto_recharge_enabled_in_the_settings(backend, user):
    backend.store.save_card(user, "cus_1", "pm_1", "visa", "4242", NOW)
    assert not start(backend, user)
    assert backend.store.record(user, "rc_a") is None
    assert backend.store.state(user).in_flight is None


def test_start_needs_a_saved_card(backend, user):
    backend.enable(user)
    backend.store.set_customer(user, "cus_1", NOW)
    assert not start(backend, user)
    assert backend.store.record(user, "rc_a") is None


def test_start_refuses_a_second_recharge_while_one_is_in_flight(backend, user):
    ready(backend, user)
    assert start(backend, user, "rc_a")
    assert not start(backend, user, "rc_b")
    assert backend.store.record(user, "rc_b") is None
    state = backend.store.state(user)
    assert (state.in_flight, state.started) == ("rc_a", 1)


def test_start_of_an_existing_record_is_refused_even_when_nothing_is_in_flight(backend, user):
    ready(backend, user)
    assert start(backend, user, "rc_a")
    assert backend.store.fail(user, "rc_a", DECLINED, False, T0 - 2 * HOUR)
    assert not start(backend, user, "rc_a")
    assert backend.store.record(user, "rc_a").status == "failed"
    assert backend.store.state(user).started == 1


def test_start_stops_at_the_monthly_limit_and_a_new_month_starts_at_one(backend, user):
    ready(backend, user)
    for i in range(2):
        assert start(backend, user, f"rc_{i}", limit=2)
        assert backend.store.fail(user, f"rc_{i}", DECLINED, False, T0 - 2 * HOUR)
        backend.store.reset_failures(user, NOW)
    assert not start(backend, user, "rc_2", limit=2)
    assert start(backend, user, "rc_3", limit=3)  # the limit is the one in the settings now
    assert backend.store.fail(user, "rc_3", DECLINED, False, T0 - 2 * HOUR)
    assert start(backend, user, "rc_4", month="2027-04", limit=2)
    state = backend.store.state(user)
    assert (state.month, state.started) == ("2027-04", 1)


def test_start_is_paced_after_a_failure(backend, user):
    ready(backend, user)
    assert start(backend, user, "rc_a")
    assert backend.store.fail(user, "rc_a", DECLINED, False, T0)
    assert not start(backend, user, "rc_b", cutoff=T0 - 1)
    assert start(backend, user, "rc_c", cutoff=T0)  # a failure exactly at the cutoff is old enough


def test_start_is_refused_after_a_missing_card(backend, user):
    ready(backend, user)
    assert start(backend, user, "rc_a")
    assert backend.store.fail(user, "rc_a", "resource_missing", True, T0 - 2 * HOUR)
    assert not start(backend, user, "rc_b")


def test_start_is_refused_after_three_failures_until_they_are_reset(backend, user):
    ready(backend, user)
    for i in range(3):
        assert start(backend, user, f"rc_{i}")
        assert backend.store.fail(user, f"rc_{i}", DECLINED, False, T0 - 2 * HOUR)
    assert backend.store.state(user).failures == 3
    assert not start(backend, user, "rc_3")
    backend.store.reset_failures(user, NOW)
    state = backend.store.state(user)
    assert (state.failures, state.last_failure_ms) == (0, None)
    assert start(backend, user, "rc_4")


# --- the record and its failure -----------------------------------------------------------------------------------
def test_set_payment_intent_is_stored_on_the_record(backend, user):
    ready(backend, user)
    start(backend, user)
    backend.store.set_payment_intent(user, "rc_a", "pi_1")
    assert backend.store.record(user, "rc_a").payment_intent == "pi_1"
    assert backend.store.record(user, "rc_a").status == "requested"


def test_fail_records_once_frees_in_flight_and_counts(backend, user):
    ready(backend, user)
    start(backend, user)
    assert backend.store.fail(user, "rc_a", DECLINED, False, T0 + 5)
    assert not backend.store.fail(user, "rc_a", DECLINED, False, T0 + 6)
    rec, state = backend.store.record(user, "rc_a"), backend.store.state(user)
    assert (rec.status, rec.reason) == ("failed", DECLINED)
    assert (state.in_flight, state.failures, state.last_failure_ms, state.last_failure_reason,
            state.needs_payment_method) == (None, 1, T0 + 5, DECLINED, False)


def test_fail_with_a_missing_card_sets_needs_payment_method(backend, user):
    ready(backend, user)
    start(backend, user)
    assert backend.store.fail(user, "rc_a", "resource_missing", True, T0)
    assert backend.store.state(user).needs_payment_method


def test_fail_of_a_record_that_is_not_in_flight_changes_nothing(backend, user):
    ready(backend, user)
    assert not backend.store.fail(user, "rc_never", DECLINED, False, T0)
    assert backend.store.state(user).failures == 0


def test_in_flight_lists_unsettled_records_older_than_the_cutoff(backend, user):
    ready(backend, user)
    start(backend, user, "rc_a", created_ms=T0)
    assert (user, "rc_a") in backend.store.in_flight(T0)
    assert (user, "rc_a") not in backend.store.in_flight(T0 - 1)
    backend.store.fail(user, "rc_a", DECLINED, False, T0)
    assert (user, "rc_a") not in backend.store.in_flight(T0 + HOUR)


def test_concurrent_starts_of_different_recharges_start_one(backend, user):
    ready(backend, user)
    barrier = threading.Barrier(8)
    results: list[bool] = []

    def starter(i: int) -> None:
        barrier.wait()
        results.append(start(backend, user, f"rc_{i}"))

    threads = [threading.Thread(target=starter, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True]
    state = backend.store.state(user)
    assert state.started == 1
    assert [i for i in range(8) if backend.store.record(user, f"rc_{i}") is not None] == [
        int(state.in_flight.removeprefix("rc_"))]


# --- the whole service on each backend (settlement in the ledger's transaction) -----------------------------------
def world_on(b: Backend, user: str) -> World:
    w = make_world(b.store, user=user)
    b.enable(user)
    w.save_card()
    return w


def test_a_recharge_is_credited_once_and_settles_its_record(backend, user):
    w = world_on(backend, user)
    recharge_id = w.trigger(available=0)
    assert recharge_id is not None
    assert w.service.execute(user, recharge_id) == "succeeded"
    pi = w.record(recharge_id).payment_intent
    assert w.service.execute(user, recharge_id) == "succeeded"
    assert w.service.on_intent(w.stripe.retrieve_payment_intent(pi)) == "duplicate"
    assert [e.amount for e in w.purchases_of(pi)] == [CREDITS]
    assert w.available() == CREDITS
    state = w.state()
    assert (w.record(recharge_id).status, state.in_flight, state.failures) == ("succeeded", None, 0)
    assert (user, recharge_id) not in backend.store.in_flight(T0 + 10 * HOUR)


def test_a_settlement_of_a_recharge_that_failed_meanwhile_credits_nothing(backend, user):
    w = world_on(backend, user)
    recharge_id = w.trigger(available=0)
    assert recharge_id is not None
    w.stripe.on_created = lambda intent: backend.store.fail(user, recharge_id, DECLINED, False, T0)
    assert w.service.execute(user, recharge_id) == "duplicate"  # the record's condition refused the credit
    assert w.entries("purchase") == []
    assert w.record(recharge_id).status == "failed"

