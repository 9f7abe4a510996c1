"""EventBridge Scheduler for the local stack: runs the template's scheduled functions every N seconds.

Deployed, each has its own rate (template.yaml); locally they all run every ``LOCAL_SCHEDULE_SECONDS`` (default 60)
so that changes made by time alone (expired holds, and their events) show up without a request. ``make sweep`` and
``make reconcile`` still run them on demand.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

log = logging.getLogger("local.scheduler")


class Scheduler:
    def __init__(self, functions: Iterable[str], invoke: Callable[[str], object], every_seconds: float) -> None:
        self.functions = list(functions)
        self.invoke = invoke
        self.every = every_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0

    def start(self) -> Scheduler:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="local-scheduler", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def run_once(self) -> None:
        for name in self.functions:
            try:
                self.invoke(name)
            except Exception:  # one failing schedule must not stop the others (Lambda logs it)
                log.exception("scheduled %s failed", name)
        self.runs += 1

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.run_once()
