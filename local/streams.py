"""The local stack's event source mapping for the table's stream: poll DynamoDB Local, invoke the events function.

It does what Lambda's mapping does, with the settings read from template.yaml (``EventsStreamMapping``):

- reads each shard with shard iterators and ``GetRecords`` (``BatchSize`` records at most per batch), parents
  before children, and waits ``poll_interval`` between empty polls (Lambda polls a shard about 4 times a second);
- applies the mapping's ``FilterCriteria`` (filtered records are skipped, never retried);
- translates boto3's records to Lambda's event shape (``ApproximateCreationDateTime`` in epoch seconds,
  ``eventSourceARN``, ``awsRegion``; boto3 gives a datetime and no ARN);
- honours ``batchItemFailures`` (retry from the first failed record), bisects a batch whose invocation raised,
  retries with backoff up to ``MaximumRetryAttempts``, then sends the batch's metadata to the on-failure
  destination and moves on;
- keeps its position (last sequence number per shard) in a file under DATA_DIR, written after each batch, so a
  restart neither skips a change nor processes one twice into a second event (a batch cut off by a crash is
  processed again, which the events function absorbs: it is idempotent per record).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from base64 import b64encode
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from local.patterns import matches_any
from local.template import Mapping

log = logging.getLogger("local.streams")


class PositionStore:
    """Last processed sequence number per (stream, shard); a JSON file, or memory only when ``path`` is None."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.data: dict[str, dict[str, dict[str, Any]]] = {}
        if path is not None and path.exists():
            self.data = json.loads(path.read_text(encoding="utf-8")).get("streams", {})

    def get(self, stream_arn: str, shard_id: str) -> dict[str, Any]:
        with self.lock:
            return dict(self.data.get(stream_arn, {}).get(shard_id, {}))

    def forget(self, stream_arn: str, shard_id: str) -> None:
        with self.lock:
            self.data.get(stream_arn, {}).pop(shard_id, None)
            self._write()

    def save(self, stream_arn: str, shard_id: str, *, sequence: str | None = None, finished: bool = False) -> None:
        with self.lock:
            entry = self.data.setdefault(stream_arn, {}).setdefault(shard_id, {})
            if sequence is not None:
                entry["sequence"] = sequence
            if finished:
                entry["finished"] = True
            self._write()

    def _write(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"streams": self.data}, indent=1), encoding="utf-8")
        os.replace(tmp, self.path)  # atomic: a crash leaves the old position or the new one


def _jsonable_image(image: dict[str, Any]) -> dict[str, Any]:
    """boto3 returns binary attributes as bytes; Lambda's event carries them base64-encoded."""
    def fix(av: dict[str, Any]) -> dict[str, Any]:
        ((kind, value),) = av.items()
        if kind == "B":
            return {"B": b64encode(value).decode()}
        if kind == "BS":
            return {"BS": [b64encode(v).decode() for v in value]}
        if kind == "M":
            return {"M": {k: fix(v) for k, v in value.items()}}
        if kind == "L":
            return {"L": [fix(v) for v in value]}
        return av

    return {k: fix(v) for k, v in image.items()}


def lambda_record(record: dict[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """One ``dynamodbstreams`` record in the exact shape a Lambda event source mapping delivers it."""
    ddb = dict(record["dynamodb"])
    created = ddb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        ddb["ApproximateCreationDateTime"] = int(created.timestamp())
    for image in ("Keys", "NewImage", "OldImage"):
        if image in ddb:
            ddb[image] = _jsonable_image(ddb[image])
    return {
        "eventID": record.get("eventID") or uuid.uuid4().hex,
        "eventName": record["eventName"],
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": ddb,
        "eventSourceARN": stream_arn,
    }


class StreamPoller:
    def __init__(
        self,
        *,
        ddb: Any,
        streams: Any,
        table_name: str,
        mapping: Mapping,
        invoke: Callable[[dict[str, Any]], Any],
        positions: PositionStore,
        region: str = "us-east-1",
        poll_interval: float = 0.25,
        on_failure: Callable[[dict[str, Any]], None] | None = None,
        observer: Callable[[list[dict[str, Any]], float], None] | None = None,
        retry_base: float = 0.2,
        retry_max: float = 5.0,
    ) -> None:
        self.ddb = ddb
        self.streams = streams
        self.table = table_name
        self.mapping = mapping
        self.invoke = invoke
        self.positions = positions
        self.region = region
        self.poll_interval = poll_interval
        self.on_failure = on_failure
        self.observer = observer
        self.retry_base = retry_base
        self.retry_max = retry_max
        self._iterators: dict[str, str | None] = {}
        self._stream_arn: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.stats = {"batches": 0, "records": 0, "filtered": 0, "retries": 0, "given_up": 0}

    # --- running --------------------------------------------------------------------------------------------------
    def start(self) -> StreamPoller:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="stream-poller", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.poll_once()
            except _Stopped:
                return
            except (BotoCoreError, ClientError) as exc:  # DynamoDB Local restarting, a table being created...
                log.warning("stream poll failed: %s", exc)
                self._stream_arn = None
                self._iterators.clear()
                self._stop.wait(1.0)
                continue
            if not busy:
                self._stop.wait(self.poll_interval)

    # --- one pass over the shards -------------------------------------------------------------------------------------
    def stream_arn(self) -> str | None:
        if self._stream_arn is None:
            table = self.ddb.describe_table(TableName=self.table)["Table"]
            self._stream_arn = table.get("LatestStreamArn")
        return self._stream_arn

    def _shards(self, arn: str) -> list[dict[str, Any]]:
        shards: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"StreamArn": arn}
        while True:
            desc = self.streams.describe_stream(**kwargs)["StreamDescription"]
            shards.extend(desc.get("Shards", []))
            last = desc.get("LastEvaluatedShardId")
            if not last:
                return shards
            kwargs["ExclusiveStartShardId"] = last

    def _iterator(self, arn: str, shard_id: str) -> str | None:
        if shard_id not in self._iterators:
            sequence = self.positions.get(arn, shard_id).get("sequence")
            kwargs: dict[str, Any] = {"StreamArn": arn, "ShardId": shard_id}
            if sequence:
                kwargs |= {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": sequence}
            else:  # the template's StartingPosition: TRIM_HORIZON (nothing that is still in the stream is skipped)
                kwargs["ShardIteratorType"] = "TRIM_HORIZON"
            self._iterators[shard_id] = self.streams.get_shard_iterator(**kwargs)["ShardIterator"]
        return self._iterators[shard_id]

    def poll_once(self) -> int:
        """Read one batch from each open shard and process it. Returns the number of records read."""
        arn = self.stream_arn()
        if not arn:
            return 0
        shards = self._shards(arn)
        open_ids = {s["ShardId"] for s in shards if not self.positions.get(arn, s["ShardId"]).get("finished")}
        total = 0
        for shard in shards:
            shard_id = shard["ShardId"]
            if shard_id not in open_ids or shard.get("ParentShardId") in open_ids:
                continue  # finished, or its parent still has records to read first
            total += self._read_shard(arn, shard_id)
        return total

    def _read_shard(self, arn: str, shard_id: str) -> int:
        iterator = self._iterator(arn, shard_id)
        if iterator is None:
            self.positions.save(arn, shard_id, finished=True)
            return 0
        try:
            resp = self.streams.get_records(ShardIterator=iterator, Limit=self.mapping.batch_size)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "ExpiredIteratorException":
                self._iterators.pop(shard_id, None)  # a fresh one from the saved position, next pass
                return 0
            if code == "TrimmedDataAccessException":
                log.warning("stream position %s is past the stream's retention: reading from the oldest record",
                            self.positions.get(arn, shard_id).get("sequence"))
                self.positions.forget(arn, shard_id)
                self._iterators.pop(shard_id, None)
                return 0
            raise
        fetched_at = time.monotonic()
        records = resp.get("Records", [])
        self._iterators[shard_id] = resp.get("NextShardIterator")
        if records:
            events = [lambda_record(r, arn, self.region) for r in records]
            if self.observer is not None:
                self.observer(events, fetched_at)
            passed = [e for e in events if matches_any(self.mapping.filters, e)]
            self.stats["filtered"] += len(events) - len(passed)
            if passed:
                self._deliver(arn, shard_id, passed, attempt=0)
            self.positions.save(arn, shard_id, sequence=records[-1]["dynamodb"]["SequenceNumber"])
        if resp.get("NextShardIterator") is None:
            self.positions.save(arn, shard_id, finished=True)
        return len(records)

    # --- invoking, like the mapping ---------------------------------------------------------------------------------
    def _deliver(self, arn: str, shard_id: str, records: list[dict[str, Any]], attempt: int) -> None:
        pending = records
        while pending:
            failed_from, error = self._invoke(pending)
            if failed_from is None:
                self.stats["batches"] += 1
                self.stats["records"] += len(pending)
                return
            attempt += 1
            self.stats["retries"] += 1
            if error and self.mapping.bisect and len(pending) > 1:
                half = len(pending) // 2
                self._deliver(arn, shard_id, pending[:half], attempt)
                self._deliver(arn, shard_id, pending[half:], attempt)
                return
            if failed_from > 0:  # the records before the first failure are done: checkpoint before it
                self.positions.save(arn, shard_id, sequence=pending[failed_from - 1]["dynamodb"]["SequenceNumber"])
                pending = pending[failed_from:]
            if self.mapping.max_retries is not None and attempt > self.mapping.max_retries:
                self._give_up(arn, shard_id, pending, attempt)
                return
            if self._stop.wait(min(self.retry_max, self.retry_base * 2 ** (attempt - 1))):
                raise _Stopped

    def _invoke(self, records: list[dict[str, Any]]) -> tuple[int | None, bool]:
        """(index of the first record to retry, or None when all succeeded; whether the invocation raised)."""
        try:
            result = self.invoke({"Records": records})
        except Exception as exc:  # noqa: BLE001 - a function error, as Lambda reports it to the mapping
            log.warning("events function failed on a batch of %d: %s", len(records), exc)
            return 0, True
        if not self.mapping.report_item_failures:
            return None, False
        failures = (result or {}).get("batchItemFailures") if isinstance(result, dict) else None
        if not failures:
            return None, False
        sequence_numbers = [r["dynamodb"]["SequenceNumber"] for r in records]
        ids = [f.get("itemIdentifier") if isinstance(f, dict) else None for f in failures]
        if any(i not in sequence_numbers for i in ids):
            return 0, False  # an identifier that is not in the batch: Lambda retries the whole batch
        return min(sequence_numbers.index(i) for i in ids), False

    def _give_up(self, arn: str, shard_id: str, records: list[dict[str, Any]], attempts: int) -> None:
        self.stats["given_up"] += len(records)
        first, last = records[0]["dynamodb"], records[-1]["dynamodb"]
        info = {
            "requestContext": {"requestId": str(uuid.uuid4()), "condition": "RetryAttemptsExhausted",
                               "approximateInvokeCount": attempts,
                               "functionArn": f"arn:aws:lambda:{self.region}:123456789012:function:"
                                              f"{self.mapping.function}"},
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(),
            "DDBStreamBatchInfo": {
                "shardId": shard_id, "streamArn": arn, "batchSize": len(records),
                "startSequenceNumber": first["SequenceNumber"], "endSequenceNumber": last["SequenceNumber"],
                "approximateArrivalOfFirstRecord": first.get("ApproximateCreationDateTime"),
                "approximateArrivalOfLastRecord": last.get("ApproximateCreationDateTime"),
            },
        }
        log.error("gave up on %d stream records after %d attempts", len(records), attempts)
        if self.on_failure is not None:
            self.on_failure(info)
        self.positions.save(arn, shard_id, sequence=last["SequenceNumber"])


class _Stopped(Exception):
    """Raised out of a retry wait when the poller is stopped: the batch stays unprocessed (and is read again)."""
