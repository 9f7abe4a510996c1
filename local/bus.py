"""In-process EventBridge and SQS for the local stack, with the semantics the deployed path relies on.

- ``LocalEventBridge.put_events`` is the ``PutEvents`` call the events function makes (the same
  ``EventBridgePublisher`` code runs locally, with this object as its client): it records every event for
  ``GET /_local/events`` and routes it by the template's rules to queues, as the EventBridge event envelope
  (``detail-type``, ``source``, ``detail``...) that an SQS target receives.
- ``LocalQueue``: visibility timeout, receive counts, receipt handles, ``ChangeMessageVisibility``, and the
  redrive policy (a message received ``maxReceiveCount`` times moves to the dead-letter queue on its next receive).
- ``QueueConsumer``: the SQS event source mapping: receive a batch, invoke the function with the SQS event shape,
  delete what succeeded, leave the reported failures (and everything, if the function raised) for a later receive.

State (events emitted, queue contents) is kept under DATA_DIR when one is given, so a restart loses no delivery.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from local.patterns import matches
from local.template import Mapping

log = logging.getLogger("local.bus")
ACCOUNT = "123456789012"
MAX_LOGGED_EVENTS = 10_000


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# --- SQS ---------------------------------------------------------------------------------------------------------
def queue_url(name: str) -> str:
    """A local queue's URL (what the deliver function gets as DELIVERY_QUEUE_URL); never an address to connect to."""
    return f"http://127.0.0.1/local-sqs/{ACCOUNT}/{name}"


@dataclass
class _Message:
    message_id: str
    body: str
    sent_at: float
    receive_count: int = 0
    visible_at: float = 0.0
    receipt_handle: str | None = None
    first_receive_at: float | None = None


class LocalQueue:
    def __init__(
        self,
        name: str,
        *,
        visibility_timeout: int = 30,
        max_receive_count: int | None = None,
        dead_letter: LocalQueue | None = None,
        state_path: Path | None = None,
        region: str = "us-east-1",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.visibility_timeout = visibility_timeout
        self.max_receive_count = max_receive_count
        self.dead_letter = dead_letter
        self.state_path = state_path
        self.region = region
        self.clock = clock
        self.url = queue_url(name)
        self.arn = f"arn:aws:sqs:{region}:{ACCOUNT}:{name}"
        self.cond = threading.Condition()
        self._messages: dict[str, _Message] = {}
        if state_path is not None and state_path.exists():
            for raw in json.loads(state_path.read_text(encoding="utf-8")).get("messages", []):
                message = _Message(**raw)
                message.receipt_handle = None  # handles do not survive a restart; visibility does
                self._messages[message.message_id] = message

    def _save(self) -> None:
        if self.state_path is not None:
            _atomic_write(self.state_path, json.dumps({"messages": [asdict(m) for m in self._messages.values()]}))

    def send(self, body: str, *, message_id: str | None = None) -> str:
        with self.cond:
            message = _Message(message_id or str(uuid.uuid4()), body, self.clock())
            self._messages[message.message_id] = message
            self._save()
            self.cond.notify_all()
            return message.message_id

    def receive(self, max_messages: int = 10) -> list[dict[str, Any]]:
        """Up to ``max_messages`` visible messages as SQS event records; each becomes invisible for a while."""
        now = self.clock()
        out: list[dict[str, Any]] = []
        moved = False
        with self.cond:
            for message in sorted(self._messages.values(), key=lambda m: m.sent_at):
                if len(out) >= max_messages:
                    break
                if message.visible_at > now:
                    continue
                if self.max_receive_count is not None and message.receive_count >= self.max_receive_count:
                    self._dead_letter(message)
                    moved = True
                    continue
                message.receive_count += 1
                message.first_receive_at = message.first_receive_at or now
                message.visible_at = now + self.visibility_timeout
                message.receipt_handle = uuid.uuid4().hex
                out.append(self._record(message))
            if out or moved:
                self._save()
        return out

    def _dead_letter(self, message: _Message) -> None:
        del self._messages[message.message_id]
        log.warning("message %s moved to %s after %d receives", message.message_id,
                    self.dead_letter.name if self.dead_letter else "nowhere", message.receive_count)
        if self.dead_letter is not None:
            self.dead_letter.send(message.body, message_id=message.message_id)

    def _record(self, m: _Message) -> dict[str, Any]:
        return {
            "messageId": m.message_id,
            "receiptHandle": m.receipt_handle,
            "body": m.body,
            "attributes": {
                "ApproximateReceiveCount": str(m.receive_count),
                "SentTimestamp": str(int(m.sent_at * 1000)),
                "SenderId": "AIDAEVENTBRIDGE",
                "ApproximateFirstReceiveTimestamp": str(int((m.first_receive_at or m.sent_at) * 1000)),
            },
            "messageAttributes": {},
            "md5OfBody": hashlib.md5(m.body.encode(), usedforsecurity=False).hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.arn,
            "awsRegion": self.region,
        }

    def _by_receipt(self, receipt_handle: str) -> _Message:
        for message in self._messages.values():
            if message.receipt_handle == receipt_handle:
                return message
        raise KeyError("ReceiptHandleIsInvalid")

    def delete(self, receipt_handle: str) -> None:
        with self.cond:
            message = self._by_receipt(receipt_handle)
            del self._messages[message.message_id]
            self._save()

    def change_visibility(self, receipt_handle: str, timeout: int) -> None:
        if not 0 <= timeout <= 43200:
            raise ValueError("VisibilityTimeout must be 0-43200 seconds")
        with self.cond:
            self._by_receipt(receipt_handle).visible_at = self.clock() + timeout
            self._save()
            self.cond.notify_all()

    def seconds_until_visible(self) -> float | None:
        with self.cond:
            if not self._messages:
                return None
            return max(0.0, min(m.visible_at for m in self._messages.values()) - self.clock())

    def bodies(self) -> list[str]:
        with self.cond:
            return [m.body for m in sorted(self._messages.values(), key=lambda m: m.sent_at)]

    def __len__(self) -> int:
        with self.cond:
            return len(self._messages)


class LocalSqsClient:
    """The boto3 SQS calls the functions make (``change_message_visibility``, ``send_message``), on local queues."""

    def __init__(self, queues: list[LocalQueue]) -> None:
        self.queues = {q.url: q for q in queues}

    def send_message(self, *, QueueUrl: str, MessageBody: str, **_: Any) -> dict[str, Any]:  # noqa: N803
        if QueueUrl not in self.queues:
            raise ValueError(f"no local queue at {QueueUrl}")
        return {"MessageId": self.queues[QueueUrl].send(MessageBody)}

    def change_message_visibility(self, *, QueueUrl: str, ReceiptHandle: str, VisibilityTimeout: int) -> dict[str, Any]:  # noqa: N803
        self.queues[QueueUrl].change_visibility(ReceiptHandle, VisibilityTimeout)
        return {}


class QueueConsumer:
    """The SQS event source mapping: one poller thread per queue, invoking the function with batches."""

    def __init__(self, queue: LocalQueue, mapping: Mapping, invoke: Callable[[dict[str, Any]], Any]) -> None:
        self.queue = queue
        self.mapping = mapping
        self.invoke = invoke
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> QueueConsumer:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"sqs-{self.queue.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        with self.queue.cond:
            self.queue.cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self.poll_once():
                wait = self.queue.seconds_until_visible()
                with self.queue.cond:
                    if not self._stop.is_set():
                        self.queue.cond.wait(min(1.0, wait) if wait is not None else 1.0)

    def poll_once(self) -> int:
        batch = self.queue.receive(self.mapping.batch_size)
        if not batch:
            return 0
        try:
            result = self.invoke({"Records": batch})
        except Exception as exc:  # noqa: BLE001 - a function error: every message comes back after its timeout
            log.warning("%s failed on a batch of %d: %s", self.mapping.function, len(batch), exc)
            return len(batch)
        failed: set[str] = set()
        if self.mapping.report_item_failures and isinstance(result, dict):
            ids = {str(f.get("itemIdentifier")) for f in result.get("batchItemFailures") or [] if isinstance(f, dict)}
            known = {r["messageId"] for r in batch}
            failed = ids if ids <= known else known  # an unknown identifier fails the whole batch, as in Lambda
        for record in batch:
            if record["messageId"] not in failed:
                try:
                    self.queue.delete(record["receiptHandle"])
                except KeyError:  # received again meanwhile (its visibility ran out): that receive owns it now
                    pass
        return len(batch)


# --- EventBridge -------------------------------------------------------------------------------------------------
class EventLog:
    """Every event put on the bus, for ``GET /_local/events`` (a JSON-lines file under DATA_DIR, or memory)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.lock = threading.Lock()
        self._events: deque[dict[str, Any]] = deque(maxlen=MAX_LOGGED_EVENTS)
        if path is not None and path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    self._events.append(json.loads(line))
            _atomic_write(path, "".join(json.dumps(e) + "\n" for e in self._events))  # trimmed to the cap

    def append(self, envelope: dict[str, Any]) -> None:
        with self.lock:
            self._events.append(envelope)
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(envelope) + "\n")

    def newest_first(self, user_id: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            events = list(self._events)
        events.reverse()
        if user_id is not None:
            events = [e for e in events if (e.get("data") or {}).get("user_id") == user_id]
        return [{k: e.get(k) for k in ("id", "type", "timestamp", "data")} for e in events]


@dataclass(frozen=True)
class Route:
    pattern: dict[str, Any]
    queue: LocalQueue


class LocalEventBridge:
    """The ``PutEvents`` subset of the EventBridge API, for one custom bus."""

    def __init__(self, bus_name: str, routes: list[Route], log_: EventLog, *, region: str = "us-east-1") -> None:
        self.bus_name = bus_name
        self.routes = routes
        self.log = log_
        self.region = region

    def put_events(self, *, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803 - boto3's name
        if not 1 <= len(Entries) <= 10:
            raise ValueError("PutEvents takes 1-10 entries")
        results: list[dict[str, Any]] = []
        for entry in Entries:
            if entry.get("EventBusName") != self.bus_name:
                results.append({"ErrorCode": "ResourceNotFoundException",
                                "ErrorMessage": f"Event bus {entry.get('EventBusName')} does not exist."})
                continue
            try:
                detail = json.loads(entry["Detail"])
                source, detail_type = entry["Source"], entry["DetailType"]
            except (KeyError, ValueError):
                results.append({"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is not valid JSON."})
                continue
            event = {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": detail_type,
                "source": source,
                "account": ACCOUNT,
                "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "region": self.region,
                "resources": list(entry.get("Resources") or []),
                "detail": detail,
            }
            self.log.append(detail)
            for route in self.routes:
                if matches(route.pattern, event):
                    route.queue.send(json.dumps(event))
            results.append({"EventId": event["id"]})
        failed = sum(1 for r in results if "ErrorCode" in r)
        return {"FailedEntryCount": failed, "Entries": results}
