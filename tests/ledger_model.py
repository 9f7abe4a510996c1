"""A plain reference model of the ledger's contract, written to be obviously right rather than fast.

Everything happens eagerly, grant by grant, at the moment it happens: no unallocated counter, no folds, no watermark,
no lazy expiry. The stateful property test (tests/unit/test_ledger_properties.py) drives the real ledger and this model
with the same random operations and compares them after every step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

NEVER = 10**16


@dataclass
class RGrant:
    id: str
    amount: int
    priority: int
    expires_ms: int | None
    created_ms: int
    seq: int  # creation order, to break ties as the real ids (time-ordered) do
    remaining: int = 0
    spent: int = 0
    held: int = 0
    expired: int = 0
    voided: int = 0
    clawed_back: int = 0
    repaid_debt: int = 0
    restored: int = 0
    final: str | None = None

    def key(self) -> tuple[int, int, int, int]:
        return (self.priority, self.expires_ms if self.expires_ms is not None else NEVER, self.created_ms, self.seq)

    def final_at(self, at_ms: int) -> str | None:
        if self.final:
            return self.final
        if self.expires_ms is not None and at_ms >= self.expires_ms:
            return "expired"
        return None

    def status(self, now_ms: int) -> str:
        final = self.final_at(now_ms)
        if final:
            return final
        return "active" if self.remaining > 0 or self.held > 0 else "depleted"


@dataclass
class RHold:
    id: str
    amount: int
    expires_ms: int
    allocation: list[tuple[str, int]]
    status: str = "pending"


@dataclass
class Model:
    now_ms: int
    available: int = 0
    grants: dict[str, RGrant] = field(default_factory=dict)
    holds: dict[str, RHold] = field(default_factory=dict)
    entries_total: int = 0
    _seq: int = 0

    @property
    def held(self) -> int:
        return sum(h.amount for h in self.holds.values() if h.status == "pending")

    @property
    def balance(self) -> int:
        return self.available + self.held

    # --- time ----------------------------------------------------------------------------------------------------
    def advance(self, to_ms: int) -> None:
        """Apply every expiry up to ``to_ms`` in time order (a hold's return before a grant expiring at the same ms)."""
        while True:
            events: list[tuple[int, int, str]] = []
            events += [(h.expires_ms, 0, h.id) for h in self.holds.values()
                       if h.status == "pending" and h.expires_ms <= to_ms]
            events += [(g.expires_ms, 1, g.id) for g in self.grants.values()
                       if g.final is None and g.expires_ms is not None and g.expires_ms <= to_ms]
            if not events:
                break
            at, kind, ident = min(events)
            if kind == 0:
                hold = self.holds[ident]
                hold.status = "expired"
                self._return(hold.allocation, at)
            else:
                self._expire(self.grants[ident])
        self.now_ms = to_ms

    def _expire(self, g: RGrant) -> None:
        g.final = "expired"
        if g.remaining:
            g.expired += g.remaining
            self.available -= g.remaining
            self.entries_total -= g.remaining
            g.remaining = 0

    def _return(self, allocation: list[tuple[str, int]], at_ms: int) -> None:
        for gid, n in allocation:
            g = self.grants[gid]
            g.held -= n
            repay = min(n, max(0, -self.available))
            g.repaid_debt += repay
            self.available += repay
            rest = n - repay
            if not rest:
                continue
            final = g.final_at(at_ms)
            if final is None:
                g.remaining += rest
                self.available += rest
            else:
                if final == "expired":
                    g.final = "expired"
                    g.expired += rest
                else:
                    g.voided += rest
                self.entries_total -= rest

    def order(self) -> list[RGrant]:
        return sorted((g for g in self.grants.values() if g.final is None and g.remaining > 0), key=RGrant.key)

    # --- operations (each at ``at_ms``) ----------------------------------------------------------------------------
    def add_grant(self, gid: str, amount: int, priority: int, expires_ms: int | None, at_ms: int) -> None:
        self.advance(at_ms)
        self._seq += 1
        g = RGrant(gid, amount, priority, expires_ms, at_ms, self._seq)
        g.repaid_debt = min(amount, max(0, -self.available))
        g.remaining = amount - g.repaid_debt
        self.available += amount
        self.entries_total += amount
        self.grants[gid] = g

    def consume(self, n: int, at_ms: int) -> bool:
        self.advance(at_ms)
        if self.available < n:
            return False
        left = n
        for g in self.order():
            take = min(g.remaining, left)
            g.remaining -= take
            g.spent += take
            left -= take
        self.available -= n
        self.entries_total -= n
        return True

    def hold(self, hid: str, n: int, ttl_s: int, at_ms: int) -> bool:
        self.advance(at_ms)
        if self.available < n:
            return False
        allocation = []
        left = n
        for g in self.order():
            if left <= 0:
                break
            take = min(g.remaining, left)
            g.remaining -= take
            g.held += take
            allocation.append((g.id, take))
            left -= take
        self.available -= n
        self.holds[hid] = RHold(hid, n, math.ceil(at_ms / 1000 + ttl_s) * 1000, allocation)
        return True

    def resolve(self, hid: str, status: str, captured: int, at_ms: int) -> str:
        """Capture (``captured`` may be 0) or release a pending hold; answers its old status if it is not pending."""
        self.advance(at_ms)
        hold = self.holds[hid]
        if hold.status != "pending":
            return hold.status
        hold.status = status
        parts = sorted(hold.allocation, key=lambda p: self.grants[p[0]].key())
        left = captured
        rest = []
        for gid, n in parts:
            spend = min(n, left)
            g = self.grants[gid]
            g.held -= spend
            g.spent += spend
            left -= spend
            if n - spend:
                rest.append((gid, n - spend))
        self.entries_total -= captured
        self._return(rest, at_ms)
        return "ok"

    def void(self, gid: str, at_ms: int) -> str:
        self.advance(at_ms)
        g = self.grants[gid]
        if g.status(at_ms) != "active":
            return "not_active"
        g.final = "voided"
        g.voided += g.remaining
        self.available -= g.remaining
        self.entries_total -= g.remaining
        g.remaining = 0
        return "ok"

    def move_clawback(self, gid: str, taken: int, target: int, at_ms: int) -> int:
        """Move a purchase's clawback from ``taken`` to ``target`` (both already net of its grant's expired/voided)."""
        self.advance(at_ms)
        g = self.grants[gid]
        delta = target - taken
        if delta > 0:
            order = self.order()
            if g in order:
                order.remove(g)
                order.insert(0, g)
            left = delta
            for grant in order:
                take = min(grant.remaining, left)
                grant.remaining -= take
                grant.clawed_back += take
                left -= take
            self.available -= delta
            self.entries_total -= delta
            return -delta
        if delta < 0:
            amount = -delta
            repay = min(amount, max(0, -self.available))
            g.restored += repay
            g.repaid_debt += repay
            self.available += repay
            restored = repay
            rest = amount - repay
            if rest and g.final_at(at_ms) is None:
                g.restored += rest
                g.remaining += rest
                self.available += rest
                restored = amount
            self.entries_total += restored
            return restored
        return 0

    def expiring(self) -> tuple[int, int] | None:
        live = [g for g in self.grants.values() if g.final is None and g.remaining > 0 and g.expires_ms is not None
                and g.expires_ms > self.now_ms]
        if not live:
            return None
        at = min(g.expires_ms for g in live if g.expires_ms is not None)
        return sum(g.remaining for g in live if g.expires_ms == at), at
