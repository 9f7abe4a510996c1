"""Derivation from synthetic stream records in the ledger's item schema (balance steps, entries, own writes)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from credits.events.derive import derive, needs_thresholds, parse_record, usage_delta
from credits.events.model import DomainEvent
from local.patterns import matches_any
from local.template import event_source_mappings
from tests import stream_records as records

USER = "alice"


def record(name: str, sk: str, new: dict[str, Any] | None, old: dict[str, Any] | None = None,
           pk: str = f"USER#{USER}") -> dict[str, Any]:
    return records.record(name, sk, new, old, pk=pk)


def balance(old: dict[str, Any] | None, new: dict[str, Any], name: str = "MODIFY") -> dict[str, Any]:
    return records.balance(old, new, name=name)


def events_of(rec: dict[str, Any], thresholds: tuple[int, ...] = ()) -> list[DomainEvent]:
    change = parse_record(rec)
    assert change is not None
    return derive(change, thresholds).events


def summary(events: list[DomainEvent]) -> list[tuple[Any, ...]]:
    return [(e.type, e.data.get("threshold"), e.data["available"], e.timestamp) for e in events]


# --- balance crossings ------------------------------------------------------------------------------------------
def test_a_spend_across_two_thresholds_emits_one_low_event_per_threshold():
    rec = balance({"available": 600, "v": 3, "seq": 7, "updated_at": "T0"},
                  {"available": 50, "v": 3, "seq": 8, "updated_at": "T1"})
    assert summary(events_of(rec, (500, 100, 10))) == [
        ("credits.balance.low", 500, 50, "T1"), ("credits.balance.low", 100, 50, "T1")]


def test_landing_exactly_on_a_threshold_is_not_below_it_and_starting_on_it_crosses():
    on = balance({"available": 150, "seq": 1}, {"available": 100, "seq": 2, "updated_at": "T"})
    assert events_of(on, (100,)) == []
    below = balance({"available": 100, "seq": 2}, {"available": 99, "seq": 3, "updated_at": "T"})
    assert summary(events_of(below, (100,))) == [("credits.balance.low", 100, 99, "T")]


def test_rising_or_unchanged_available_emits_nothing_and_needs_no_threshold_read():
    up = balance({"available": 10, "seq": 1}, {"available": 2010, "seq": 2})
    same = balance({"available": 10, "held": 0, "seq": 1}, {"available": 10, "held": 5, "seq": 2})
    for rec in (up, same):
        change = parse_record(rec)
        assert not needs_thresholds(change) and derive(change, (100, 5000)).events == []


def test_depleted_when_available_falls_from_positive_to_zero_or_debt_only():
    to_zero = balance({"available": 5, "seq": 1}, {"available": 0, "seq": 2, "updated_at": "T"})
    assert summary(events_of(to_zero)) == [("credits.balance.depleted", None, 0, "T")]
    into_debt_from_zero = balance({"available": 0, "seq": 2}, {"available": -30, "seq": 3})
    assert events_of(into_debt_from_zero) == []  # already depleted: not again
    threshold_zero = balance({"available": 0, "seq": 2}, {"available": -30, "seq": 3, "updated_at": "T"})
    assert summary(events_of(threshold_zero, (0,))) == [("credits.balance.low", 0, -30, "T")]


def test_a_new_balance_item_starts_from_zero():
    created = balance(None, {"available": 40, "seq": 1, "updated_at": "T"}, name="INSERT")
    assert events_of(created, (50, 10)) == []
    overdrawn = balance(None, {"available": -5, "seq": 1, "updated_at": "T"}, name="INSERT")
    assert summary(events_of(overdrawn, (0,))) == [("credits.balance.low", 0, -5, "T")]


def test_steps_are_crossed_one_by_one_at_their_own_time_when_v_changed():
    # 1000 -> grant expiry at T1 leaves 400 -> hold expiry at T2 gives back 700 -> this write's spend leaves 50
    rec = balance(
        {"available": 1000, "v": 4, "seq": 10, "updated_at": "T0"},
        {"available": 50, "v": 5, "seq": 11, "updated_at": "T3",
         "steps": [{"at": "T1", "available": 400}, {"at": "T2", "available": 700}]},
    )
    assert summary(events_of(rec, (500, 100))) == [
        ("credits.balance.low", 500, 400, "T1"),   # the expiry crossed 500 at its expires_at
        ("credits.balance.low", 500, 50, "T3"),    # re-armed by the hold's return, crossed again by the spend
        ("credits.balance.low", 100, 50, "T3"),
    ]
    ids = [e.id for e in events_of(rec, (500, 100))]
    assert len(set(ids)) == 3  # two crossings of 500 in one write are two events


def test_steps_are_ignored_when_v_did_not_change():
    rec = balance({"available": 1000, "v": 5, "seq": 10}, {"available": 900, "v": 5, "seq": 11, "updated_at": "T",
                                                         "steps": [{"at": "T1", "available": 10}]})
    assert events_of(rec, (500, 100)) == []


def test_an_expiry_step_to_zero_then_a_purchase_still_reports_the_depletion_at_the_expiry():
    rec = balance({"available": 30, "v": 1, "seq": 3}, {"available": 2000, "v": 2, "seq": 4, "updated_at": "T9",
                                                      "steps": [{"at": "T5", "available": 0}]})
    assert summary(events_of(rec, (10,))) == [("credits.balance.low", 10, 0, "T5"),
                                             ("credits.balance.depleted", None, 0, "T5")]


def test_event_ids_come_from_the_change_so_a_duplicate_record_yields_the_same_ids():
    rec = balance({"available": 600, "seq": 7}, {"available": 50, "seq": 8})
    duplicate = copy.deepcopy(rec)
    duplicate["eventID"], duplicate["dynamodb"]["SequenceNumber"] = "other", "999"  # another delivery of it
    assert [e.id for e in events_of(rec, (500,))] == [e.id for e in events_of(duplicate, (500,))]
    later = balance({"available": 600, "seq": 9}, {"available": 50, "seq": 10})  # the same amounts, another write
    assert {e.id for e in events_of(later, (500,))}.isdisjoint(e.id for e in events_of(rec, (500,)))
    assert all(e.id.startswith("evt_") and len(e.id) == 36 for e in events_of(rec, (500,)))


def test_without_seq_the_ids_fall_back_to_what_the_images_pin_down():
    a = balance({"available": 600, "updated_at": "T0"}, {"available": 50, "updated_at": "T1"})
    b = balance({"available": 50, "updated_at": "T1"}, {"available": 600, "updated_at": "T2"})
    c = balance({"available": 600, "updated_at": "T2"}, {"available": 50, "updated_at": "T3"})
    ids_a, ids_c = [e.id for e in events_of(a, (500,))], [e.id for e in events_of(c, (500,))]
    assert ids_a == [e.id for e in events_of(copy.deepcopy(a), (500,))] and ids_a != ids_c
    assert events_of(b, (500,)) == []


def test_a_balance_without_updated_at_uses_the_record_time():
    rec = balance({"available": 10, "seq": 1}, {"available": 0, "seq": 2})
    assert events_of(rec)[0].timestamp == "2026-01-01T00:00:00.000Z"


# --- entries ----------------------------------------------------------------------------------------------------
def entry(kind: str, amount: int, **extra: Any) -> dict[str, Any]:
    return records.entry(kind, amount, **extra)


def only(rec: dict[str, Any]) -> DomainEvent:
    (event,) = events_of(rec)
    return event


def test_purchase_entry_is_purchase_fulfilled():
    e = only(entry("purchase", 2000, session_id="cs_1", payment_intent="pi_1", grant_id="gr_1"))
    assert (e.type, e.timestamp) == ("credits.purchase.fulfilled", "2026-03-04T23:59:59.999Z")
    assert e.data == {"user_id": USER, "entry_id": "tx_1", "session_id": "cs_1", "payment_intent": "pi_1",
                      "credits": 2000, "grant_id": "gr_1"}


def test_purchase_without_a_session_has_null_session_and_older_entries_name_it_in_reference():
    recharge = only(entry("purchase", 2000, reference="pi_9", payment_intent="pi_9"))
    assert (recharge.data["session_id"], recharge.data["payment_intent"]) == (None, "pi_9")
    older = only(entry("purchase", 2000, reference="cs_test_8"))
    assert (older.data["session_id"], older.data["payment_intent"], older.data["grant_id"]) == ("cs_test_8", None, None)


def test_refund_and_restore_entries_carry_this_change_and_the_purchase_total():
    refund = only(entry("refund", -1000, session_id="cs_1", payment_intent="pi_1", total_clawed_back=1500))
    assert refund.type == "credits.purchase.refunded"
    assert (refund.data["credits_clawed_back"], refund.data["total_clawed_back"]) == (1000, 1500)
    restore = only(entry("restore", 400, session_id="cs_1", payment_intent="pi_1", total_clawed_back=1100))
    assert restore.type == "credits.purchase.restored"
    assert (restore.data["credits_restored"], restore.data["total_clawed_back"]) == (400, 1100)


def test_expiry_entry_is_grant_expired_and_none_when_nothing_was_removed():
    e = only(entry("expiry", -300, grant_id="gr_7"))
    assert (e.type, e.data["grant_id"], e.data["expired"]) == ("credits.grant.expired", "gr_7", 300)
    assert events_of(entry("expiry", 0, grant_id="gr_7")) == []


@pytest.mark.parametrize("kind", ["usage", "grant", "adjustment", "void", "something_new"])
def test_other_entry_types_emit_no_event(kind):
    assert events_of(entry(kind, -5)) == []


def test_usage_entry_becomes_a_usage_delta_on_its_utc_day_by_feature():
    change = parse_record(entry("usage", -45, feature="render", quantity=3))
    delta = usage_delta(change)
    assert (delta.user_id, delta.entry_id, delta.day, delta.feature, delta.credits, delta.count) == (
        USER, "tx_1", "2026-03-04", "render", 45, 1)
    plain = usage_delta(parse_record(entry("usage", -1, created_at="2026-03-05T00:30:00+02:00")))
    assert (plain.day, plain.feature) == ("2026-03-04", None)  # UTC day of a time with an offset


def test_entries_are_immutable_so_only_their_insert_counts():
    rec = entry("purchase", 2000)
    rec["eventName"] = "MODIFY"
    assert parse_record(rec) is None


# --- records that derive nothing -----------------------------------------------------------------------------------
def test_remove_records_are_ignored_even_for_a_balance():
    rec = balance({"available": 100, "seq": 1}, {"available": 0, "seq": 2})
    rec["eventName"] = "REMOVE"  # AWS emits these for TTL deletes
    rec["userIdentity"] = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    assert parse_record(rec) is None


@pytest.mark.parametrize("sk", ["BALANCE#GRANTS", "USAGE#MONTH#2026-03#000", "USAGE#ENTRY#tx_1", "EVT#abc",
                                "HOLD#h1", "IDEM#consume#x", "RECHARGE", "GRANT#gr_1"])
def test_items_other_than_the_balance_and_entries_derive_nothing(sk):
    assert parse_record(record("MODIFY", sk, {"available": 0}, {"available": 100})) is None


def test_items_outside_user_partitions_derive_nothing():
    assert parse_record(record("INSERT", "ENTRY#x", {"type": "purchase", "amount": 5, "entry_id": "x"},
                               pk="PURCHASE#cs_1")) is None


def test_the_template_filter_passes_balances_new_entries_settings_and_recharges_only():
    (stream,) = [m for m in event_source_mappings() if m.kind == "stream"]
    passes = [
        balance({"available": 1}, {"available": 2}),
        balance(None, {"available": 2}, name="INSERT"),
        entry("usage", -1),
        record("MODIFY", "SETTINGS", {"version": 2}, {"version": 1}),  # auto-recharge switched on
        record("INSERT", "RECHARGE#rc_1", {"status": "requested"}),
        record("MODIFY", "RECHARGE#rc_1", {"status": "failed"}, {"status": "requested"}),
    ]
    blocked = [
        record("INSERT", "USAGE#MONTH#2026-03#000", {"days": "{}"}),
        record("INSERT", "USAGE#ENTRY#tx_1", {"credits": 1}),
        record("INSERT", "EVT#abc", {"event_ids": ["e"]}),
        record("MODIFY", "BALANCE#GRANTS", {"x": 1}, {"x": 0}),
        record("MODIFY", "RECHARGE", {"failures": 1}, {"failures": 0}),
        record("MODIFY", "GRANT#gr_1", {"x": 1}, {"x": 0}),
        record("REMOVE", "BALANCE", None, {"available": 1}),
        record("REMOVE", "EVT#abc", None, {"event_ids": ["e"]}),
        {**entry("usage", -1), "eventName": "MODIFY"},
    ]
    assert all(matches_any(stream.filters, json.loads(json.dumps(r))) for r in passes)
    assert not any(matches_any(stream.filters, json.loads(json.dumps(r))) for r in blocked)


# --- auto-recharge records ------------------------------------------------------------------------------------------
def failed_record(recharge_id: str) -> dict[str, Any]:
    return record("MODIFY", f"RECHARGE#{recharge_id}",
                  {"recharge_id": recharge_id, "status": "failed", "reason": "card_declined", "resolved_at": "T2"},
                  {"recharge_id": recharge_id, "status": "requested", "payment_intent": "pi_1"})


def test_a_requested_record_is_a_job_and_a_failed_one_an_event_named_after_the_recharge():
    requested = parse_record(record("INSERT", "RECHARGE#rc_1", {"recharge_id": "rc_1", "status": "requested"}))
    assert requested is not None and derive(requested).recharge_job is not None and derive(requested).events == []
    (event,) = events_of(failed_record("rc_1"))
    assert (event.type, event.timestamp, event.data) == (
        "credits.recharge.failed", "T2", {"user_id": USER, "recharge_id": "rc_1", "reason": "card_declined"})
    intent_stored = record("MODIFY", "RECHARGE#rc_1", {"recharge_id": "rc_1", "status": "requested", "payment_intent": "pi"},
                           {"recharge_id": "rc_1", "status": "requested"})
    assert events_of(intent_stored) == []


def test_each_recharge_record_is_its_own_change_so_a_second_failure_is_not_taken_for_a_duplicate():
    from credits.events.derive import change_key

    first, second = (parse_record(failed_record(rid)) for rid in ("rc_1", "rc_2"))
    assert first is not None and second is not None
    assert change_key(first) != change_key(second)
    assert change_key(first) == change_key(parse_record(failed_record("rc_1")))  # a redelivery is the same change
