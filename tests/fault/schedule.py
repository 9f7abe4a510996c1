"""Fault kinds and the schedules that pick one per request (by the request's operation name), for the proxy."""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from typing import Protocol


class Fault(StrEnum):
    """What the proxy does with one request (the module docstring of proxy.py says what each kind does)."""

    PASS = "pass"
    LATENCY = "latency"
    RESET_BEFORE_SEND = "reset_before_send"
    DROP_AFTER_SEND = "drop_after_send"
    TRUNCATE_RESPONSE = "truncate_response"
    DUPLICATE_REQUEST = "duplicate_request"


FAULT_KINDS: tuple[Fault, ...] = tuple(f for f in Fault if f is not Fault.PASS)


class Schedule(Protocol):
    def decide(self, operation: str) -> Fault: ...


class Passthrough:
    """No faults."""

    def decide(self, operation: str) -> Fault:
        return Fault.PASS


Operations = Iterable[str] | Callable[[str], bool] | None


def _matcher(operations: Operations) -> Callable[[str], bool]:
    """Which requests a schedule may fault: all, a set of operation names, or a predicate on the name."""
    if operations is None:
        return lambda _: True
    if callable(operations):
        return operations
    names = frozenset(operations)
    return names.__contains__


class Always:
    """Every matching request gets ``fault``: an outage of those operations."""

    def __init__(self, fault: Fault, *, operations: Operations = None) -> None:
        self.fault = fault
        self._matches = _matcher(operations)

    def decide(self, operation: str) -> Fault:
        return self.fault if self._matches(operation) else Fault.PASS


class RandomFaults:
    """Each matching request gets fault kind k with probability ``probabilities[k]``, from a seeded generator.

    Every third of the first matching requests gets one fault of each kind named (in a seeded order), so every kind
    is injected at least once however short the phase, without a burst that would fault one request's successive
    retries; the seeded draws decide the rest. Which request gets which draw depends on how threads interleave, so a
    run is reproducible in its rates and mix, not request by request.
    """

    SPACING = 3

    def __init__(
        self,
        probabilities: Mapping[Fault, float],
        *,
        seed: int,
        operations: Operations = None,
    ) -> None:
        total = sum(probabilities.values())
        if not 0 <= total <= 1 or any(p < 0 for p in probabilities.values()):
            raise ValueError("fault probabilities must be >= 0 and sum to at most 1")
        self._table = [(k, p) for k, p in probabilities.items() if p > 0 and k is not Fault.PASS]
        self._rng = random.Random(seed)
        first = [k for k, _ in self._table]
        self._rng.shuffle(first)
        self._first = deque(first)
        self._seen = 0
        self._lock = threading.Lock()
        self._matches = _matcher(operations)

    def decide(self, operation: str) -> Fault:
        if not self._matches(operation):
            return Fault.PASS
        with self._lock:
            self._seen += 1
            if self._first and self._seen % self.SPACING == 1:
                return self._first.popleft()
            x = self._rng.random()
        for kind, p in self._table:
            if x < p:
                return kind
            x -= p
        return Fault.PASS


class EveryNth:
    """Every ``n``-th matching request gets ``fault`` (the n-th, 2n-th, ...)."""

    def __init__(self, n: int, fault: Fault, *, operations: Operations = None) -> None:
        if n < 1:
            raise ValueError("n must be >= 1")
        self.n, self.fault = n, fault
        self._matches = _matcher(operations)
        self._seen = 0
        self._lock = threading.Lock()

    def decide(self, operation: str) -> Fault:
        if not self._matches(operation):
            return Fault.PASS
        with self._lock:
            self._seen += 1
            return self.fault if self._seen % self.n == 0 else Fault.PASS


class Scripted:
    """The next matching requests get these faults in order; after that, pass. For deterministic single-path tests."""

    def __init__(self, faults: Iterable[Fault], *, operations: Operations = None) -> None:
        self._faults = deque(faults)
        self._matches = _matcher(operations)
        self._lock = threading.Lock()

    def decide(self, operation: str) -> Fault:
        if not self._matches(operation):
            return Fault.PASS
        with self._lock:
            return self._faults.popleft() if self._faults else Fault.PASS

    @property
    def remaining(self) -> int:
        with self._lock:
            return len(self._faults)
