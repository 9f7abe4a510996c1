"""Counts DynamoDB requests and consumed capacity per labelled operation, with botocore event hooks.

- ``provide-client-params.dynamodb``: adds ``ReturnConsumedCapacity='TOTAL'`` to every operation that accepts it
  (only while ``capacity`` is on), so the product code is measured unchanged.
- ``before-call.dynamodb``: one API call (GetItem, TransactWriteItems, ...), attributed to the current label.
- ``before-send.dynamodb``: one HTTP attempt (differs from API calls only when botocore retries).
- ``after-call.dynamodb``: reads ``ConsumedCapacity`` (a dict, or a list per table for transactions) and errors.

Labels are per thread (``with counter.label("consume"):``), so concurrent load can be attributed too.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

READ_OPERATIONS = frozenset({"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems", "ExecuteStatement"})


class RequestCounter:
    def __init__(self, client: Any, *, capacity: bool = True) -> None:
        self.capacity = capacity
        self._local = threading.local()
        self._lock = threading.Lock()
        self.calls: dict[str, Counter[str]] = defaultdict(Counter)  # label -> {operation: n}
        self.attempts: Counter[str] = Counter()  # label -> HTTP attempts
        self.errors: dict[str, Counter[str]] = defaultdict(Counter)  # label -> {error code: n}
        self.rcu: dict[str, float] = defaultdict(float)
        self.wcu: dict[str, float] = defaultdict(float)
        self.cu: dict[str, float] = defaultdict(float)
        self.cu_by_op: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))  # label -> {op: CU}
        self.runs: Counter[str] = Counter()  # label -> how many labelled runs (operations) were counted
        events = client.meta.events
        events.register("provide-client-params.dynamodb", self._inject)
        events.register("before-call.dynamodb", self._before_call)
        events.register("before-send.dynamodb", self._before_send)
        events.register("after-call.dynamodb", self._after_call)

    # --- labels -------------------------------------------------------------------------------------------------
    @contextmanager
    def label(self, name: str | None) -> Iterator[None]:
        previous = getattr(self._local, "label", None)
        self._local.label = name
        try:
            yield
        finally:
            self._local.label = previous
            if name is not None:
                with self._lock:
                    self.runs[name] += 1

    def _current(self) -> str | None:
        return getattr(self._local, "label", None)

    # --- hooks --------------------------------------------------------------------------------------------------
    def _inject(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if self.capacity and "ReturnConsumedCapacity" in model.input_shape.members:
            params.setdefault("ReturnConsumedCapacity", "TOTAL")

    def _before_call(self, model: Any, **_: Any) -> None:
        name = self._current()
        if name is not None:
            with self._lock:
                self.calls[name][model.name] += 1

    def _before_send(self, **_: Any) -> None:
        name = self._current()
        if name is not None:
            with self._lock:
                self.attempts[name] += 1

    def _after_call(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        name = self._current()
        if name is None:
            return
        consumed = parsed.get("ConsumedCapacity")
        items = consumed if isinstance(consumed, list) else [consumed] if consumed else []
        code = (parsed.get("Error") or {}).get("Code")
        with self._lock:
            if code:
                self.errors[name][f"{model.name}:{code}"] += 1
            for c in items:
                self.cu[name] += float(c.get("CapacityUnits", 0) or 0)
                self.cu_by_op[name][model.name] += float(c.get("CapacityUnits", 0) or 0)
                self.rcu[name] += float(c.get("ReadCapacityUnits", 0) or 0)
                self.wcu[name] += float(c.get("WriteCapacityUnits", 0) or 0)

    # --- results ------------------------------------------------------------------------------------------------
    def summary(self, name: str) -> dict[str, Any]:
        """Per operation (divided by the number of labelled runs)."""
        runs = max(1, self.runs[name])
        calls = self.calls[name]
        total = sum(calls.values())
        reads = sum(n for op, n in calls.items() if op in READ_OPERATIONS)
        return {
            "runs": self.runs[name],
            "requests": round(total / runs, 2),
            "http_attempts": round(self.attempts[name] / runs, 2),
            "reads": round(reads / runs, 2),
            "writes": round((total - reads) / runs, 2),
            "by_operation": {op: round(n / runs, 2) for op, n in sorted(calls.items())},
            "capacity_units": round(self.cu[name] / runs, 2),
            "capacity_units_by_operation": {op: round(v / runs, 2) for op, v in sorted(self.cu_by_op[name].items())},
            "read_capacity_units": round(self.rcu[name] / runs, 2),
            "write_capacity_units": round(self.wcu[name] / runs, 2),
            "errors": {k: round(v / runs, 2) for k, v in sorted(self.errors[name].items())},
        }
