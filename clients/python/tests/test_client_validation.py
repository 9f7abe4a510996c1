"""Bad input fails with InvalidRequest before any request is sent (the transport refuses to be called)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from client_support import BASE, CONSUME, FEATURES, Recorder, ok, refuse_requests

import credits_client as cc


@pytest.fixture
def client() -> cc.CreditsClient:
    return cc.CreditsClient(BASE, token="t", transport=Recorder([refuse_requests]).transport)


BAD_CALLS: list[tuple[str, Any]] = [
    ("negative amount", lambda c: c.consume(-5)),
    ("zero amount", lambda c: c.consume(0)),
    ("float amount", lambda c: c.consume(2.5)),
    ("string amount", lambda c: c.consume("5")),
    ("bool amount", lambda c: c.consume(True)),
    ("amount above the limit", lambda c: c.consume(1_000_000_001)),
    ("neither amount nor feature", lambda c: c.consume()),
    ("both amount and feature", lambda c: c.consume(5, feature="render")),
    ("quantity with amount", lambda c: c.consume(5, quantity=2)),
    ("zero quantity", lambda c: c.consume(feature="render", quantity=0)),
    ("empty feature", lambda c: c.consume(feature="")),
    ("description too long", lambda c: c.consume(1, description="x" * 201)),
    ("description not a string", lambda c: c.consume(1, description=5)),
    ("empty idempotency key", lambda c: c.consume(1, idempotency_key="")),
    ("idempotency key too long", lambda c: c.consume(1, idempotency_key="k" * 256)),
    ("idempotency key with a newline", lambda c: c.consume(1, idempotency_key="a\nb")),
    ("return_balance not a bool", lambda c: c.consume(1, return_balance="yes")),
    ("hold of 0", lambda c: c.hold(0)),
    ("hold ttl of 0", lambda c: c.hold(5, ttl_seconds=0)),
    ("hold ttl above a day", lambda c: c.hold(5, ttl_seconds=86_401)),
    ("capture below 0", lambda c: c.capture_hold("h", -1)),
    ("empty hold id", lambda c: c.get_hold("")),
    ("history limit 0", lambda c: c.history_page(limit=0)),
    ("history limit 101", lambda c: c.history_page(limit=101)),
    ("history iterator page size 0", lambda c: c.history(page_size=0)),
    ("grants status", lambda c: c.grants(status="expired")),
    ("usage group_by", lambda c: c.usage(group_by="week")),
    ("usage from after to", lambda c: c.usage(from_date="2026-02-01", to_date="2026-01-01")),
    ("usage bad date", lambda c: c.usage(from_date="2026-13-01")),
    ("usage datetime", lambda c: c.usage(from_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))),
    ("settings too many thresholds", lambda c: c.update_settings(alert_thresholds=[1, 2, 3, 4, 5, 6])),
    ("settings negative threshold", lambda c: c.update_settings(alert_thresholds=[-1])),
    ("settings thresholds as a string", lambda c: c.update_settings(alert_thresholds="10")),
    ("settings monthly limit", lambda c: c.update_settings(auto_recharge_monthly_limit=101)),
    ("settings enabled not bool", lambda c: c.update_settings(auto_recharge_enabled=1)),
    ("empty bundle", lambda c: c.purchase("")),
]


@pytest.mark.parametrize("call", [c[1] for c in BAD_CALLS], ids=[c[0] for c in BAD_CALLS])
def test_bad_input_raises_invalid_request_before_any_request(client: cc.CreditsClient, call: Any) -> None:
    with pytest.raises(cc.InvalidRequest) as info:
        call(client)
    assert info.value.status is None and info.value.code in ("invalid_request", "unknown_feature")


def test_an_unknown_feature_is_refused_locally_once_the_price_list_is_cached() -> None:
    rec = Recorder([ok(CONSUME), ok(FEATURES), ok(CONSUME)])
    client = cc.CreditsClient(BASE, token="t", transport=rec.transport)
    client.consume(feature="anything")  # uncached: the server decides
    client.features()
    with pytest.raises(cc.InvalidRequest) as info:
        client.consume(feature="teleport")
    assert info.value.code == "unknown_feature" and "render" in info.value.message
    with pytest.raises(cc.InvalidRequest):
        client.consume(feature="render", quantity=200_000_001)  # 5 credits per unit: above the cost limit
    client.consume(feature="render", quantity=2)
    assert [r.url.path for r in rec.requests] == ["/credits/consume", "/credits/features", "/credits/consume"]


def test_the_price_list_goes_stale_after_its_ttl() -> None:
    rec = Recorder([ok(FEATURES), ok(CONSUME)])
    client = cc.CreditsClient(BASE, token="t", transport=rec.transport, price_cache_seconds=0)  # always stale
    client.features()
    client.consume(feature="teleport")  # stale cache: no local refusal, the server decides
    assert rec.requests[-1].url.path == "/credits/consume"


def test_the_server_unknown_feature_answer_raises_the_same_invalid_request() -> None:
    rec = Recorder([ok({"error": {"code": "unknown_feature", "message": "feature: unknown."}}, 400)])
    client = cc.CreditsClient(BASE, token="t", transport=rec.transport)
    with pytest.raises(cc.InvalidRequest) as info:
        client.consume(feature="teleport")
    assert (info.value.status, info.value.code) == (400, "unknown_feature")


@pytest.mark.parametrize("base_url", ["", "localhost:3000", "ftp://x", "http://", "http://x/?q=1", 3000])
def test_a_bad_base_url_is_refused(base_url: Any) -> None:
    with pytest.raises(cc.InvalidRequest):
        cc.CreditsClient(base_url, token="t")


@pytest.mark.parametrize("token", ["", "   ", 123])
def test_a_bad_token_is_refused(token: Any) -> None:
    with pytest.raises(cc.InvalidRequest):
        cc.CreditsClient("http://x", token=token)


def test_a_trailing_slash_on_the_base_url_is_fine() -> None:
    rec = Recorder([ok(CONSUME)])
    cc.CreditsClient(BASE + "/prod/", token="t", transport=rec.transport).consume(1)
    assert rec.requests[0].url.path == "/prod/credits/consume"


def test_the_async_client_validates_before_any_request_too() -> None:
    client = cc.AsyncCreditsClient(BASE, token="t", transport=Recorder([refuse_requests]).transport)
    with pytest.raises(cc.InvalidRequest):
        client.hold(-1)  # refused at call time, not only when awaited
    with pytest.raises(cc.InvalidRequest):
        client.history(page_size=500)
