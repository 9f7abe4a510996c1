"""Ledger rules: spend, hold, capture, release, grant and adjust credits, idempotently, on top of the store.

The store enforces the invariants inside one DynamoDB transaction per movement; this module decides amounts,
ids, times and idempotency, and hides expired holds from users (their credits are available again at once).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from aws_lambda_powertools import Logger

from credits.cursor import decode_cursor, encode_cursor
from credits.dynamodb import AlreadyApplied, DynamoLedgerStore, _Insufficient
from credits.errors import (
    HoldExpired,
    HoldNotPending,
    InsufficientCredits,
    InvalidRequest,
    NotFound,
    TransientStoreError,
)
from credits.ids import iso, new_id
from credits.models import (
    DEFAULT_HOLD_TTL,
    MAX_AMOUNT,
    MAX_HOLD_TTL,
    MAX_IDEMPOTENCY_KEY,
    AdjustmentResult,
    Balance,
    ConsumeResult,
    Entry,
    EntryPage,
    Hold,
    HoldPlaced,
    HoldResolved,
)
from credits.observability import count

logger = Logger(service="credits")


def request_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _idempotency(operation: str, key: str | None, payload: dict[str, Any]) -> tuple[str, str, str] | None:
    if key is None:
        return None
    if not key or len(key) > MAX_IDEMPOTENCY_KEY:
        raise InvalidRequest(f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} characters.")
    # Keys are user-chosen strings of any alphabet; hashing bounds the sort key and keeps it printable.
    return operation, hashlib.sha256(key.encode()).hexdigest(), request_hash(payload)


def _check_amount(amount: int, *, allow_zero: bool = False) -> None:
    low = 0 if allow_zero else 1
    if isinstance(amount, bool) or not isinstance(amount, int) or not low <= amount <= MAX_AMOUNT:
        raise InvalidRequest(f"amount must be an integer from {low} to {MAX_AMOUNT}.")


class Ledger:
    """Domain service. ``clock`` is injectable so expiry can be tested without sleeping."""

    def __init__(self, store: DynamoLedgerStore, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    # --- reads ----------------------------------------------------------------------------------------------------
    def balance(self, user_id: str) -> Balance:
        """The user's view: credits of pending holds past their expiry count as available already."""
        raw = self.store.get_balance(user_id)
        if raw.held <= 0:
            return raw
        expired = sum(amount for _, amount in self.store.expired_pending_holds(user_id, self.clock()))
        if not expired:
            return raw
        return Balance(user_id, raw.available + expired, raw.held - expired, raw.updated_at)

    def history(self, user_id: str, *, limit: int, cursor: str | None, entry_type: str | None) -> EntryPage:
        after = decode_cursor(cursor, user_id=user_id, entry_type=entry_type) if cursor else None
        items, next_sk = self.store.query_entries(user_id, entry_type, limit, after)
        next_cursor = encode_cursor(next_sk, user_id=user_id, entry_type=entry_type) if next_sk else None
        return EntryPage(items=items, next_cursor=next_cursor)

    def get_hold(self, user_id: str, hold_id: str) -> Hold:
        hold = self._load_hold(user_id, hold_id)
        if hold.status == "pending" and hold.expires_epoch <= self.clock():
            return replace(hold, status="expired")
        return hold

    # --- spending -------------------------------------------------------------------------------------------------
    def consume(
        self,
        user_id: str,
        amount: int,
        description: str = "",
        idempotency_key: str | None = None,
        *,
        idempotency_scope: str = "consume",
    ) -> ConsumeResult:
        """Spend credits. ``idempotency_scope`` keeps callers' key namespaces apart (user route vs services)."""
        _check_amount(amount)
        idem = _idempotency(idempotency_scope, idempotency_key, {"amount": amount, "description": description})
        now = self.clock()
        entry = Entry(new_id("tx", now), "usage", -amount, description or "Usage", iso(now), None)
        result = {"transaction_id": entry.id, "amount": amount}
        try:
            self._with_expired_holds_released(
                user_id,
                lambda: self.store.post_entry(
                    user_id, entry, require_available=amount, idempotency=idem, result=result, now=now
                ),
            )
        except AlreadyApplied as replay:
            return ConsumeResult(replay.result["transaction_id"], int(replay.result["amount"]),
                                 self._balance_after_write(user_id), replayed=True)
        count("CreditsConsumed", amount)
        return ConsumeResult(entry.id, amount, self._balance_after_write(user_id))

    def place_hold(
        self,
        user_id: str,
        amount: int,
        ttl_seconds: int = DEFAULT_HOLD_TTL,
        description: str = "",
        idempotency_key: str | None = None,
    ) -> HoldPlaced:
        _check_amount(amount)
        if not 1 <= ttl_seconds <= MAX_HOLD_TTL:
            raise InvalidRequest(f"ttl_seconds must be from 1 to {MAX_HOLD_TTL}.")
        payload = {"amount": amount, "ttl_seconds": ttl_seconds, "description": description}
        idem = _idempotency("hold", idempotency_key, payload)
        now = self.clock()
        expires = math.ceil(now + ttl_seconds)
        hold = Hold(new_id("hold", now), user_id, amount, "pending", iso(expires), expires, iso(now), description)
        result = {"hold_id": hold.hold_id, "amount": amount, "expires_at": hold.expires_at}
        try:
            self._with_expired_holds_released(
                user_id, lambda: self.store.place_hold(hold, idempotency=idem, result=result, now=now)
            )
        except AlreadyApplied as replay:
            stored = self._load_hold(user_id, replay.result["hold_id"])
            return HoldPlaced(stored, self._balance_after_write(user_id), replayed=True)
        return HoldPlaced(hold, self._balance_after_write(user_id))

    def capture_hold(self, user_id: str, hold_id: str, amount: int | None = None) -> HoldResolved:
        hold = self._load_hold(user_id, hold_id)
        now = self.clock()
        self._refuse_if_expired(hold, now)
        captured = hold.amount if amount is None else amount
        _check_amount(captured, allow_zero=True)
        if captured > hold.amount:
            raise InvalidRequest(f"amount must not exceed the hold's {hold.amount} credits.")
        entry = None
        if captured:
            description = hold.description or "Usage (captured hold)"
            entry = Entry(new_id("tx", now), "usage", -captured, description, iso(now), hold.hold_id)
        self._resolve(hold, "captured", captured, entry, now)
        return HoldResolved(hold.hold_id, "captured", captured, hold.amount - captured,
                            self._balance_after_write(user_id), entry.id if entry else None)

    def release_hold(self, user_id: str, hold_id: str) -> HoldResolved:
        hold = self._load_hold(user_id, hold_id)
        now = self.clock()
        self._refuse_if_expired(hold, now)
        self._resolve(hold, "released", 0, None, now)
        return HoldResolved(hold.hold_id, "released", 0, hold.amount, self._balance_after_write(user_id))

    def expire_holds(self, user_id: str) -> int:
        """Settle this user's pending holds past expiry (credits back to available). Returns how many."""
        now = self.clock()
        return sum(self._expire(user_id, hold_id, now) for hold_id, _ in self.store.expired_pending_holds(user_id, now))

    def sweep_expired_holds(self) -> int:
        """Scheduled tidy-up across all users; users already see these credits as available."""
        now = self.clock()
        return sum(self._expire(user, hold_id, now) for user, hold_id in self.store.expired_holds_all_users(now))

    def _expire(self, user_id: str, hold_id: str, now: float) -> int:
        try:
            self._resolve(self._load_hold(user_id, hold_id), "expired", 0, None, now)
        except (NotFound, HoldExpired, HoldNotPending):
            return 0  # another caller settled it first
        return 1

    # --- credits in -----------------------------------------------------------------------------------------------
    def adjust(
        self, user_id: str, amount: int, reason: str, idempotency_key: str, entry_type: str = "adjustment"
    ) -> AdjustmentResult:
        """Admin grant (+) or correction (-), idempotent by key; a correction never takes available below zero."""
        if amount == 0 or abs(amount) > MAX_AMOUNT:
            raise InvalidRequest(f"amount must be non-zero and at most {MAX_AMOUNT} in absolute value.")
        if not reason.strip():
            raise InvalidRequest("reason is required for an adjustment.")
        idem = _idempotency("adjust", idempotency_key, {"amount": amount, "reason": reason})
        now = self.clock()
        entry = Entry(new_id("adj", now), entry_type, amount, reason, iso(now), None)
        try:
            self.store.post_entry(
                user_id,
                entry,
                require_available=-amount if amount < 0 else None,
                idempotency=idem,
                result={"transaction_id": entry.id, "amount": amount},
                now=now,
            )
        except AlreadyApplied as replay:
            return AdjustmentResult(replay.result["transaction_id"], int(replay.result["amount"]),
                                    self.balance(user_id), replayed=True)
        return AdjustmentResult(entry.id, amount, self.balance(user_id))

    # --- internals ------------------------------------------------------------------------------------------------
    def _balance_after_write(self, user_id: str) -> Balance | None:
        """The balance for a response once the write committed; None (not an error) if it cannot be read now.

        Failing the request here would tell the client its spend did not happen when it did.
        """
        try:
            return self.balance(user_id)
        except TransientStoreError:
            logger.warning("balance unreadable after a committed write", extra={"user_id": user_id})
            return None

    def _with_expired_holds_released(self, user_id: str, write: Callable[[], None]) -> None:
        """Try the write; if it lacks credits while holds are outstanding, settle expired holds and try once more.

        Keeps the hot path at one request while making expired holds' credits spendable without a sweeper.
        """
        try:
            write()
        except _Insufficient as exc:
            if exc.old.held <= 0 or not self.expire_holds(user_id):
                count("InsufficientCreditRefusals")
                raise InsufficientCredits(exc.available, exc.required) from exc
            try:
                write()
            except _Insufficient as again:
                count("InsufficientCreditRefusals")
                raise InsufficientCredits(again.available, again.required) from again

    def _load_hold(self, user_id: str, hold_id: str) -> Hold:
        if not hold_id or len(hold_id) > 64:
            raise NotFound(f"No hold {hold_id!r}.")
        return self.store.get_hold(user_id, hold_id)

    def _refuse_if_expired(self, hold: Hold, now: float) -> None:
        if hold.status == "expired":
            raise HoldExpired(f"Hold {hold.hold_id} expired at {hold.expires_at}.")
        if hold.status != "pending":
            raise HoldNotPending(f"Hold {hold.hold_id} is already {hold.status}.")
        if hold.expires_epoch <= now:
            # Tidy up while we are here; the user-visible state is "expired" either way.
            try:
                self._resolve(hold, "expired", 0, None, now)
            except (HoldExpired, HoldNotPending):
                pass  # settled concurrently
            raise HoldExpired(f"Hold {hold.hold_id} expired at {hold.expires_at}.")

    def _resolve(self, hold: Hold, status: str, captured: int, entry: Entry | None, now: float) -> None:
        self.store.resolve_hold(hold, status=status, captured=captured, entry=entry, now=now, now_iso=iso(now))
