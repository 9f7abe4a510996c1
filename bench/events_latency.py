"""The change path's figures for `make bench`: webhook latency, usage cost at 10 vs 10,000 entries, exactly-once.

Each measure runs the whole local stack (``LocalStack``: HTTP API, stream poller, in-process bus and queue, the
deliver function) against the given DynamoDB Local, on a table of its own, with a receiver that verifies every
webhook with ``standardwebhooks``:

- ``alert_latency``: from a consume's 200 to the ``credits.balance.low`` webhook at the receiver, over N crossings
  (one user each, threshold 50, 100 -> 40), fired open-loop at a steady rate; split into "until the poller read the
  record" (stream + poll interval) and "from there to the receiver" (events function, bus, queue, delivery).
- ``usage_scaling``: ``GET /credits/usage`` over 90 days for a user with 10 entries and one with 10,000 (spread
  over the 90 days, aggregated by the stream), interleaved, through HTTP.
- ``concurrent_crossings``: 32 concurrent spenders (4 users x 8 threads) drain 400 credits past thresholds 300 and
  100, twice; every crossing must arrive exactly once (counted at the receiver).

``run(harness, log=...)`` does all three and returns one dict; ``targets(result)`` gives report rows like
``bench.report.targets`` does. Users are funded with grants (``GrantService.create_grant``, as an operator's
adjustment). ``bench.recharge_latency`` runs on the same ``Harness``. Standalone: ``python -m bench.events_latency
[--quick]`` starts its own DynamoDB Local and prints the JSON. The stack sets its environment in ``os.environ``
(TABLE_NAME...): start it after the in-process phases of a run.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT, ROOT / "layers" / "credits", ROOT / "scripts"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from bench.stats import percentile, spread  # noqa: E402

TABLE = "credits-bench-events"
SEED_THREADS = 8  # spenders writing the usage users' entries (one balance: more threads only queue)


class Harness:
    """A local stack on its own table, a verifying receiver, and an HTTP session."""

    def __init__(self, endpoint: str, table: str = TABLE, extra_env: dict[str, str] | None = None) -> None:
        import boto3
        import requests
        from webhook_receiver import Receiver

        from credits import bootstrap
        from local.dynamodb_local import free_port
        from local.server import DEV_OUTBOUND_SECRET, LocalStack, StackConfig, issue_token
        from local.template import create_table

        client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id="bench", aws_secret_access_key="bench")
        create_table(client, table)
        self.endpoint, self.table = endpoint, table
        self.receiver = Receiver(DEV_OUTBOUND_SECRET).start()
        self.stack = LocalStack(StackConfig(port=free_port(), table_name=table, dynamodb_endpoint=endpoint,
                                            outbound_webhook_url=self.receiver.url, extra_env=extra_env or {}))
        bootstrap.reset()
        self.stack.warm()
        self.stack.start()
        self.ledger = bootstrap.ledger()  # the same services the handlers use, for seeding
        self.grants = bootstrap.grants()
        self.poller = self.stack.change_path.pollers[0]
        self.http = requests.Session()
        self.http.mount("http://", requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=64))
        self._token = issue_token
        self.base = self.stack.config.base_url

    def headers(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token(user)}"}

    def fund(self, user: str, amount: int) -> None:
        """A grant of ``amount`` never-expiring credits (an operator's adjustment)."""
        self.grants.create_grant(user, amount, idempotency_key=f"seed-{user}-{time.monotonic_ns()}",
                                 description="bench seed", source="adjustment", entry_type="adjustment")

    def stripe_prices(self) -> None:
        """The catalog's prices in the stack's Stripe simulator (as ``make dev`` creates them), for purchases."""
        import os

        from local.dev import run_stripe_setup

        run_stripe_setup(os.environ["STRIPE_SECRET_KEY"], os.environ.get("STRIPE_API_BASE"))

    def settle(self, quiet: float = 1.0, timeout: float = 300.0) -> None:
        """Wait until the poller has read nothing new for ``quiet`` seconds (the stream is drained)."""
        deadline, last, since = time.monotonic() + timeout, -1, time.monotonic()
        while time.monotonic() < deadline:
            seen = self.poller.stats["records"] + self.poller.stats["filtered"]
            if seen != last:
                last, since = seen, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return
            time.sleep(0.1)

    def close(self) -> None:
        self.stack.stop()
        self.receiver.stop()


def alert_latency(h: Harness, *, crossings: int, rate_per_s: float, log: Callable[[str], None]) -> dict[str, Any]:
    run = f"lat-{time.monotonic_ns()}"
    users = [f"{run}-{i}" for i in range(crossings)]
    for u in users:
        h.http.put(f"{h.base}/credits/settings", json={"alerts": {"thresholds": [50]}}, headers=h.headers(u))
        h.fund(u, 100)
    h.settle()
    fetched: dict[str, float] = {}

    def observe(records: list[dict[str, Any]], at: float) -> None:
        for r in records:
            keys, new = r["dynamodb"]["Keys"], r["dynamodb"].get("NewImage") or {}
            if keys["SK"]["S"] == "BALANCE" and new.get("available") == {"N": "40"}:
                fetched.setdefault(keys["PK"]["S"][len("USER#"):], at)

    h.poller.observer = observe
    answered: dict[str, float] = {}
    start = time.monotonic() + 0.5

    def spend(i: int) -> None:
        time.sleep(max(0.0, start + i / rate_per_s - time.monotonic()))
        resp = h.http.post(f"{h.base}/credits/consume", json={"amount": 60}, headers=h.headers(users[i]))
        if resp.status_code == 200:
            answered[users[i]] = time.monotonic()

    log(f"alert latency: {crossings} crossings at {rate_per_s:g}/s")
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(spend, range(crossings)))
    h.receiver.wait_for(crossings, timeout=60, event_type="credits.balance.low",
                        match=lambda e: e["data"]["user_id"].startswith(run))
    h.poller.observer = None
    arrived = {d.event["data"]["user_id"]: d.arrived_at for d in h.receiver.events(event_type="credits.balance.low")
               if d.event["data"]["user_id"].startswith(run)}
    total = [(arrived[u] - answered[u]) * 1000 for u in users if u in arrived and u in answered]
    to_poller = [(fetched[u] - answered[u]) * 1000 for u in users if u in fetched and u in answered and u in arrived]
    after_poller = [(arrived[u] - fetched[u]) * 1000 for u in users if u in fetched and u in arrived]
    p50 = percentile(total, 50)
    return {
        "crossings": crossings, "rate_per_s": rate_per_s, "delivered": len(arrived), "answered": len(answered),
        "poll_interval_ms": h.poller.poll_interval * 1000,
        "latency_ms": {"p50": _r(p50), "p99": _r(percentile(total, 99)), "max": _r(max(total, default=None))},
        "until_poller_read_ms": {"p50": _r(percentile(to_poller, 50)), "p99": _r(percentile(to_poller, 99))},
        "after_poller_read_ms": {"p50": _r(percentile(after_poller, 50)), "p99": _r(percentile(after_poller, 99))},
        # An idle poller waits up to one interval, on average half of it, before it reads a new record.
        "poll_interval_share_of_p50": _r(h.poller.poll_interval * 1000 / 2 / p50, 3) if p50 else None,
    }


def usage_scaling(h: Harness, *, big_entries: int, reps: int, log: Callable[[str], None]) -> dict[str, Any]:
    from bench.load import make_client
    from credits.adapters.dynamo import Table
    from credits.adapters.dynamo_ledger import DynamoLedgerStore
    from credits.engine import AccountEngine
    from credits.ledger import Ledger

    # The seeding spends go through a store on the bench's client (10 s read timeout, 5 attempts, each retry with
    # the same ClientRequestToken, so never applied twice): thousands of spends on one balance queue behind each other
    # and, on a busy machine, outlast the product client's 2 s timeout.
    store = DynamoLedgerStore(Table(h.table, client=make_client(h.endpoint)))
    run = f"use-{time.monotonic_ns()}"
    small, big, daily = f"{run}-10", f"{run}-{big_entries}", f"{run}-90"
    end = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=1)
    first = end - timedelta(days=89)
    span = (end - first).total_seconds()
    for user, n in ((small, 10), (big, big_entries), (daily, 90)):
        h.fund(user, n)

    def spend(args: tuple[str, int, int]) -> None:
        user, i, n = args
        # A ledger whose clock says when this entry happened: the entries spread over the 90 days.
        at = first.timestamp() + span * i / max(1, n - 1)
        Ledger(AccountEngine(store, clock=lambda: at)).consume(user, 1)

    t0 = time.monotonic()
    log(f"usage: writing {big_entries:,} + 10 entries over 90 days")
    jobs = ([(small, i, 10) for i in range(10)] + [(daily, i, 90) for i in range(90)]
            + [(big, i, big_entries) for i in range(big_entries)])
    with ThreadPoolExecutor(SEED_THREADS) as pool:
        list(pool.map(spend, jobs))
    seeded_s = time.monotonic() - t0
    query = f"from={first.date().isoformat()}&to={end.date().isoformat()}"

    def count(user: str) -> int:
        body = h.http.get(f"{h.base}/credits/usage?{query}", headers=h.headers(user)).json()
        return sum(i["count"] for i in body["items"])

    deadline = time.monotonic() + 600
    while count(big) < big_entries and time.monotonic() < deadline:
        time.sleep(0.5)
    aggregated_s = time.monotonic() - t0
    h.settle()  # the balance records too: nothing else runs while measuring
    samples: dict[str, dict[str, list[float]]] = {g: {"10": [], "90": [], str(big_entries): []}
                                                  for g in ("day", "feature")}
    items: dict[str, dict[str, int]] = {g: {} for g in samples}
    for i in range(reps):
        for group in samples:
            order = ((small, "10"), (daily, "90"), (big, str(big_entries)))
            for user, label in order if i % 2 == 0 else order[::-1]:
                t = time.perf_counter()
                resp = h.http.get(f"{h.base}/credits/usage?{query}&group_by={group}", headers=h.headers(user))
                samples[group][label].append((time.perf_counter() - t) * 1000)
                items[group][label] = len(resp.json()["items"])
    # What the report reads: the month items of the range (usage_store), counted with a bare Query per user.
    from credits.events.usage_store import month_range
    from credits.keys import user_pk

    bare = make_client(h.endpoint)
    lo, hi = month_range(first.date().isoformat()[:7], end.date().isoformat()[:7])
    month_items = {label: bare.query(TableName=h.table, KeyConditionExpression="PK = :pk AND SK BETWEEN :lo AND :hi",
                                     ExpressionAttributeValues={":pk": {"S": user_pk(user)}, ":lo": {"S": lo},
                                                                ":hi": {"S": hi}}, Select="COUNT")["Count"]
                   for user, label in ((small, "10"), (daily, "90"), (big, str(big_entries)))}
    out: dict[str, Any] = {"big_entries": big_entries, "reps": reps, "days": 90, "seed_seconds": round(seeded_s, 1),
                           "month_items_read": month_items,
                           "users": {"10": small, "90": daily, str(big_entries): big},
                           "aggregated_after_s": round(aggregated_s, 1), "counts": {"10": count(small),
                                                                                   str(big_entries): count(big)}}
    for group in samples:
        s10, s90 = spread(samples[group]["10"], 2), spread(samples[group]["90"], 2)
        sbig = spread(samples[group][str(big_entries)], 2)
        out[f"group_by_{group}"] = {
            "at_10_ms": s10, "at_90_one_per_day_ms": s90, f"at_{big_entries}_ms": sbig, "items": items[group],
            "ratio": round(sbig["median"] / s10["median"], 2),
            # the same 90 days with usage, 111x the entries: what grows with entries, if anything
            "ratio_vs_90_one_per_day": round(sbig["median"] / s90["median"], 2),
        }
    return out


def concurrent_crossings(h: Harness, *, log: Callable[[str], None]) -> dict[str, Any]:
    run = f"c32-{time.monotonic_ns()}"
    users = [f"{run}-{i}" for i in range(4)]
    for u in users:
        h.http.put(f"{h.base}/credits/settings", json={"alerts": {"thresholds": [300, 100]}}, headers=h.headers(u))
    log("32 concurrent spenders, 2 rounds")
    for _round in range(2):
        for u in users:
            h.fund(u, 400)

        def spender(u: str) -> None:
            while h.http.post(f"{h.base}/credits/consume", json={"amount": 8}, headers=h.headers(u)).status_code == 200:
                pass

        threads = [threading.Thread(target=spender, args=(u,)) for u in users for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    expected = len(users) * 2 * 3
    h.receiver.wait_for(expected, timeout=60, match=lambda e: e["data"]["user_id"].startswith(run))
    time.sleep(1.0)
    mine = [d for d in h.receiver.events() if d.event["data"]["user_id"].startswith(run)]
    per = Counter((d.event["data"]["user_id"], d.event["type"], d.event["data"].get("threshold")) for d in mine)
    return {"spenders": 32, "expected_events": expected, "received": len(mine),
            "distinct_webhook_ids": len({d.webhook_id for d in mine}),
            "exactly_once": len(mine) == expected == len({d.webhook_id for d in mine}) and set(per.values()) == {2}}


def run(h: Harness, *, log: Callable[[str], None], quick: bool = False,
        usage_entries: int | None = None) -> dict[str, Any]:
    big = usage_entries or (1000 if quick else 10_000)
    return {
        "alert_latency": alert_latency(h, crossings=40 if quick else 120, rate_per_s=10, log=log),
        "usage": usage_scaling(h, big_entries=big, reps=10 if quick else 30, log=log),
        "concurrent_crossings": concurrent_crossings(h, log=log),
    }


def targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    lat, use, once = r["alert_latency"], r["usage"], r["concurrent_crossings"]
    p50, share = lat["latency_ms"]["p50"], lat["poll_interval_share_of_p50"]
    day = use["group_by_day"]
    big_ms = day[f"at_{use['big_entries']}_ms"]["median"]
    return [
        {"target": "consume 200 -> credits.balance.low webhook: p50 <= 2 s locally",
         "pass": p50 is not None and p50 <= 2000 and lat["delivered"] == lat["crossings"],
         "measured": f"p50 {p50} ms, p99 {lat['latency_ms']['p99']} ms over {lat['delivered']}/{lat['crossings']} "
                     f"crossings; poll interval {lat['poll_interval_ms']:g} ms (mean wait ≈ {share:.0%} of p50)"
                     if share is not None else "no deliveries",
         "why": ""},
        {"target": f"GET /credits/usage over 90 days: {use['big_entries']:,} entries <= 1.2 x 10 entries",
         "pass": day["ratio"] <= 1.2,
         "measured": f"{day['at_10_ms']['median']} vs {big_ms} ms ({day['ratio']}x; days returned {day['items']}, "
                     f"month items read {use.get('month_items_read')}); vs 90 entries on the same 90 days: "
                     f"{day['ratio_vs_90_one_per_day']}x",
         "why": "" if day["ratio"] <= 1.2 else (
             f"both read the month items of the range ({use.get('month_items_read')}); what differs is the days "
             f"they hold and return ({day['items']}); against 90 entries on the same 90 days the ratio is "
             f"{day['ratio_vs_90_one_per_day']}x")},
        {"target": "32 concurrent spenders: exactly one event per crossing",
         "pass": once["exactly_once"],
         "measured": f"{once['received']} received, {once['distinct_webhook_ids']} distinct, "
                     f"{once['expected_events']} expected", "why": ""},
    ]


def _r(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def main(argv: list[str] | None = None) -> int:
    import os

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    from local.dynamodb_local import DynamoDBLocal

    def log(msg: str) -> None:
        print(f"[events bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    from contextlib import redirect_stdout

    with DynamoDBLocal() as ddb, open(os.devnull, "w") as devnull, redirect_stdout(devnull):  # EMF metric lines
        h = Harness(ddb.endpoint)
        try:
            result = run(h, log=log, quick=args.quick)
        finally:
            h.close()
    print(json.dumps({"result": result, "targets": targets(result)}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
