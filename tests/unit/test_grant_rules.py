"""The contract's grant rules, one test each, with an injected clock (no sleeping): the storage port's contract suite.

Every rule runs on both adapters, the in-memory store and the DynamoDB one on DynamoDB Local (a fresh table per
test, so the item-size and transaction limits of the real engine apply); the few tests that seed a pre-grants
layout through the memory store's helpers run on it alone (`mem`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from credits.adapters.dynamo import Table
from credits.adapters.dynamo_ledger import DynamoLedgerStore
from credits.adapters.dynamo_purchases import DynamoPurchaseStore
from credits.adapters.memory import MemoryStore
from credits.engine import AccountEngine, WelcomeGrant
from credits.errors import (
    GrantNotActive,
    HoldExpired,
    IdempotencyKeyReused,
    InsufficientCredits,
    InvalidRequest,
    NotFound,
    UnknownFeature,
)
from credits.grant_lot import LiveGrant
from credits.grants import GrantService
from credits.ids import iso_ms, ms_of
from credits.ledger import Ledger
from credits.models import Hold, Purchase
from credits.ports import PurchaseClawback, PurchaseFulfil
from local.template import create_table

T0 = 1_800_000_000_000  # ms
DAY = 86_400_000


@dataclass
class World:
    store: Any  # MemoryStore, or the DynamoDB adapters over one table
    clock: list[int]
    engine: AccountEngine
    ledger: Ledger
    grants: GrantService
    keys: list[int]

    def at(self, ms: int) -> None:
        self.clock[0] = ms

    def later(self, ms: int) -> None:
        self.clock[0] += ms

    def grant(self, user: str, amount: int, **kw: Any) -> str:
        self.keys[0] += 1
        return self.grants.create_grant(user, amount, idempotency_key=f"k{self.keys[0]}", **kw).grant.grant_id

    def entries(self, user: str, entry_type: str | None = None) -> list[Any]:
        items, after, out = [], None, []
        while True:
            items, after = self.store.query_entries(user, entry_type, 100, after)
            out += items
            if after is None:
                return out

    def by_id(self, user: str, grant_id: str) -> Any:
        return self.grants.grant(user, grant_id)


    @property
    def requests(self) -> int:
        """Store requests so far (the memory store counts them; the DynamoDB adapters' table does)."""
        return int(self.store.requests if hasattr(self.store, "requests") else self.store.table.requests)


def make(welcome: WelcomeGrant | None = None, store_factory: Callable[[], Any] = MemoryStore) -> World:
    store = store_factory()
    clock = [T0]
    engine = AccountEngine(store, clock=lambda: clock[0] / 1000, welcome=welcome)
    return World(store, clock, engine, Ledger(engine, feature_price={"img": 5}.get), GrantService(engine), [0])


class DynamoStores(DynamoLedgerStore, DynamoPurchaseStore):
    """Both DynamoDB adapters over one table, as deployed."""


@pytest.fixture(params=["memory", "dynamodb"])
def store_factory(request: pytest.FixtureRequest) -> Iterator[Callable[[], Any]]:
    if request.param == "memory":
        yield MemoryStore
        return
    client = request.getfixturevalue("ddb_client")
    name = f"rules-{uuid.uuid4().hex[:12]}"
    create_table(client, name)
    yield lambda: DynamoStores(Table(name, client=client))
    client.delete_table(TableName=name)


@pytest.fixture
def w(store_factory: Callable[[], Any]) -> World:
    return make(store_factory=store_factory)


@pytest.fixture
def mem() -> World:
    return make()


def test_spend_order_is_priority_then_soonest_expiry_then_oldest(w):
    late = w.grant("u", 10, expires_in_days=9)
    w.later(1)
    never = w.grant("u", 10)
    w.later(1)
    soon = w.grant("u", 10, expires_in_days=1)
    w.later(1)
    first = w.grant("u", 10, priority=10)  # lowest priority number first, even though it is newest
    w.ledger.consume("u", 35)
    spent = {g: w.by_id("u", g).spent for g in (first, soon, late, never)}
    assert spent == {first: 10, soon: 10, late: 10, never: 5}


def test_expiry_is_visible_on_the_next_read_and_refused_by_the_next_spend(w):
    g = w.grant("u", 100, expires_at=iso_ms(T0 + 60_000))
    w.ledger.consume("u", 30)
    w.at(T0 + 60_000)  # now >= expires_at, to the millisecond
    assert w.ledger.balance("u").available == 0
    with pytest.raises(InsufficientCredits):
        w.ledger.consume("u", 1)
    [expiry] = w.entries("u", "expiry")
    assert (expiry.amount, expiry.grant_id, expiry.created_at) == (-70, g, iso_ms(T0 + 60_000))
    assert expiry.id == f"exp_{g.removeprefix('gr_')}_0"  # stable: derived from the grant and a sequence number
    assert w.by_id("u", g).status == "expired"


def test_one_millisecond_before_expiry_the_credits_are_still_there(w):
    w.grant("u", 100, expires_at=iso_ms(T0 + 60_000))
    w.at(T0 + 59_999)
    assert w.ledger.consume("u", 100).amount == 100


def test_held_credits_of_an_expired_grant_stay_held_and_expire_when_they_return(w):
    g = w.grant("u", 100, expires_at=iso_ms(T0 + 10_000))
    hold = w.ledger.place_hold("u", 40, ttl_seconds=60).hold
    w.at(T0 + 10_000)
    b = w.ledger.balance("u")
    assert (b.available, b.held) == (0, 40)
    assert w.by_id("u", g).status == "expired" and w.by_id("u", g).held == 40
    w.at(T0 + 20_000)
    w.ledger.release_hold("u", hold.hold_id)
    expiries = sorted(w.entries("u", "expiry"), key=lambda e: e.created_at)
    assert [(e.amount, e.created_at) for e in expiries] == [(-60, iso_ms(T0 + 10_000)), (-40, iso_ms(T0 + 20_000))]
    assert w.ledger.balance("u").balance == 0
    grant = w.by_id("u", g)
    assert (grant.expired, grant.held, grant.remaining) == (100, 0, 0)


def test_a_hold_that_expires_after_its_grant_expired_returns_its_credits_as_an_expiry_at_its_own_expiry(w):
    w.grant("u", 100, expires_at=iso_ms(T0 + 5_000))
    w.ledger.place_hold("u", 30, ttl_seconds=20)
    w.at(T0 + 60_000)
    w.ledger.history("u", limit=10, cursor=None, entry_type=None)  # a read records what time changed
    assert [(e.amount, e.created_at) for e in sorted(w.entries("u", "expiry"), key=lambda e: e.created_at)] == [
        (-70, iso_ms(T0 + 5_000)), (-30, iso_ms(T0 + 20_000))]


def test_holds_take_credits_in_spend_order_and_a_release_gives_them_back_to_the_same_grants(w):
    low = w.grant("u", 20, priority=0)
    high = w.grant("u", 50, priority=90)
    hold = w.ledger.place_hold("u", 30).hold
    assert (w.by_id("u", low).held, w.by_id("u", high).held) == (20, 10)
    w.ledger.release_hold("u", hold.hold_id)
    assert (w.by_id("u", low).remaining, w.by_id("u", high).remaining) == (20, 50)


def test_a_capture_spends_in_the_holds_grants_spend_order_and_returns_the_rest(w):
    low = w.grant("u", 20, priority=0)
    high = w.grant("u", 50, priority=90)
    hold = w.ledger.place_hold("u", 30).hold
    w.ledger.capture_hold("u", hold.hold_id, 25)
    a, b = w.by_id("u", low), w.by_id("u", high)
    assert (a.spent, a.held, b.spent, b.held, b.remaining) == (20, 0, 5, 0, 45)


def test_void_takes_the_remaining_now_and_held_credits_when_they_return(w):
    g = w.grant("u", 100)
    hold = w.ledger.place_hold("u", 30).hold
    voided = w.grants.void_grant("u", g, "fraud")
    assert (voided.voided, voided.grant.status, voided.grant.held) == (70, "voided", 30)
    assert w.ledger.balance("u").available == 0
    w.ledger.capture_hold("u", hold.hold_id, 10)
    voids = w.entries("u", "void")
    assert sorted(e.amount for e in voids) == [-70, -20]
    assert next(e for e in voids if e.amount == -70).description == "fraud"
    grant = w.by_id("u", g)
    assert (grant.voided, grant.spent, grant.held) == (90, 10, 0)
    with pytest.raises(GrantNotActive):
        w.grants.void_grant("u", g, "again")


def test_void_of_an_unknown_or_another_users_grant_is_404_and_of_a_depleted_one_409(w):
    g = w.grant("u", 5)
    with pytest.raises(NotFound):
        w.grants.void_grant("u", "gr_nope", "x")
    with pytest.raises(NotFound):
        w.grants.void_grant("someone-else", g, "x")
    w.ledger.consume("u", 5)
    with pytest.raises(GrantNotActive):
        w.grants.void_grant("u", g, "x")


def test_void_with_a_key_is_idempotent(w):
    g = w.grant("u", 10)
    first = w.grants.void_grant("u", g, "r", idempotency_key="v1")
    again = w.grants.void_grant("u", g, "r", idempotency_key="v1")
    assert (again.replayed, again.voided) == (True, first.voided)
    with pytest.raises(IdempotencyKeyReused):
        w.grants.void_grant("u", g, "other reason", idempotency_key="v1")


def test_a_grant_replay_answers_the_grant_as_it_is_now_even_after_its_expiry_passed(w):
    created = w.grants.create_grant("u", 50, idempotency_key="g1", expires_at=iso_ms(T0 + 1000))
    w.ledger.consume("u", 20)
    w.at(T0 + 5000)  # expires_at is in the past now: a new request would be a 400, a replay is still a replay
    again = w.grants.create_grant("u", 50, idempotency_key="g1", expires_at=iso_ms(T0 + 1000))
    assert again.replayed and again.grant.grant_id == created.grant.grant_id
    assert (again.grant.status, again.grant.spent, again.grant.expired) == ("expired", 20, 30)
    with pytest.raises(InvalidRequest, match="future"):
        w.grants.create_grant("u", 50, idempotency_key="g2", expires_at=iso_ms(T0 + 1000))
    with pytest.raises(IdempotencyKeyReused):
        w.grants.create_grant("u", 51, idempotency_key="g1", expires_at=iso_ms(T0 + 1000))


def test_a_grant_key_is_new_again_after_seven_days(w):
    w.grants.create_grant("u", 5, idempotency_key="week")
    w.later(7 * DAY + 1)
    again = w.grants.create_grant("u", 5, idempotency_key="week")
    assert not again.replayed and w.ledger.balance("u").available == 10


def test_expires_in_days_is_not_recomputed_on_replay(w):
    first = w.grants.create_grant("u", 5, idempotency_key="d", expires_in_days=3).grant
    w.later(DAY)
    again = w.grants.create_grant("u", 5, idempotency_key="d", expires_in_days=3).grant
    assert again.expires_at == first.expires_at == iso_ms(T0 + 3 * DAY)


def test_expiring_is_the_next_instant_and_the_sum_of_grants_expiring_then(w):
    at = iso_ms(T0 + DAY)
    w.grant("u", 10, expires_at=at)
    w.grant("u", 15, expires_at=at)
    w.grant("u", 99, expires_at=iso_ms(T0 + 2 * DAY))
    w.grant("u", 1000)
    w.ledger.place_hold("u", 5)  # held credits are not counted
    e = w.ledger.balance("u").expiring
    assert e is not None and (e.amount, e.at) == (20, at)
    w.ledger.consume("u", 20)
    e = w.ledger.balance("u").expiring
    assert e is not None and (e.amount, e.at) == (99, iso_ms(T0 + 2 * DAY))


def test_debt_is_repaid_first_by_any_new_grant(w):
    sid = _purchase(w, "u", 100)
    w.ledger.consume("u", 80)
    _clawback(w, "u", sid, 100)  # a full refund after spending: 80 into debt
    assert w.ledger.balance("u").available == -80
    with pytest.raises(InsufficientCredits) as err:
        w.ledger.consume("u", 1)
    assert err.value.available == -80
    g = w.grant("u", 50)
    assert w.ledger.balance("u").available == -30
    grant = w.by_id("u", g)
    assert (grant.repaid_debt, grant.remaining, grant.status) == (50, 0, "depleted")
    g2 = w.grant("u", 100)
    assert (w.by_id("u", g2).repaid_debt, w.by_id("u", g2).remaining) == (30, 70)


def test_clawback_takes_from_the_purchases_own_grant_first_then_spend_order_never_held(w):
    promo = w.grant("u", 100, priority=0)
    sid = _purchase(w, "u", 100)
    purchase_grant = w.store.get_purchase(sid).grant_id
    w.ledger.place_hold("u", 150)  # holds promo 100 and 50 of the purchase
    _clawback(w, "u", sid, 80)
    assert w.by_id("u", purchase_grant).clawed_back == 50  # all its free credits
    assert w.by_id("u", promo).clawed_back == 0  # promo's are all held
    assert w.ledger.balance("u").available == -30


def test_credits_already_expired_or_voided_count_toward_the_clawback(w):
    sid = _purchase(w, "u", 100)
    gid = w.store.get_purchase(sid).grant_id
    w.ledger.consume("u", 40)
    w.grants.void_grant("u", gid, "voided first")  # 60 gone already
    assert _clawback(w, "u", sid, 100) == -40  # full refund: only the 40 spent are still to take (into debt)
    assert w.ledger.balance("u").available == -40


def test_a_restore_repays_debt_then_returns_to_the_grant_and_revives_it(w):
    sid = _purchase(w, "u", 100)
    gid = w.store.get_purchase(sid).grant_id
    w.ledger.consume("u", 30)
    _clawback(w, "u", sid, 100)  # 70 from the grant, 30 into debt
    assert (w.ledger.balance("u").available, w.by_id("u", gid).status) == (-30, "depleted")
    assert _clawback(w, "u", sid, 0, taken=100) == 100  # dispute won: everything comes back
    grant = w.by_id("u", gid)
    assert (grant.status, grant.remaining, grant.restored, grant.repaid_debt) == ("active", 70, 100, 30)
    assert w.ledger.balance("u").available == 70
    restore = w.entries("u", "restore")
    assert [e.amount for e in restore] == [100] and restore[0].grant_id == gid


def test_a_restore_to_an_expired_grant_only_repays_debt(w):
    sid = _purchase(w, "u", 100, expires_ms=T0 + DAY)
    w.ledger.consume("u", 30)
    _clawback(w, "u", sid, 100)
    w.at(T0 + 2 * DAY)
    assert _clawback(w, "u", sid, 0, taken=100) == 30  # 30 repays debt; the rest would have expired
    assert w.ledger.balance("u").available == 0


def test_a_consume_by_feature_costs_quantity_times_its_price(w):
    w.grant("u", 100)
    result = w.ledger.consume("u", feature="img", quantity=3)
    assert (result.amount, result.feature, result.quantity) == (15, "img", 3)
    [usage] = w.entries("u", "usage")
    assert (usage.amount, usage.feature, usage.quantity) == (-15, "img", 3)
    with pytest.raises(UnknownFeature):
        w.ledger.consume("u", feature="nope")
    with pytest.raises(InvalidRequest):
        w.ledger.consume("u", feature="img", quantity=300_000_000)  # 1.5e9 credits: above the limit


def test_a_feature_replay_answers_the_first_cost_and_defaults_are_filled_in(w):
    w.grant("u", 100)
    first = w.ledger.consume("u", feature="img", idempotency_key="f1")
    again = w.ledger.consume("u", feature="img", quantity=1, idempotency_key="f1")
    assert again.replayed and again.transaction_id == first.transaction_id and again.amount == 5


def test_a_hold_replay_answers_the_hold_as_it_is_now(w):
    w.grant("u", 100)
    placed = w.ledger.place_hold("u", 10, idempotency_key="h1")
    w.ledger.capture_hold("u", placed.hold.hold_id, 4)
    again = w.ledger.place_hold("u", 10, idempotency_key="h1")
    assert again.replayed and again.hold.hold_id == placed.hold.hold_id and again.hold.status == "captured"


def test_capture_and_release_replays_answer_the_first_result_and_another_hold_is_409(w):
    w.grant("u", 100)
    a = w.ledger.place_hold("u", 10).hold
    b = w.ledger.place_hold("u", 10).hold
    first = w.ledger.capture_hold("u", a.hold_id, 7, idempotency_key="c1")
    again = w.ledger.capture_hold("u", a.hold_id, 7, idempotency_key="c1")
    assert again.replayed and (again.captured, again.transaction_id) == (7, first.transaction_id)
    with pytest.raises(IdempotencyKeyReused):
        w.ledger.capture_hold("u", b.hold_id, 7, idempotency_key="c1")
    assert w.ledger.balance("u").available == 83


def test_capture_or_release_of_an_expired_hold_is_hold_expired(w):
    w.grant("u", 100)
    hold = w.ledger.place_hold("u", 10, ttl_seconds=5).hold
    w.later(5_000)
    assert w.ledger.get_hold("u", hold.hold_id).status == "expired"
    for resolve in (lambda: w.ledger.capture_hold("u", hold.hold_id), lambda: w.ledger.release_hold("u", hold.hold_id)):
        with pytest.raises(HoldExpired):
            resolve()
    assert w.ledger.balance("u").available == 100


def test_a_thousand_expired_holds_settle_in_a_bounded_number_of_requests(mem):
    """Expired holds are settled in bulk by a watermark (one marker query, one write), never one write per hold.
    (On DynamoDB Local: tests/integration/test_request_costs_dynamodb.py.)"""
    w = mem
    w.grant("u", 100_000)
    for _ in range(1000):
        w.ledger.place_hold("u", 1, ttl_seconds=1)
    w.later(2_000)
    before = w.requests
    w.ledger.consume("u", 100_000)  # needs every expired hold's credit back
    assert w.requests - before <= 6
    b = w.ledger.balance("u")
    assert (b.available, b.held) == (0, 0)
    tidied = w.engine.sweep()  # the sweeper tidies the hold records afterwards, moving no credits
    assert tidied["holds_tidied"] == 500 and w.ledger.balance("u").balance == 0


def test_a_hundred_active_grants_keep_every_guarantee(w):
    ids = [w.grant("u", 10, priority=i % 7, expires_in_days=1 + i % 5) for i in range(100)]
    w.ledger.consume("u", 555)
    hold = w.ledger.place_hold("u", 300).hold
    w.at(T0 + 2 * DAY + 1)
    w.ledger.release_hold("u", hold.hold_id) if w.ledger.get_hold("u", hold.hold_id).status == "pending" else None
    grants = [w.by_id("u", g) for g in ids]
    assert sum(g.spent for g in grants) == 555
    assert all(g.amount == g.remaining + g.spent + g.held + g.expired for g in grants)
    assert sum(e.amount for e in w.entries("u")) == w.ledger.balance("u").balance


def test_grants_list_active_in_spend_order_then_the_others_newest_first(w):
    a = w.grant("u", 10, priority=90)
    w.later(1)
    b = w.grant("u", 10, priority=10)
    w.later(1)
    c = w.grant("u", 10)
    w.later(1)
    d = w.grant("u", 10)
    w.grants.void_grant("u", c, "x")
    w.ledger.consume("u", 10)  # b depleted
    page = w.grants.list_grants("u", status="active", limit=100, cursor=None)
    assert [g.grant_id for g in page.grants] == [d, a] and page.next_cursor is None
    everything, cursor = [], None
    while True:
        page = w.grants.list_grants("u", status="all", limit=1, cursor=cursor)
        everything += [(g.grant_id, g.status) for g in page.grants]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert everything == [(d, "active"), (a, "active"), (c, "voided"), (b, "depleted")]


def test_a_grant_cursor_of_another_user_or_filter_is_refused(w):
    for _ in range(3):
        w.grant("u", 1)
    page = w.grants.list_grants("u", status="all", limit=1, cursor=None)
    with pytest.raises(InvalidRequest):
        w.grants.list_grants("v", status="all", limit=1, cursor=page.next_cursor)
    with pytest.raises(InvalidRequest):
        w.grants.list_grants("u", status="active", limit=1, cursor=page.next_cursor)


# --- welcome grant -----------------------------------------------------------------------------------------------
def test_a_new_user_gets_exactly_one_welcome_grant_on_the_first_request_of_any_kind():
    w = make(WelcomeGrant(250, 14))
    assert w.ledger.balance("new").available == 250  # a read creates it
    assert w.ledger.balance("new").available == 250
    [grant] = w.grants.list_grants("new", status="all", limit=10, cursor=None).grants
    assert (grant.source, grant.category, grant.expires_at) == ("welcome", "promotional", iso_ms(T0 + 14 * DAY))
    assert [e.type for e in w.entries("new")] == ["grant"]
    other = make(WelcomeGrant(250, None))
    assert other.ledger.consume("fresh", 100).amount == 100  # the first request is a spend: it sees the grant
    assert other.ledger.balance("fresh").available == 150 and other.ledger.balance("fresh").expiring is None


def test_users_who_existed_before_the_welcome_setting_get_none():
    w = make()
    w.grant("old", 5)
    w.engine.welcome = WelcomeGrant(250, None)
    assert w.ledger.balance("old").available == 5
    assert w.ledger.balance("brand-new").available == 250


def test_without_the_setting_reads_write_nothing_for_an_unknown_user(w):
    assert w.ledger.balance("ghost").available == 0
    w.grants.list_grants("ghost", status="all", limit=5, cursor=None)
    w.ledger.history("ghost", limit=5, cursor=None, entry_type=None)
    assert not w.store.load_account("ghost").exists


# --- migration ------------------------------------------------------------------------------------------------------
def test_a_balance_written_before_grants_behaves_as_one_never_expiring_paid_grant(mem):
    w = mem
    w.store.seed_legacy_balance("old", available=120, held=30, updated_at="2026-01-01T00:00:00.000Z")
    legacy_hold = Hold("hold_legacy", "old", 30, "pending", iso_ms(T0 + 60_000), (T0 + 60_000) // 1000,
                       "2026-01-01T00:00:00.000Z")
    w.store.seed_legacy_hold(legacy_hold)
    w.ledger.consume("old", 20)  # the first touch migrates, then spends
    [grant] = w.grants.list_grants("old", status="all", limit=10, cursor=None).grants
    assert (grant.source, grant.category, grant.priority, grant.expires_at) == ("migration", "paid", 50, None)
    assert (grant.amount, grant.remaining, grant.held, grant.spent) == (150, 100, 30, 20)
    assert grant.created_at == "2026-01-01T00:00:00.000Z"
    w.ledger.release_hold("old", "hold_legacy")  # a hold placed before the migration returns to it
    assert w.by_id("old", grant.grant_id).remaining == 130


def test_a_migrated_debt_stays_debt(mem):
    w = mem
    w.store.seed_legacy_balance("owes", available=-40, held=0, updated_at="2026-01-01T00:00:00.000Z")
    assert w.ledger.balance("owes").available == -40
    g = w.grant("owes", 100)
    assert (w.by_id("owes", g).repaid_debt, w.ledger.balance("owes").available) == (40, 60)


# --- helpers --------------------------------------------------------------------------------------------------------
def _purchase(w: World, user: str, credits: int, expires_ms: int | None = None) -> str:
    sid = f"cs_{w.keys[0]}_{credits}"
    w.keys[0] += 1
    record = Purchase(sid, user, "standard", credits, 1990, "usd", "pending", iso_ms(w.clock[0]))
    w.store.put_purchase(record)
    grant = LiveGrant(f"gr_p{w.keys[0]:06d}", "paid", "purchase", credits, 50, expires_ms, w.clock[0], "b", sid)
    w.grants.fulfil_purchase(PurchaseFulfil(Purchase(**{**record.__dict__, "grant_id": grant.id}), f"pi_{sid}"),
                             grant, {"session_id": sid})
    return sid


def _clawback(w: World, user: str, sid: str, clawed: int, taken: int | None = None) -> int:
    purchase = w.store.get_purchase(sid)

    def decide(grant: LiveGrant | None) -> tuple[PurchaseClawback, dict[str, Any]] | None:
        assert grant is not None
        target = max(0, clawed - grant.expired - grant.voided)
        return PurchaseClawback(sid, purchase.credits_clawed_back, target, "refunded", 0), {"session_id": sid}

    return w.grants.apply_clawback(user, purchase.grant_id, decide, "Refund")


def test_iso_helpers_round_trip():
    assert ms_of(iso_ms(T0 + 123)) == T0 + 123


def test_grants_stop_at_the_live_limit_but_purchases_never_do(w):
    w.grants = GrantService(w.engine, max_live_grants=3)
    for _ in range(3):
        w.grant("u", 1)
    from credits.errors import TooManyGrants

    with pytest.raises(TooManyGrants):
        w.grant("u", 1)
    _purchase(w, "u", 10)
    assert w.ledger.balance("u").available == 13


@pytest.mark.parametrize("expires_at", ["9999-12-31T23:59:59-01:00", iso_ms(T0 + 3651 * DAY), "2027-13-01T00:00:00Z",
                                        "tomorrow"])
def test_an_expiry_too_far_ahead_or_malformed_is_a_400_and_writes_nothing(w, expires_at):
    with pytest.raises(InvalidRequest, match="expires_at"):
        w.grants.create_grant("u", 5, idempotency_key="far", expires_at=expires_at)
    assert not w.store.load_account("u").exists


def test_a_consume_replay_answers_its_first_cost_after_the_feature_left_the_price_list(w):
    w.grant("u", 100)
    prices = {"img": 5}
    ledger = Ledger(w.engine, feature_price=prices.get)
    first = ledger.consume("u", feature="img", quantity=2, idempotency_key="r1")
    del prices["img"]
    again = ledger.consume("u", feature="img", quantity=2, idempotency_key="r1")
    assert again.replayed and (again.transaction_id, again.amount) == (first.transaction_id, 10)
    with pytest.raises(UnknownFeature):
        ledger.consume("u", feature="img", quantity=2, idempotency_key="r2")
