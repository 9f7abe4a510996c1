"""What each phase under faults injected: the records behind the suite's terminal summary."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

from .proxy import FaultCounts, FaultProxy
from .schedule import Passthrough, Schedule

RECORDS = pytest.StashKey[list["FaultWindow"]]()


@dataclass
class FaultWindow:
    """One phase under faults: what each proxy injected, and notes the scenario adds for the summary."""

    name: str
    ddb: FaultCounts = field(default_factory=lambda: FaultCounts(0, {}, {}))
    edge: FaultCounts = field(default_factory=lambda: FaultCounts(0, {}, {}))
    notes: list[str] = field(default_factory=list)


class FaultRecorder:
    """``with faults.inject(ddb=schedule, edge=schedule) as window:`` runs a phase under faults."""

    def __init__(self, ddb_proxy: FaultProxy, edge_proxy: FaultProxy | None, name: str,
                 records: list[FaultWindow]) -> None:
        self.ddb_proxy, self.edge_proxy = ddb_proxy, edge_proxy
        self.name = name
        self.records = records

    @contextmanager
    def inject(self, *, ddb: Schedule | None = None, edge: Schedule | None = None,
               label: str = "") -> Iterator[FaultWindow]:
        window = FaultWindow(self.name + (f" [{label}]" if label else ""))
        self.records.append(window)
        proxies = [self.ddb_proxy] + ([self.edge_proxy] if self.edge_proxy else [])
        if edge is not None and self.edge_proxy is None:
            raise ValueError("this recorder has no edge proxy")
        before = [p.counts() for p in proxies]
        self.ddb_proxy.schedule = ddb or Passthrough()
        if self.edge_proxy is not None:
            self.edge_proxy.schedule = edge or Passthrough()
        try:
            yield window
        finally:
            for proxy in proxies:
                proxy.schedule = Passthrough()
            window.ddb = self.ddb_proxy.counts() - before[0]
            if self.edge_proxy is not None:
                window.edge = self.edge_proxy.counts() - before[1]


def recorder(request: pytest.FixtureRequest, ddb_proxy: FaultProxy, edge_proxy: FaultProxy | None,
             name: str | None = None) -> FaultRecorder:
    records = request.config.stash.setdefault(RECORDS, [])
    return FaultRecorder(ddb_proxy, edge_proxy, name or request.node.name, records)
