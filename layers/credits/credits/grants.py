"""Grants (credit lots): create, void, list and show them, and the grant side of purchases and clawbacks.

Rules live in ``credits.book``; this service names the operations of the API and of the purchase service, each one
``AccountEngine.mutate`` call (one conditional write), idempotent by key where the contract says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from credits.book import Draft
from credits.cursor import decode_cursor, encode_cursor
from credits.engine import AccountEngine, Change, check_amount, idempotency
from credits.errors import GrantNotActive, InvalidRequest, NotFound, TooManyGrants
from credits.grant_lot import LiveGrant
from credits.ids import iso_ms, new_id
from credits.keys import GRANT_PREFIX, grant_sk
from credits.models import DEFAULT_PRIORITY, MAX_GRANT_DAYS, Entry, Grant, GrantCreated, GrantPage, GrantVoided
from credits.ports import AlreadyApplied, PurchaseClawback, PurchaseFulfil, RechargeSettle

# Live grants (credits left or held) share one item of at most 400 KB: grants that a person or a service creates stop
# at this many, which leaves room for purchases, never refused (docs/ledger.md, Limits).
MAX_LIVE_GRANTS = 1000


class GrantService:
    def __init__(self, engine: AccountEngine, *, max_live_grants: int = MAX_LIVE_GRANTS) -> None:
        self.engine = engine
        self.store = engine.store
        self.max_live_grants = max_live_grants

    def create_grant(
        self,
        user_id: str,
        amount: int,
        *,
        idempotency_key: str,
        category: str = "promotional",
        priority: int = DEFAULT_PRIORITY,
        expires_at: str | None = None,
        expires_in_days: int | None = None,
        description: str = "",
        source: str = "grant",
        entry_type: str = "grant",
    ) -> GrantCreated:
        """Add a lot of credits (internal route, admin adjustments). The key is required and looked up before the
        time-dependent checks, so a replay whose ``expires_at`` has passed since is still a replay."""
        if not idempotency_key:
            raise InvalidRequest("Idempotency-Key header is required to create a grant.")
        check_amount(amount)
        payload = {"amount": amount, "category": category, "priority": priority, "expires_at": expires_at,
                   "expires_in_days": expires_in_days, "description": description, "source": source}
        idem = idempotency("grant", idempotency_key, payload)
        assert idem is not None
        replay = self.engine.replayed(user_id, idem)
        if replay is not None:
            return GrantCreated(self.grant(user_id, replay["grant_id"]), replayed=True)
        now_ms = self.engine.now_ms()
        expires_ms = _grant_expiry(now_ms, expires_at, expires_in_days)

        def op(draft: Draft) -> Change[str]:
            if sum(1 for g in draft.grants() if g.live()) >= self.max_live_grants:
                raise TooManyGrants(f"The user has {self.max_live_grants} grants with credits left; use or void "
                                    "some first (purchases are never refused).")
            grant = LiveGrant(new_id("gr", draft.now_ms / 1000), category, source, amount, priority, expires_ms,
                              draft.now_ms, description, None)
            draft.add_grant(grant, entry_type)
            return Change(grant.id, idempotency=idem.write({"grant_id": grant.id}))

        try:
            grant_id, _ = self.engine.mutate(user_id, op)
        except AlreadyApplied as again:
            return GrantCreated(self.grant(user_id, again.result["grant_id"]), replayed=True)
        return GrantCreated(self.grant(user_id, grant_id))

    def void_grant(self, user_id: str, grant_id: str, reason: str, idempotency_key: str | None = None) -> GrantVoided:
        idem = idempotency("void", idempotency_key, {"grant_id": grant_id, "reason": reason})
        replay = self.engine.replayed(user_id, idem)
        if replay is not None:
            return GrantVoided(self.grant(user_id, grant_id), int(replay["voided"]), replayed=True)

        def op(draft: Draft) -> Change[int]:
            grant = draft.grant(grant_id)
            if grant is None:
                if self.store.grant_record(user_id, grant_id) is None:
                    raise NotFound(f"No grant {grant_id[:64]!r}.")
                raise GrantNotActive(f"Grant {grant_id} is not active.")
            if grant.status_at(draft.now_ms) != "active":
                raise GrantNotActive(f"Grant {grant_id} is {grant.status_at(draft.now_ms)}.")
            voided = draft.void(grant, reason)
            return Change(voided, idempotency=idem.write({"grant_id": grant_id, "voided": voided}) if idem else None)

        if not grant_id or len(grant_id) > 64:
            raise NotFound(f"No grant {grant_id[:64]!r}.")
        try:
            voided, _ = self.engine.mutate(user_id, op)
        except AlreadyApplied as again:
            return GrantVoided(self.grant(user_id, grant_id), int(again.result["voided"]), replayed=True)
        return GrantVoided(self.grant(user_id, grant_id), voided)

    def grant(self, user_id: str, grant_id: str) -> Grant:
        """One grant as it is now (live grants from the book, others from their record)."""
        _, draft = self.engine.account(user_id)
        live = draft.grant(grant_id)
        if live is not None:
            return live.public(draft.now_ms)
        record = self.store.grant_record(user_id, grant_id) if grant_id and len(grant_id) <= 64 else None
        if record is None:
            raise NotFound(f"No grant {grant_id[:64]!r}.")
        return record.public(draft.now_ms)

    def list_grants(self, user_id: str, *, status: str, limit: int, cursor: str | None) -> GrantPage:
        """Active grants in spend order; then, with ``status=all``, the others newest first. The cursor names the last
        grant shown (its spend-order key, or its record's key), so pages stay stable while grants change."""
        scope = f"grants:{status}"
        after = (decode_cursor(cursor, user_id=user_id, entry_type=scope, prefixes=("A#", GRANT_PREFIX))
                 if cursor else None)
        _, draft = self.engine.account(user_id)
        now_ms = draft.now_ms
        out: list[Grant] = []
        if after is None or after.startswith("A#"):
            active = [g for g in draft.grants() if g.status_at(now_ms) == "active"]
            keyed = [(_active_key(g), g) for g in active]
            rest = [(k, g) for k, g in keyed if after is None or k > after]
            out.extend(grant.public(now_ms) for _, grant in rest[:limit])
            if len(rest) > limit:
                return GrantPage(out, encode_cursor(rest[limit - 1][0], user_id=user_id, entry_type=scope))
            if status != "all":
                return GrantPage(out, None)
            if len(out) == limit:  # the others start on the next page (a key above every record's)
                return GrantPage(out, encode_cursor(GRANT_PREFIX + "~", user_id=user_id, entry_type=scope))
            after = None
        # The others: every grant's record, newest first; live ones are shown as the book has them.
        record_after = after
        while len(out) < limit:
            records, next_key = self.store.query_grant_records(user_id, limit, record_after)
            for record in records:
                live = draft.grant(record.id)
                grant = live or record
                if grant.status_at(now_ms) == "active":
                    continue
                out.append(grant.public(now_ms))
                if len(out) == limit:
                    key = grant_sk(record.id)
                    more = next_key is not None or record is not records[-1]
                    return GrantPage(out, encode_cursor(key, user_id=user_id, entry_type=scope) if more else None)
            if next_key is None:
                break
            record_after = next_key
        return GrantPage(out, None)

    # --- money in from Stripe (called by the purchase service) ------------------------------------------------------
    def fulfil_purchase(
        self, fulfil: PurchaseFulfil, grant: LiveGrant, extra: dict[str, Any], recharge: RechargeSettle | None = None
    ) -> str:
        """Add a purchase's paid grant and mark the purchase fulfilled, in one write. Returns the grant id.

        Raises ``PurchaseAlreadyFulfilled`` / ``PurchaseMismatch`` from the purchase record's condition.
        """

        def op(draft: Draft) -> Change[str]:
            fresh = LiveGrant(**{**grant.__dict__, "created_ms": draft.now_ms})
            draft.add_grant(fresh, "purchase", extra)
            return Change(fresh.id, purchase=fulfil, recharge=recharge)

        grant_id, _ = self.engine.mutate(fulfil.purchase.user_id, op, welcome=False)
        return grant_id

    def apply_clawback(
        self,
        user_id: str,
        grant_id: str | None,
        decide: Callable[[LiveGrant | None], tuple[PurchaseClawback, dict[str, Any]] | None],
        label: str,
    ) -> int:
        """Move a purchase's clawback to the target ``decide`` computes from its grant (state-based rule).

        ``decide(grant)`` answers the purchase write (with the new ``taken``) and entry extras, or None for no change.
        Raising ``taken`` posts one ``refund`` entry; lowering it posts one ``restore`` entry of what repays debt or
        returns to the grant. Returns the signed credits moved.
        """

        def op(draft: Draft) -> Change[int]:
            # A purchase fulfilled before grants existed has no grant: its credits went to the migration grant.
            grant_id_ = grant_id or draft.migration_grant_id
            grant = draft.grant(grant_id_) if grant_id_ else None
            archived = None
            if grant is None and grant_id_:
                archived = self.store.grant_record(user_id, grant_id_)
            decided = decide(grant or archived)
            if decided is None:
                return Change(0)
            write, extra = decided
            delta = write.taken - write.expect_taken
            now_iso = iso_ms(draft.now_ms)
            moved = 0
            if delta > 0:
                draft.clawback(grant_id_, delta)
                moved = -delta
                draft.add_entry(Entry(new_id("tx", draft.now_ms / 1000), "refund", -delta,
                                      f"{label}: {delta:,} credits clawed back", now_iso, extra.get("session_id")
                                      or extra.get("payment_intent"), grant_id_,
                                      extra={**extra, "total_clawed_back": write.taken}))
            elif delta < 0:
                target = grant if grant is not None else (draft.revive(archived) if archived is not None else None)
                restored = draft.restore(target, -delta)
                moved = restored
                if restored:
                    draft.add_entry(Entry(new_id("tx", draft.now_ms / 1000), "restore", restored,
                                          f"{label}: {restored:,} credits restored", now_iso,
                                          extra.get("session_id") or extra.get("payment_intent"), grant_id_,
                                          extra={**extra, "total_clawed_back": write.taken}))
            return Change(moved, purchase=write)

        moved, _ = self.engine.mutate(user_id, op, welcome=False)
        return moved

    # --- time -------------------------------------------------------------------------------------------------------

def _active_key(grant: LiveGrant) -> str:
    """A string that sorts like the spend order (priority, expiry with never last, creation, id)."""
    priority, expires, created, grant_id = grant.order_key()
    return f"A#{priority:03d}#{expires:016d}#{created:016d}#{grant_id}"


def _grant_expiry(now_ms: int, expires_at: str | None, expires_in_days: int | None) -> int | None:
    from credits.ids import ms_of

    if expires_at is not None and expires_in_days is not None:
        raise InvalidRequest("Give at most one of expires_at and expires_in_days.")
    if expires_in_days is not None:
        return now_ms + expires_in_days * 86_400_000
    if expires_at is None:
        return None
    try:
        at = ms_of(expires_at)
    except (ValueError, OverflowError):
        raise InvalidRequest("expires_at: must be an ISO 8601 time (UTC).") from None
    if at <= now_ms:
        raise InvalidRequest("expires_at: must be in the future.")
    if at > now_ms + MAX_GRANT_DAYS * 86_400_000:
        raise InvalidRequest(f"expires_at: at most {MAX_GRANT_DAYS} days ahead.")
    return at
