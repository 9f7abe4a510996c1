"""One account as the store reads and writes it: what the ledger loads before applying the book's rules (the counters
and the book of live lots, ``AccountState``; pending holds' markers, ``HoldMarker``) and what one ``Draft`` asks the
store to change (``DraftResult``). The rules themselves are in ``credits.book``."""

from __future__ import annotations

from dataclasses import dataclass

from credits.grant_lot import NEVER, LiveGrant
from credits.models import Entry


@dataclass(frozen=True)
class HoldMarker:
    """A pending hold as the settlement sees it (from its marker item)."""

    sort_key: str
    hold_id: str
    amount: int
    expires_ms: int
    allocation: tuple[tuple[str, int], ...] | None


@dataclass(frozen=True)
class AccountState:
    """What the store holds for one user: the balance counters and the book of live grants."""

    user_id: str
    exists: bool = False
    legacy: bool = False  # a balance written before grants existed (migrated at first touch)
    available: int = 0
    held: int = 0
    unallocated: int = 0
    version: int = 0
    seq: int = 0
    next_expiry_ms: int = NEVER
    next_hold_ms: int | None = None  # a lower bound of the earliest pending hold's expiry; None = none pending
    hold_watermark: str = ""  # pending-hold markers with a sort key <= this are settled (their credits returned)
    updated_at: str | None = None
    grants: tuple[LiveGrant, ...] = ()
    migration_grant_id: str | None = None

    @property
    def debt(self) -> int:
        return max(0, -self.available)

    def due(self, now_ms: int) -> bool:
        """Must a write settle time-caused changes (or migrate) before anything else?"""
        return self.legacy or (self.exists and self.next_expiry_ms <= now_ms)

    def holds_due(self, now_ms: int) -> bool:
        if self.legacy:
            return self.held > 0
        return self.next_hold_ms is not None and self.next_hold_ms <= now_ms


@dataclass(frozen=True)
class DraftResult:
    available_delta: int
    held_delta: int
    unallocated_delta: int
    require_available: int | None
    next_expiry_ms: int
    next_hold_ms: int | None
    hold_watermark: str
    book: list[LiveGrant]
    archived: list[str]
    records: list[LiveGrant]  # grant records to (re)write: new, archived now, or revived
    entries: list[Entry]
    steps: list[tuple[str, int]]
    migration_grant_id: str | None
    new_expiring: list[tuple[str, int]]

    @property
    def changes_anything(self) -> bool:
        return bool(self.available_delta or self.held_delta or self.unallocated_delta or self.entries or self.records
                    or self.archived)
