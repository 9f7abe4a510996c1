"""`make bench`: one run against a fresh DynamoDB Local, written to bench/report.json and bench/report.md.

A report, not a timed test: it never fails on a missed target (only on a broken run). Usage:

    python -m bench.run [--quick] [--seconds S] [--history-entries N] [--no-cold] [--render-only]

Everything is in-process through the domain services (Ledger, PurchaseService) with one shared boto3 client,
except cold init, which needs fresh interpreters. See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
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

from bench import coldstart, load, machine, report  # noqa: E402
from bench.ddbcount import RequestCounter  # noqa: E402

TABLE = "credits-bench"
PLAIN_TABLE = "bench-plain"  # naive and ceiling items live apart from the ledger


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a smoke run (small sizes); do not commit its report")
    ap.add_argument("--seconds", type=float, default=2.5, help="seconds per hot-user round (3 rounds per variant)")
    ap.add_argument("--history-entries", type=int, default=10_000)
    ap.add_argument("--cold-reps", type=int, default=8)
    ap.add_argument("--no-cold", action="store_true")
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

    from credits.catalog import load_catalog
    from credits.dynamodb import DynamoLedgerStore
    from credits.ledger import Ledger
    from credits.purchases import PurchaseService
    from local.dynamodb_local import DynamoDBLocal
    from local.template import create_table

    started = time.perf_counter()
    phases: dict[str, float] = {}
    results: dict[str, Any] = {"machine": machine.facts(), "config": vars(args) | {"out": str(args.out)}}
    log(f"machine: {results['machine']['cpu_count']} cores, load average {results['machine']['load_average']}")

    def phase(name: str) -> Any:
        class _P:
            def __enter__(self) -> None:
                self.t0 = time.perf_counter()
                log(f"{name} ...")

            def __exit__(self, *exc: object) -> None:
                phases[name] = round(time.perf_counter() - self.t0, 1)
                log(f"{name} done in {phases[name]}s")

        return _P()

    with DynamoDBLocal() as ddb, open(os.devnull, "w") as devnull, redirect_stdout(devnull):
        client = load.make_client(ddb.endpoint)
        create_table(client, TABLE)
        load.create_plain_table(client, PLAIN_TABLE)
        counter = RequestCounter(client)
        ledger = Ledger(DynamoLedgerStore(TABLE, client=client))
        # No payment gateway: fulfilment never calls Stripe (only checkout, refunds and reconciliation do).
        purchases = PurchaseService(ledger, load_catalog(), gateway=lambda: None,  # type: ignore[arg-type,return-value]
                                    dashboard_url="http://x", webhook_secret=lambda: "whsec_x")
        # warm the JVM and the client (first requests are slow in both) before measuring anything
        warm = load.uid("warm")
        ledger.adjust(warm, 1000, "warm-up", load.uid("w"))
        load.run_many(lambda _: ledger.consume(warm, 1), list(range(300)), 16)

        if not args.no_cold:
            with phase("cold init"), tempfile.TemporaryDirectory(prefix="bench-pyc-") as pyc:
                results["cold_init"] = coldstart.measure(TABLE, ddb.endpoint, args.cold_reps, pyc, log=log)
        with phase("requests per operation"):
            results["op_costs"] = load.op_costs(ledger, purchases, counter, reps=20)
        counter.capacity = False  # measure the load paths as they run in production (no ReturnConsumedCapacity)
        with phase("hot user"):
            results["hot_user"] = load.hot_user(ledger, client, PLAIN_TABLE, threads=32, seconds=args.seconds,
                                                rounds=3, counter=counter, log=log)
        with phase("drain (overdraft check)"):
            results["drain"] = load.drain(ledger, client, PLAIN_TABLE, threads=32, credits_amount=200, rounds=3,
                                          log=log)
        with phase("webhooks"):
            results["webhooks"] = load.webhooks(purchases, deliveries=300 if not args.quick else 100,
                                                duplicate_share=0.2, threads=32, rounds=3, counter=counter, log=log)
        with phase("history"):
            results["history"] = load.history(ledger, big_entries=args.history_entries, reps=30, threads=32, log=log)
        results["machine"]["load_average_end"] = machine.load_average()
        results["machine"]["git_head_end"] = machine.git_head()

    phases["total"] = round(time.perf_counter() - started, 1)
    results["phases_s"] = phases
    results["targets"] = report.targets(results)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    (args.out / "report.md").write_text(report.markdown(results))
    log(f"wrote {args.out / 'report.md'} and report.json in {phases['total']}s")
    for t in results["targets"]:
        log(f"  {'PASS' if t['pass'] else 'MISS'}  {t['target']}: {t['measured']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
