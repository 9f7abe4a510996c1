"""The events function's work for one stream record: usage totals, then domain events, each at most once.

Records arrive at least once (retries, bisected batches, a restarted poller), so every effect is idempotent:

    usage   one transaction per usage entry: a conditional marker + ADD on the day item (a duplicate adds nothing)
    events  derived from the record's images with ids derived from the change; the change's marker is written
            only after the bus accepted them, so a crash in between republishes the same ids (receivers dedupe
            by webhook-id) and a redelivered record after the marker publishes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from credits.events.derive import change_key, derive, needs_thresholds, parse_record
from credits.events.model import DomainEvent, RechargeCheck, RechargeJob
from credits.events.publisher import EventPublisher
from credits.events.store import EventMarkers, UsageStore


class ThresholdSource(Protocol):
    def thresholds(self, user_id: str) -> tuple[int, ...]: ...


class Recharges(Protocol):
    """Auto-recharge's side of the change path: decide on a check (one conditional write), enqueue a job."""

    def check(self, check: RechargeCheck) -> None: ...

    def enqueue(self, job: RechargeJob) -> None: ...


class NoRecharges:
    def check(self, check: RechargeCheck) -> None:
        return None

    def enqueue(self, job: RechargeJob) -> None:
        return None


class StreamConsumer:
    def __init__(
        self,
        *,
        markers: EventMarkers,
        usage: UsageStore,
        thresholds: ThresholdSource,
        publisher: EventPublisher,
        clock: Callable[[], float] = time.time,
        recharges: Recharges | None = None,
    ) -> None:
        self.recharges = recharges or NoRecharges()
        self.markers = markers
        self.usage = usage
        self.threshold_source = thresholds
        self.publisher = publisher
        self.clock = clock
        self._batch_thresholds: dict[str, tuple[int, ...]] | None = None

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Within one invocation a user's thresholds are read once (a hot user's batch is mostly that user)."""
        self._batch_thresholds = {}
        try:
            yield
        finally:
            self._batch_thresholds = None

    def _thresholds(self, user_id: str) -> tuple[int, ...]:
        cache = self._batch_thresholds
        if cache is None:
            return self.threshold_source.thresholds(user_id)
        if user_id not in cache:
            cache[user_id] = self.threshold_source.thresholds(user_id)
        return cache[user_id]

    def handle(self, record: Mapping[str, Any]) -> Sequence[DomainEvent]:
        """Apply one record; returns the events it published now (empty for a duplicate). Raises to be retried."""
        change = parse_record(record)
        if change is None:
            return []
        thresholds = self._thresholds(change.user_id) if needs_thresholds(change) else ()
        derived = derive(change, thresholds)
        if derived.usage is not None:
            self.usage.apply(derived.usage, self.clock())
        # Idempotent by construction: a check's recharge id is derived from the change, a job's charge from its id.
        if derived.recharge_job is not None:
            self.recharges.enqueue(derived.recharge_job)
        if derived.recharge_check is not None:
            self.recharges.check(derived.recharge_check)
        if not derived.events:
            return []
        key = change_key(change)
        if self.markers.is_published(change.user_id, key):
            return []
        self.publisher.publish(derived.events)
        self.markers.mark_published(change.user_id, key, [e.id for e in derived.events], self.clock())
        return derived.events
