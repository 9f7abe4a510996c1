"""The local stream poller against DynamoDB Local: real records, the template's filter, Lambda's event shape,
partial failures, bisecting, giving up to the on-failure destination, and a position that survives restarts."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from credits.adapters.dynamo import Table
from credits.adapters.dynamo_ledger import DynamoLedgerStore
from credits.engine import AccountEngine
from credits.events.consumer import StreamConsumer
from credits.events.publisher import MemoryPublisher
from credits.events.store import EventMarkers
from credits.events.usage_store import UsageStore
from credits.grants import GrantService
from credits.ledger import Ledger
from local.streams import PositionStore, StreamPoller
from local.template import create_table, event_source_mappings


class Seeder(Ledger):
    """The ledger on a fresh table, plus credits for a user (a balance write, a grant entry, its records)."""

    def __init__(self, table: str, client: Any) -> None:
        super().__init__(AccountEngine(DynamoLedgerStore(Table(table, client=client))))
        self.grants = GrantService(self.engine)

    def adjust(self, user: str, amount: int, description: str, key: str) -> None:
        self.grants.create_grant(user, amount, idempotency_key=key, description=description, source="adjustment",
                                 entry_type="adjustment")


@pytest.fixture
def fresh_table(ddb_client: Any) -> str:
    name = f"poller-{uuid.uuid4().hex[:8]}"
    create_table(ddb_client, name)
    return name


@pytest.fixture
def streams(ddb_local: Any) -> Any:
    import boto3

    return boto3.client("dynamodbstreams", endpoint_url=ddb_local.endpoint, region_name="us-east-1",
                        aws_access_key_id="local", aws_secret_access_key="local")


MAPPING = next(m for m in event_source_mappings() if m.kind == "stream")


def poller(ddb_client: Any, streams: Any, table: str, invoke: Callable[[dict[str, Any]], Any],
           positions: PositionStore, **kwargs: Any) -> StreamPoller:
    return StreamPoller(ddb=ddb_client, streams=streams, table_name=table, mapping=kwargs.pop("mapping", MAPPING),
                        invoke=invoke, positions=positions, retry_base=0.001, **kwargs)


def drain(p: StreamPoller) -> None:
    while p.poll_once():
        pass


class Recorder:
    def __init__(self, result: Callable[[list[dict[str, Any]]], Any] | None = None) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.result = result

    def __call__(self, event: dict[str, Any]) -> Any:
        self.batches.append(event["Records"])
        return self.result(event["Records"]) if self.result else {"batchItemFailures": []}

    @property
    def records(self) -> list[dict[str, Any]]:
        return [r for b in self.batches for r in b]


def keys(records: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(r["eventName"], r["dynamodb"]["Keys"]["SK"]["S"].split("#")[0]) for r in records]


def test_real_records_arrive_filtered_in_lambdas_event_shape(ddb_client, streams, fresh_table):
    ledger = Seeder(fresh_table, ddb_client)
    ledger.adjust("u1", 100, "seed", "seed-key")  # balance + entry + idempotency record
    ledger.consume("u1", 30, "", "spend-key")
    hold = ledger.place_hold("u1", 20, 60)  # balance + entry-less hold + pending marker
    ledger.release_hold("u1", hold.hold.hold_id)
    recorder = Recorder()
    p = poller(ddb_client, streams, fresh_table, recorder, PositionStore(None))
    drain(p)

    assert keys(recorder.records) == [("INSERT", "BALANCE"), ("INSERT", "ENTRY"), ("MODIFY", "BALANCE"),
                                      ("INSERT", "ENTRY"), ("MODIFY", "BALANCE"), ("MODIFY", "BALANCE")]
    assert p.stats["filtered"] >= 5  # IDEM#, HOLD#, PENDING# items (and the pending marker's delete)
    first = recorder.records[0]
    assert set(first) == {"eventID", "eventName", "eventVersion", "eventSource", "awsRegion", "dynamodb",
                          "eventSourceARN"}
    assert (first["eventSource"], first["awsRegion"]) == ("aws:dynamodb", "us-east-1")
    assert first["eventSourceARN"] == ddb_client.describe_table(TableName=fresh_table)["Table"]["LatestStreamArn"]
    assert isinstance(first["dynamodb"]["ApproximateCreationDateTime"], int)
    assert first["dynamodb"]["NewImage"]["available"] == {"N": "100"} and "OldImage" not in first["dynamodb"]
    json.dumps(recorder.batches)  # exactly JSON, like the payload Lambda receives


def test_partial_failures_retry_from_the_first_failed_record(ddb_client, streams, fresh_table):
    ledger = Seeder(fresh_table, ddb_client)
    for i in range(3):
        ledger.adjust(f"u{i}", 10, "seed", f"k{i}")
    seen: list[str] = []

    def fail_second_once(records: list[dict[str, Any]]) -> Any:
        seqs = [r["dynamodb"]["SequenceNumber"] for r in records]
        seen.append(",".join(seqs))
        if len(seen) == 1:
            return {"batchItemFailures": [{"itemIdentifier": seqs[2]}]}
        return {"batchItemFailures": []}

    recorder = Recorder(fail_second_once)
    drain(poller(ddb_client, streams, fresh_table, recorder, PositionStore(None)))
    first, retry = recorder.batches
    assert len(first) == 6 and retry == first[2:]


def test_a_poison_record_is_bisected_out_retried_then_sent_to_the_on_failure_destination(
        ddb_client, streams, fresh_table):
    ledger = Seeder(fresh_table, ddb_client)
    for i in range(4):
        ledger.adjust(f"u{i}", 10, "seed", f"k{i}")
    poison = "USER#u2"

    def crash_on_poison(records: list[dict[str, Any]]) -> Any:
        if any(r["dynamodb"]["Keys"]["PK"]["S"] == poison for r in records):
            raise RuntimeError("function error")
        return {"batchItemFailures": []}

    failures: list[dict[str, Any]] = []
    recorder = Recorder(crash_on_poison)
    p = poller(ddb_client, streams, fresh_table, recorder, PositionStore(None), on_failure=failures.append)
    drain(p)
    delivered = {r["dynamodb"]["Keys"]["PK"]["S"] for b in recorder.batches for r in b if len(b) and
                 not any(x["dynamodb"]["Keys"]["PK"]["S"] == poison for x in b)}
    assert delivered == {"USER#u0", "USER#u1", "USER#u3"}
    # u2's balance and entry records, each isolated by bisecting and given up after MaximumRetryAttempts
    assert [f["DDBStreamBatchInfo"]["batchSize"] for f in failures] == [1, 1] and p.stats["given_up"] == 2
    for info in failures:
        assert info["requestContext"]["condition"] == "RetryAttemptsExhausted"
        assert info["requestContext"]["approximateInvokeCount"] == MAPPING.max_retries + 1


def test_restart_keeps_the_position_nothing_twice_nothing_skipped(ddb_client, streams, fresh_table, tmp_path):
    ledger = Seeder(fresh_table, ddb_client)
    position_file = tmp_path / "stream-position.json"
    first = Recorder()
    ledger.adjust("u1", 100, "seed", "k1")
    drain(poller(ddb_client, streams, fresh_table, first, PositionStore(position_file)))
    ledger.consume("u1", 10)
    ledger.consume("u1", 20)

    second = Recorder()  # a restarted `make dev`: new poller, same DATA_DIR
    drain(poller(ddb_client, streams, fresh_table, second, PositionStore(position_file)))

    before = [r["dynamodb"]["SequenceNumber"] for r in first.records]
    after = [r["dynamodb"]["SequenceNumber"] for r in second.records]
    assert len(before) == 2 and len(after) == 4 and not set(before) & set(after)
    everything = Recorder()
    drain(poller(ddb_client, streams, fresh_table, everything, PositionStore(None)))  # no position: TRIM_HORIZON
    assert [r["dynamodb"]["SequenceNumber"] for r in everything.records] == before + after


def test_a_batch_cut_off_by_a_crash_is_read_again_and_emits_nothing_twice(ddb_client, streams, fresh_table,
                                                                         tmp_path):
    """Real records through the real consumer; the position file is rolled back as if the process died after
    the function ran but before the position was written."""
    ledger = Seeder(fresh_table, ddb_client)
    publisher = MemoryPublisher()

    class Settings:
        def thresholds(self, user_id: str) -> tuple[int, ...]:
            return (50,)

    consumer = StreamConsumer(markers=EventMarkers(fresh_table, ddb_client),
                              usage=UsageStore(fresh_table, ddb_client), thresholds=Settings(), publisher=publisher)

    def invoke(event: dict[str, Any]) -> Any:
        for r in event["Records"]:
            consumer.handle(r)
        return {"batchItemFailures": []}

    position_file = tmp_path / "stream-position.json"
    ledger.adjust("u1", 100, "seed", "k1")
    drain(poller(ddb_client, streams, fresh_table, invoke, PositionStore(position_file)))
    saved = tmp_path / "saved.json"
    shutil.copy(position_file, saved)
    ledger.consume("u1", 60)  # crosses 50
    drain(poller(ddb_client, streams, fresh_table, invoke, PositionStore(position_file)))
    assert [e.type for e in publisher.published] == ["credits.balance.low"]
    shutil.copy(saved, position_file)  # "crash": the last batch's position was never written
    drain(poller(ddb_client, streams, fresh_table, invoke, PositionStore(position_file)))
    assert [e.type for e in publisher.published] == ["credits.balance.low"]
    assert Path(position_file).read_text() != saved.read_text()


def test_a_table_without_a_stream_gets_one(ddb_client):
    name = f"nostream-{uuid.uuid4().hex[:8]}"
    ddb_client.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                            AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                                                  {"AttributeName": "SK", "AttributeType": "S"}],
                            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                                       {"AttributeName": "SK", "KeyType": "RANGE"}])
    assert create_table(ddb_client, name) is False  # found, not created
    spec = ddb_client.describe_table(TableName=name)["Table"]["StreamSpecification"]
    assert spec == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
