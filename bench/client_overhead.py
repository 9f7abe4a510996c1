"""The Python client's overhead: a consume through ``credits_client`` vs a raw HTTP call, against the local stack.

Two figures, both measured in the same run:

- ``end_to_end``: sequential consumes against a real local stack (HTTP server + handler + DynamoDB Local), in
  interleaved rounds of three variants: the client (``CreditsClient.consume``), a raw ``httpx.Client.post`` with the
  same body and headers (same keep-alive pool kind), and a raw ``http.client`` keep-alive connection (the leanest
  Python HTTP call). The target is the client's median over the raw call's: ≤ 1.1×.
- ``cpu``: the same calls against an in-memory transport (no network, no server): the client's own per-call CPU
  cost in µs, which the end-to-end ratio hides inside the server's time.

Used by ``bench/run.py`` via ``measure(ddb_endpoint, table, log=log)`` and ``target(result)``; standalone:
``python -m bench.client_overhead`` (starts its own DynamoDB Local). The user is funded through the internal grant
route, so nothing here depends on the ledger's Python API.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import statistics
import sys
import time
import timeit
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT, ROOT / "layers" / "credits"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from bench.stats import percentile, spread  # noqa: E402

TARGET_RATIO = 1.1
BODY = {"amount": 1, "description": "bench"}


def _summary(samples: list[float]) -> dict[str, Any]:
    return {"median_ms": round(statistics.median(samples), 3), "p90_ms": round(percentile(samples, 90) or 0, 3),
            "mean_ms": round(statistics.fmean(samples), 3), "n": len(samples)}


class _Variants:
    """The three ways to spend one credit, each on its own kept-alive connection."""

    def __init__(self, base_url: str, token: str) -> None:
        import httpx

        from credits_client import CreditsClient

        self.client = CreditsClient(base_url, token=token, max_retries=0)
        self.httpx = httpx.Client(timeout=10.0)
        parts = urlsplit(base_url)
        self.conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=10)
        self.url = base_url + "/credits/consume"
        self.auth = f"Bearer {token}"

    def via_client(self) -> None:
        self.client.consume(1, description="bench")

    def via_httpx(self) -> None:
        r = self.httpx.post(self.url, content=json.dumps(BODY).encode(),
                            headers={"Authorization": self.auth, "Content-Type": "application/json",
                                     "Idempotency-Key": str(uuid.uuid4())})
        if r.status_code != 200:
            raise RuntimeError(f"raw httpx consume answered {r.status_code}: {r.text}")
        r.json()

    def via_http_client(self) -> None:
        self.conn.request("POST", "/credits/consume", body=json.dumps(BODY).encode(),
                          headers={"Authorization": self.auth, "Content-Type": "application/json",
                                   "Idempotency-Key": str(uuid.uuid4())})
        r = self.conn.getresponse()
        data = r.read()
        if r.status != 200:
            raise RuntimeError(f"raw http.client consume answered {r.status}: {data[:200]!r}")
        json.loads(data)

    def close(self) -> None:
        self.client.close()
        self.httpx.close()
        self.conn.close()


def end_to_end(base_url: str, token: str, *, reps: int, rounds: int,
               log: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    v = _Variants(base_url, token)
    fns = {"client": v.via_client, "raw httpx": v.via_httpx, "raw http.client": v.via_http_client}
    samples: dict[str, list[float]] = {k: [] for k in fns}
    per_round: dict[str, list[float]] = {k: [] for k in fns}
    try:
        for fn in fns.values():  # warm connections, handler and JVM paths
            for _ in range(30):
                fn()
        names = list(fns)
        # Interleaved call by call (the order rotating each time), so a burst of load from another process hits
        # every variant alike; a round is a block of ``reps`` calls of each.
        for rnd in range(rounds):
            block: dict[str, list[float]] = {k: [] for k in fns}
            for i in range(reps):
                for name in names[i % 3:] + names[:i % 3]:
                    t0 = time.perf_counter()
                    fns[name]()
                    block[name].append((time.perf_counter() - t0) * 1000)
            for name in names:
                samples[name] += block[name]
                per_round[name].append(statistics.median(block[name]))
            log(f"client overhead round {rnd + 1}/{rounds}: " + ", ".join(
                f"{n} {per_round[n][-1]:.2f} ms" for n in names))
    finally:
        v.close()
    med = {k: statistics.median(x) for k, x in samples.items()}
    ratios = {base: {"overall": round(med["client"] / med[base], 3),
                     "rounds": spread([c / r for c, r in zip(per_round["client"], per_round[base], strict=True)], 3)}
              for base in ("raw httpx", "raw http.client")}
    return {"variants": {k: _summary(x) for k, x in samples.items()},
            "round_medians_ms": {k: [round(x, 3) for x in r] for k, r in per_round.items()},
            "ratio_vs": ratios}


def cpu(reps: int = 1000, passes_n: int = 7) -> dict[str, Any]:
    """Per-call CPU of the client vs raw httpx with an in-memory transport answering a canned consume."""
    import httpx

    from credits_client import CreditsClient

    answer = json.dumps({"transaction_id": "tx", "amount": 1, "replayed": False}).encode()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=answer, headers={"content-type": "application/json"})

    transport = httpx.MockTransport(handler)
    client = CreditsClient("http://bench.local", token="t", transport=transport, max_retries=0)
    raw = httpx.Client(transport=transport)

    def via_raw() -> None:
        raw.post("http://bench.local/credits/consume", content=json.dumps(BODY).encode(),
                 headers={"Authorization": "Bearer t", "Content-Type": "application/json",
                          "Idempotency-Key": str(uuid.uuid4())}).json()

    def via_client() -> None:
        client.consume(1, description="bench")

    passes: dict[str, list[float]] = {"raw httpx": [], "client": []}
    for _ in range(passes_n):  # alternate short passes; the fastest pass of each is its least-disturbed cost
        for name, fn in (("raw httpx", via_raw), ("client", via_client)):
            t0 = time.perf_counter()
            for _ in range(reps):
                fn()
            passes[name].append((time.perf_counter() - t0) / reps * 1e6)
    out = {k: min(v) for k, v in passes.items()}
    client.close()
    raw.close()
    # The client's own work per call, without any HTTP: validate and encode, key, headers, parse the answer.
    from credits_client import _calls
    from credits_client.models import ConsumeResult

    engine, parsed = client._engine, json.loads(answer)

    def own() -> None:
        call = _calls.consume(1, description="bench")
        engine._headers(call)
        ConsumeResult.from_json(parsed)

    own_us = min(timeit.repeat(own, number=2000, repeat=7)) / 2000 * 1e6
    return {"us_per_call": {k: round(v, 1) for k, v in out.items()}, "client_own_us": round(own_us, 1),
            "client_overhead_us": round(out["client"] - out["raw httpx"], 1), "reps": reps, "passes": passes_n}


def measure(ddb_endpoint: str, table: str, *, reps: int = 150, rounds: int = 4,
            log: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Start a local stack on ``table`` (created if missing) at ``ddb_endpoint``, fund a user through the internal
    grant route and measure.

    Sets the process environment like ``make dev`` (the stack's handlers read it), so call it after the in-process
    phases of a run.
    """
    from botocore.credentials import Credentials

    from bench import load
    from credits import bootstrap
    from credits_client import CreditsAdminClient
    from local.dynamodb_local import free_port
    from local.server import LocalStack, StackConfig, issue_token
    from local.template import create_table

    create_table(load.make_client(ddb_endpoint), table)
    stack = LocalStack(StackConfig(port=free_port(), table_name=table, dynamodb_endpoint=ddb_endpoint))
    bootstrap.reset()
    stack.warm()
    stack.start()
    try:
        user = f"bench-client-{uuid.uuid4().hex[:8]}"
        with CreditsAdminClient(stack.config.base_url, region="us-east-1",
                                credentials=Credentials("bench", "bench")) as admin:
            admin.grant(user, 3 * (reps * rounds + 30) + 100, description="bench seed")
        result = end_to_end(stack.config.base_url, issue_token(user), reps=reps, rounds=rounds, log=log)
    finally:
        stack.stop()
    result["cpu"] = cpu()
    result["config"] = {"reps": reps, "rounds": rounds}
    return result


def target(r: dict[str, Any]) -> dict[str, Any]:
    """The PASS/MISS line for bench/report.py's targets (same keys as report._t)."""
    ratio = r["ratio_vs"]["raw httpx"]["overall"]
    c = r["cpu"]
    measured = (f"{r['variants']['client']['median_ms']:.2f} ms vs {r['variants']['raw httpx']['median_ms']:.2f} ms "
                f"= {ratio:.3f}× (rounds {r['ratio_vs']['raw httpx']['rounds']['min']:.2f}–"
                f"{r['ratio_vs']['raw httpx']['rounds']['max']:.2f}; vs http.client "
                f"{r['ratio_vs']['raw http.client']['overall']:.3f}×); "
                f"client CPU +{c['client_overhead_us']:.0f} µs per call over httpx "
                f"({c['client_own_us']:.0f} µs its own work)")
    why = "" if ratio <= TARGET_RATIO else (
        f"the client adds {c['client_overhead_us']:.0f} µs of CPU per call (validation, key, parsing) on top of "
        "httpx; on this shared machine the rest is the spread between rounds")
    return {"target": f"client consume ≤ {TARGET_RATIO}× a raw HTTP call", "pass": ratio <= TARGET_RATIO,
            "measured": measured, "why": why}


def main() -> int:
    import os

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    from local.dynamodb_local import DynamoDBLocal

    def log(msg: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    with DynamoDBLocal() as ddb, contextlib.redirect_stdout(sys.stderr):  # the handlers log to stdout
        result = measure(ddb.endpoint, "credits-bench-client", log=log)
    print(json.dumps(result, indent=1))
    t = target(result)
    log(f"{'PASS' if t['pass'] else 'MISS'}  {t['target']}: {t['measured']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
