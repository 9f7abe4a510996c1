"""`make bench`: one run against a fresh DynamoDB Local, written to bench/report.json and bench/report.md.

A report, not a timed test: it never fails on a missed target. A phase that breaks is recorded (its traceback in
report.json, a line in report.md), the other phases still run, and the exit status is 1. Usage:

    python -m bench.run [--quick] [--seconds S] [--history-entries N] [--no-cold] [--render-only]

Two parts. In-process, through the domain services wired by ``credits.bootstrap`` on one shared, counted boto3
client: requests per operation, grant-book scaling, hot user, drain, webhooks, history (cold init needs fresh
interpreters). Then through whole local stacks (HTTP API, change path, Stripe simulator): the change path's events,
auto-recharge, and the Python client's overhead. See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT, ROOT / "layers" / "credits"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

# Before any product import: quiet logs, no X-Ray, metrics not printed (they still run).
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")

from bench import coldstart, hotuser, load, machine, opcosts, report  # noqa: E402
from bench.ddbcount import RequestCounter  # noqa: E402

TABLE = "credits-bench"
PLAIN_TABLE = "bench-plain"  # naive and ceiling items live apart from the ledger (with its stream)
STREAMLESS_TABLE = "bench-plain-no-stream"
CLIENT_TABLE = "credits-bench-client"
BASELINE = Path(__file__).resolve().parent / "baseline_before_grants.json"


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Phases:
    """Times each phase; a phase that raises is recorded under ``errors`` and the run goes on."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.errors: dict[str, str] = {}

    def run(self, name: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        log(f"{name} ...")
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        except Exception:
            self.errors[name] = traceback.format_exc()
            log(f"{name} FAILED:\n{self.errors[name]}")
            return None
        finally:
            self.seconds[name] = round(time.perf_counter() - t0, 1)
            log(f"{name} done in {self.seconds[name]}s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a smoke run (small sizes); do not commit its report")
    ap.add_argument("--seconds", type=float, default=2.0, help="seconds per hot-user round (3 rounds per variant)")
    ap.add_argument("--history-entries", type=int, default=10_000,
                    help="entries of the big user (history pages and GET /credits/usage)")
    ap.add_argument("--cold-reps", type=int, default=6)
    ap.add_argument("--no-cold", action="store_true")
    ap.add_argument("--no-stack", action="store_true", help="skip the local-stack phases (events, recharge, client)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench")
    ap.add_argument("--render-only", action="store_true", help="rewrite report.md from the existing report.json")
    args = ap.parse_args(argv)
    if args.render_only:
        results = json.loads((args.out / "report.json").read_text())
        results["targets"] = report.targets(results)
        (args.out / "report.md").write_text(report.markdown(results))
        log(f"rendered {args.out / 'report.md'} from report.json")
        return 0
    if args.quick:
        args.seconds, args.history_entries, args.cold_reps = 1.0, 500, 2

    from bench import services
    from local.dynamodb_local import DynamoDBLocal
    from local.template import create_table

    started = time.perf_counter()
    ph = Phases()
    results: dict[str, Any] = {"machine": machine.facts(), "config": vars(args) | {"out": str(args.out)},
                               "baseline": json.loads(BASELINE.read_text())}
    log(f"machine: {results['machine']['cpu_count']} cores, load average {results['machine']['load_average']}")
    reps = 10 if args.quick else 20

    with DynamoDBLocal() as ddb, open(os.devnull, "w") as devnull, redirect_stdout(devnull):  # EMF metric lines
        client = load.make_client(ddb.endpoint)
        create_table(client, TABLE)
        load.create_plain_table(client, PLAIN_TABLE)
        load.create_plain_table(client, STREAMLESS_TABLE, stream=False)
        counter = RequestCounter(client)
        s = services.build(client, TABLE)
        # warm the JVM and the client (first requests are slow in both) before measuring anything
        warm = load.uid("warm")
        services.fund(s.grants, warm, 1000)
        load.run_many(lambda _: s.ledger.consume(warm, 1), list(range(300)), 16)

        if not args.no_cold:
            with tempfile.TemporaryDirectory(prefix="bench-pyc-") as pyc:
                results["cold_init"] = ph.run("cold init", coldstart.measure, TABLE, ddb.endpoint, args.cold_reps,
                                              pyc, log=log)
        results["op_costs"] = ph.run("requests per operation", opcosts.op_costs, s, counter, reps=reps)
        results["grant_scaling"] = ph.run("requests with 1/10/100 live grants", opcosts.grant_scaling, s, counter,
                                          sizes=(1, 10, 100), reps=reps, log=log)
        results["usage_costs"] = ph.run("usage writes and report", opcosts.usage_costs, s, counter, reps=reps)
        counter.capacity = False  # measure the load paths as they run in production (no ReturnConsumedCapacity)
        results["hot_user"] = ph.run("hot user", hotuser.hot_user, s, PLAIN_TABLE, STREAMLESS_TABLE, threads=32,
                                     seconds=args.seconds, rounds=3, counter=counter, log=log)
        results["drain"] = ph.run("drain (overdraft check)", hotuser.drain, s, PLAIN_TABLE, threads=32,
                                  credits_amount=200, rounds=3, log=log)
        results["webhooks"] = ph.run("webhooks", load.webhooks, s, deliveries=100 if args.quick else 300,
                                     duplicate_share=0.2, threads=32, rounds=3, counter=counter, log=log)
        if not args.no_stack:
            stack_phases(results, ph, quick=args.quick, entries=args.history_entries)
        if not results.get("history"):  # no stack (or its usage users broke): seed the history users in-process
            results["history"] = ph.run("history", load.history, s, big_entries=args.history_entries, reps=30,
                                        threads=32, log=log)
        results["machine"]["load_average_end"] = machine.load_average()
        results["machine"]["git_head_end"] = machine.git_head()

    ph.seconds["total"] = round(time.perf_counter() - started, 1)
    results["phases_s"] = ph.seconds
    results["errors"] = ph.errors
    results = {k: v for k, v in results.items() if v is not None}
    results["targets"] = report.targets(results)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    (args.out / "report.md").write_text(report.markdown(results))
    log(f"wrote {args.out / 'report.md'} and report.json in {ph.seconds['total']}s")
    for t in results["targets"]:
        log(f"  {'PASS' if t['pass'] else 'MISS'}  {t['target']}: {t['measured']}")
    for name in ph.errors:
        log(f"  BROKEN  {name} (traceback in report.json)")
    return 1 if ph.errors else 0


def stack_phases(results: dict[str, Any], ph: Phases, *, quick: bool, entries: int) -> None:
    """The phases through whole local stacks, last: each stack sets its environment in ``os.environ``.

    Each stack gets a DynamoDB Local of its own: DynamoDB Local's stream reads slow down with every stream record any
    of its tables holds (a GetRecords on a quiet table measured 6 ms fresh, 19 ms once another table's stream had
    50,000 records), and the in-process phases write tens of thousands. Auto-recharge and the alert latency run
    before the usage measure writes its 10,000 entries; the history pages are then read from the usage measure's
    users, so 10,000 entries are written once.
    """
    from bench import client_overhead, events_latency, recharge_latency
    from local.dynamodb_local import DynamoDBLocal

    with DynamoDBLocal() as ddb:
        harness = ph.run("local stack (events)", events_latency.Harness, ddb.endpoint)
        if harness is not None:
            try:
                results["auto_recharge"] = ph.run("auto-recharge", recharge_latency.run, harness, log=log,
                                                  quick=quick)
                results["events"] = ph.run("events (change path)", events_latency.run, harness, log=log,
                                           quick=quick, usage_entries=entries)
                if results["events"]:
                    results["history"] = ph.run("history", history_on_usage_users, harness,
                                                results["events"]["usage"])
            finally:
                harness.close()
    with DynamoDBLocal() as ddb:
        results["client_overhead"] = ph.run(
            "client overhead", client_overhead.measure, ddb.endpoint, CLIENT_TABLE,
            reps=60 if quick else 100, rounds=2 if quick else 3, log=log)


def history_on_usage_users(harness: Any, usage: dict[str, Any]) -> dict[str, Any]:
    from bench import events_latency

    big = usage["big_entries"]
    return load.history_pages(
        harness.ledger, usage["users"]["10"], usage["users"][str(big)], big_entries=big, reps=30,
        seeded=f"the users of the usage measure below: a grant each, then 10 and {big:,} consumes through the "
               f"local stack's ledger from {events_latency.SEED_THREADS} threads, dated over 90 days, so 11 and "
               f"{big + 1:,} entries", seed_seconds=usage["seed_seconds"])


if __name__ == "__main__":
    raise SystemExit(main())
