"""DynamoDB requests, reads/writes and consumed capacity per operation, through the domain services.

``op_costs``: each operation ``reps`` times, one at a time, counted under its label (setup is not counted).
``grant_scaling``: consume, balance and grant creation for users holding 1, 10 and 100 live grants: the fast path
never reads the book of grants, so consume must stay one request whatever the book's size, while the writes and
reads that do carry the book grow with it (their capacity units show by how much).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from bench.ddbcount import RequestCounter
from bench.load import checkout_event, pending_purchase, uid
from bench.services import Services, fund

OP_LABELS = [
    "consume", "consume (return_balance)", "consume (Idempotency-Key)", "consume replay (same key)",
    "consume refused (402)", "consume (user with a pending hold)", "hold", "capture", "release", "balance",
    "balance (user with a pending hold)", "grant (internal grant create)", "consume after a grant expired",
    "balance after a grant expired", "purchase fulfilment", "purchase fulfilment duplicate",
    "history page (limit 25)", "history page (type=usage)",
]
EXPIRY_LABELS = ("consume after a grant expired", "balance after a grant expired")


def op_costs(s: Services, counter: RequestCounter, reps: int) -> dict[str, Any]:
    """``spender`` holds one grant and never a hold (the common case); ``holder`` places, captures and releases
    holds and keeps one pending hold throughout; ``poor`` has 5 credits."""
    from credits.errors import InsufficientCredits

    ledger, grants = s.ledger, s.grants
    spender, holder, poor = uid("ops"), uid("ops-holds"), uid("ops-poor")
    fund(grants, spender, 10_000_000)
    fund(grants, holder, 10_000_000)
    fund(grants, poor, 5)
    ledger.place_hold(holder, 10, ttl_seconds=3600)
    for i in range(30):  # a history to page through
        ledger.consume(spender, 1, f"warm {i}")

    def run(label: str, fn: Callable[..., Any], setup: Callable[[], Any] | None = None) -> None:
        for _ in range(reps):
            args = (setup(),) if setup is not None else ()
            with counter.label(label):
                fn(*args)

    def refused() -> None:
        try:
            ledger.consume(poor, 10**9, "too much")
        except InsufficientCredits:
            return
        raise AssertionError("a consume above the balance was accepted")

    def new_hold() -> str:
        return str(ledger.place_hold(holder, 5, ttl_seconds=600).hold.hold_id)

    run("consume", lambda: ledger.consume(spender, 1, "bench"))
    run("consume (return_balance)", lambda: _check(ledger.consume(spender, 1, "bench", return_balance=True)
                                                   .balance is not None, "no balance returned"))
    run("consume (Idempotency-Key)", lambda: ledger.consume(spender, 1, "bench", idempotency_key=uid("k")))
    keys = [uid("k") for _ in range(reps)]
    for k in keys:
        ledger.consume(spender, 1, "bench", idempotency_key=k)
    replay_keys = iter(keys)
    run("consume replay (same key)",
        lambda: _check(ledger.consume(spender, 1, "bench", idempotency_key=next(replay_keys)).replayed, "no replay"))
    run("consume refused (402)", refused)
    run("consume (user with a pending hold)", lambda: ledger.consume(holder, 1, "bench"))
    run("hold", lambda: ledger.place_hold(holder, 5, ttl_seconds=600))
    run("capture", lambda h: ledger.capture_hold(holder, h, 3), new_hold)
    run("release", lambda h: ledger.release_hold(holder, h), new_hold)
    run("balance", lambda: ledger.balance(spender))
    run("balance (user with a pending hold)", lambda: ledger.balance(holder))
    run("grant (internal grant create)",
        lambda: grants.create_grant(spender, 100, idempotency_key=uuid.uuid4().hex, category="promotional",
                                    description="bench grant"))
    expiry_users = _users_with_an_expired_grant(s, 2 * reps)
    users = iter(expiry_users)
    run("consume after a grant expired", lambda: ledger.consume(next(users), 1, "bench"))
    run("balance after a grant expired", lambda: _check(ledger.balance(next(users)).available == 1000,
                                                        "the expired grant is still counted"))
    events = [checkout_event(uid("buyer")) for _ in range(reps)]
    for e in events:
        pending_purchase(s, e)
    fresh = iter(events)
    run("purchase fulfilment", lambda: _check(s.purchases.handle_event(next(fresh)) == "fulfilled", "not fulfilled"))
    dup = iter(events)
    run("purchase fulfilment duplicate",
        lambda: _check(s.purchases.handle_event(next(dup)) == "duplicate", "not a duplicate"))
    run("history page (limit 25)", lambda: ledger.history(spender, limit=25, cursor=None, entry_type=None))
    run("history page (type=usage)", lambda: ledger.history(spender, limit=25, cursor=None, entry_type="usage"))
    return {label: counter.summary(label) for label in OP_LABELS}


def _users_with_an_expired_grant(s: Services, n: int) -> list[str]:
    """``n`` users, each with 1,000 never-expiring credits and a grant of 500 that expired a moment ago (not yet
    recorded: the next request finds it due and settles it first)."""
    from credits.ids import iso_ms

    users = [uid("ops-expired") for _ in range(n)]
    last_expiry = 0
    for u in users:
        fund(s.grants, u, 1000)
        expires = int(time.time() * 1000) + 800
        fund(s.grants, u, 500, expires_at=iso_ms(expires), description="bench grant, expiring")
        last_expiry = expires
    time.sleep(max(0.0, last_expiry / 1000 - time.time()) + 0.05)
    return users


def grant_scaling(s: Services, counter: RequestCounter, *, sizes: tuple[int, ...], reps: int,
                  log: Callable[[str], None]) -> dict[str, Any]:
    """Per book size: consume, consume with return_balance, balance, and creating one more grant.

    The grants are of every kind the book holds: half never expire, half expire in 30-365 days (each also has an
    expiry marker item); priorities vary.
    """
    out: dict[str, Any] = {"reps": reps, "sizes": {}}
    for size in sizes:
        user = uid(f"grants-{size}")
        t0 = time.perf_counter()
        for i in range(size):
            extra: dict[str, Any] = {"expires_in_days": 30 + (i * 7) % 335} if i % 2 else {}
            s.grants.create_grant(user, 1_000_000, idempotency_key=uuid.uuid4().hex, priority=10 + i % 80,
                                  category="paid" if i % 3 == 0 else "promotional",
                                  description=f"bench grant {i + 1} of {size}", **extra)
        log(f"  {size} live grants created in {time.perf_counter() - t0:.1f}s")
        live_before = len(s.ledger.engine.account(user)[1].grants())
        rows = {
            "consume": lambda u=user: s.ledger.consume(u, 1, "bench"),
            "consume (return_balance)": lambda u=user: s.ledger.consume(u, 1, "bench", return_balance=True),
            "balance": lambda u=user: s.ledger.balance(u),
            "grant (internal grant create)": lambda u=user: s.grants.create_grant(
                u, 100, idempotency_key=uuid.uuid4().hex, description="bench grant, one more"),
        }
        for name, fn in rows.items():
            label = f"grants:{size}:{name}"
            for _ in range(reps):
                with counter.label(label):
                    fn()
        live_after = len(s.ledger.engine.account(user)[1].grants())
        out["sizes"][str(size)] = {"live_grants": live_before, "live_grants_end": live_after,
                                   **{name: counter.summary(f"grants:{size}:{name}") for name in rows}}
    return out


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise AssertionError(what)


USAGE_LABELS = [
    "usage write: 1 entry, quiet month (15 days, no feature)",
    "usage write: 1 entry, busy month (31 days x 20 features)",
    "usage write: a batch's 99 entries of one user and month (per write)",
    "usage write: a redelivered entry (counted before)",
    "usage report: 90 days, 3 months (one of them busy)",
]


def usage_costs(s: Services, counter: RequestCounter, reps: int) -> dict[str, Any]:
    """The change path's usage writes (``UsageStore.apply_group``, as the events function sends them) and the
    report's read, on month items of two sizes: what an entry costs off the request path grows with its month item,
    which a write rewrites whole (a write of a batch's entries of one user and month pays for it once)."""
    from credits.events.model import UsageDelta
    from credits.events.usage_store import UsageStore, month_sk, write_groups
    from credits.keys import user_pk

    store, now = UsageStore(s.table_name, s.client), time.time()
    quiet, busy, batcher = uid("usage-quiet"), uid("usage-busy"), uid("usage-batch")
    month = "2026-10"

    def delta(user: str, day: int, feature: str | None) -> UsageDelta:
        return UsageDelta(user, uid("tx"), f"{month}-{day:02d}", feature, 3)

    for group in write_groups([delta(quiet, d, None) for d in range(1, 16)]
                              + [delta(busy, d, f"feature-{f:02d}") for d in range(1, 32) for f in range(20)]):
        store.apply_group(group, now)
    sizes = {}
    for user in (quiet, busy):
        item = s.client.get_item(TableName=s.table_name, Key={"PK": {"S": user_pk(user)},
                                                              "SK": {"S": month_sk(month, 0)}})["Item"]
        sizes[user] = len(item["days"]["S"])
    redelivered = delta(quiet, 15, None)
    store.apply(redelivered, now)

    # DynamoDB Local reports 2 CU for any transaction, whatever its items; DynamoDB bills a transactional write 2
    # units per KB (rounded up) of each item. Computed here from what is sent.
    write_units: list[int] = []

    def count_units(params: dict[str, Any], **_: Any) -> None:
        write_units.append(sum(2 * -(-_item_bytes(next(iter(i.values()))["Item"]) // 1024)
                               for i in params["TransactItems"]))

    def run(label: str, fn: Callable[[], Any]) -> None:
        start = len(write_units)
        for _ in range(reps):
            with counter.label(label):
                fn()
        units[label] = round(sum(write_units[start:]) / reps, 2)

    units: dict[str, float] = {}
    s.client.meta.events.register("before-parameter-build.dynamodb.TransactWriteItems", count_units)
    try:
        _usage_rows(run, store, delta, quiet, busy, batcher, redelivered)
    finally:
        s.client.meta.events.unregister("before-parameter-build.dynamodb.TransactWriteItems", count_units)
    return {"packed_bytes": {"quiet": sizes[quiet], "busy": sizes[busy]},
            "rows": {label: {**counter.summary(label), "transaction_write_units": units[label]}
                     for label in USAGE_LABELS}}


def _item_bytes(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it: names plus values (strings in UTF-8, numbers 1 byte per 2 digits,
    rounded up, plus 1)."""
    size = 0
    for name, value in item.items():
        size += len(name.encode())
        if "S" in value:
            size += len(value["S"].encode())
        elif "N" in value:
            size += -(-len(value["N"].lstrip("-").replace(".", "")) // 2) + 1
        else:
            raise ValueError(f"_item_bytes: {name} is not S or N")
    return size


def _usage_rows(run: Callable[[str, Callable[[], Any]], None], store: Any, delta: Callable[..., Any], quiet: str,
                busy: str, batcher: str, redelivered: Any) -> None:
    now = time.time()
    run(USAGE_LABELS[0], lambda: _check(store.apply(delta(quiet, 15, None), now), "not counted"))
    run(USAGE_LABELS[1], lambda: _check(store.apply(delta(busy, 31, "feature-07"), now), "not counted"))
    run(USAGE_LABELS[2], lambda: _check(len(store.apply_group([delta(batcher, 9, None) for _ in range(99)], now))
                                        == 99, "not all counted"))
    run(USAGE_LABELS[3], lambda: _check(not store.apply(redelivered, now), "counted twice"))
    run(USAGE_LABELS[4], lambda: _check(len(store.days(busy, "2026-08-03", "2026-10-31")) == 31, "days missing"))
