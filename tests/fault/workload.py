"""Concurrent consumes and holds as a client drives them, and the per-request checks made afterwards from history.

Every logical request has a unique ``description``, so its usage entry can be found in history without knowing how
the ledger stores anything. A keyed request is resent with the same key (and body) while its outcome is unknown,
as a careful client does; a request without a key cannot be resent safely, so it is sent once and may stay unknown.
"""

from __future__ import annotations

import random
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from .support import Answer, Api

THREADS = 8


@dataclass
class ConsumeOp:
    """One logical spend; ``submissions`` > 1 sends it that many times (same key and body, other threads)."""

    description: str
    amount: int
    key: str | None
    submissions: int = 1
    answers: list[list[Answer]] = field(default_factory=list)  # per submission, every attempt
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def body(self) -> dict[str, Any]:
        return {"amount": self.amount, "description": self.description}

    def finals(self) -> list[Answer]:
        return [attempts[-1] for attempts in self.answers]

    def oks(self) -> list[Answer]:
        return [a for attempts in self.answers for a in attempts if a.status == 200]

    @property
    def outcome_known(self) -> bool:
        return any(a.definite for a in self.finals())


def make_consumes(rng: random.Random, prefix: str, *, keyed: int, unkeyed: int, duplicated: int,
                  amounts: tuple[int, int]) -> list[ConsumeOp]:
    ops = [ConsumeOp(f"{prefix}-k{i:03d}", rng.randint(*amounts), f"{prefix}-key-{i:03d}") for i in range(keyed)]
    for op in rng.sample(ops, duplicated):
        op.submissions = 2
    ops += [ConsumeOp(f"{prefix}-n{i:03d}", rng.randint(*amounts), None) for i in range(unkeyed)]
    return ops


def consume_once(api: Api, user: str, op: ConsumeOp) -> None:
    if op.key is None:
        attempts = [api.request("POST", "/credits/consume", user=user, json=op.body, route="consume")]
    else:
        attempts = api.retrying("POST", "/credits/consume", user=user, json=op.body, key=op.key, route="consume")
    with op.lock:
        op.answers.append(attempts)


def run_concurrently(tasks: Sequence[Callable[[], object]], rng: random.Random, threads: int = THREADS) -> None:
    order = list(tasks)
    rng.shuffle(order)
    with ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(task) for task in order]:
            future.result()


def consume_tasks(api: Api, user: str, ops: Sequence[ConsumeOp]) -> list[Callable[[], object]]:
    return [partial(consume_once, api, user, op) for op in ops for _ in range(op.submissions)]


def settle_consumes(api: Api, user: str, ops: Sequence[ConsumeOp]) -> int:
    """With faults off, resend each keyed spend whose outcome is still unknown (a client eventually does)."""
    pending = [op for op in ops if op.key is not None and not op.outcome_known]
    for op in pending:
        consume_once(api, user, op)
    return len(pending)


@dataclass
class ConsumeReport:
    applied: int = 0
    refused: int = 0
    unknown_applied: int = 0  # no key, no definite answer, and it did apply (DynamoDB applied it; client never heard)
    unknown_not_applied: int = 0

    def describe(self) -> str:
        return (f"spends applied {self.applied}, refused 402 {self.refused}; sent once without a key and never "
                f"answered: applied {self.unknown_applied}, not applied {self.unknown_not_applied}")


def usage_by_description(entries: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in entries:
        if e["type"] == "usage":
            found[e["description"]].append(e)
    return found


def check_consumes(ops: Sequence[ConsumeOp], entries: Sequence[dict[str, Any]]) -> ConsumeReport:
    """Per logical spend: moved at most once; every 200 is in history exactly once; a 402 moved nothing."""
    usage = usage_by_description(entries)
    report = ConsumeReport()
    for op in ops:
        found = usage.get(op.description, [])
        finals = op.finals()
        statuses = Counter(a.label() for a in finals)
        assert len(found) <= 1, f"{op.description} (key {op.key}) moved credits {len(found)} times: {found}"
        oks = op.oks()
        if oks:
            assert len(found) == 1, f"{op.description} was answered 200 but is not in history (acknowledged, lost)"
            assert found[0]["amount"] == -op.amount, f"{op.description}: entry {found[0]} for amount {op.amount}"
            assert {a.body["amount"] for a in oks if a.body} == {op.amount}, f"{op.description}: {oks}"
            ids = {a.body["transaction_id"] for a in oks if a.body}
            assert len(ids) == 1, f"{op.description}: one key, several transaction ids {ids} (a replay must repeat)"
            assert "402" not in statuses, f"{op.description} was answered both 200 and 402: {finals}"
            # "never below zero" while it ran, too: a 200 that reports the balance after the write shows it.
            available = [(a.body or {}).get("available") for a in oks]
            assert all(v is None or v >= 0 for v in available), oks
            report.applied += 1
        elif op.key is not None or any(a.definite for a in finals):
            assert op.outcome_known, f"{op.description}: no definite answer even after settling: {finals}"
            definite = {a.label() for a in finals if a.definite}
            assert definite == {"402"}, f"{op.description}: unexpected final answers {finals}"
            assert not found, f"{op.description} was refused 402 but moved credits: {found}"
            report.refused += 1
        elif found:
            report.unknown_applied += 1
        else:
            report.unknown_not_applied += 1
    return report


# --- holds -----------------------------------------------------------------------------------------------------------
@dataclass
class HoldOp:
    """Place a hold (keyed), then capture (all, or ``capture_amount``) or release it (keyed), as one client."""

    description: str
    amount: int
    action: str  # "capture" | "release"
    capture_amount: int | None  # None = the whole hold
    key: str
    place_answers: list[Answer] = field(default_factory=list)
    resolve_answers: list[Answer] = field(default_factory=list)
    lost_replays: int = 0  # retried with its key after an unknown outcome and answered 409 hold_not_pending

    @property
    def hold_id(self) -> str | None:
        ids = {a.body["hold_id"] for a in self.place_answers if a.ok and a.body}
        assert len(ids) <= 1, f"{self.description}: one placement key gave several holds {ids}"
        return next(iter(ids), None)

    @property
    def captured(self) -> int:
        if self.action != "capture":
            return 0
        return self.amount if self.capture_amount is None else self.capture_amount

    @property
    def resolve_body(self) -> dict[str, Any]:
        return {"amount": self.capture_amount} if self.capture_amount is not None else {}

    def place(self, api: Api, user: str) -> None:
        self.place_answers += api.retrying(
            "POST", "/credits/holds", user=user, key=self.key, route="hold",
            json={"amount": self.amount, "ttl_seconds": 900, "description": self.description},
        )

    def resolve(self, api: Api, user: str) -> None:
        hold_id = self.hold_id
        if hold_id is None:
            return
        self.resolve_answers += api.retrying(
            "POST", f"/credits/holds/{hold_id}/{self.action}", user=user, key=self.key + "-resolve",
            json=self.resolve_body, route=self.action,
        )

    def run(self, api: Api, user: str) -> None:
        self.place(api, user)
        self.resolve(api, user)


def make_holds(rng: random.Random, prefix: str, n: int, amounts: tuple[int, int]) -> list[HoldOp]:
    ops = []
    for i in range(n):
        amount = rng.randint(*amounts)
        action = "capture" if rng.random() < 0.6 else "release"
        partial = action == "capture" and rng.random() < 0.5
        ops.append(HoldOp(f"{prefix}-h{i:03d}", amount, action, rng.randint(0, amount) if partial else None,
                          f"{prefix}-hold-{i:03d}"))
    return ops


def settle_holds(api: Api, user: str, ops: Sequence[HoldOp]) -> None:
    """With faults off, finish what a client would: an unknown placement is resent, an unknown resolution too."""
    for op in ops:
        if not op.place_answers[-1].definite:
            op.place(api, user)
            op.resolve(api, user)
        elif op.hold_id is not None and not op.resolve_answers[-1].definite:
            op.resolve(api, user)
        last = op.resolve_answers[-1] if op.resolve_answers else None
        earlier_unknown = any(not a.definite for a in op.resolve_answers[:-1])
        if last is not None and last.status == 409 and last.code == "hold_not_pending" and earlier_unknown:
            op.lost_replays += 1


def check_holds(api: Api, user: str, ops: Sequence[HoldOp], entries: Sequence[dict[str, Any]],
                consume_descriptions: set[str]) -> dict[str, int]:
    """Each hold resolved once, as asked; captured amounts appear once as usage; no hold beyond those placed."""
    placed = [op for op in ops if op.hold_id is not None]
    for op in ops:
        assert op.place_answers[-1].definite, f"{op.description}: placement still unknown: {op.place_answers}"
        if op.hold_id is None:
            assert op.place_answers[-1].status == 402, f"{op.description}: {op.place_answers}"
    for op in placed:
        hold = api.hold(user, str(op.hold_id))
        wanted = "captured" if op.action == "capture" else "released"
        assert hold["status"] == wanted, f"{op.description}: hold is {hold['status']}, the client {op.action}d it"
        assert hold["amount"] == op.amount
        last = op.resolve_answers[-1]
        if op.lost_replays:
            continue  # the 409 said "already resolved": the hold's own status (checked above) is the answer
        assert last.status == 200, f"{op.description}: {op.action} answers {op.resolve_answers}"
        assert last.body is not None and last.body["status"] == wanted
        if op.action == "capture":
            assert last.body["captured"] == op.captured, f"{op.description}: {last.body}"
    captures = sorted(-e["amount"] for e in entries if e["type"] == "usage" and e["description"]
                      not in consume_descriptions)
    expected = sorted(op.captured for op in placed if op.captured > 0)
    assert captures == expected, f"usage from captures {captures} != captured amounts {expected}"
    return {
        "placed": len(placed),
        "captured": sum(1 for op in placed if op.action == "capture"),
        "released": sum(1 for op in placed if op.action == "release"),
        "refused": len(ops) - len(placed),
        "lost_replays": sum(op.lost_replays for op in ops),
    }
