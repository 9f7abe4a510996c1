"""Ledger rules for spending: consume, hold, capture and release credits, idempotently; balance and history.

Two paths (docs/ledger.md):
- **fast**: a consume is one conditional write with no read (``LedgerStore.spend``); it adds to ``unallocated``.
- **slow**: holds and everything else that touches grants go through ``AccountEngine.mutate`` (read, apply what is
  due and the operation's rule, one conditional write).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger

from credits.book import Draft
from credits.cursor import decode_cursor, encode_cursor
from credits.engine import AccountEngine, Change, Idem, check_amount, idempotency
from credits.errors import (
    HoldExpired,
    HoldNotPending,
    InsufficientCredits,
    InvalidRequest,
    NotFound,
    TransientStoreError,
    UnknownFeature,
)
from credits.grant_lot import NEVER
from credits.ids import iso, iso_ms, new_id
from credits.keys import pending_sk
from credits.models import (
    DEFAULT_HOLD_TTL,
    MAX_AMOUNT,
    MAX_HOLD_TTL,
    Balance,
    ConsumeResult,
    Entry,
    EntryPage,
    Hold,
    HoldPlaced,
    HoldResolved,
)
from credits.observability import count
from credits.ports import AlreadyApplied, HoldResolution, SpendRefused, SpendWrite

logger = Logger(service="credits")
FeaturePrice = Callable[[str], int | None]
MAX_SPEND_ATTEMPTS = 8


class Ledger:
    """Spending and reading credits. ``feature_price`` maps a feature id to its credits per unit (None = unknown)."""

    def __init__(
        self,
        engine: AccountEngine,
        feature_price: FeaturePrice | None = None,
        on_refusal: Callable[[str], None] | None = None,
    ) -> None:
        self.engine = engine
        self.store = engine.store
        self._feature_price = feature_price
        # Called after a 402 (auto-recharge records it); the success path never pays for it.
        self._on_refusal = on_refusal or (lambda _user: None)

    def _refused(self, user_id: str, available: int, required: int) -> InsufficientCredits:
        count("InsufficientCreditRefusals")
        try:
            self._on_refusal(user_id)
        except Exception:  # noqa: BLE001 - the 402 stands whatever happens to this side effect
            logger.warning("could not record a refusal for auto-recharge", extra={"user_id": user_id})
        return InsufficientCredits(available, required)

    # --- reads ----------------------------------------------------------------------------------------------------
    def balance(self, user_id: str) -> Balance:
        state, draft = self.engine.account(user_id)
        return Balance(user_id, state.available, state.held, state.updated_at, draft.expiring())

    def get_hold(self, user_id: str, hold_id: str) -> Hold:
        self.engine.settled(user_id)  # a first request creates the welcome grant like any other
        return self._visible(self._load_hold(user_id, hold_id))

    def _visible(self, hold: Hold) -> Hold:
        if hold.status == "pending" and hold.expires_epoch * 1000 <= self.engine.now_ms():
            return Hold(**{**hold.__dict__, "status": "expired"})
        return hold

    # --- the fast path ----------------------------------------------------------------------------------------------
    def price(
        self, amount: int | None, feature: str | None, quantity: int | None
    ) -> tuple[int, str | None, int | None]:
        """The cost of a consume: an amount, or ``quantity x credits_per_unit`` of a feature of the price list."""
        if (amount is None) == (feature is None):
            raise InvalidRequest("Give exactly one of amount and feature.")
        if amount is not None:
            if quantity is not None:
                raise InvalidRequest("quantity: only with feature.")
            check_amount(amount)
            return amount, None, None
        assert feature is not None
        qty = 1 if quantity is None else quantity
        check_amount(qty, name="quantity")
        unit = self._feature_price(feature) if self._feature_price else None
        if unit is None:
            raise UnknownFeature(f"Unknown feature {feature[:60]!r}; see GET /credits/features.")
        cost = qty * unit
        if cost > MAX_AMOUNT:
            raise InvalidRequest(f"quantity: the cost ({cost} credits) is above {MAX_AMOUNT}.")
        return cost, feature, qty

    def consume(
        self,
        user_id: str,
        amount: int | None = None,
        description: str = "",
        idempotency_key: str | None = None,
        *,
        feature: str | None = None,
        quantity: int | None = None,
        idempotency_scope: str = "consume",
        return_balance: bool = False,
    ) -> ConsumeResult:
        """Spend credits: one conditional write, no read (unless something expired since the last write)."""
        if amount is None and feature is not None:
            # The request as sent (defaults filled in) names a replay, whatever the price list says now.
            payload: dict[str, Any] = {"feature": feature, "quantity": 1 if quantity is None else quantity}
        else:
            payload = {"amount": amount}
        payload["description"] = description
        idem = idempotency(idempotency_scope, idempotency_key, payload)
        try:
            cost, feature, qty = self.price(amount, feature, quantity)
        except UnknownFeature:
            replay = self.engine.replayed(user_id, idem)  # a feature removed since the first request
            if replay is None:
                raise
            return ConsumeResult(replay["transaction_id"], int(replay["amount"]), True, payload.get("feature"),
                                 payload.get("quantity"), *self._maybe_balance(user_id, return_balance))
        created = False
        for _ in range(MAX_SPEND_ATTEMPTS):
            now_ms = self.engine.now_ms()
            entry = Entry(new_id("tx", now_ms / 1000), "usage", -cost, description or "Usage", iso_ms(now_ms),
                          None, feature=feature, quantity=qty)
            result = {"transaction_id": entry.id, "amount": cost}
            try:
                self.store.spend(SpendWrite(user_id, cost, entry, now_ms, idem.write(result) if idem else None))
            except AlreadyApplied as replay:
                return ConsumeResult(replay.result["transaction_id"], int(replay.result["amount"]), True, feature,
                                     qty, *self._maybe_balance(user_id, return_balance))
            except SpendRefused as refused:
                state = refused.state
                if state is None or not (state.exists or state.legacy):
                    if self.engine.welcome and not created:
                        created = True
                        self.engine.settled(user_id)
                        continue
                    raise self._refused(user_id, 0, cost) from None
                if state.due(now_ms):
                    self.engine.settled(user_id)
                    continue
                raise self._refused(user_id, state.available, cost) from None
            count("CreditsConsumed", cost)
            return ConsumeResult(entry.id, cost, False, feature, qty, *self._maybe_balance(user_id, return_balance))
        raise TransientStoreError("The ledger is busy; please retry.")

    def _maybe_balance(self, user_id: str, wanted: bool) -> tuple[Balance | None, bool]:
        """The balance for a response once the write committed; None (not an error) if it cannot be read now.

        Failing the request here would tell the client its spend did not happen when it did.
        """
        if not wanted:
            return None, False
        try:
            return self.balance(user_id), True
        except TransientStoreError:
            logger.warning("balance unreadable after a committed write", extra={"user_id": user_id})
            return None, True

    # --- holds ------------------------------------------------------------------------------------------------------
    def place_hold(
        self,
        user_id: str,
        amount: int,
        ttl_seconds: int = DEFAULT_HOLD_TTL,
        description: str = "",
        idempotency_key: str | None = None,
    ) -> HoldPlaced:
        check_amount(amount)
        if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int) or not 1 <= ttl_seconds <= MAX_HOLD_TTL:
            raise InvalidRequest(f"ttl_seconds must be an integer from 1 to {MAX_HOLD_TTL}.")
        idem = idempotency("hold", idempotency_key,
                           {"amount": amount, "ttl_seconds": ttl_seconds, "description": description})
        replay = self.engine.replayed(user_id, idem)
        if replay is not None:
            return self._hold_replay(user_id, replay)

        def op(draft: Draft) -> Change[Hold]:
            if draft.available < amount:
                raise InsufficientCredits(draft.available, amount)
            now_ms = draft.now_ms
            expires = math.ceil(now_ms / 1000 + ttl_seconds)
            # A new marker must sort above the settled watermark (clocks of two writers may differ by a little).
            expires = max(expires, _epoch_of_marker(draft.hold_watermark) + 1)
            hold_id = new_id("hold", now_ms / 1000)
            allocation = draft.take_for_hold(amount)
            draft.next_hold_ms = min(draft.next_hold_ms if draft.next_hold_ms is not None else NEVER, expires * 1000)
            hold = Hold(hold_id, user_id, amount, "pending", iso(expires), expires, iso_ms(now_ms), description,
                        allocation=allocation)
            result = {"hold_id": hold_id, "amount": amount, "expires_at": hold.expires_at}
            return Change(hold, new_hold=hold, idempotency=idem.write(result) if idem else None)

        try:
            hold, after = self.engine.mutate(user_id, op)
        except AlreadyApplied as replay_:
            return self._hold_replay(user_id, replay_.result)
        except InsufficientCredits as refused:
            raise self._refused(user_id, refused.available, refused.required) from None
        return HoldPlaced(hold, after.available)

    def _hold_replay(self, user_id: str, result: dict[str, Any]) -> HoldPlaced:
        hold = self._visible(self._load_hold(user_id, result["hold_id"]))
        return HoldPlaced(hold, self._available_now(user_id), replayed=True)

    def _available_now(self, user_id: str) -> int | None:
        try:
            return self.balance(user_id).available
        except TransientStoreError:
            return None

    def capture_hold(
        self, user_id: str, hold_id: str, amount: int | None = None, idempotency_key: str | None = None
    ) -> HoldResolved:
        hold = self._load_hold(user_id, hold_id)
        captured = hold.amount if amount is None else amount
        check_amount(captured, allow_zero=True)
        idem = idempotency("capture", idempotency_key, {"hold_id": hold_id, "amount": captured})
        replay = self.engine.replayed(user_id, idem)
        if replay is not None:
            return self._resolved_replay(user_id, replay)
        if captured > hold.amount:
            raise InvalidRequest(f"amount must not exceed the hold's {hold.amount} credits.")
        return self._resolve(user_id, hold, "captured", captured, idem)

    def release_hold(self, user_id: str, hold_id: str, idempotency_key: str | None = None) -> HoldResolved:
        hold = self._load_hold(user_id, hold_id)
        idem = idempotency("release", idempotency_key, {"hold_id": hold_id})
        replay = self.engine.replayed(user_id, idem)
        if replay is not None:
            return self._resolved_replay(user_id, replay)
        return self._resolve(user_id, hold, "released", 0, idem)

    def _resolved_replay(self, user_id: str, result: dict[str, Any]) -> HoldResolved:
        return HoldResolved(result["hold_id"], result["status"], int(result["captured"]), int(result["released"]),
                            self._balance_or_none(user_id), result.get("transaction_id"), replayed=True)

    def _balance_or_none(self, user_id: str) -> Balance | None:
        try:
            return self.balance(user_id)
        except TransientStoreError:
            return None

    def _resolve(self, user_id: str, hold: Hold, status: str, captured: int, idem: Idem | None) -> HoldResolved:
        def op(draft: Draft) -> Change[str | None]:
            now_ms = draft.now_ms
            if hold.status == "expired" or (hold.status == "pending" and (
                    hold.expires_epoch * 1000 <= now_ms or _marker_key(hold) <= draft.hold_watermark)):
                raise HoldExpired(f"Hold {hold.hold_id} expired at {hold.expires_at}.")
            if hold.status != "pending":
                raise HoldNotPending(f"Hold {hold.hold_id} is already {hold.status}.")
            entry_id = None
            if captured:
                entry = Entry(new_id("tx", now_ms / 1000), "usage", -captured,
                              hold.description or "Usage (captured hold)", iso_ms(now_ms), hold.hold_id,
                              extra={"hold_id": hold.hold_id})
                draft.add_entry(entry)
                entry_id = entry.id
            draft.resolve_hold(hold.allocation, hold.amount, captured)
            result = {"hold_id": hold.hold_id, "status": status, "captured": captured,
                      "released": hold.amount - captured, "transaction_id": entry_id}
            resolution = HoldResolution(hold, status, captured, hold.amount - captured, now_ms, iso_ms(now_ms))
            return Change(entry_id, resolve_hold=resolution, idempotency=idem.write(result) if idem else None)

        try:
            entry_id, after = self.engine.mutate(user_id, op)
        except AlreadyApplied as replay:
            return self._resolved_replay(user_id, replay.result)
        if captured:
            count("CreditsConsumed", captured)
        # The state this write produced (as a hold's answer does): no read after the transaction.
        return HoldResolved(hold.hold_id, status, captured, hold.amount - captured,
                            Balance(user_id, after.available, after.held, None), entry_id)

    def _load_hold(self, user_id: str, hold_id: str) -> Hold:
        if not hold_id or len(hold_id) > 64:
            raise NotFound(f"No hold {hold_id[:64]!r}.")
        return self.store.get_hold(user_id, hold_id)

    # --- grants -----------------------------------------------------------------------------------------------------

    def history(self, user_id: str, *, limit: int, cursor: str | None, entry_type: str | None) -> EntryPage:
        """One page of entries, newest first; expiries that are due are recorded first, so they are in it."""
        after = decode_cursor(cursor, user_id=user_id, entry_type=entry_type) if cursor else None
        self.engine.settled(user_id)
        items, next_sk = self.store.query_entries(user_id, entry_type, limit, after)
        next_cursor = encode_cursor(next_sk, user_id=user_id, entry_type=entry_type) if next_sk else None
        return EntryPage(items=items, next_cursor=next_cursor)


def _marker_key(hold: Hold) -> str:
    return pending_sk(hold.expires_epoch, hold.hold_id)


def _epoch_of_marker(sort_key: str) -> int:
    # "PENDING#<12-digit epoch>#<hold id>"; "" (nothing settled yet) is epoch 0.
    parts = sort_key.split("#")
    return int(parts[1]) if len(parts) >= 3 and parts[1].isdigit() else 0
