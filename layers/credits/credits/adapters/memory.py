"""In-memory ``LedgerStore``, and ``MemoryStore``, every in-memory store in one object (purchases: ``memory_purchases``;
recharges: ``memory_recharge``): the same conditions as the DynamoDB adapters, in one process.

Every write takes one lock, checks every condition first and then applies everything, so it is atomic like a
``TransactWriteItems``. The contract suite (tests/unit/test_grant_rules.py, test_recharge_store_contract.py) and the
stateful property test run the same cases against this store and DynamoDB Local.
"""

from __future__ import annotations

import threading
from copy import deepcopy
from dataclasses import dataclass, field, replace
from typing import Any

from credits.account import AccountState, HoldMarker
from credits.adapters.memory_purchases import MemoryPurchaseStore
from credits.adapters.memory_recharge import MemoryRechargeStore
from credits.errors import HoldExpired, HoldNotPending, IdempotencyKeyReused, NotFound
from credits.grant_lot import NEVER, LiveGrant
from credits.ids import entry_sort_id
from credits.keys import (
    entry_sk,
    grant_expiry_sk,
    grant_expiry_upper,
    grant_sk,
    pending_sk,
    pending_upper,
)
from credits.models import Entry, Hold
from credits.ports import (
    AccountWrite,
    AlreadyApplied,
    IdempotencyRecord,
    IdempotencyWrite,
    PurchaseAlreadyFulfilled,
    SpendRefused,
    SpendWrite,
    StaleAccount,
)

IDEMPOTENCY_TTL_MS = 7 * 24 * 3600 * 1000


@dataclass
class _Account:
    available: int = 0
    held: int = 0
    unallocated: int = 0
    version: int = 0
    seq: int = 0
    next_expiry_ms: int = NEVER
    next_hold_ms: int | None = None
    hold_watermark: str = ""
    updated_at: str | None = None
    legacy: bool = False
    book: list[dict[str, Any]] = field(default_factory=list)
    migration_grant_id: str | None = None
    steps: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class _User:
    account: _Account | None = None
    entries: dict[str, Entry] = field(default_factory=dict)  # sort key -> entry
    holds: dict[str, Hold] = field(default_factory=dict)
    markers: dict[str, HoldMarker] = field(default_factory=dict)  # sort key -> marker
    grant_records: dict[str, dict[str, Any]] = field(default_factory=dict)
    grant_markers: set[str] = field(default_factory=set)
    idempotency: dict[tuple[str, str], tuple[IdempotencyRecord, int]] = field(default_factory=dict)


class MemoryStore(MemoryPurchaseStore, MemoryRechargeStore):
    """Every store in one object (they share nothing but the lock, as the DynamoDB adapters share a table)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._recharge_init()
        self._users: dict[str, _User] = {}
        self._purchases_init()
        self.refusals: dict[str, int] = {}  # 402s recorded for auto-recharge
        self.requests = 0  # every call, as the DynamoDB adapter counts requests (tests use it for cost checks)

    def _user(self, user_id: str) -> _User:
        return self._users.setdefault(user_id, _User())

    # --- seeding, for tests of the migration from the pre-grants layout ---------------------------------------------
    def seed_legacy_balance(self, user_id: str, available: int, held: int, updated_at: str) -> None:
        with self._lock:
            self._user(user_id).account = _Account(available=available, held=held, updated_at=updated_at,
                                                   legacy=True)

    def seed_legacy_hold(self, hold: Hold) -> None:
        with self._lock:
            user = self._user(hold.user_id)
            user.holds[hold.hold_id] = replace(hold, allocation=None)
            sk = pending_sk(hold.expires_epoch, hold.hold_id)
            user.markers[sk] = HoldMarker(sk, hold.hold_id, hold.amount, hold.expires_epoch * 1000, None)

    # --- reads ----------------------------------------------------------------------------------------------------
    def load_account(self, user_id: str) -> AccountState:
        with self._lock:
            self.requests += 1
            return self._state(user_id)

    def _state(self, user_id: str) -> AccountState:
        account = self._users.get(user_id, _User()).account
        if account is None:
            return AccountState(user_id)
        return AccountState(
            user_id=user_id, exists=not account.legacy, legacy=account.legacy, available=account.available,
            held=account.held, unallocated=account.unallocated, version=account.version, seq=account.seq,
            next_expiry_ms=account.next_expiry_ms, next_hold_ms=account.next_hold_ms,
            hold_watermark=account.hold_watermark, updated_at=account.updated_at,
            grants=tuple(LiveGrant.from_json(g) for g in account.book),
            migration_grant_id=account.migration_grant_id,
        )

    def idempotency_record(
        self, user_id: str, operation: str, key_digest: str, now_ms: int
    ) -> IdempotencyRecord | None:
        with self._lock:
            self.requests += 1
            found = self._user(user_id).idempotency.get((operation, key_digest))
            return found[0] if found and found[1] > now_ms else None

    def remember(self, user_id: str, write: IdempotencyWrite, now_ms: int) -> IdempotencyRecord | None:
        with self._lock:
            self.requests += 1
            user = self._user(user_id)
            found = user.idempotency.get((write.operation, write.key_digest))
            if found is not None and found[1] > now_ms:
                return found[0]
            self._put_idempotency(user, write, now_ms)
            return None

    def get_hold(self, user_id: str, hold_id: str) -> Hold:
        with self._lock:
            self.requests += 1
            hold = self._user(user_id).holds.get(hold_id)
            if hold is None:
                raise NotFound(f"No hold {hold_id!r}.")
            return hold

    def due_hold_markers(self, user_id: str, after_sort_key: str, until_ms: int, limit: int) -> list[HoldMarker]:
        with self._lock:
            self.requests += 1
            upper = pending_upper(until_ms // 1000)
            keys = sorted(k for k in self._user(user_id).markers if after_sort_key < k <= upper)
            return [self._user(user_id).markers[k] for k in keys[:limit]]

    def next_hold_expiry(self, user_id: str, until_ms: int) -> int | None:
        with self._lock:
            self.requests += 1
            upper = pending_upper(until_ms // 1000)
            later = sorted(k for k in self._user(user_id).markers if k > upper)
            return self._user(user_id).markers[later[0]].expires_ms if later else None

    def query_entries(
        self, user_id: str, entry_type: str | None, limit: int, after_sort_key: str | None
    ) -> tuple[list[Entry], str | None]:
        with self._lock:
            self.requests += 1
            items = sorted(self._user(user_id).entries.items(), reverse=True)
            rows = [(k, e) for k, e in items if (entry_type is None or e.type == entry_type)
                    and (after_sort_key is None or k < after_sort_key)]
            page = rows[:limit]
            return [e for _, e in page], (page[-1][0] if len(rows) > limit else None)

    def grant_record(self, user_id: str, grant_id: str) -> LiveGrant | None:
        with self._lock:
            self.requests += 1
            raw = self._user(user_id).grant_records.get(grant_id)
            return LiveGrant.from_json(raw) if raw else None

    def query_grant_records(
        self, user_id: str, limit: int, after_sort_key: str | None
    ) -> tuple[list[LiveGrant], str | None]:
        with self._lock:
            self.requests += 1
            keyed = sorted(((grant_sk(gid), raw) for gid, raw in self._user(user_id).grant_records.items()),
                           reverse=True)
            rows = [(k, r) for k, r in keyed if after_sort_key is None or k < after_sort_key]
            page = rows[:limit]
            return [LiveGrant.from_json(r) for _, r in page], (page[-1][0] if len(rows) > limit else None)

    def due_hold_markers_all_users(self, until_ms: int, limit: int) -> list[tuple[str, str]]:
        with self._lock:
            self.requests += 1
            upper = pending_upper(until_ms // 1000)
            found = [(uid, k) for uid, u in self._users.items() for k in u.markers if k <= upper]
            return sorted(found, key=lambda p: p[1])[:limit]

    def due_grant_markers_all_users(self, until_ms: int, limit: int) -> list[tuple[str, str]]:
        with self._lock:
            self.requests += 1
            upper = grant_expiry_upper(until_ms)
            found = [(uid, k) for uid, u in self._users.items() for k in u.grant_markers if k <= upper]
            return sorted(found, key=lambda p: p[1])[:limit]

    def tidy_settled_holds(self, user_id: str, marker_sort_keys: list[str], resolved_at: str) -> int:
        with self._lock:
            self.requests += 1
            user = self._user(user_id)
            account = user.account
            done = 0
            for sk in marker_sort_keys:
                marker = user.markers.get(sk)
                if marker is None or account is None or sk > account.hold_watermark:
                    continue
                hold = user.holds.get(marker.hold_id)
                if hold is not None and hold.status == "pending":
                    user.holds[marker.hold_id] = replace(hold, status="expired", captured=0, released=hold.amount,
                                                         resolved_at=resolved_at)
                del user.markers[sk]
                done += 1
            return done

    def delete_grant_marker(self, user_id: str, marker_sort_key: str) -> None:
        with self._lock:
            self.requests += 1
            self._user(user_id).grant_markers.discard(marker_sort_key)

    def note_refusal(self, user_id: str, now_iso: str) -> None:
        with self._lock:
            self.requests += 1
            account = self._user(user_id).account
            if account is not None:
                account.seq += 1
                self.refusals[user_id] = self.refusals.get(user_id, 0) + 1

    # --- writes ---------------------------------------------------------------------------------------------------
    def _check_idempotency(self, user: _User, write: IdempotencyWrite | None, now_ms: int) -> None:
        if write is None:
            return
        found = user.idempotency.get((write.operation, write.key_digest))
        if found is None or found[1] <= now_ms:
            return  # new, or remembered longer than 7 days ago: a new key again
        if found[0].request_hash != write.request_hash:
            raise IdempotencyKeyReused("This Idempotency-Key was already used with a different request.")
        raise AlreadyApplied(dict(found[0].result))

    def _put_idempotency(self, user: _User, write: IdempotencyWrite | None, now_ms: int) -> None:
        if write is not None:
            user.idempotency[(write.operation, write.key_digest)] = (
                IdempotencyRecord(write.request_hash, deepcopy(write.result)), now_ms + IDEMPOTENCY_TTL_MS)

    def spend(self, write: SpendWrite) -> None:
        with self._lock:
            self.requests += 1
            user = self._user(write.user_id)
            self._check_idempotency(user, write.idempotency, write.now_ms)
            account = user.account
            if (account is None or account.legacy or account.available < write.amount
                    or account.next_expiry_ms <= write.now_ms):
                raise SpendRefused(self._state(write.user_id) if account else None)
            account.available -= write.amount
            account.unallocated += write.amount
            account.seq += 1
            account.updated_at = write.entry.created_at
            account.steps = []
            self._put_entry(user, write.entry)
            self._put_idempotency(user, write.idempotency, write.now_ms)

    @staticmethod
    def _entry_key(entry: Entry) -> str:
        return entry_sk(entry_sort_id(entry.id, entry.created_at))

    def _put_entry(self, user: _User, entry: Entry) -> None:
        user.entries[self._entry_key(entry)] = entry

    def commit(self, write: AccountWrite) -> None:
        with self._lock:
            self.requests += 1
            user = self._user(write.user_id)
            account = user.account
            self._check_idempotency(user, write.idempotency, write.now_ms)
            self._check_purchase(write)
            if write.recharge is not None and not self._recharge_settleable(write.recharge):
                raise PurchaseAlreadyFulfilled(write.recharge.recharge_id)
            self._check_hold(user, write)
            result = write.result
            if write.mode == "create":
                stale = account is not None
            elif write.mode == "migrate":
                stale = account is None or not account.legacy
            else:
                stale = (account is None or account.legacy or account.version != write.expect_version
                         or (result.require_available is not None and account.available < result.require_available))
            if stale or any(self._entry_key(e) in user.entries for e in result.entries):
                raise StaleAccount(write.user_id)
            self._apply(user, write)

    def _check_hold(self, user: _User, write: AccountWrite) -> None:
        if write.new_hold is not None and write.new_hold.hold_id in user.holds:
            raise StaleAccount(write.user_id)
        resolution = write.resolve_hold
        if resolution is None:
            return
        hold = user.holds.get(resolution.hold.hold_id)
        now_s = resolution.now_ms / 1000
        if hold is None or hold.status != "pending" or hold.amount != resolution.hold.amount:
            raise HoldNotPending(f"Hold {resolution.hold.hold_id} is already {hold.status if hold else 'gone'}.")
        live = hold.expires_epoch > now_s
        if live == (resolution.status == "expired"):
            raise HoldExpired(f"Hold {hold.hold_id} expired at {hold.expires_at}.")

    def _apply(self, user: _User, write: AccountWrite) -> None:
        r = write.result
        account = user.account if write.mode != "create" and user.account is not None else _Account()
        account.legacy = False
        account.available += r.available_delta
        account.held += r.held_delta
        account.unallocated += r.unallocated_delta
        account.version = write.expect_version + 1 if write.mode == "update" else 1
        account.seq += 1
        account.next_expiry_ms = r.next_expiry_ms
        account.next_hold_ms = r.next_hold_ms
        account.hold_watermark = r.hold_watermark
        account.updated_at = write.updated_at
        account.book = [g.to_json() for g in r.book]
        account.migration_grant_id = r.migration_grant_id
        account.steps = list(r.steps)
        user.account = account
        for grant in r.records:
            user.grant_records[grant.id] = grant.to_json()
        for grant_id, expires_ms in r.new_expiring:
            user.grant_markers.add(grant_expiry_sk(expires_ms, grant_id))
        for entry in r.entries:
            self._put_entry(user, entry)
        if write.new_hold is not None:
            hold = write.new_hold
            user.holds[hold.hold_id] = hold
            sk = pending_sk(hold.expires_epoch, hold.hold_id)
            user.markers[sk] = HoldMarker(sk, hold.hold_id, hold.amount, hold.expires_epoch * 1000, hold.allocation)
        if write.resolve_hold is not None:
            res = write.resolve_hold
            hold = user.holds[res.hold.hold_id]
            user.holds[hold.hold_id] = replace(hold, status=res.status, captured=res.captured, released=res.released,
                                               resolved_at=res.resolved_at)
            user.markers.pop(pending_sk(hold.expires_epoch, hold.hold_id), None)
        self._put_idempotency(user, write.idempotency, write.now_ms)
        self._apply_purchase(write)
        if write.recharge is not None:
            self._recharge_settle(write.recharge)
