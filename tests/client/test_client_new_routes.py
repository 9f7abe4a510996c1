"""The client against the routes and fields added with grants: grants (internal create/void, user listing), the
price list, ``replayed`` and ``return_balance`` on consume, ``expiring`` on balance, idempotent capture and release,
usage and settings.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.credentials import Credentials

import credits_client as cc

from .conftest import FAST_RETRY
from .proxy import DroppingProxy


@pytest.fixture
def admin(stack: Any) -> Iterator[cc.CreditsAdminClient]:
    with cc.CreditsAdminClient(stack.base_url, region="us-east-1", credentials=Credentials("AKIDLOCAL", "local"),
                               retry=FAST_RETRY) as client:
        yield client


@pytest.fixture
def granted(admin: cc.CreditsAdminClient, client: cc.CreditsClient, user: str) -> cc.CreditsClient:
    """The ``user``'s client with one never-expiring promotional grant of 300 credits."""
    admin.grant(user, 300, description="seed", idempotency_key=f"seed-{user}")
    assert client.balance().available == 300
    return client


@pytest.fixture
def proxy(stack: Any) -> Iterator[DroppingProxy]:
    with DroppingProxy(stack.base_url) as p:
        yield p


# --- grants (internal create/void, user listing) ----------------------------------------------------------------
def test_an_internal_grant_is_created_once_per_key_and_listed_in_spend_order(
        admin: cc.CreditsAdminClient, client: cc.CreditsClient, user: str) -> None:
    later = admin.grant(user, 50, priority=60, description="late", idempotency_key="g-late")
    first = admin.grant(user, 20, priority=10, expires_in_days=30, description="early", idempotency_key="g-early")
    again = admin.grant(user, 20, priority=10, expires_in_days=30, description="early", idempotency_key="g-early")
    assert (first.replayed, again.replayed, again.grant_id) == (False, True, first.grant_id)
    assert (first.category, first.source, first.remaining, first.status) == ("promotional", "grant", 20, "active")
    assert [g.grant_id for g in client.grants()] == [first.grant_id, later.grant_id]
    assert client.balance().available == 70
    entries = list(client.history(type="grant"))
    assert {e.grant_id for e in entries} == {first.grant_id, later.grant_id}


def test_the_same_grant_key_with_another_body_raises_idempotency_key_reused(admin: cc.CreditsAdminClient,
                                                                             user: str) -> None:
    admin.grant(user, 10, idempotency_key="g-reuse")
    with pytest.raises(cc.IdempotencyKeyReused):
        admin.grant(user, 11, idempotency_key="g-reuse")


def test_voiding_a_grant_removes_its_remaining_once(admin: cc.CreditsAdminClient, granted: cc.CreditsClient,
                                                    user: str) -> None:
    (seed,) = list(granted.grants())
    granted.consume(100)
    voided = admin.void_grant(user, seed.grant_id, reason="abuse")
    assert (voided.status, voided.voided, voided.remaining) == ("voided", 200, 0)
    assert granted.balance().available == 0
    with pytest.raises(cc.GrantNotActive):
        admin.void_grant(user, seed.grant_id, reason="again")
    with pytest.raises(cc.NotFound):
        admin.void_grant(user, "grant-that-does-not-exist", reason="x")
    assert list(granted.grants()) == []
    (listed,) = list(granted.grants(status="all"))
    assert (listed.status, listed.spent, listed.voided) == ("voided", 100, 200)
    voids = list(granted.history(type="void"))
    assert [(e.amount, e.grant_id) for e in voids] == [(-200, seed.grant_id)]


def test_balance_reports_the_next_expiry(admin: cc.CreditsAdminClient, client: cc.CreditsClient, user: str) -> None:
    assert client.balance().expiring is None
    at = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    grant = admin.grant(user, 40, expires_at=at, idempotency_key="g-exp")
    admin.grant(user, 15, idempotency_key="g-never")
    expiring = client.balance().expiring
    assert expiring is not None and expiring.amount == 40 and expiring.at == grant.expires_at


def test_grants_iterates_over_pages(admin: cc.CreditsAdminClient, client: cc.CreditsClient, user: str) -> None:
    for i in range(5):
        admin.grant(user, 1 + i, idempotency_key=f"g-page-{i}")
    assert sorted(g.amount for g in client.grants(page_size=2)) == [1, 2, 3, 4, 5]


def test_internal_consume_with_a_feature_and_return_balance(admin: cc.CreditsAdminClient, granted: cc.CreditsClient,
                                                            user: str) -> None:
    feature = admin.features()[0]
    result = admin.consume(user, feature=feature.id, quantity=2, return_balance=True)
    assert (result.user_id, result.amount) == (user, 2 * feature.credits_per_unit)
    assert result.available == 300 - result.amount


# --- the price list and consume's new fields ------------------------------------------------------------------
def test_consume_by_feature_costs_quantity_times_the_price(granted: cc.CreditsClient) -> None:
    features = granted.features()
    assert features and all(f.credits_per_unit >= 1 for f in features)
    f = features[0]
    result = granted.consume(feature=f.id, quantity=3, description="priced")
    assert result.amount == 3 * f.credits_per_unit
    (entry,) = [e for e in granted.history(type="usage") if e.description == "priced"]
    assert (entry.feature, entry.quantity, entry.amount) == (f.id, 3, -result.amount)


def test_an_unknown_feature_is_refused_by_the_server_then_locally_once_cached(
        stack: Any, granted: cc.CreditsClient, make_client: Any, user: str, proxy: DroppingProxy) -> None:
    client = make_client(user, base_url=proxy.url)
    with pytest.raises(cc.InvalidRequest) as info:
        client.consume(feature="no-such-feature")
    assert (info.value.status, info.value.code) == (400, "unknown_feature")
    client.features()
    sent = len(proxy.requests)
    with pytest.raises(cc.InvalidRequest) as info:
        client.consume(feature="no-such-feature")
    assert (info.value.status, info.value.code, len(proxy.requests)) == (None, "unknown_feature", sent)


def test_consume_answers_replayed_and_only_with_return_balance_the_balance(granted: cc.CreditsClient) -> None:
    first = granted.consume(10, idempotency_key="rb-1")
    again = granted.consume(10, idempotency_key="rb-1", return_balance=True)  # return_balance is not in the key
    assert (first.replayed, first.balance, first.available) == (False, None, None)
    assert (again.replayed, again.transaction_id, again.balance, again.available) == (
        True, first.transaction_id, 290, 290)


def test_a_dropped_answer_is_retried_and_answers_replayed(granted: cc.CreditsClient, make_client: Any, user: str,
                                                          proxy: DroppingProxy) -> None:
    proxy.drop_next(1)
    result = make_client(user, base_url=proxy.url).consume(7)
    assert json.loads(proxy.dropped[0].body)["replayed"] is False
    assert result.replayed is True and granted.balance().available == 293


def test_a_capture_whose_answer_is_dropped_captures_once(granted: cc.CreditsClient, make_client: Any, user: str,
                                                         proxy: DroppingProxy) -> None:
    client = make_client(user, base_url=proxy.url)
    with client.hold(100, ttl_seconds=60) as h:
        proxy.drop_next(1)
        result = h.capture(37)
    assert len(proxy.dropped) == 1 and result.replayed is True and result.captured == 37
    keys = {m.header("idempotency-key") for m in proxy.requests_to(f"/credits/holds/{h.hold_id}/capture")}
    assert len(keys) == 1
    b = granted.balance()
    assert (b.available, b.held) == (263, 0)


def test_a_release_whose_answer_is_dropped_releases_once(granted: cc.CreditsClient, make_client: Any, user: str,
                                                         proxy: DroppingProxy) -> None:
    client = make_client(user, base_url=proxy.url)
    h = client.hold(50)
    proxy.drop_next(1)
    result = h.release()
    assert result.replayed is True and result.released == 50
    assert granted.balance().available == 300


# --- usage ----------------------------------------------------------------------------------------------------
def test_usage_counts_spends_per_day_and_per_feature(granted: cc.CreditsClient) -> None:
    f = granted.features()[0]
    granted.consume(5)
    granted.consume(feature=f.id, quantity=2)
    with granted.hold(30) as h:
        h.capture(12)
    spent = 5 + 2 * f.credits_per_unit + 12
    today = dt.datetime.now(dt.UTC).date()
    deadline = time.monotonic() + 15  # aggregates are exact within 10 s locally
    by_day = granted.usage()
    while sum(i.credits for i in by_day.items) != spent and time.monotonic() < deadline:
        time.sleep(0.5)
        by_day = granted.usage()
    assert (by_day.group_by, by_day.to) == ("day", today.isoformat())
    assert [(i.day, i.credits, i.count) for i in by_day.items] == [(today.isoformat(), spent, 3)]
    by_feature = {i.feature: (i.credits, i.count) for i in granted.usage(group_by="feature").items}
    assert by_feature == {None: (17, 2), f.id: (2 * f.credits_per_unit, 1)}


def test_usage_refuses_a_range_longer_than_366_days_on_the_server(client: cc.CreditsClient) -> None:
    with pytest.raises(cc.InvalidRequest) as info:
        client.usage(from_date="2024-01-01", to_date="2026-01-01")
    assert info.value.status == 400


# --- settings -------------------------------------------------------------------------------------------------
def test_settings_have_the_documented_defaults_and_merge_updates(client: cc.CreditsClient) -> None:
    s = client.settings()
    r = s.auto_recharge
    assert (r.enabled, r.status, r.threshold, r.bundle, r.monthly_limit, r.payment_method, r.last_failure) == (
        False, "off", 200, "standard", 5, None, None)
    updated = client.update_settings(alert_thresholds=[100, 10], auto_recharge_threshold=300)
    assert updated.alerts.thresholds == (100, 10) and updated.auto_recharge.threshold == 300
    assert client.settings() == updated


def test_enabling_auto_recharge_without_a_payment_method_raises_payment_method_required(
        client: cc.CreditsClient) -> None:
    with pytest.raises(cc.PaymentMethodRequired) as info:
        client.update_settings(auto_recharge_enabled=True)
    assert info.value.status == 409
    assert client.settings().auto_recharge.enabled is False
