"""The account engine: how every slow-path change is read, computed and committed, once, under contention.

A change reads the account (balance counters and the book, one request), opens a ``Draft`` that allocates the fast
path's spends and applies every expiry that is due, lets the operation apply its rules, and commits one
``AccountWrite`` guarded by the account's version. A lost race re-reads and recomputes; a settlement too large for one
write is committed in parts first. Reads settle what time has changed before answering, so an expiry is visible on
the very next read. The services (``Ledger``, ``GrantService``) are built on this.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from credits.account import AccountState, HoldMarker
from credits.book import Draft
from credits.errors import IdempotencyKeyReused, InvalidRequest, TransientStoreError
from credits.grant_lot import LiveGrant
from credits.ids import iso_ms, new_id
from credits.models import DEFAULT_PRIORITY, MAX_AMOUNT, MAX_IDEMPOTENCY_KEY, Hold
from credits.ports import (
    AccountWrite,
    HoldResolution,
    IdempotencyWrite,
    LedgerStore,
    PurchaseClawback,
    PurchaseFulfil,
    RechargeSettle,
    StaleAccount,
)

T = TypeVar("T")
# Re-reads after a lost race (another write to the same account in between). Each attempt re-reads, so this only
# bounds pathological contention; what is left answers 503 and the client retries.
MAX_ATTEMPTS = 8
MARKERS_PER_SETTLEMENT = 1000  # pending-hold markers settled by one write (one Query page)
# A settlement too large for one write is committed in parts; each part makes progress (the watermark advances).
MAX_PARTS = 64


def request_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class Idem:
    operation: str
    digest: str
    hash: str

    def write(self, result: dict[str, Any]) -> IdempotencyWrite:
        return IdempotencyWrite(self.operation, self.digest, self.hash, result)


def idempotency(operation: str, key: str | None, payload: dict[str, Any]) -> Idem | None:
    """Keys are scoped per user (the store keys them under the user) and per operation (``operation``)."""
    if key is None:
        return None
    if not key or len(key) > MAX_IDEMPOTENCY_KEY:
        raise InvalidRequest(f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} characters.")
    # Keys are user-chosen strings of any alphabet; hashing bounds the sort key and keeps it printable.
    return Idem(operation, hashlib.sha256(key.encode()).hexdigest(), request_hash(payload))


def check_amount(amount: int, *, allow_zero: bool = False, name: str = "amount") -> None:
    low = 0 if allow_zero else 1
    if isinstance(amount, bool) or not isinstance(amount, int) or not low <= amount <= MAX_AMOUNT:
        raise InvalidRequest(f"{name} must be an integer from {low} to {MAX_AMOUNT}.")


@dataclass
class Change(Generic[T]):
    """What an operation adds to the account write, and what it answers."""

    value: T
    new_hold: Hold | None = None
    resolve_hold: HoldResolution | None = None
    idempotency: IdempotencyWrite | None = None
    purchase: PurchaseFulfil | PurchaseClawback | None = None
    recharge: RechargeSettle | None = None


@dataclass(frozen=True)
class WelcomeGrant:
    credits: int
    days: int | None



class AccountEngine:
    """Reads, settles and commits accounts. ``clock`` is injectable so expiry can be tested without sleeping."""

    def __init__(
        self, store: LedgerStore, clock: Callable[[], float] = time.time, *, welcome: WelcomeGrant | None = None
    ) -> None:
        self.store = store
        self.clock = clock
        self.welcome = welcome if welcome and welcome.credits > 0 else None

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def ensure_user(self, user_id: str) -> None:
        """On routes that do not otherwise touch the ledger: a new user's first request creates the welcome grant."""
        if self.welcome is not None:
            self.settled(user_id)

    def account(self, user_id: str) -> tuple[AccountState, Draft]:
        """The account with everything due applied (committed), and a draft that shows it grant by grant."""
        state = self.settled(user_id)
        return state, Draft.open(state, self.now_ms())

    def settle(self, user_id: str) -> None:
        """Apply (commit) every expiry that is due for this user. Readers already see them; this records them."""
        self.settled(user_id)

    def sweep(self, limit: int = 500) -> dict[str, int]:
        """Scheduled tidy-up: record expiries of users who make no request, and mark settled holds expired."""
        now_ms = self.now_ms()
        users = 0
        grant_markers = self.store.due_grant_markers_all_users(now_ms, limit)
        for user_id in sorted({u for u, _ in grant_markers}):
            self.settled(user_id, welcome=False)
            users += 1
        for user_id, marker in grant_markers:
            self.store.delete_grant_marker(user_id, marker)
        tidied = 0
        hold_markers = self.store.due_hold_markers_all_users(now_ms, limit)
        by_user: dict[str, list[str]] = {}
        for user_id, marker in hold_markers:
            by_user.setdefault(user_id, []).append(marker)
        for user_id, markers in by_user.items():
            state = self.settled(user_id, welcome=False)
            settled = [m for m in markers if m <= state.hold_watermark]
            if settled:
                tidied += self.store.tidy_settled_holds(user_id, settled, iso_ms(now_ms))
        return {"users_settled": users + len(by_user), "holds_tidied": tidied, "grant_markers": len(grant_markers)}

    # --- the slow path --------------------------------------------------------------------------------------------

    # --- the slow path --------------------------------------------------------------------------------------------
    def settled(self, user_id: str, *, welcome: bool = True) -> AccountState:
        """The account with everything due committed; a new user gets the welcome grant when one is configured."""
        for _ in range(MAX_ATTEMPTS + MAX_PARTS):
            now_ms = self.now_ms()
            state = self.store.load_account(user_id)
            if not state.exists and not state.legacy:
                if not (welcome and self.welcome):
                    return state
                try:
                    self._commit(state, self._welcome_draft(state, now_ms), now_ms, Change(None))
                except StaleAccount:
                    pass  # created concurrently: exactly one welcome grant
                continue
            if not state.due(now_ms):
                return state
            draft = self._open(state, now_ms)
            try:
                self._commit(state, draft, now_ms, Change(None))
            except StaleAccount:
                continue
        raise TransientStoreError("The ledger is busy; please retry.")

    def _welcome_draft(self, state: AccountState, now_ms: int) -> Draft:
        assert self.welcome is not None
        draft = Draft.open(state, now_ms)
        expires = now_ms + self.welcome.days * 86_400_000 if self.welcome.days else None
        draft.add_grant(LiveGrant(new_id("gr", now_ms / 1000), "promotional", "welcome", self.welcome.credits,
                                  DEFAULT_PRIORITY, expires, now_ms, "Welcome credits"), "grant")
        return draft

    def _open(self, state: AccountState, now_ms: int) -> Draft:
        """A draft with the fast path's spends allocated and everything due applied (as far as one write can hold)."""
        draft = Draft.open(state, now_ms)
        if state.due(now_ms):
            markers: list[HoldMarker] = []
            next_hold = state.next_hold_ms if not state.legacy else None
            if state.holds_due(now_ms):
                markers = self.store.due_hold_markers(user_id=state.user_id, after_sort_key=state.hold_watermark,
                                                      until_ms=now_ms, limit=MARKERS_PER_SETTLEMENT)
                next_hold = (self.store.next_hold_expiry(state.user_id, now_ms)
                             if len(markers) < MARKERS_PER_SETTLEMENT else now_ms)
            draft.settle(markers, next_hold)
        return draft

    def mutate(
        self, user_id: str, op: Callable[[Draft], Change[T]], *, welcome: bool = True
    ) -> tuple[T, AccountState]:
        """Read, apply what is due and then ``op``, commit; on a lost race read again. Returns op's value and the
        state the write produced (available as committed, modulo concurrent fast-path spends)."""
        for _ in range(MAX_ATTEMPTS + MAX_PARTS):
            now_ms = self.now_ms()
            state = self.store.load_account(user_id)
            if not state.exists and not state.legacy and welcome and self.welcome:
                state = self.settled(user_id)
            draft = self._open(state, now_ms)
            if draft.incomplete:
                try:
                    self._commit(state, draft, now_ms, Change(None))  # a large settlement goes first, in parts
                except StaleAccount:
                    pass
                continue
            change = op(draft)
            try:
                after = self._commit(state, draft, now_ms, change)
            except StaleAccount:
                continue
            return change.value, after
        raise TransientStoreError("The ledger is busy; please retry.")

    def _commit(self, state: AccountState, draft: Draft, now_ms: int, change: Change[Any]) -> AccountState:
        result = draft.finish()
        writes = (result.changes_anything or change.new_hold or change.resolve_hold or change.purchase
                  or change.idempotency)
        # A due account is always written: its next_expiry must move past now, or every spend would take this path.
        if not writes and not state.due(now_ms):
            return state
        mode: Literal["create", "migrate", "update"] = (
            "migrate" if state.legacy else ("update" if state.exists else "create"))
        self.store.commit(AccountWrite(
            user_id=state.user_id, mode=mode, expect_version=state.version, result=result,
            updated_at=iso_ms(now_ms), now_ms=now_ms, new_hold=change.new_hold, resolve_hold=change.resolve_hold,
            idempotency=change.idempotency, purchase=change.purchase, recharge=change.recharge,
        ))
        return AccountState(user_id=state.user_id, exists=True, available=state.available + result.available_delta,
                            held=state.held + result.held_delta, version=state.version + 1)

    def replayed(self, user_id: str, idem: Idem | None) -> dict[str, Any] | None:
        """Look an idempotency key up before anything time-dependent; the write also guards it (concurrent twins)."""
        if idem is None:
            return None
        record = self.store.idempotency_record(user_id, idem.operation, idem.digest, self.now_ms())
        if record is None:
            return None
        if record.request_hash != idem.hash:
            raise IdempotencyKeyReused("This Idempotency-Key was already used with a different request.")
        return record.result
