"""The measured workloads, all in-process against DynamoDB Local through the domain services.

- ``op_costs``: DynamoDB requests / reads / writes / consumed capacity per operation, sequentially, with labels.
- ``hot_user``: 32 threads on one balance, interleaved rounds of: ours (Ledger.consume), the seed's naive
  read-then-SET algorithm, and the ceiling (one bare conditional UpdateItem per spend, no ledger entry).
- ``drain``: the same three against a small balance until it is empty: who overdraws.
- ``history``: one page at 10 and at 10,000 ledger entries.
- ``webhooks``: checkout.session.completed fulfilment with 20% duplicate deliveries.
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


def create_plain_table(client: Any, name: str) -> None:
    """PK/SK table for the naive and ceiling items (kept apart from the ledger table)."""
    if name in client.list_tables().get("TableNames", []):
        return
    client.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                              {"AttributeName": "SK", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        BillingMode="PAY_PER_REQUEST",
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


# --- 1. requests and capacity per operation -------------------------------------------------------------------
def checkout_event(user: str, *, bundle: str = "standard", credits_amount: int = 1990) -> dict[str, Any]:
    """A ``checkout.session.completed`` event as Stripe (and the local simulator, local/stripe_sim/) sends it, paid."""
    session_id = "cs_test_" + uuid.uuid4().hex + uuid.uuid4().hex[:26]
    now = int(time.time())
    session = {
        "id": session_id,
        "object": "checkout.session",
        "amount_subtotal": credits_amount,
        "amount_total": credits_amount,
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


OP_LABELS = [
    "consume", "consume (Idempotency-Key)", "consume replay (same key)", "consume refused (402)", "hold",
    "capture", "release", "fulfilment", "fulfilment duplicate", "balance", "balance (user with a pending hold)",
    "history page (limit 25)", "history page (type=usage)",
]


def op_costs(ledger: Any, purchases: Any, counter: RequestCounter, reps: int) -> dict[str, Any]:
    """Each operation ``reps`` times, one at a time, counted under its label. Setup steps are not counted.

    ``spender`` never has a hold (the common case); ``holder`` places, captures and releases holds and keeps one
    pending hold, which makes every balance read of that user add a Query for expired holds.
    """
    spender, holder, poor = uid("ops"), uid("ops-holds"), uid("ops-poor")
    ledger.adjust(spender, 10_000_000, "bench grant", uid("grant"))
    ledger.adjust(holder, 10_000_000, "bench grant", uid("grant"))
    ledger.adjust(poor, 5, "bench grant", uid("grant"))
    ledger.place_hold(holder, 10, ttl_seconds=3600)
    for i in range(30):  # a history to page through
        ledger.consume(spender, 1, f"warm {i}")

    def run(label: str, fn: Callable[..., Any], setup: Callable[[], Any] | None = None) -> None:
        for _ in range(reps):
            if setup is None:
                with counter.label(label):
                    fn()
            else:
                arg = setup()
                with counter.label(label):
                    fn(arg)

    def new_hold() -> str:
        return str(ledger.place_hold(holder, 5, ttl_seconds=600).hold.hold_id)

    run("consume", lambda: ledger.consume(spender, 1, "bench"))
    run("consume (Idempotency-Key)", lambda: ledger.consume(spender, 1, "bench", idempotency_key=uid("k")))
    keys = [uid("k") for _ in range(reps)]
    for k in keys:
        ledger.consume(spender, 1, "bench", idempotency_key=k)
    replay_keys = iter(keys)
    run("consume replay (same key)", lambda: ledger.consume(spender, 1, "bench", idempotency_key=next(replay_keys)))
    run("consume refused (402)", lambda: _refused(ledger, poor))
    run("hold", lambda: ledger.place_hold(holder, 5, ttl_seconds=600))
    run("capture", lambda h: ledger.capture_hold(holder, h), new_hold)
    run("release", lambda h: ledger.release_hold(holder, h), new_hold)
    events = [checkout_event(uid("buyer")) for _ in range(reps)]
    for e in events:  # as start_checkout does before the user pays
        _pending_purchase(purchases, e)
    fresh = iter(events)
    run("fulfilment", lambda: _expect(purchases.handle_event(next(fresh)), "fulfilled"))
    dup = iter(events)
    run("fulfilment duplicate", lambda: _expect(purchases.handle_event(next(dup)), "duplicate"))
    run("balance", lambda: ledger.balance(spender))
    run("balance (user with a pending hold)", lambda: ledger.balance(holder))
    run("history page (limit 25)", lambda: ledger.history(spender, limit=25, cursor=None, entry_type=None))
    run("history page (type=usage)", lambda: ledger.history(spender, limit=25, cursor=None, entry_type="usage"))
    return {label: counter.summary(label) for label in OP_LABELS}


def _refused(ledger: Any, user: str) -> None:
    from credits.errors import InsufficientCredits

    try:
        ledger.consume(user, 10**9, "too much")
    except InsufficientCredits:
        return
    raise AssertionError("a consume above the balance was accepted")


def _expect(outcome: str, wanted: str) -> None:
    if outcome != wanted:
        raise AssertionError(f"webhook outcome {outcome!r}, expected {wanted!r}")


def _pending_purchase(purchases: Any, event: dict[str, Any]) -> None:
    from credits.ids import iso
    from credits.models import Purchase

    s = event["data"]["object"]
    bundle = purchases.catalog.get(s["metadata"]["bundle"])
    purchases.store.put_purchase(Purchase(s["id"], s["client_reference_id"], bundle.id, bundle.credits,
                                          bundle.unit_amount, bundle.currency, "pending", iso(time.time())))


# --- 2. hot user --------------------------------------------------------------------------------------------------
class HotUser:
    """The three spenders on one balance each. Amount 1 per spend; balances are large so nothing is refused."""

    START = 100_000_000

    def __init__(self, ledger: Any, client: Any, naive_table: str) -> None:
        from credits.errors import InsufficientCredits

        self.ledger, self.client, self.naive_table = ledger, client, naive_table
        self._insufficient = InsufficientCredits

    # ours: the domain service, one TransactWriteItems per spend (+ whatever it reads afterwards)
    def ours(self, user: str) -> Callable[[int], Outcome]:
        def spend(_: int) -> Outcome:
            try:
                self.ledger.consume(user, 1, "hot user")
            except self._insufficient:
                return "insufficient"
            return "ok"

        return spend

    # ours without the read after the write: the store's one TransactWriteItems alone (what "fix 1" would leave)
    def ours_write_only(self, user: str) -> Callable[[int], Outcome]:
        from credits.ids import iso, new_id
        from credits.models import Entry

        def spend(_: int) -> Outcome:
            now = time.time()
            entry = Entry(new_id("tx", now), "usage", -1, "hot user", iso(now), None)
            try:
                self.ledger.store.post_entry(user, entry, require_available=1, idempotency=None,
                                             result={"transaction_id": entry.id, "amount": 1}, now=now)
            except self._insufficient:
                return "insufficient"
            return "ok"

        return spend

    # the seed's algorithm: read the balance, then write balance - amount unconditionally
    def naive(self, key: str) -> Callable[[int], Outcome]:
        k = {"PK": {"S": key}, "SK": {"S": "BALANCE"}}

        def spend(_: int) -> Outcome:
            item = self.client.get_item(TableName=self.naive_table, Key=k, ConsistentRead=True)["Item"]
            available = int(item["available"]["N"])
            if available < 1:
                return "insufficient"
            self.client.update_item(
                TableName=self.naive_table, Key=k, UpdateExpression="SET available = :v, updated_at = :now",
                ExpressionAttributeValues={":v": {"N": str(available - 1)}, ":now": {"S": _now_iso()}},
            )
            return "ok"

        return spend

    # the ceiling: the balance item's conditional update alone (what our transaction does, minus the entry)
    def ceiling(self, key: str) -> Callable[[int], Outcome]:
        k = {"PK": {"S": key}, "SK": {"S": "BALANCE"}}

        def spend(_: int) -> Outcome:
            try:
                self.client.update_item(
                    TableName=self.naive_table, Key=k,
                    UpdateExpression="ADD available :da, held :dh SET updated_at = :now",
                    ConditionExpression="available >= :amount",
                    ExpressionAttributeValues={":da": {"N": "-1"}, ":dh": {"N": "0"}, ":amount": {"N": "1"},
                                               ":now": {"S": _now_iso()}},
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                    return "insufficient"
                raise
            return "ok"

        return spend

    # --- state --------------------------------------------------------------------------------------------------
    def seed_plain(self, key: str, amount: int) -> None:
        self.client.put_item(TableName=self.naive_table, Item={
            "PK": {"S": key}, "SK": {"S": "BALANCE"}, "available": {"N": str(amount)}, "held": {"N": "0"}})

    def plain_balance(self, key: str) -> int:
        item = self.client.get_item(TableName=self.naive_table, Key={"PK": {"S": key}, "SK": {"S": "BALANCE"}},
                                    ConsistentRead=True)["Item"]
        return int(item["available"]["N"])

    def seed_ours(self, user: str, amount: int) -> None:
        self.ledger.adjust(user, amount, "bench grant", uid("grant"))

    def ours_balance(self, user: str) -> int:
        return int(self.ledger.store.get_balance(user).available)

    def ours_entries(self, user: str) -> int:
        from credits.dynamodb import ENTRY_PREFIX, user_pk

        n, start = 0, None
        while True:
            kwargs: dict[str, Any] = {"ExclusiveStartKey": start} if start else {}
            resp = self.client.query(
                TableName=self.ledger.store.table, Select="COUNT", ConsistentRead=True,
                KeyConditionExpression="PK = :pk AND begins_with(SK, :p)",
                ExpressionAttributeValues={":pk": {"S": user_pk(user)}, ":p": {"S": ENTRY_PREFIX}}, **kwargs)
            n += int(resp["Count"])
            start = resp.get("LastEvaluatedKey")
            if not start:
                return n


def _now_iso() -> str:
    from credits.ids import iso

    return iso(time.time())


def hot_user(ledger: Any, client: Any, naive_table: str, *, threads: int, seconds: float, rounds: int,
             counter: RequestCounter | None, log: Callable[[str], None]) -> dict[str, Any]:
    """Interleaved rounds (ours, naive, ceiling, ours, ...) of ``seconds`` each, ``threads`` spenders on one item."""
    hot = HotUser(ledger, client, naive_table)
    ours_user, naive_key, ceiling_key = uid("hot-ours"), uid("hot-naive"), uid("hot-ceiling")
    write_only_user = uid("hot-ours-write-only")
    hot.seed_ours(ours_user, HotUser.START)
    hot.seed_ours(write_only_user, HotUser.START)
    hot.seed_plain(naive_key, HotUser.START)
    hot.seed_plain(ceiling_key, HotUser.START)
    variants: dict[str, dict[str, Any]] = {
        "ours": {"fn": hot.ours(ours_user), "balance": lambda: hot.ours_balance(ours_user)},
        "ours, write only": {"fn": hot.ours_write_only(write_only_user),
                             "balance": lambda: hot.ours_balance(write_only_user)},
        "naive": {"fn": hot.naive(naive_key), "balance": lambda: hot.plain_balance(naive_key)},
        "ceiling": {"fn": hot.ceiling(ceiling_key), "balance": lambda: hot.plain_balance(ceiling_key)},
    }
    per_round: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for v in variants.values():  # unmeasured warm-up round: DynamoDB Local's JIT, the connection pool
        closed_loop(v["fn"], threads, 1.0)
    entries_before = {"ours": hot.ours_entries(ours_user), "ours, write only": hot.ours_entries(write_only_user)}
    for r in range(rounds):
        order = list(variants) if r % 2 == 0 else list(reversed(variants))
        for name in order:
            v = variants[name]
            before = v["balance"]()
            label = f"hot:{name}"
            fn = v["fn"]
            if counter is not None:
                def fn(tid: int, _fn: Callable[[int], Outcome] = v["fn"], _label: str = label) -> Outcome:
                    with counter.label(_label):
                        return _fn(tid)
            res = closed_loop(fn, threads, seconds)
            after = v["balance"]()
            ok = res["outcomes"].get("ok", 0)
            lat = res["latencies_ms"]
            per_round[name].append({
                "spends_ok": ok,
                "outcomes": res["outcomes"],
                "elapsed_s": round(res["elapsed_s"], 3),
                "throughput": ok / res["elapsed_s"],
                "p50_ms": percentile(lat, 50),
                "p99_ms": percentile(lat, 99),
                "balance_before": before,
                "balance_after": after,
                # credits spent (acknowledged to the caller) but not taken off the balance: lost updates
                "credits_lost": ok - (before - after),
            })
            log(f"  hot user round {r + 1}/{rounds} {name}: {ok / res['elapsed_s']:.0f} spends/s, "
                f"lost {ok - (before - after)}")
    out: dict[str, Any] = {"threads": threads, "seconds_per_round": seconds, "rounds": rounds, "variants": {}}
    for name, rows in per_round.items():
        out["variants"][name] = {
            "throughput": spread([x["throughput"] for x in rows], 1),
            "p50_ms": spread([x["p50_ms"] for x in rows], 2),
            "p99_ms": spread([x["p99_ms"] for x in rows], 2),
            "spends_ok_total": sum(x["spends_ok"] for x in rows),
            "credits_lost_total": sum(x["credits_lost"] for x in rows),
            "errors": sum(n for x in rows for k, n in x["outcomes"].items() if k.startswith("error")),
            "rounds": rows,
        }
        if counter is not None:
            out["variants"][name]["requests"] = counter.summary(f"hot:{name}")
    for name, user in (("ours", ours_user), ("ours, write only", write_only_user)):
        entries = hot.ours_entries(user) - entries_before[name]  # the measured rounds only
        out["variants"][name]["ledger_entries_written"] = entries
        out["variants"][name]["entries_match_spends"] = entries == out["variants"][name]["spends_ok_total"]
    return out


def drain(ledger: Any, client: Any, naive_table: str, *, threads: int, credits_amount: int, rounds: int,
          log: Callable[[str], None], naive_cutoff_s: float = 3.0) -> dict[str, Any]:
    """A balance of ``credits_amount`` and ``threads`` spenders of 1 credit each until every spender is refused.

    Overdrawn = credits handed out beyond what the balance held; a correct spender hands out exactly the balance.
    """
    hot = HotUser(ledger, client, naive_table)
    rows: dict[str, list[dict[str, Any]]] = {"ours": [], "naive": [], "ceiling": []}
    for r in range(rounds):
        for name in rows:
            key = uid(f"drain-{name}")
            if name == "ours":
                hot.seed_ours(key, credits_amount)
                fn = hot.ours(key)
            else:
                hot.seed_plain(key, credits_amount)
                fn = hot.naive(key) if name == "naive" else hot.ceiling(key)
            # A correct spender stops at 0 within a few seconds. The naive one keeps handing out credits while
            # stale writes put the balance back up, for tens of seconds: it is cut off (its overdraft is a floor).
            res = closed_loop(fn, threads, naive_cutoff_s if name == "naive" else 60.0, stop_on={"insufficient"})
            ok = res["outcomes"].get("ok", 0)
            final = hot.ours_balance(key) if name == "ours" else hot.plain_balance(key)
            row = {"start_balance": credits_amount, "spends_ok": ok, "final_balance": final,
                   "overdrawn": max(0, ok - credits_amount), "negative_balance": final < 0,
                   "cut_off": name == "naive" and res["elapsed_s"] >= naive_cutoff_s,
                   "errors": sum(n for k, n in res["outcomes"].items() if k.startswith("error")),
                   "elapsed_s": round(res["elapsed_s"], 3)}
            if name == "ours":
                row["ledger_entries"] = hot.ours_entries(key) - 1  # minus the grant
            rows[name].append(row)
        log(f"  drain round {r + 1}/{rounds}: " + ", ".join(f"{n} overdrew {v[-1]['overdrawn']}"
                                                             for n, v in rows.items()))
    return {
        "threads": threads, "start_balance": credits_amount, "rounds": rounds, "naive_cutoff_s": naive_cutoff_s,
        "variants": {n: {"overdrawn": spread([x["overdrawn"] for x in v], 0),
                         "overdrawn_total": sum(x["overdrawn"] for x in v),
                         "negative_final_balance": any(x["negative_balance"] for x in v),
                         "errors": sum(x["errors"] for x in v),
                         "rounds": v} for n, v in rows.items()},
    }


# --- 3. history ---------------------------------------------------------------------------------------------------
def seed_history(ledger: Any, user: str, entries: int, threads: int, log: Callable[[str], None]) -> float:
    """``entries`` ledger entries for ``user``: one grant, then consume(1) calls from ``threads`` threads."""
    t0 = time.perf_counter()
    ledger.adjust(user, entries, "bench grant", uid("grant"))
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


def history(ledger: Any, *, big_entries: int, reps: int, threads: int, log: Callable[[str], None]) -> dict[str, Any]:
    small, big = uid("hist-10"), uid(f"hist-{big_entries}")
    seed_history(ledger, small, 10, 4, log)
    seed_s = seed_history(ledger, big, big_entries, threads, log)

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
    out: dict[str, Any] = {"reps": reps, "big_entries": big_entries, "seed_seconds": round(seed_s, 1),
                           "seed_rate_per_s": round(big_entries / seed_s, 1), "cases": {}}
    for case in cases:
        s10, sbig = spread(samples[case]["10"], 2), spread(samples[case][str(big_entries)], 2)
        out["cases"][case] = {
            "at_10": s10, f"at_{big_entries}": sbig,
            "items_returned": items[case],
            "ratio": round(sbig["median"] / s10["median"], 2),
        }
    s_small = spread(second_small, 2)
    out["cursor_page_limit_5"] = {
        "page_2_at_10": s_small,
        "at_depth": {str(d): spread(v, 2) for d, v in sorted(deep.items())},
        "ratio_at_depth": {str(d): round(spread(v, 2)["median"] / s_small["median"], 2)
                           for d, v in sorted(deep.items())},
    }
    return out


# --- 4. webhooks --------------------------------------------------------------------------------------------------
def webhooks(purchases: Any, *, deliveries: int, duplicate_share: float, threads: int, rounds: int,
             counter: RequestCounter | None, log: Callable[[str], None]) -> dict[str, Any]:
    """``deliveries`` per round, ``duplicate_share`` of them re-deliveries of an event of the round (same id),
    shuffled so duplicates also race their originals. Pending purchase records exist first (as after
    start_checkout). Checks: every session fulfilled once, each buyer credited exactly once per session."""
    rows = []
    for r in range(rounds):
        unique = round(deliveries * (1 - duplicate_share))
        buyers = [uid("buyer") for _ in range(max(1, unique // 4))]
        events = [checkout_event(buyers[i % len(buyers)]) for i in range(unique)]
        run_many(lambda e: _pending_purchase(purchases, e), events, threads)
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
        credited = sum(purchases.ledger.store.get_balance(b).available for b in buyers)
        rows.append({
            "deliveries": deliveries, "unique_sessions": unique, "elapsed_s": round(elapsed, 3),
            "throughput": deliveries / elapsed, "outcomes": dict(outcomes),
            "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99),
            "credits_expected": unique * 2000, "credits_credited": credited,
            "exactly_once": credited == unique * 2000 and outcomes.get("fulfilled", 0) == unique,
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
