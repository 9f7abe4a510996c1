"""The events function's work for one stream record: usage totals, then domain events, each at most once.

Records arrive at least once (retries, bisected batches, a restarted poller), so every effect is idempotent:

    usage   before the records are handled one by one, a batch's usage entries are counted per user and month:
            one transaction of a conditional marker per entry + the month's totals under their version (a duplicate
            adds nothing); when the month is busy the group's records fail and are retried; when DynamoDB refuses
            the write otherwise, each record writes its own entry, so only the entry at fault fails
    events  derived from the record's images with ids derived from the change; the change's marker is written
            only after the bus accepted them, so a crash in between republishes the same ids (receivers dedupe
            by webhook-id) and a redelivered record after the marker publishes nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from aws_lambda_powertools import Logger

from credits.events.derive import change_key, derive, needs_thresholds, parse_record, usage_delta
from credits.events.model import DomainEvent, RechargeCheck, RechargeJob, UsageDelta
from credits.events.publisher import EventPublisher
from credits.events.store import EventMarkers
from credits.events.usage_store import UsageStore, UsageWriteRefused, write_groups

logger = Logger(service="credits")


class UsageNotCounted(Exception):
    """The batch's write of this record's usage entry failed: the record fails and is delivered again."""


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


class _BatchState(threading.local):
    """One invocation's caches, per thread: the local stack may let a timed-out invocation run on beside the next."""

    def __init__(self) -> None:
        self.thresholds: dict[str, tuple[int, ...]] | None = None
        # (user, entry id) -> None when the batch counted it, else why its group failed; the entries of a group
        # DynamoDB refused are left out (each record then writes its own)
        self.usage: dict[tuple[str, str], Exception | None] = {}


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
        self._batch = _BatchState()

    @contextmanager
    def batch(self, records: Sequence[Mapping[str, Any]] = ()) -> Iterator[None]:
        """One invocation: the records' usage is counted first, per user and month (a busy user's month item is
        rewritten once per batch, not per entry), and a user's thresholds are read once."""
        self._batch.thresholds = {}
        try:
            self._count_batch_usage(records)
            yield
        finally:
            self._batch.thresholds = None
            self._batch.usage = {}

    def _count_batch_usage(self, records: Sequence[Mapping[str, Any]]) -> None:
        deltas: list[UsageDelta] = []
        for record in records:
            try:
                change = parse_record(record)
                delta = usage_delta(change) if change is not None else None
            except Exception:  # noqa: BLE001, S112 - handle() raises it again for that record, which fails alone
                continue
            if delta is not None:
                deltas.append(delta)
        now = self.clock()
        for group in write_groups(deltas):
            outcome: Exception | None = None
            try:
                self.usage.apply_group(group, now)
            except UsageWriteRefused as exc:  # each record writes its own entry in handle(), so only the entry
                # at fault fails (one bad entry must not hold its group's others back)
                logger.warning("usage group refused; writing its entries one by one", user_id=group[0].user_id,
                               entries=len(group), error=str(exc))
                continue
            except Exception as exc:  # noqa: BLE001 - busy, unavailable, denied: the group's records fail, retried
                outcome = exc
            self._batch.usage.update({(d.user_id, d.entry_id): outcome for d in group})

    def _count_usage(self, delta: UsageDelta) -> None:
        done = (delta.user_id, delta.entry_id)
        if done not in self._batch.usage:  # outside a batch, a record it could not read, or a refused group
            self.usage.apply(delta, self.clock())
            return
        failed = self._batch.usage[done]
        if failed is not None:
            raise UsageNotCounted(f"usage entry {delta.entry_id} was not counted; the record is retried") from failed

    def _thresholds(self, user_id: str) -> tuple[int, ...]:
        cache = self._batch.thresholds
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
            self._count_usage(derived.usage)
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
