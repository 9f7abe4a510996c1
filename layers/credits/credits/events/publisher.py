"""The event publisher port and its EventBridge adapter (the local stack passes an in-process bus as the client).

``PutEvents`` takes at most 10 entries per call and reports per-entry failures in ``FailedEntryCount`` without
raising: failed entries are retried a few times, then the whole publish raises so the stream record is retried.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from credits.events.model import DomainEvent

EVENT_SOURCE = "credits"  # the bus rule routes on this (template.yaml: DeliveryRule)
MAX_ENTRIES_PER_CALL = 10
PUBLISH_ATTEMPTS = 4


class PublishFailed(Exception):
    """Some events did not reach the bus; the caller retries the change that produced them."""


class EventPublisher(Protocol):
    def publish(self, events: Sequence[DomainEvent]) -> None:
        """Put every event on the bus, or raise ``PublishFailed``."""
        ...


class EventBridgePublisher:
    def __init__(
        self,
        client: Any,
        bus_name: str,
        *,
        source: str = EVENT_SOURCE,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.bus_name = bus_name
        self.source = source
        self._sleep = sleep

    def _entry(self, event: DomainEvent) -> dict[str, Any]:
        return {
            "EventBusName": self.bus_name,
            "Source": self.source,
            "DetailType": event.type,
            "Detail": json.dumps(event.envelope(), sort_keys=True, separators=(",", ":"), ensure_ascii=False),
        }

    def publish(self, events: Sequence[DomainEvent]) -> None:
        for start in range(0, len(events), MAX_ENTRIES_PER_CALL):
            self._put([self._entry(e) for e in events[start:start + MAX_ENTRIES_PER_CALL]])

    def _put(self, entries: list[dict[str, Any]]) -> None:
        for attempt in range(1, PUBLISH_ATTEMPTS + 1):
            try:
                resp = self.client.put_events(Entries=entries)
            except (ClientError, BotoCoreError) as exc:
                if attempt == PUBLISH_ATTEMPTS:
                    raise PublishFailed(f"PutEvents failed: {type(exc).__name__}") from exc
            else:
                if not resp.get("FailedEntryCount"):
                    return
                results = resp.get("Entries") or []
                # Entries come back in request order; a failed one has an ErrorCode instead of an EventId.
                failed = [e for e, r in zip(entries, results, strict=False)
                          if r.get("ErrorCode") or not r.get("EventId")]
                entries = failed or entries
                if attempt == PUBLISH_ATTEMPTS:
                    codes = sorted({str(r.get("ErrorCode")) for r in results if r.get("ErrorCode")})
                    raise PublishFailed(f"PutEvents rejected {len(entries)} entries ({', '.join(codes)})")
            self._sleep(random.uniform(0, 0.05 * 2**attempt))


class MemoryPublisher:
    """Collects events in a list (unit tests; a stand-in where no bus exists)."""

    def __init__(self) -> None:
        self.published: list[DomainEvent] = []

    def publish(self, events: Sequence[DomainEvent]) -> None:
        self.published.extend(events)
