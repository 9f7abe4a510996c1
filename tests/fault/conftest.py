"""Fault-suite fixtures: fault proxies around a second local stack that runs on the session's DynamoDB Local.

    tests ──> edge FaultProxy ──> fault stack (own process, serve.py) ──> DynamoDB FaultProxy ──> DynamoDB Local

The DynamoDB-side proxy is the point of the suite (requests lost after DynamoDB applied them); the edge proxy loses the
service's answers on the way to the client, so the client's own retries with its Idempotency-Key are exercised too.
The shared ``stack`` fixture keeps talking to DynamoDB Local directly. Each scenario switches schedules through
``faults.inject(...)``, which records what was injected; ``pytest_terminal_summary`` prints the totals.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .proxy import FaultProxy
from .recording import RECORDS, FaultRecorder, recorder
from .schedule import FAULT_KINDS, Passthrough
from .support import Api, Tally

SERVE = Path(__file__).with_name("serve.py")
ROOT = SERVE.parents[2]
READY_TIMEOUT = 90.0


@dataclass
class FaultStack:
    base_url: str  # through the edge proxy
    direct_url: str
    ddb_proxy: FaultProxy
    edge_proxy: FaultProxy
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@pytest.fixture(scope="package")
def ddb_proxy(ddb_local: Any) -> Iterator[FaultProxy]:
    """The fault proxy in front of the session's DynamoDB Local."""
    with FaultProxy(("127.0.0.1", ddb_local.port), seed=11) as proxy:
        yield proxy


@pytest.fixture(scope="package")  # stopped when the fault tests are done, not at the end of the whole run
def fault_stack(ddb_proxy: FaultProxy, table: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    from local.dynamodb_local import free_port

    port = free_port()
    work = tmp_path_factory.mktemp("fault-stack")
    log, ready = work / "stack.log", work / "ready"
    # The child builds its own settings; drop what the session's stack put into this process's environment.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "TABLE_NAME", "DYNAMODB_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "layers" / "credits")])
    with FaultProxy(("127.0.0.1", port), seed=12) as edge_proxy, log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(SERVE), "--port", str(port), "--table", table,
             "--dynamodb-endpoint", ddb_proxy.endpoint, "--ready-file", str(ready)],
            stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
        )
        try:
            direct = _wait_ready(proc, ready, log)
            yield FaultStack(edge_proxy.endpoint, direct, ddb_proxy, edge_proxy, log)
        finally:
            assert proc.stdin is not None
            proc.stdin.close()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.terminate()
                proc.wait(timeout=15)


def _wait_ready(proc: subprocess.Popen[bytes], ready: Path, log: Path) -> str:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if ready.exists() and ready.read_text().strip():
            return ready.read_text().strip()
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"the fault stack did not start:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture
def faults(fault_stack: FaultStack, request: pytest.FixtureRequest) -> Iterator[FaultRecorder]:
    yield recorder(request, fault_stack.ddb_proxy, fault_stack.edge_proxy)
    fault_stack.ddb_proxy.schedule = fault_stack.edge_proxy.schedule = Passthrough()


@pytest.fixture
def ddb_faults(ddb_proxy: FaultProxy, request: pytest.FixtureRequest) -> Iterator[FaultRecorder]:
    """Faults on the DynamoDB side only, without starting the fault stack (for tests with their own client)."""
    yield recorder(request, ddb_proxy, None)
    ddb_proxy.schedule = Passthrough()


@pytest.fixture
def api(fault_stack: FaultStack) -> Api:
    return Api(fault_stack.base_url, Tally())


def _kinds(totals: dict[str, int]) -> str:
    return ", ".join(f"{k.replace('_', '-')} {n}" for k, n in totals.items())


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    records = config.stash.get(RECORDS, [])
    if not records:
        return
    tr = terminalreporter
    tr.section("fault injection")
    ddb_total = {k.value: 0 for k in FAULT_KINDS}
    edge_total = {k.value: 0 for k in FAULT_KINDS}
    ddb_requests = edge_requests = 0
    for window in records:
        line = f"{window.name}: DynamoDB side {window.ddb.describe()}"
        if window.edge.requests:
            line += f"; client side {window.edge.describe()}"
        tr.write_line(line)
        for note in window.notes:
            tr.write_line(f"    {note}")
        ddb_requests += window.ddb.requests
        edge_requests += window.edge.requests
        for kind, n in window.ddb.injected.items():
            ddb_total[kind.value] += n
        for kind, n in window.edge.injected.items():
            edge_total[kind.value] += n
    tr.write_line(
        f"fault injection: {sum(ddb_total.values())} faults between the service and DynamoDB in {ddb_requests} "
        f"requests ({_kinds(ddb_total)}); {sum(edge_total.values())} between client and service in "
        f"{edge_requests} requests ({_kinds(edge_total)})"
    )
