"""Shared plumbing of the in-process workloads, and two of them: history pages and webhook fulfilment.

- plumbing: the boto3 client (as the product's, with a pool for 32+ threads), the naive/ceiling table, a closed-loop
  load generator, ids, and the ``checkout.session.completed`` event Stripe sends.
- ``history`` / ``history_pages``: one page at 10 and at 10,000 ledger entries (and pages after cursors deep in the
  big one).
- ``webhooks``: checkout.session.completed fulfilment with 20% duplicate deliveries, 32 threads.

Requests per operation are in ``bench.opcosts``, the hot user and the drain in ``bench.hotuser``.
"""

from __future__ import annotations

import copy
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from bench.ddbcount import RequestCounter
from bench.services import Services, fund
from bench.stats import percentile, spread

Outcome = str


# --- plumbing ---------------------------------------------------------------------------------------------------
def make_client(endpoint: str, pool: int = 64) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        # As the product's client (standard retries, 3 s / 5 s timeouts), with a pool for 32+ threads.
        config=Config(
            max_pool_connections=pool,
            retries={"mode": "standard", "max_attempts": 5},
            connect_timeout=3,
            read_timeout=10,
        ),
    )


def create_plain_table(client: Any, name: str, *, stream: bool = True) -> None:
    """PK/SK table for the naive and ceiling items (kept apart from the ledger table). ``stream``: with the ledger
    table's stream (template.yaml), so every write costs DynamoDB Local the same stream record as a ledger write."""
    from local.template import table_definition

    if name in client.list_tables().get("TableNames", []):
        return
    extra: dict[str, Any] = {}
    if stream:
        extra["StreamSpecification"] = table_definition(name)[0]["StreamSpecification"]
    client.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                              {"AttributeName": "SK", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        BillingMode="PAY_PER_REQUEST",
        **extra,
    )
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})


def closed_loop(fn: Callable[[int], Outcome], threads: int, seconds: float,
                stop_on: set[str] | None = None) -> dict[str, Any]:
    """``threads`` workers call ``fn`` back to back until ``seconds`` pass (or each one sees a ``stop_on`` outcome).

    Returns outcomes, per-call latencies (ms) of all calls, and the elapsed time from start to the last return.
    """
    outcomes: list[Counter[str]] = [Counter() for _ in range(threads)]
    latencies: list[list[float]] = [[] for _ in range(threads)]
    barrier = threading.Barrier(threads + 1)
    deadline = [0.0]

    def worker(tid: int) -> None:
        barrier.wait()
        lat, out = latencies[tid], outcomes[tid]
        while time.perf_counter() < deadline[0]:
            t0 = time.perf_counter()
            try:
                result = fn(tid)
            except Exception as exc:
                code = exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else ""
                result = f"error:{type(exc).__name__}{':' + code if code else ''}"
            lat.append((time.perf_counter() - t0) * 1000)
            out[result] += 1
            if stop_on and result in stop_on:
                return

    pool = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for t in pool:
        t.start()
    start = time.perf_counter()
    deadline[0] = start + seconds
    barrier.wait()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - start
    total: Counter[str] = Counter()
    for c in outcomes:
        total.update(c)
    return {"outcomes": dict(total), "latencies_ms": [x for lst in latencies for x in lst], "elapsed_s": elapsed}


def run_many(fn: Callable[[Any], Any], items: list[Any], threads: int) -> list[Any]:
    with ThreadPoolExecutor(threads) as ex:
        return list(ex.map(fn, items))


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def checkout_event(user: str, *, bundle: str = "standard", amount: int = 1990) -> dict[str, Any]:
    """A paid ``checkout.session.completed`` event as Stripe (and local/stripe_sim/) sends it; ``amount`` is the
    bundle's price in cents (the service compares it with what it sold)."""
    session_id = "cs_test_" + uuid.uuid4().hex + uuid.uuid4().hex[:26]
    now = int(time.time())
    session = {
        "id": session_id,
        "object": "checkout.session",
        "amount_subtotal": amount,
        "amount_total": amount,
        "client_reference_id": user,
        "created": now - 60,
        "currency": "usd",
        "customer": None,
        "customer_details": {"email": f"{user}@example.com", "name": None},
        "expires_at": now + 86_400,
        "livemode": False,
        "metadata": {"bundle": bundle, "user_id": user},
        "mode": "payment",
        "payment_intent": "pi_" + uuid.uuid4().hex[:24],
        "payment_status": "paid",
        "status": "complete",
        "url": None,
    }
    return {
        "id": "evt_" + uuid.uuid4().hex[:24],
        "object": "event",
        "api_version": "2026-10-28",
        "created": now,
        "livemode": False,
        "pending_webhooks": 1,
        "type": "checkout.session.completed",
        "data": {"object": session},
    }


def pending_purchase(s: Services, event: dict[str, Any]) -> None:
    """What ``start_checkout`` leaves behind: the pending purchase record, and the session at "Stripe"."""
    from credits.ids import iso
    from credits.models import Purchase

    session = event["data"]["object"]
    bundle = s.purchases.catalog.get(session["metadata"]["bundle"])
    s.purchases.store.put_purchase(Purchase(session["id"], session["client_reference_id"], bundle.id, bundle.credits,
                                            bundle.unit_amount, bundle.currency, "pending", iso(time.time()),
                                            expires_after_days=bundle.expires_after_days))
    s.gateway.add(session)


# --- history ---------------------------------------------------------------------------------------------------
def seed_history(s: Services, user: str, entries: int, threads: int, log: Callable[[str], None]) -> float:
    """``entries`` ledger entries for ``user``: one grant, then consume(1) calls from ``threads`` threads."""
    t0 = time.perf_counter()
    ledger = s.ledger
    fund(s.grants, user, entries)
    todo = entries - 1
    done = [0]
    lock = threading.Lock()

    def work(_: int) -> None:
        while True:
            with lock:
                if done[0] >= todo:
                    return
                done[0] += 1
            for attempt in range(5):
                try:
                    ledger.consume(user, 1, "seed")
                    break
                except Exception:
                    if attempt == 4:
                        raise
                    time.sleep(0.05)

    with ThreadPoolExecutor(threads) as ex:
        list(ex.map(work, range(threads)))
    elapsed = time.perf_counter() - t0
    log(f"  seeded {entries} entries in {elapsed:.1f}s ({entries / elapsed:.0f}/s)")
    return elapsed


def history(s: Services, *, big_entries: int, reps: int, threads: int, log: Callable[[str], None]) -> dict[str, Any]:
    """Seed a user with 10 entries and one with ``big_entries`` in-process, then ``history_pages``. (A full run uses
    the change path's usage users instead, which already have those entries: see bench/run.py.)"""
    small, big = uid("hist-10"), uid(f"hist-{big_entries}")
    seed_history(s, small, 10, 4, log)
    seed_s = seed_history(s, big, big_entries, threads, log)
    return history_pages(s.ledger, small, big, big_entries=big_entries, reps=reps,
                         seeded=f"a grant, then concurrent `Ledger.consume` calls from {threads} threads",
                         seed_seconds=seed_s)


def history_pages(ledger: Any, small: str, big: str, *, big_entries: int, reps: int, seeded: str,
                  seed_seconds: float) -> dict[str, Any]:
    """First pages (limit 10, 25, type=usage) at 10 and at ``big_entries`` entries, interleaved, and pages after
    cursors ~100, ~N/2 and ~N-100 entries deep; ``seeded`` says how the users got their entries."""

    def page(user: str, limit: int, entry_type: str | None = None, cursor: str | None = None) -> tuple[float, int]:
        t0 = time.perf_counter()
        p = ledger.history(user, limit=limit, cursor=cursor, entry_type=entry_type)
        return (time.perf_counter() - t0) * 1000, len(p.items)

    cases: dict[str, Callable[[str], tuple[float, int]]] = {
        "first page, limit 10": lambda u: page(u, 10),
        "first page, limit 25 (default)": lambda u: page(u, 25),
        "first page, type=usage, limit 25": lambda u: page(u, 25, "usage"),
    }
    # Cursors ~100, ~5,000 and ~(N - 100) entries deep into the big user's history, by paging 100 at a time.
    depth_cursors: dict[int, str] = {}
    p = ledger.history(big, limit=100, cursor=None, entry_type=None)
    depth = 100
    targets = {100, (big_entries // 2) // 100 * 100, max(100, (big_entries - 100) // 100 * 100)}
    while p.next_cursor and depth <= max(targets):
        if depth in targets:
            depth_cursors[depth] = p.next_cursor
        p = ledger.history(big, limit=100, cursor=p.next_cursor, entry_type=None)
        depth += 100
    samples: dict[str, dict[str, list[float]]] = {c: {"10": [], str(big_entries): []} for c in cases}
    items: dict[str, dict[str, int]] = {c: {} for c in cases}
    deep: dict[int, list[float]] = {d: [] for d in depth_cursors}
    second_small: list[float] = []
    small_cursor = ledger.history(small, limit=5, cursor=None, entry_type=None).next_cursor
    for i in range(reps):
        for case, fn in cases.items():
            for label, user in (("10", small), (str(big_entries), big)) if i % 2 == 0 else \
                    ((str(big_entries), big), ("10", small)):
                ms, n = fn(user)
                samples[case][label].append(ms)
                items[case][label] = n
        for d, cur in depth_cursors.items():
            deep[d].append(page(big, 5, cursor=cur)[0])
        second_small.append(page(small, 5, cursor=small_cursor)[0])
    out: dict[str, Any] = {"reps": reps, "big_entries": big_entries, "seeded": seeded,
                           "seed_seconds": round(seed_seconds, 1),
                           "seed_rate_per_s": round(big_entries / seed_seconds, 1), "cases": {}}
    for case in cases:
        s10, sbig = spread(samples[case]["10"], 2), spread(samples[case][str(big_entries)], 2)
        out["cases"][case] = {
            "at_10": s10, f"at_{big_entries}": sbig,
            "items_returned": items[case],
            "ratio": round(sbig["median"] / s10["median"], 2),
        }
    out["raw_queries"] = raw_queries(ledger.store.table, small, big, big_entries=big_entries, reps=reps)
    s_small = spread(second_small, 2)
    out["cursor_page_limit_5"] = {
        "page_2_at_10": s_small,
        "at_depth": {str(d): spread(v, 2) for d, v in sorted(deep.items())},
        "ratio_at_depth": {str(d): round(spread(v, 2)["median"] / s_small["median"], 2)
                           for d, v in sorted(deep.items())},
    }
    return out


def raw_queries(table: Any, small: str, big: str, *, big_entries: int, reps: int) -> dict[str, Any]:
    """The two Queries a first history page makes, sent bare (no product code) with the ledger's parameters, the
    entries' Query once more as ``begins_with`` (which the ledger does not send), and each user's partition size:
    what DynamoDB Local charges for them at 10 and at ``big_entries`` entries. Each case records the items it
    returned and whether the ledger sends it, so the report never has to guess which case is which."""
    from credits.keys import ACCOUNT_RANGE, ENTRY_PREFIX, ENTRY_RANGE, user_pk

    returned: dict[str, dict[str, int]] = {}

    def timed(case: str, label: str, **kwargs: Any) -> float:
        t0 = time.perf_counter()
        resp = table.client.query(TableName=table.name, **kwargs)
        ms = (time.perf_counter() - t0) * 1000
        returned.setdefault(case, {})[label] = len(resp.get("Items", []))
        return ms

    def account(case: str, label: str, user: str) -> float:  # DynamoLedgerStore.load_account
        return timed(case, label, KeyConditionExpression="PK = :pk AND SK BETWEEN :lo AND :hi",
                     ExpressionAttributeValues={":pk": {"S": user_pk(user)}, ":lo": {"S": ACCOUNT_RANGE[0]},
                                                ":hi": {"S": ACCOUNT_RANGE[1]}}, ConsistentRead=True)

    def entries(case: str, label: str, user: str) -> float:  # DynamoHistory.query_entries, limit 25
        return timed(case, label, KeyConditionExpression="PK = :pk AND SK BETWEEN :lo AND :hi",
                     ExpressionAttributeValues={":pk": {"S": user_pk(user)}, ":lo": {"S": ENTRY_RANGE[0]},
                                                ":hi": {"S": ENTRY_RANGE[1]}}, ScanIndexForward=False, Limit=26)

    def entries_begins_with(case: str, label: str, user: str) -> float:
        return timed(case, label, KeyConditionExpression="PK = :pk AND begins_with(SK, :p)",
                     ExpressionAttributeValues={":pk": {"S": user_pk(user)}, ":p": {"S": ENTRY_PREFIX}},
                     ScanIndexForward=False, Limit=26)

    def partition_items(user: str) -> int:
        n, start = 0, None
        while True:
            kwargs: dict[str, Any] = {"ExclusiveStartKey": start} if start else {}
            resp = table.client.query(TableName=table.name, Select="COUNT", KeyConditionExpression="PK = :pk",
                                      ExpressionAttributeValues={":pk": {"S": user_pk(user)}}, **kwargs)
            n += int(resp["Count"])
            start = resp.get("LastEvaluatedKey")
            if not start:
                return n

    cases: dict[str, tuple[Callable[[str, str, str], float], bool]] = {  # case -> (query, sent by the ledger)
        "account (SK BETWEEN BALANCE AND BALANCE#GRANTS)": (account, True),
        "entries (SK BETWEEN ENTRY# AND ENTRY$, newest first, limit 26)": (entries, True),
        "entries written as begins_with(SK, ENTRY#), not sent by the ledger": (entries_begins_with, False),
    }
    samples: dict[str, dict[str, list[float]]] = {c: {"10": [], str(big_entries): []} for c in cases}
    for i in range(reps):
        for case, (fn, _sent) in cases.items():
            for label, user in (("10", small), (str(big_entries), big))[:: 1 if i % 2 == 0 else -1]:
                samples[case][label].append(fn(case, label, user))
    out: dict[str, Any] = {"partition_items": {"10": partition_items(small), str(big_entries): partition_items(big)},
                           "cases": {}}
    for case in cases:
        s10, sbig = spread(samples[case]["10"], 2), spread(samples[case][str(big_entries)], 2)
        out["cases"][case] = {"at_10": s10, f"at_{big_entries}": sbig,
                              "ratio": round(sbig["median"] / s10["median"], 2),
                              "items_returned": returned[case], "sent_by_ledger": cases[case][1]}
    return out


# --- webhooks --------------------------------------------------------------------------------------------------
def webhooks(s: Services, *, deliveries: int, duplicate_share: float, threads: int, rounds: int,
             counter: RequestCounter | None, log: Callable[[str], None]) -> dict[str, Any]:
    """``deliveries`` per round, ``duplicate_share`` of them re-deliveries of an event of the round (same id),
    shuffled so duplicates also race their originals. Pending purchase records exist first (as after
    start_checkout). Checks: every session fulfilled once, each buyer credited exactly once per session."""
    purchases = s.purchases
    per_session = purchases.catalog.get("standard").credits
    rows = []
    for r in range(rounds):
        unique = round(deliveries * (1 - duplicate_share))
        buyers = [uid("buyer") for _ in range(max(1, unique // 4))]
        events = [checkout_event(buyers[i % len(buyers)]) for i in range(unique)]
        run_many(lambda e: pending_purchase(s, e), events, threads)
        stream = [copy.deepcopy(e) for e in events]
        stream += [copy.deepcopy(random.choice(events)) for _ in range(deliveries - unique)]
        random.shuffle(stream)
        outcomes: Counter[str] = Counter()
        latencies: list[float] = []
        lock = threading.Lock()

        def deliver(event: dict[str, Any], lock: Any = lock, outcomes: Counter[str] = outcomes,
                    latencies: list[float] = latencies) -> None:
            t0 = time.perf_counter()
            try:
                if counter is not None:
                    with counter.label("webhook:fulfilment"):
                        outcome = purchases.handle_event(event)
                else:
                    outcome = purchases.handle_event(event)
            except Exception as exc:
                outcome = f"error:{type(exc).__name__}"
            ms = (time.perf_counter() - t0) * 1000
            with lock:
                outcomes[outcome] += 1
                latencies.append(ms)

        t0 = time.perf_counter()
        run_many(deliver, stream, threads)
        elapsed = time.perf_counter() - t0
        credited = sum(s.ledger.balance(b).available for b in buyers)
        rows.append({
            "deliveries": deliveries, "unique_sessions": unique, "elapsed_s": round(elapsed, 3),
            "throughput": deliveries / elapsed, "outcomes": dict(outcomes),
            "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99),
            "credits_expected": unique * per_session, "credits_credited": credited,
            "exactly_once": credited == unique * per_session and outcomes.get("fulfilled", 0) == unique,
        })
        log(f"  webhooks round {r + 1}/{rounds}: {deliveries / elapsed:.0f} deliveries/s, "
            f"outcomes {dict(outcomes)}, exactly once: {rows[-1]['exactly_once']}")
    out: dict[str, Any] = {
        "deliveries_per_round": deliveries, "duplicate_share": duplicate_share, "threads": threads, "rounds": rounds,
        "throughput": spread([x["throughput"] for x in rows], 1),
        "p50_ms": spread([x["p50_ms"] for x in rows], 2),
        "p99_ms": spread([x["p99_ms"] for x in rows], 2),
        "exactly_once": all(x["exactly_once"] for x in rows),
        "rounds_detail": rows,
    }
    if counter is not None:
        out["requests"] = counter.summary("webhook:fulfilment")
    return out
