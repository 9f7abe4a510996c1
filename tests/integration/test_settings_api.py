"""GET/PUT /credits/settings through the local stack: defaults, merge rules, validation, auto-recharge's 409."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from credits.events.settings import SettingsChange, SettingsService
from credits.events.store import SettingsStore

DEFAULTS = {
    "alerts": {"thresholds": []},
    "auto_recharge": {"enabled": False, "threshold": 200, "bundle": "standard", "monthly_limit": 5,
                      "recharges_this_month": 0, "payment_method": None, "status": "off", "last_failure": None},
}


def get(stack: Any, http: Any, user: str) -> Any:
    return http.get(stack.url("/credits/settings"), headers=stack.headers(user))


def put(stack: Any, http: Any, user: str, body: Any, raw: bytes | None = None) -> Any:
    data = raw if raw is not None else json.dumps(body).encode()
    return http.put(stack.url("/credits/settings"), data=data,
                    headers=stack.headers(user, **{"Content-Type": "application/json"}))


def test_a_new_user_gets_the_defaults(stack, http, user):
    resp = get(stack, http, user)
    assert (resp.status_code, resp.json()) == (200, DEFAULTS)


def test_the_configured_default_thresholds_apply_until_the_user_sets_theirs(table, ddb_client, user):
    service = SettingsService(SettingsStore(table, ddb_client), default_thresholds=(500, 100),
                              bundle_credits=lambda b: {"standard": 2000}.get(b))
    assert service.get(user)["alerts"]["thresholds"] == [500, 100]
    assert service.thresholds(user) == (500, 100)
    service.update(user, SettingsChange(thresholds=()))  # "no alerts" is a choice, not "use the default"
    assert service.get(user)["alerts"]["thresholds"] == [] and service.thresholds(user) == ()


def test_fields_merge_one_by_one_and_thresholds_are_replaced_whole(stack, http, user):
    assert put(stack, http, user, {"alerts": {"thresholds": [500, 100, 20]}}).json()["alerts"]["thresholds"] == [
        500, 100, 20]
    body = put(stack, http, user, {"auto_recharge": {"threshold": 300, "monthly_limit": 9}}).json()
    assert body["alerts"]["thresholds"] == [500, 100, 20]
    assert body["auto_recharge"] == {**DEFAULTS["auto_recharge"], "threshold": 300, "monthly_limit": 9}
    body = put(stack, http, user, {"alerts": {"thresholds": [50]}, "auto_recharge": {"bundle": "pro"}}).json()
    assert (body["alerts"]["thresholds"], body["auto_recharge"]["bundle"], body["auto_recharge"]["threshold"]) == (
        [50], "pro", 300)
    assert get(stack, http, user).json() == body
    assert put(stack, http, user, {}).json() == body  # an empty change changes nothing
    assert put(stack, http, user, {"alerts": {}}).json() == body


def test_the_body_of_a_get_can_be_sent_back_read_only_fields_are_ignored(stack, http, user):
    current = put(stack, http, user, {"alerts": {"thresholds": [10]}}).json()
    tampered = json.loads(json.dumps(current))
    tampered["auto_recharge"] |= {"status": "active", "recharges_this_month": 99,
                                  "payment_method": {"brand": "visa", "last4": "4242"},
                                  "last_failure": {"reason": "card_declined", "at": "2026-01-01T00:00:00.000Z"}}
    resp = put(stack, http, user, tampered)
    assert (resp.status_code, resp.json()) == (200, current)


def test_a_repeated_threshold_counts_once(stack, http, user):
    assert put(stack, http, user, {"alerts": {"thresholds": [100, 50, 100]}}).json()["alerts"]["thresholds"] == [
        100, 50]


BAD = [
    ({"alerts": {"thresholds": [1, 2, 3, 4, 5, 6]}}, "alerts.thresholds"),
    ({"alerts": {"thresholds": [-1]}}, "alerts.thresholds.0"),
    ({"alerts": {"thresholds": [10, 1.5]}}, "alerts.thresholds.1"),
    ({"alerts": {"thresholds": ["100"]}}, "alerts.thresholds.0"),
    ({"alerts": {"thresholds": [True]}}, "alerts.thresholds.0"),
    ({"alerts": {"thresholds": None}}, "alerts.thresholds"),
    ({"alerts": {"thresholds": 100}}, "alerts.thresholds"),
    ({"alerts": {"thresholds": [2**60]}}, "alerts.thresholds.0"),
    ({"alerts": []}, "alerts"),
    ({"alerts": None}, "alerts"),
    ({"alerts": {"thresholds": [1], "emails": True}}, "alerts.emails"),
    ({"unknown": 1}, "unknown"),
    ({"auto_recharge": {"enabled": "yes"}}, "auto_recharge.enabled"),
    ({"auto_recharge": {"enabled": None}}, "auto_recharge.enabled"),
    ({"auto_recharge": {"threshold": -1}}, "auto_recharge.threshold"),
    ({"auto_recharge": {"threshold": 1.0}}, "auto_recharge.threshold"),
    ({"auto_recharge": {"monthly_limit": 0}}, "auto_recharge.monthly_limit"),
    ({"auto_recharge": {"monthly_limit": 101}}, "auto_recharge.monthly_limit"),
    ({"auto_recharge": {"monthly_limit": "5"}}, "auto_recharge.monthly_limit"),
    ({"auto_recharge": {"bundle": "nope"}}, "auto_recharge.bundle"),
    ({"auto_recharge": {"bundle": ""}}, "auto_recharge.bundle"),
    ({"auto_recharge": {"bundle": "starter", "threshold": 500}}, "auto_recharge.bundle"),  # 500 credits, not more
    ({"auto_recharge": {"threshold": 5000}}, "auto_recharge.bundle"),  # the stored bundle (standard, 2000)
    ({"auto_recharge": {"limit": 3}}, "auto_recharge.limit"),
]


@pytest.mark.parametrize(("body", "field"), BAD, ids=[f for _, f in BAD])
def test_bad_settings_are_400_naming_the_field_and_save_nothing(stack, http, user, body, field):
    before = put(stack, http, user, {"alerts": {"thresholds": [7]}}).json()
    resp = put(stack, http, user, body)
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["code"] == "invalid_request" and field in error["message"], error
    assert "Traceback" not in resp.text
    assert get(stack, http, user).json() == before


@pytest.mark.parametrize("raw", [b"", b"{not json", b"[]", b'"x"', b"null", b"[" * 5000 + b"]" * 5000])
def test_bodies_that_are_not_an_object_are_400(stack, http, user, raw):
    resp = put(stack, http, user, None, raw=raw)
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "invalid_request"


def test_switching_auto_recharge_on_without_a_saved_card_is_409_and_saves_nothing(stack, http, user):
    before = get(stack, http, user).json()
    resp = put(stack, http, user, {"alerts": {"thresholds": [9]},
                                   "auto_recharge": {"enabled": True, "threshold": 100}})
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "payment_method_required"
    assert get(stack, http, user).json() == before
    off = put(stack, http, user, {"auto_recharge": {"enabled": False}}).json()["auto_recharge"]
    assert (off["enabled"], off["status"]) == (False, "off")


def test_concurrent_changes_of_different_fields_all_land(stack, http, user):
    bodies = [{"alerts": {"thresholds": [42]}}, {"auto_recharge": {"threshold": 150}},
              {"auto_recharge": {"monthly_limit": 7}}, {"auto_recharge": {"bundle": "pro"}}]
    statuses: list[int] = []
    threads = [threading.Thread(target=lambda b=b: statuses.append(put(stack, http, user, b).status_code))
               for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 4
    final = get(stack, http, user).json()
    assert final["alerts"]["thresholds"] == [42]
    assert {k: final["auto_recharge"][k] for k in ("threshold", "monthly_limit", "bundle")} == {
        "threshold": 150, "monthly_limit": 7, "bundle": "pro"}


def test_changing_the_settings_never_emits_an_alert(stack, http, user):
    stack.seed(user, 40, "seed")
    put(stack, http, user, {"alerts": {"thresholds": [50, 1000]}})
    time.sleep(1.0)  # several poll intervals: anything the settings write caused would be there by now
    types = [e["type"] for e in http.get(stack.url(f"/_local/events?user_id={user}")).json()["events"]]
    assert "credits.balance.low" not in types


def test_settings_need_a_token(stack, http):
    assert http.get(stack.url("/credits/settings")).status_code == 401
    assert http.put(stack.url("/credits/settings"), json={}).status_code == 401
