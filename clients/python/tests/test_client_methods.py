"""Every CreditsClient method against a MockTransport: the request it sends and the typed result it builds."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from client_support import (
    BALANCE,
    BASE,
    BUNDLES,
    CAPTURE,
    CONSUME,
    ENTRY,
    FEATURES,
    GRANT,
    HOLD,
    RELEASE,
    SETTINGS,
    TOKEN,
    USAGE,
    Recorder,
    ok,
    sync_client,
)

import credits_client as cc

# name, call, answer, method, path, query, body (None = no body), sends a key, check of the result
CASES: list[tuple[str, Callable[[cc.CreditsClient], Any], Any, str, str, dict[str, str], Any, bool,
                  Callable[[Any], bool]]] = [
    ("health", lambda c: c.health(), {"status": "ok"}, "GET", "/health", {}, None, False, lambda r: r == "ok"),
    ("bundles", lambda c: c.bundles(), BUNDLES, "GET", "/credits/bundles", {}, None, False,
     lambda r: r == (cc.Bundle("standard", "Standard", 2000, 1990, "usd"),)),
    ("features", lambda c: c.features(), FEATURES, "GET", "/credits/features", {}, None, False,
     lambda r: r[0] == cc.Feature("render", "Render", 5, "image")),
    ("balance", lambda c: c.balance(), BALANCE, "GET", "/credits/balance", {}, None, False,
     lambda r: (r.available, r.held, r.balance, r.expiring) == (100, 20, 120,
                                                                cc.Expiring(30, "2026-02-01T00:00:00.000Z"))),
    ("consume amount", lambda c: c.consume(5, description="render"), CONSUME, "POST", "/credits/consume", {},
     {"amount": 5, "description": "render"}, True,
     lambda r: (r.transaction_id, r.amount, r.replayed, r.balance) == ("tx_1", 5, False, None)),
    ("consume feature", lambda c: c.consume(feature="render", quantity=3, return_balance=True),
     {**CONSUME, "amount": 15, "balance": 85, "available": 85}, "POST", "/credits/consume", {},
     {"feature": "render", "quantity": 3, "return_balance": True}, True,
     lambda r: (r.amount, r.balance, r.available) == (15, 85, 85)),
    ("history_page", lambda c: c.history_page(limit=10, cursor="abc", type="usage"),
     {"items": [ENTRY], "next_cursor": None}, "GET", "/credits/history",
     {"limit": "10", "cursor": "abc", "type": "usage"}, None, False,
     lambda r: r.items[0].feature == "render" and r.items[0].amount == -5 and r.next_cursor is None),
    ("grants_page", lambda c: c.grants_page(status="all", limit=5), {"grants": [GRANT], "next_cursor": "n"},
     "GET", "/credits/grants", {"status": "all", "limit": "5"}, None, False,
     lambda r: r.grants[0].remaining == 40 and r.grants[0].spent == 10 and r.next_cursor == "n"),
    ("usage", lambda c: c.usage(from_date=dt.date(2026, 1, 1), to_date="2026-01-30", group_by="day"), USAGE,
     "GET", "/credits/usage", {"from": "2026-01-01", "to": "2026-01-30", "group_by": "day"}, None, False,
     lambda r: r.from_ == "2026-01-01" and r.items[0] == cc.UsageItem("2026-01-02", None, 40, 3)),
    ("settings", lambda c: c.settings(), SETTINGS, "GET", "/credits/settings", {}, None, False,
     lambda r: r.alerts.thresholds == (100, 10) and r.auto_recharge.payment_method == cc.PaymentMethod("visa", "4242")
     and r.auto_recharge.last_failure == cc.RechargeFailure("insufficient_funds", "2026-01-03T04:05:06.000Z")),
    ("update_settings", lambda c: c.update_settings(alert_thresholds=[50], auto_recharge_enabled=True,
                                                    auto_recharge_threshold=100, auto_recharge_monthly_limit=3),
     SETTINGS, "PUT", "/credits/settings", {},
     {"alerts": {"thresholds": [50]}, "auto_recharge": {"enabled": True, "threshold": 100, "monthly_limit": 3}},
     False, lambda r: isinstance(r, cc.Settings)),
    ("hold", lambda c: c.hold(100, ttl_seconds=60, description="job"), HOLD, "POST", "/credits/holds", {},
     {"amount": 100, "ttl_seconds": 60, "description": "job"}, True,
     lambda r: isinstance(r, cc.Hold) and (r.hold_id, r.status, r.available) == ("h_1", "pending", 0)),
    ("get_hold", lambda c: c.get_hold("h_1"), {**HOLD, "status": "expired"}, "GET", "/credits/holds/h_1", {},
     None, False, lambda r: r.status == "expired"),
    ("capture_hold", lambda c: c.capture_hold("h_1", 37), CAPTURE, "POST", "/credits/holds/h_1/capture", {},
     {"amount": 37}, True, lambda r: (r.captured, r.released, r.transaction_id) == (37, 63, "tx_2")),
    ("release_hold", lambda c: c.release_hold("h_1"), RELEASE, "POST", "/credits/holds/h_1/release", {}, {}, True,
     lambda r: (r.status, r.released) == ("released", 100)),
    ("purchase", lambda c: c.purchase("standard", save_payment_method=True),
     {"url": "https://pay.test/cs_1", "session_id": "cs_1"}, "POST", "/credits/purchase", {},
     {"bundle": "standard", "save_payment_method": True}, True, lambda r: r.session_id == "cs_1"),
    ("purchase_status", lambda c: c.purchase_status("cs_1"),
     {"session_id": "cs_1", "bundle": "standard", "credits": 2000, "status": "fulfilled"}, "GET",
     "/credits/purchases/cs_1", {}, None, False, lambda r: r == cc.Purchase("cs_1", "standard", 2000, "fulfilled")),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_each_method_sends_the_contract_request_and_returns_a_typed_result(case: Any) -> None:
    _, call, answer, method, path, query, body, sends_key, check = case
    client, rec = sync_client(ok(answer, 201 if path == "/credits/holds" else 200))
    result = call(client)
    (req,) = rec.requests
    assert (req.method, req.url.path, dict(req.url.params)) == (method, path, query)
    assert rec.body() == body
    assert ("idempotency-key" in req.headers) is sends_key
    public = path in ("/health", "/credits/bundles", "/credits/features")
    assert req.headers.get("authorization") == (None if public else f"Bearer {TOKEN}")
    if body is not None:
        assert req.headers["content-type"] == "application/json"
    assert check(result), result


def test_history_iterates_over_every_page_with_the_cursor() -> None:
    page1 = {"items": [ENTRY, {**ENTRY, "id": "e2"}], "next_cursor": "c1"}
    page2 = {"items": [{**ENTRY, "id": "e3", "type": "purchase", "amount": 2000, "grant_id": "g1"}], "next_cursor": None}
    client, rec = sync_client(ok(page1), ok(page2))
    entries = list(client.history(type="usage", page_size=2))
    assert [e.id for e in entries] == ["e1", "e2", "e3"]
    assert entries[2].grant_id == "g1"
    assert [dict(r.url.params) for r in rec.requests] == [{"limit": "2", "type": "usage"},
                                                          {"limit": "2", "type": "usage", "cursor": "c1"}]


def test_history_is_lazy_and_stops_on_an_empty_last_page() -> None:
    client, rec = sync_client(ok({"items": [], "next_cursor": None}))
    it = client.history()
    assert rec.requests == []
    assert list(it) == [] and len(rec.requests) == 1


def test_grants_iterates_over_every_page() -> None:
    client, rec = sync_client(ok({"grants": [GRANT], "next_cursor": "c"}),
                              ok({"grants": [{**GRANT, "grant_id": "g_2"}], "next_cursor": None}))
    assert [g.grant_id for g in client.grants(status="all")] == ["g_1", "g_2"]
    assert dict(rec.requests[1].url.params) == {"status": "all", "limit": "100", "cursor": "c"}


def test_ids_in_paths_are_url_encoded() -> None:
    client, rec = sync_client(ok(HOLD))
    client.get_hold("a/b?c")
    assert rec.requests[0].url.raw_path == b"/credits/holds/a%2Fb%3Fc"


def test_extra_response_fields_are_ignored_and_new_optional_fields_default() -> None:
    client, _ = sync_client(ok({"transaction_id": "t", "amount": 1, "future_field": {"x": 1}}))
    result = client.consume(1)
    assert (result.replayed, result.balance, result.available) == (False, None, None)


def test_an_answer_of_the_wrong_shape_is_a_credits_error_not_a_key_error() -> None:
    client, _ = sync_client(ok({"unexpected": True}))
    with pytest.raises(cc.CreditsError) as info:
        client.balance()
    assert (info.value.code, info.value.status) == ("invalid_response", 200)


def test_a_token_callable_is_asked_for_a_fresh_token_per_call() -> None:
    tokens = iter(["t1", "t2"])
    rec = Recorder([ok(BALANCE)])
    client = cc.CreditsClient(BASE, token=lambda: next(tokens), transport=rec.transport)
    client.balance()
    client.balance()
    assert [r.headers["authorization"] for r in rec.requests] == ["Bearer t1", "Bearer t2"]


def test_a_caller_supplied_http_client_is_used_and_left_open() -> None:
    rec = Recorder([ok(BALANCE)])
    http = httpx.Client(transport=rec.transport)
    with cc.CreditsClient(BASE, token=TOKEN, http_client=http) as client:
        assert client.balance().available == 100
    assert not http.is_closed
    http.close()


def test_the_client_closes_its_own_connection_pool() -> None:
    client, _ = sync_client(ok(BALANCE))
    with client:
        client.balance()
    with pytest.raises(RuntimeError):
        client.balance()


def test_features_are_cached_until_refresh() -> None:
    client, rec = sync_client(ok(FEATURES))
    client.features()
    client.features()
    assert len(rec.requests) == 1
    client.features(refresh=True)
    assert len(rec.requests) == 2


def test_dev_token_refuses_bad_input_before_any_request() -> None:
    # dev_token itself talks to the local stack: the integration tests use it
    with pytest.raises(cc.InvalidRequest):
        cc.dev_token("ftp://x", "user")
    with pytest.raises(cc.InvalidRequest):
        cc.dev_token("http://127.0.0.1:1", "")
