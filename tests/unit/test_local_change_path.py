"""The local stack's in-process SQS, EventBridge, schedules and settings behave like the deployed services."""

from __future__ import annotations

import json

import pytest

from local.bus import EventLog, LocalEventBridge, LocalQueue, LocalSqsClient, Route


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_message_is_received_max_receive_count_times_then_moves_to_the_dead_letter_queue():
    clock = Clock()
    dlq = LocalQueue("dlq", clock=clock)
    queue = LocalQueue("q", visibility_timeout=30, max_receive_count=3, dead_letter=dlq, clock=clock)
    queue.send("hello")
    counts = []
    for _ in range(3):
        (record,) = queue.receive()
        counts.append(record["attributes"]["ApproximateReceiveCount"])
        assert queue.receive() == []  # invisible for the visibility timeout
        clock.now += 30
    assert counts == ["1", "2", "3"]
    assert queue.receive() == [] and len(queue) == 0 and dlq.bodies() == ["hello"]


def test_change_message_visibility_paces_the_next_receive_and_stale_receipts_are_refused():
    clock = Clock()
    queue = LocalQueue("q", visibility_timeout=30, clock=clock)
    queue.send("x")
    (first,) = queue.receive()
    LocalSqsClient([queue]).change_message_visibility(QueueUrl=queue.url, ReceiptHandle=first["receiptHandle"],
                                                      VisibilityTimeout=5)
    clock.now += 4
    assert queue.receive() == []
    clock.now += 1
    (second,) = queue.receive()
    with pytest.raises(KeyError):
        queue.delete(first["receiptHandle"])  # the first receive's handle is stale now
    queue.delete(second["receiptHandle"])
    assert len(queue) == 0


def test_queue_contents_and_receive_counts_survive_a_restart(tmp_path):
    clock = Clock()
    state = tmp_path / "q.json"
    queue = LocalQueue("q", visibility_timeout=30, max_receive_count=5, state_path=state, clock=clock)
    queue.send("a")
    queue.receive()
    restarted = LocalQueue("q", visibility_timeout=30, max_receive_count=5, state_path=state, clock=clock)
    assert restarted.receive() == []  # still invisible
    clock.now += 30
    (record,) = restarted.receive()
    assert (record["body"], record["attributes"]["ApproximateReceiveCount"]) == ("a", "2")


def test_the_bus_logs_every_event_and_routes_matching_ones_as_eventbridge_envelopes(tmp_path):
    queue = LocalQueue("deliveries")
    log = EventLog(tmp_path / "events.jsonl")
    bus = LocalEventBridge("bus", [Route({"source": ["credits"]}, queue)], log)
    detail = {"id": "evt_1", "type": "credits.balance.low", "timestamp": "T", "data": {"user_id": "u1"}}
    entries = [
        {"EventBusName": "bus", "Source": "credits", "DetailType": "credits.balance.low", "Detail": json.dumps(detail)},
        {"EventBusName": "bus", "Source": "other", "DetailType": "x", "Detail": json.dumps({**detail, "id": "e2"})},
        {"EventBusName": "nope", "Source": "credits", "DetailType": "x", "Detail": "{}"},
    ]
    resp = bus.put_events(Entries=entries)
    assert resp["FailedEntryCount"] == 1 and resp["Entries"][2]["ErrorCode"] == "ResourceNotFoundException"
    (body,) = queue.bodies()
    envelope = json.loads(body)
    assert (envelope["source"], envelope["detail-type"], envelope["detail"]) == ("credits", "credits.balance.low",
                                                                                 detail)
    assert [e["id"] for e in EventLog(tmp_path / "events.jsonl").newest_first()] == ["e2", "evt_1"]
    assert [e["id"] for e in log.newest_first("u1")] == ["e2", "evt_1"]
    assert log.newest_first("someone-else") == []


def test_scheduler_runs_every_function_even_when_one_fails():
    from local.scheduler import Scheduler

    calls: list[str] = []

    def invoke(name: str) -> None:
        calls.append(name)
        if name == "A":
            raise RuntimeError("boom")

    scheduler = Scheduler(["A", "B"], invoke, every_seconds=60)
    scheduler.run_once()
    assert calls == ["A", "B"] and scheduler.runs == 1


def test_make_dev_refuses_a_malformed_outbound_secret_naming_the_setting(monkeypatch):
    from credits.errors import ConfigError
    from local.dev import change_path_settings
    from local.server import DEV_OUTBOUND_SECRET

    monkeypatch.setenv("OUTBOUND_WEBHOOK_SECRET", "whsec_local_dev_secret_do_not_use_in_production")
    with pytest.raises(ConfigError, match="OUTBOUND_WEBHOOK_SECRET"):
        change_path_settings()
    monkeypatch.delenv("OUTBOUND_WEBHOOK_SECRET")
    monkeypatch.setenv("LOCAL_SCHEDULE_SECONDS", "5")
    monkeypatch.setenv("DEFAULT_ALERT_THRESHOLDS", "500,100")
    settings = change_path_settings()
    assert (settings["outbound_webhook_secret"], settings["schedule_seconds"]) == (DEV_OUTBOUND_SECRET, 5.0)
    monkeypatch.setenv("LOCAL_SCHEDULE_SECONDS", "soon")
    with pytest.raises(SystemExit, match="LOCAL_SCHEDULE_SECONDS"):
        change_path_settings()
