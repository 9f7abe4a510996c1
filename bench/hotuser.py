"""32 spenders on one balance: throughput and lost updates (``hot_user``), and who overdraws (``drain``).

Variants, each on a balance of its own:

- **ours**: ``Ledger.consume`` (the fast path: one ``TransactWriteItems``, no read);
- **ours, return_balance**: ``Ledger.consume(..., return_balance=True)`` (the same write, then the balance read);
- **raw transaction**: the fast path's ``TransactWriteItems`` (the balance update and the entry, same expressions and
  conditions) sent with the bare client on a ledger balance: what the write costs without the product's code;
- **naive**: the seed's algorithm, a consistent ``GetItem`` then an unconditional ``UpdateItem SET available``;
- **ceiling**: the balance update of our transaction alone, as one conditional ``UpdateItem`` (no ledger entry);
- **ceiling, table without stream**: the same on a table without a DynamoDB stream (what the tables of runs before
  the change path had): what the stream costs DynamoDB Local per write.

The naive and ceiling items live in a plain table of their own, with the ledger table's stream.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from bench.ddbcount import RequestCounter
from bench.load import Outcome, closed_loop, uid
from bench.services import Services, fund
from bench.stats import percentile, spread

NEVER_MS = "9999999999999"  # credits.book.NEVER: "nothing expires", as a balance without expiring grants has it


class HotUser:
    """The spenders. Amount 1 per spend; balances are large so nothing is refused (except in the drain)."""

    START = 100_000_000

    def __init__(self, s: Services, plain_table: str, streamless_table: str | None = None) -> None:
        from credits.errors import InsufficientCredits

        self.s, self.client, self.plain_table = s, s.client, plain_table
        self.streamless_table = streamless_table or plain_table
        self._insufficient = InsufficientCredits

    def ours(self, user: str, *, return_balance: bool = False) -> Callable[[int], Outcome]:
        ledger = self.s.ledger

        def spend(_: int) -> Outcome:
            try:
                ledger.consume(user, 1, "hot user", return_balance=return_balance)
            except self._insufficient:
                return "insufficient"
            return "ok"

        return spend

    def raw_transaction(self, user: str) -> Callable[[int], Outcome]:
        """credits.adapters.dynamo_ledger ``spend``'s two items, built here; ``user`` must have a ledger balance."""
        from credits.keys import BALANCE_SK, entry_sk, type_pk, user_pk

        table, pk = self.s.table_name, {"S": user_pk(user)}

        def spend(_: int) -> Outcome:
            now_ms = int(time.time() * 1000)
            sk = {"S": entry_sk(f"{now_ms:013d}{uuid.uuid4().hex[:12]}")}
            try:
                self.client.transact_write_items(ClientRequestToken=uuid.uuid4().hex, TransactItems=[
                    {"Update": {
                        "TableName": table, "Key": {"PK": pk, "SK": {"S": BALANCE_SK}},
                        "UpdateExpression": "ADD available :neg, unallocated :amount, seq :one SET updated_at = :now "
                                            "REMOVE steps",
                        "ConditionExpression": "nx > :now_ms AND available >= :amount",
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        "ExpressionAttributeValues": {":neg": {"N": "-1"}, ":amount": {"N": "1"}, ":one": {"N": "1"},
                                                      ":now": {"S": _now_iso()}, ":now_ms": {"N": str(now_ms)}}}},
                    {"Put": {
                        "TableName": table, "ConditionExpression": "attribute_not_exists(PK)",
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        "Item": {"PK": pk, "SK": sk, "GSI1PK": {"S": type_pk(user, "usage")}, "GSI1SK": sk,
                                 "entry_id": {"S": "tx_" + uuid.uuid4().hex}, "user_id": {"S": user},
                                 "type": {"S": "usage"}, "amount": {"N": "-1"}, "description": {"S": "hot user"},
                                 "created_at": {"S": _now_iso()}}}},
                ])
            except ClientError as exc:
                if exc.response["Error"]["Code"] == "TransactionCanceledException":
                    return "insufficient"
                raise
            return "ok"

        return spend

    def naive(self, key: str) -> Callable[[int], Outcome]:
        k = {"PK": {"S": key}, "SK": {"S": "BALANCE"}}

        def spend(_: int) -> Outcome:
            item = self.client.get_item(TableName=self.plain_table, Key=k, ConsistentRead=True)["Item"]
            available = int(item["available"]["N"])
            if available < 1:
                return "insufficient"
            self.client.update_item(
                TableName=self.plain_table, Key=k, UpdateExpression="SET available = :v, updated_at = :now",
                ExpressionAttributeValues={":v": {"N": str(available - 1)}, ":now": {"S": _now_iso()}},
            )
            return "ok"

        return spend

    def ceiling(self, key: str, *, table: str | None = None) -> Callable[[int], Outcome]:
        """The fast path's balance update (credits.adapters.dynamo_ledger ``spend``), same expression and condition."""
        k = {"PK": {"S": key}, "SK": {"S": "BALANCE"}}
        name = table or self.plain_table

        def spend(_: int) -> Outcome:
            try:
                self.client.update_item(
                    TableName=name, Key=k,
                    UpdateExpression="ADD available :neg, unallocated :amount, seq :one SET updated_at = :now "
                                     "REMOVE steps",
                    ConditionExpression="nx > :now_ms AND available >= :amount",
                    ExpressionAttributeValues={":neg": {"N": "-1"}, ":amount": {"N": "1"}, ":one": {"N": "1"},
                                               ":now": {"S": _now_iso()},
                                               ":now_ms": {"N": str(int(time.time() * 1000))}},
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                    return "insufficient"
                raise
            return "ok"

        return spend

    # --- state --------------------------------------------------------------------------------------------------
    def seed_plain(self, key: str, amount: int, table: str | None = None) -> None:
        self.client.put_item(TableName=table or self.plain_table, Item={
            "PK": {"S": key}, "SK": {"S": "BALANCE"}, "available": {"N": str(amount)}, "held": {"N": "0"},
            "nx": {"N": NEVER_MS}})

    def plain_balance(self, key: str, table: str | None = None) -> int:
        item = self.client.get_item(TableName=table or self.plain_table, Key={"PK": {"S": key}, "SK": {"S": "BALANCE"}},
                                    ConsistentRead=True)["Item"]
        return int(item["available"]["N"])

    def seed_ours(self, user: str, amount: int) -> None:
        fund(self.s.grants, user, amount)

    def ours_balance(self, user: str) -> int:
        return int(self.s.ledger.balance(user).available)

    def ours_entries(self, user: str) -> int:
        """Ledger entries of ``user`` (a COUNT Query over ENTRY#, paged)."""
        from credits.keys import ENTRY_RANGE, user_pk

        n, start = 0, None
        while True:
            kwargs: dict[str, Any] = {"ExclusiveStartKey": start} if start else {}
            resp = self.client.query(
                TableName=self.s.table_name, Select="COUNT", ConsistentRead=True,
                KeyConditionExpression="PK = :pk AND SK BETWEEN :lo AND :hi",
                ExpressionAttributeValues={":pk": {"S": user_pk(user)}, ":lo": {"S": ENTRY_RANGE[0]},
                                           ":hi": {"S": ENTRY_RANGE[1]}}, **kwargs)
            n += int(resp["Count"])
            start = resp.get("LastEvaluatedKey")
            if not start:
                return n


def _now_iso() -> str:
    from credits.ids import iso

    return iso(time.time())


OURS = ("ours", "ours, return_balance", "raw transaction")


def hot_user(s: Services, plain_table: str, streamless_table: str, *, threads: int, seconds: float, rounds: int,
             counter: RequestCounter | None, log: Callable[[str], None]) -> dict[str, Any]:
    """Interleaved rounds (each variant, then reversed) of ``seconds`` each, ``threads`` spenders on one item."""
    hot = HotUser(s, plain_table, streamless_table)
    users = {name: uid("hot-" + name.replace(", ", "-").replace("_", "-")) for name in OURS}
    naive_key, ceiling_key, bare_key = uid("hot-naive"), uid("hot-ceiling"), uid("hot-ceiling-no-stream")
    for user in users.values():
        hot.seed_ours(user, HotUser.START)
    hot.seed_plain(naive_key, HotUser.START)
    hot.seed_plain(ceiling_key, HotUser.START)
    hot.seed_plain(bare_key, HotUser.START, streamless_table)
    variants: dict[str, dict[str, Any]] = {
        "ours": {"fn": hot.ours(users["ours"]), "balance": lambda: hot.ours_balance(users["ours"])},
        "ours, return_balance": {"fn": hot.ours(users["ours, return_balance"], return_balance=True),
                                 "balance": lambda: hot.ours_balance(users["ours, return_balance"])},
        "raw transaction": {"fn": hot.raw_transaction(users["raw transaction"]),
                            "balance": lambda: hot.ours_balance(users["raw transaction"])},
        "naive": {"fn": hot.naive(naive_key), "balance": lambda: hot.plain_balance(naive_key)},
        "ceiling": {"fn": hot.ceiling(ceiling_key), "balance": lambda: hot.plain_balance(ceiling_key)},
        "ceiling, table without stream": {"fn": hot.ceiling(bare_key, table=streamless_table),
                                          "balance": lambda: hot.plain_balance(bare_key, streamless_table)},
    }
    per_round: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for v in variants.values():  # unmeasured warm-up round: DynamoDB Local's JIT, the connection pool
        closed_loop(v["fn"], threads, 1.0)
    entries_before = {name: hot.ours_entries(user) for name, user in users.items()}
    for r in range(rounds):
        order = list(variants) if r % 2 == 0 else list(reversed(variants))
        for name in order:
            v = variants[name]
            before = v["balance"]()
            fn = v["fn"]
            if counter is not None:
                def fn(tid: int, _fn: Callable[[int], Outcome] = v["fn"], _label: str = f"hot:{name}") -> Outcome:
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
    for name, user in users.items():
        entries = hot.ours_entries(user) - entries_before[name]  # the measured rounds only
        out["variants"][name]["ledger_entries_written"] = entries
        out["variants"][name]["entries_match_spends"] = entries == out["variants"][name]["spends_ok_total"]
    return out


def drain(s: Services, plain_table: str, *, threads: int, credits_amount: int, rounds: int,
          log: Callable[[str], None], naive_cutoff_s: float = 3.0) -> dict[str, Any]:
    """A balance of ``credits_amount`` and ``threads`` spenders of 1 credit each until every spender is refused.

    Overdrawn = credits handed out beyond what the balance held; a correct spender hands out exactly the balance.
    """
    hot = HotUser(s, plain_table)
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
                row["ledger_entries"] = hot.ours_entries(key) - 1  # minus the grant's entry
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
