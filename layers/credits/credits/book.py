"""The grant book's rules: how credits move between a user's live lots (``credits.grant_lot``), pure.

No I/O here. The ledger loads an account (the balance counters and the book of live grants), applies the rules below
to a ``Draft`` and hands the store one ``AccountWrite``. Rules, in the words of docs/ledger.md:

- Spend order: lowest ``priority`` first, then the soonest ``expires_at`` (never-expiring last), then the oldest.
- Spends on the hot path are not allocated to grants when they happen: they add to the account's ``unallocated``
  counter, and the next write that touches grants first allocates that total in spend order (``fold``). Every such
  spend happened before the account's ``next_expiry`` (the fast path's condition) and no grant was added, voided or
  clawed back since the last fold (those are folds themselves), so allocating the total at once gives exactly what
  allocating each spend when it happened would have given.
- Time-caused changes (grant expiries, hold expiries) are applied in time order; a hold's credits return before a
  grant expiring at the same millisecond is applied.
- Credits that arrive or return while ``available < 0`` repay the debt first; the rest goes to its grant, or leaves with
  an ``expiry``/``void`` entry when that grant has expired or been voided meanwhile.
- A grant stays in the book while it has ``remaining`` or ``held`` credits; otherwise it is archived (its own record).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from credits.account import AccountState, DraftResult, HoldMarker
from credits.grant_lot import NEVER, LiveGrant, spend_order
from credits.ids import iso_ms, ms_of, new_id
from credits.models import Entry, Expiring

# Entries one settlement may add to a write: a transaction holds at most 100 items; each expiry entry may come with
# its grant's archived record, and the write also touches the balance, the book, a hold, its marker, an idempotency
# record and purchase records.
MAX_ENTRIES_PER_WRITE = 40
# Items of one transaction (DynamoDB's limit is 100) and those a write may need besides entries and grant records:
# balance, book, a new or resolved hold and its marker, an idempotency record, purchase and recharge records.
MAX_ITEMS_PER_WRITE = 100
RESERVED_ITEMS = 12


def _stable_entry_id(kind: str, grant_id: str, seq: int) -> str:
    # Derived from the grant and a sequence number: every reader and every retried settlement names it the same.
    return f"{kind}_{grant_id.removeprefix('gr_')}_{seq}"


def _steps_turning_points(points: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    """Keep only where the direction of ``available`` changes: crossings between them are implied by the ends."""
    out: list[tuple[str, int]] = []
    for point in points:
        if out and out[-1][1] == point[1]:
            continue
        if len(out) >= 2 and (out[-2][1] - out[-1][1]) * (out[-1][1] - point[1]) > 0:
            out[-1] = point  # same direction: the middle point adds no crossing
        else:
            out.append(point)
    return out[-50:]


@dataclass
class Draft:
    """A unit of work on one account: rules applied in order, then ``finish()`` says what the store must write."""

    state: AccountState
    now_ms: int
    available: int = 0
    held: int = 0
    folded: int = 0
    entries: list[Entry] = field(default_factory=list)
    steps: list[tuple[str, int]] = field(default_factory=list)
    next_hold_ms: int | None = None
    hold_watermark: str = ""
    new_grant_ids: set[str] = field(default_factory=set)
    migration_grant_id: str | None = None
    incomplete: bool = False  # the settlement ran out of write budget: commit this part, then settle again
    _grants: dict[str, LiveGrant] = field(default_factory=dict)
    _baseline: int = 0

    @classmethod
    def open(cls, state: AccountState, now_ms: int) -> Draft:
        draft = cls(state=state, now_ms=now_ms, available=state.available, held=state.held,
                    next_hold_ms=state.next_hold_ms, hold_watermark=state.hold_watermark,
                    migration_grant_id=state.migration_grant_id)
        draft._grants = {g.id: replace(g) for g in state.grants}
        if state.legacy:
            draft._migrate()
        draft._fold()
        draft._baseline = draft._remaining_total()
        return draft

    # --- views ----------------------------------------------------------------------------------------------------
    def grants(self) -> list[LiveGrant]:
        return spend_order(self._grants.values())

    def grant(self, grant_id: str) -> LiveGrant | None:
        return self._grants.get(grant_id)

    def spendable(self) -> list[LiveGrant]:
        return [g for g in self.grants() if g.final is None and g.remaining > 0]

    def expiring(self) -> Expiring | None:
        candidates = [g for g in self._grants.values() if g.final is None and g.remaining > 0
                      and g.expires_ms is not None and g.expires_ms > self.now_ms]
        if not candidates:
            return None
        at = min(g.expires_ms for g in candidates if g.expires_ms is not None)
        return Expiring(sum(g.remaining for g in candidates if g.expires_ms == at), iso_ms(at))

    def _remaining_total(self) -> int:
        return sum(g.remaining for g in self._grants.values())

    # --- folding and time -----------------------------------------------------------------------------------------
    def _migrate(self) -> None:
        """A pre-grants balance becomes one never-expiring paid grant; its pending holds return their credits to it."""
        s = self.state
        remaining = max(s.available, 0)
        # Pending holds of the old layout have no allocation; the settlement looks their markers up.
        self.next_hold_ms = 0 if s.held > 0 else None
        if remaining + s.held == 0:
            return  # nothing to represent (a zero balance, or only debt)
        created_ms = ms_of(s.updated_at) if s.updated_at else self.now_ms
        grant = LiveGrant(id=new_id("gr", created_ms / 1000), category="paid", source="migration",
                          amount=remaining + s.held, priority=50, expires_ms=None, created_ms=created_ms,
                          description="Balance before grants", remaining=remaining, held=s.held)
        self._grants[grant.id] = grant
        self.migration_grant_id = grant.id
        self.new_grant_ids.add(grant.id)

    def _fold(self) -> None:
        """Allocate the spends made on the fast path since the last fold, in spend order (see module docstring)."""
        left = self.state.unallocated
        for grant in self.spendable():
            if left <= 0:
                break
            take = min(grant.remaining, left)
            grant.remaining -= take
            grant.spent += take
            left -= take
        if left > 0:
            # The fast path refuses a spend that available does not cover, so this cannot happen; refusing to write
            # is safer than inventing an allocation.
            raise AssertionError(f"unallocated spends exceed the grants' remaining credits by {left}")
        self.folded = self.state.unallocated

    def settle(self, markers: Sequence[HoldMarker], next_hold_ms: int | None) -> bool:
        """Apply every grant and hold expiry up to now, in time order. Returns False when the write budget ran out
        before the end (the caller commits this part and settles again).

        ``markers``: pending holds past expiry above the watermark, in sort-key order; ``next_hold_ms``: the expiry of
        the first pending hold after them (None when there is none).
        """
        events: list[tuple[int, int, str, HoldMarker | LiveGrant]] = [
            (m.expires_ms, 0, m.sort_key, m) for m in markers
        ]
        events += [(g.expires_ms, 1, g.id, g) for g in self._grants.values()
                   if g.final is None and g.expires_ms is not None and g.expires_ms <= self.now_ms]
        # Same millisecond: the hold's credits return first, then the grant expires (one entry instead of two).
        events.sort(key=lambda e: (e[0], e[1], e[2]))
        for at_ms, _, _, subject in events:
            if isinstance(subject, HoldMarker):
                allocation = subject.allocation or self._legacy_allocation(subject.amount)
                if len(self.entries) + len(allocation) > MAX_ENTRIES_PER_WRITE:
                    return self._settled_part()
                before = self.available
                self._return(allocation, at_ms)
                self.hold_watermark = max(self.hold_watermark, subject.sort_key)
            else:
                if len(self.entries) + 1 > MAX_ENTRIES_PER_WRITE:
                    return self._settled_part()
                before = self.available
                self._expire(subject, at_ms)
            if self.available != before:
                self.steps.append((iso_ms(at_ms), self.available))
        self.next_hold_ms = next_hold_ms if self.held > 0 else None
        return True

    def _settled_part(self) -> bool:
        # Not everything due was applied: the next write must look at the pending holds again from the watermark.
        self.next_hold_ms = self.now_ms if self.held > 0 else None
        self.incomplete = True
        return False

    def _legacy_allocation(self, amount: int) -> tuple[tuple[str, int], ...]:
        if self.migration_grant_id is None or self.migration_grant_id not in self._grants:
            raise AssertionError("a hold without allocation needs the migration grant")
        return ((self.migration_grant_id, amount),)

    def _expire(self, grant: LiveGrant, at_ms: int) -> None:
        grant.final = "expired"
        amount = grant.remaining
        if amount <= 0:
            return
        grant.remaining = 0
        grant.expired += amount
        self.available -= amount
        self._removal_entry("expiry", grant, amount, at_ms)

    def _removal_entry(self, kind: str, grant: LiveGrant, amount: int, at_ms: int, text: str = "") -> None:
        if kind == "expiry":
            entry_id, grant.expiry_seq = _stable_entry_id("exp", grant.id, grant.expiry_seq), grant.expiry_seq + 1
            text = text or f"{amount:,} credits expired"
        else:
            entry_id, grant.void_seq = _stable_entry_id("void", grant.id, grant.void_seq), grant.void_seq + 1
            text = text or f"{amount:,} credits voided"
        self.entries.append(Entry(entry_id, kind, -amount, text, iso_ms(at_ms), grant.reference, grant.id))

    def _return(self, allocation: Iterable[tuple[str, int]], at_ms: int) -> int:
        """Held credits come back: debt first, then their grant, or out with an expiry/void entry. Returns how many
        became available again (debt repaid included)."""
        back = 0
        for grant_id, amount in allocation:
            grant = self._grants.get(grant_id)
            if grant is None or amount <= 0:
                raise AssertionError(f"held credits of grant {grant_id} are not in the book")
            grant.held -= amount
            self.held -= amount
            repay = min(amount, max(0, -self.available))
            if repay:
                grant.repaid_debt += repay
                self.available += repay
                back += repay
            rest = amount - repay
            if not rest:
                continue
            final = grant.final_at(at_ms)
            if final is None:
                grant.remaining += rest
                self.available += rest
                back += rest
            elif final == "expired":
                grant.final = "expired"
                grant.expired += rest
                self._removal_entry("expiry", grant, rest, at_ms)
            else:
                grant.voided += rest
                self._removal_entry("void", grant, rest, at_ms)
        return back

    # --- spending ---------------------------------------------------------------------------------------------------
    def take_for_hold(self, amount: int) -> tuple[tuple[str, int], ...]:
        allocation: list[tuple[str, int]] = []
        left = amount
        for grant in self.spendable():
            if left <= 0:
                break
            take = min(grant.remaining, left)
            grant.remaining -= take
            grant.held += take
            allocation.append((grant.id, take))
            left -= take
        if left > 0:
            raise AssertionError("take_for_hold called without enough available credits")
        self.available -= amount
        self.held += amount
        return tuple(allocation)

    def resolve_hold(self, allocation: Sequence[tuple[str, int]] | None, amount: int, captured: int) -> int:
        """Capture ``captured`` of a pending hold (0 = release), in its grants' spend order; the rest comes back."""
        parts = list(allocation) if allocation is not None else list(self._legacy_allocation(amount))
        missing = [grant_id for grant_id, _ in parts if grant_id not in self._grants]
        if missing:
            raise AssertionError(f"held credits of grants {missing} are not in the book")
        parts.sort(key=lambda p: self._grants[p[0]].order_key())
        left = captured
        rest: list[tuple[str, int]] = []
        for grant_id, part in parts:
            grant = self._grants[grant_id]
            spend = min(part, left)
            if spend:
                grant.held -= spend
                grant.spent += spend
                self.held -= spend
                left -= spend
            if part - spend:
                rest.append((grant_id, part - spend))
        return self._return(rest, self.now_ms)

    # --- credits in and out -----------------------------------------------------------------------------------------
    def add_grant(self, grant: LiveGrant, entry_type: str, extra: dict[str, Any] | None = None) -> Entry:
        """A new lot: it repays debt first; its remaining starts after that."""
        repay = min(grant.amount, max(0, -self.available))
        grant.repaid_debt = repay
        grant.remaining = grant.amount - repay
        self.available += grant.amount
        self._grants[grant.id] = grant
        self.new_grant_ids.add(grant.id)
        entry = Entry(new_id("tx", self.now_ms / 1000), entry_type, grant.amount, grant.description or "Credits",
                      iso_ms(self.now_ms), grant.reference, grant.id, extra=dict(extra or {}))
        self.entries.append(entry)
        return entry

    def void(self, grant: LiveGrant, reason: str = "") -> int:
        """Void an active grant now: its remaining leaves (one entry); held credits leave when they come back."""
        amount = grant.remaining
        grant.final = "voided"
        if amount:
            grant.remaining = 0
            grant.voided += amount
            self.available -= amount
            self._removal_entry("void", grant, amount, self.now_ms, reason)
        return amount

    def clawback(self, first_grant_id: str | None, amount: int) -> list[tuple[str, int]]:
        """Take ``amount`` back: from the given grant first, then in spend order, then into debt. Never held credits."""
        order = self.spendable()
        first = self._grants.get(first_grant_id or "")
        if first is not None and first in order:
            order.remove(first)
            order.insert(0, first)
        taken: list[tuple[str, int]] = []
        left = amount
        for grant in order:
            if left <= 0:
                break
            take = min(grant.remaining, left)
            if take:
                grant.remaining -= take
                grant.clawed_back += take
                taken.append((grant.id, take))
                left -= take
        self.available -= amount  # what no grant covers becomes debt
        return taken

    def revive(self, grant: LiveGrant) -> LiveGrant:
        """Bring an archived grant back into the book (a restore returns credits to it)."""
        copy = replace(grant)
        self._grants[copy.id] = copy
        return copy

    def restore(self, grant: LiveGrant | None, amount: int) -> int:
        """Give clawed-back credits back: debt first, then the grant unless it expired or was voided (then the rest
        would have left already and moves nothing). Returns the credits restored (the restore entry's amount).

        ``grant`` None: a purchase made before grants existed and no migration grant to return to; only debt is repaid.
        """
        repay = min(amount, max(0, -self.available))
        if repay:
            if grant is not None:
                grant.restored += repay
                grant.repaid_debt += repay
            self.available += repay
        rest = amount - repay
        if rest and grant is not None and grant.final_at(self.now_ms) is None:
            grant.restored += rest
            grant.remaining += rest
            self.available += rest
            return amount
        return repay

    def add_entry(self, entry: Entry) -> None:
        self.entries.append(entry)

    # --- result -------------------------------------------------------------------------------------------------------
    def _archive_now(self) -> list[LiveGrant]:
        """Grants with nothing left that leave the book in this write (their final record written with it).

        One fold can use up hundreds of grants, more records than a transaction holds; those over the write's budget
        stay in the book, where they read exactly as their records would (``depleted``, ``expired``), and a later
        write archives them. A grant created by this write always has its record written, so it leaves at once.
        """
        new = [g for g in self._grants.values() if g.id in self.new_grant_ids]
        markers = sum(1 for g in new if g.expires_ms is not None and g.live())
        done = [g for g in self._grants.values() if not g.live()]
        older = [g for g in done if g.id not in self.new_grant_ids]
        budget = MAX_ITEMS_PER_WRITE - RESERVED_ITEMS - len(self.entries) - len(new) - markers
        if len(older) > budget:
            # Expired and voided first (nothing returns to them but a restore), then the oldest.
            older.sort(key=lambda g: (g.final is None, g.created_ms, g.id))
            older = older[:max(budget, 0)]
        return [g for g in done if g.id in self.new_grant_ids] + older

    def finish(self) -> DraftResult:
        archived = self._archive_now()
        leaving = {g.id for g in archived}
        live = [g for g in self.grants() if g.id not in leaving]
        records = [g for g in self._grants.values() if g.id in leaving or g.id in self.new_grant_ids]
        expiries = [g.expires_ms for g in live if g.final is None and g.remaining > 0 and g.expires_ms is not None]
        if self.held <= 0:
            self.next_hold_ms = None
        candidates = [*expiries, *([self.next_hold_ms] if self.next_hold_ms is not None else [])]
        shrink = self._baseline - self._remaining_total()
        # Concurrent fast-path spends may have committed since the read; they are allocated at the next fold and
        # need the grants' remaining to cover them: available at commit >= what this write takes from remaining.
        require = shrink if shrink > 0 and self.state.available >= 0 else None
        return DraftResult(
            available_delta=self.available - self.state.available,
            held_delta=self.held - self.state.held,
            unallocated_delta=-self.folded,
            require_available=require,
            next_expiry_ms=min(candidates, default=NEVER),
            next_hold_ms=self.next_hold_ms,
            hold_watermark=self.hold_watermark,
            book=live,
            archived=[g.id for g in archived],
            records=records,
            entries=list(self.entries),
            steps=_steps_turning_points(self.steps),
            migration_grant_id=self.migration_grant_id if self.migration_grant_id in self._grants else None,
            new_expiring=[(g.id, g.expires_ms) for g in self._grants.values()
                          if g.id in self.new_grant_ids and g.expires_ms is not None and g.live()],
        )
