"""``LedgerStore`` on DynamoDB: the account (balance + book) and idempotency records, and the one transaction that
writes an account with everything that rides along (entries, grant records, holds, purchases, recharges).

Item layout: ``credits.keys``. Every write is one ``TransactWriteItems`` whose items carry names; the conditions are
the constants below and in ``dynamo_holds``, each with the guarantee it enforces (docs/ledger.md numbers them). The
items of holds (``dynamo_holds``), entries and grant records (``dynamo_history``) and the sweeper's markers
(``dynamo_sweeps``) are built and read by the mixins ``DynamoLedgerStore`` is made of.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from credits.account import AccountState
from credits.adapters.dynamo import (
    IDEMPOTENCY_KEY_FREE,
    ITEM_NOT_EXISTS,
    NamedItem,
    Table,
    TransactionCancelled,
    item,
    plain,
)
from credits.adapters.dynamo_history import DynamoHistory
from credits.adapters.dynamo_holds import DynamoHolds
from credits.adapters.dynamo_purchases import purchase_items
from credits.adapters.dynamo_recharge import settle_items
from credits.adapters.dynamo_sweeps import DynamoSweeps
from credits.errors import HoldExpired, HoldNotPending, IdempotencyKeyReused
from credits.grant_lot import NEVER, load_book
from credits.keys import ACCOUNT_RANGE, BALANCE_SK, BOOK_SK, idem_sk, user_pk
from credits.ports import (
    AccountWrite,
    AlreadyApplied,
    IdempotencyRecord,
    IdempotencyWrite,
    PurchaseAlreadyFulfilled,
    PurchaseChanged,
    PurchaseClawback,
    PurchaseFulfil,
    PurchaseMismatch,
    SpendRefused,
    SpendWrite,
    StaleAccount,
)

SCHEMA = 2  # balance items of the grants layout; older ones (no ``v``) are migrated at first touch

# --- named conditions ---------------------------------------------------------------------------------------------
# The fast path (guarantees 2 and 7): enough available, and nothing has expired since the last slow-path write. A
# balance of the old layout has no ``nx``, so it fails this too and takes the slow path, which migrates it.
SPEND_COVERED_AND_NOTHING_DUE = "nx > :now_ms AND available >= :amount"
# Slow-path writes (guarantee 1): the account is what the draft was computed from.
ACCOUNT_NEW = ITEM_NOT_EXISTS
ACCOUNT_LEGACY = "attribute_exists(PK) AND attribute_not_exists(v)"
ACCOUNT_UNCHANGED = "v = :expect_v"
# ...and, when the write takes credits from grants, the fast path's concurrent spends stay covered (guarantee 2).
AVAILABLE_COVERS_TAKEN = "available >= :require"

IDEMPOTENCY_TTL_SECONDS = 7 * 24 * 3600


class DynamoLedgerStore(DynamoHolds, DynamoHistory, DynamoSweeps):
    """Persistence for the ledger. Accepts an injected ``Table`` (or client) so tests can point it at DynamoDB Local."""

    def __init__(self, table: Table) -> None:
        self.table = table

    @classmethod
    def create(cls, table_name: str, **kwargs: Any) -> DynamoLedgerStore:
        return cls(Table(table_name, **kwargs))

    # --- reads ----------------------------------------------------------------------------------------------------
    def load_account(self, user_id: str) -> AccountState:
        for _ in range(5):
            resp = self.table.read(
                "query",
                KeyConditionExpression="PK = :pk AND SK BETWEEN :lo AND :hi",
                ExpressionAttributeValues=item({":pk": user_pk(user_id), ":lo": ACCOUNT_RANGE[0],
                                                ":hi": ACCOUNT_RANGE[1]}),
                ConsistentRead=True,
            )
            rows = {r["SK"]: r for r in map(plain, resp.get("Items", []))}
            balance, book = rows.get(BALANCE_SK), rows.get(BOOK_SK)
            # A Query is read-committed per item: a write landing between the two items could pair new counters with
            # the old book. Both carry the version; read again until they agree.
            if balance is None or "v" not in balance or (book is not None and book.get("v") == balance["v"]):
                return _account(user_id, balance, book)
        from credits.errors import TransientStoreError

        raise TransientStoreError("The account kept changing while being read; please retry.")

    def idempotency_record(
        self, user_id: str, operation: str, key_digest: str, now_ms: int
    ) -> IdempotencyRecord | None:
        resp = self.table.read(
            "get_item", Key=item({"PK": user_pk(user_id), "SK": idem_sk(operation, key_digest)}), ConsistentRead=True
        )
        row = plain(resp["Item"]) if "Item" in resp else None
        if row is None or int(row.get("expires_at_ttl", 0)) < now_ms // 1000:
            return None
        if row.get("expires_ms") is not None and int(row["expires_ms"]) <= now_ms:
            return None
        return IdempotencyRecord(row["request_hash"], dict(row.get("result", {})))

    def remember(self, user_id: str, write: IdempotencyWrite, now_ms: int) -> IdempotencyRecord | None:
        put = self._idem_put(user_id, write, now_ms)["Put"]
        stored = self.table.write("put_item", Item=put["Item"], ConditionExpression=put["ConditionExpression"],
                                  ExpressionAttributeValues=put["ExpressionAttributeValues"])
        return None if stored else self.idempotency_record(user_id, write.operation, write.key_digest, now_ms)

    def note_refusal(self, user_id: str, now_iso: str) -> None:
        """A 402 while auto-recharge is on: one small write the change path sees (a refusal may start a recharge)."""
        self.table.write("update_item", Key=item({"PK": user_pk(user_id), "SK": BALANCE_SK}),
                         UpdateExpression="ADD refusals :one, seq :one SET refused_at = :now",
                         ConditionExpression="attribute_exists(PK)",
                         ExpressionAttributeValues=item({":one": 1, ":now": now_iso}))

    # --- the fast path --------------------------------------------------------------------------------------------
    def spend(self, write: SpendWrite) -> None:
        """One transaction, no read: debit the balance if covered and nothing is due, append the entry, and record
        the idempotency key (guarantees 2, 5, 7)."""
        items: list[NamedItem] = [
            ("balance", self.table.update(
                user_pk(write.user_id), BALANCE_SK,
                "ADD available :neg, unallocated :amount, seq :one SET updated_at = :now REMOVE steps",
                {":neg": -write.amount, ":amount": write.amount, ":one": 1, ":now": write.entry.created_at,
                 ":now_ms": write.now_ms},
                SPEND_COVERED_AND_NOTHING_DUE,
            )),
            ("entry", self._entry_put(write.user_id, write.entry)),
        ]
        if write.idempotency:
            items.append(("idempotency", self._idem_put(write.user_id, write.idempotency, write.now_ms)))
        try:
            self.table.transact(items)
        except TransactionCancelled as exc:
            _raise_if_replay(exc, write.idempotency)
            if exc.failed("balance"):
                old = exc.old("balance")
                raise SpendRefused(_account(write.user_id, old, None) if old else None) from exc
            raise StaleAccount(write.user_id) from exc

    # --- the slow path --------------------------------------------------------------------------------------------
    def commit(self, write: AccountWrite) -> None:
        items = [("balance", self._balance_item(write)), ("book", self._book_item(write))]
        r = write.result
        items += [(f"entry{i}", self._entry_put(write.user_id, e)) for i, e in enumerate(r.entries)]
        items += [(f"record{i}", self._record_put(write.user_id, g)) for i, g in enumerate(r.records)]
        items += [(f"grant_marker{i}", self._grant_marker_put(write.user_id, gid, ms))
                  for i, (gid, ms) in enumerate(r.new_expiring)]
        if write.new_hold is not None:
            items += self._hold_puts(write.new_hold)
        if write.resolve_hold is not None:
            items += self._hold_resolution(write.resolve_hold)
        if write.idempotency is not None:
            items.append(("idempotency", self._idem_put(write.user_id, write.idempotency, write.now_ms)))
        if write.purchase is not None:
            items += purchase_items(self.table, write.purchase, write.updated_at)
        if write.recharge is not None:
            items += settle_items(self.table, write.recharge, write.updated_at)
        try:
            self.table.transact(items)
        except TransactionCancelled as exc:
            _raise_if_replay(exc, write.idempotency)
            if exc.failed("purchase"):
                _raise_purchase(exc, write.purchase)
            if exc.failed_prefix("recharge_"):
                raise PurchaseAlreadyFulfilled(write.recharge.recharge_id if write.recharge else "") from exc
            if exc.failed("hold"):
                old = exc.old("hold") or {}
                if old.get("status") not in ("pending", "expired"):
                    raise HoldNotPending(f"Hold {old.get('hold_id')} is already {old.get('status')}.") from exc
                raise HoldExpired(f"Hold {old.get('hold_id')} expired at {old.get('expires_at')}.") from exc
            raise StaleAccount(write.user_id) from exc

    def _balance_item(self, write: AccountWrite) -> dict[str, Any]:
        r = write.result
        values: dict[str, Any] = {
            ":da": r.available_delta, ":dh": r.held_delta, ":du": r.unallocated_delta, ":one": 1,
            ":v": write.expect_version + 1 if write.mode == "update" else 1,
            ":nx": r.next_expiry_ms, ":hw": r.hold_watermark, ":now": write.updated_at,
            ":steps": [{"at": at, "available": a} for at, a in r.steps], ":user": write.user_id, ":schema": SCHEMA,
        }
        expression = ("ADD available :da, held :dh, unallocated :du, seq :one "
                      "SET v = :v, nx = :nx, hw = :hw, updated_at = :now, steps = :steps, user_id = :user, "
                      "#schema = :schema")
        removes = []
        if r.next_hold_ms is not None:
            expression += ", nh = :nh"
            values[":nh"] = r.next_hold_ms
        else:
            removes.append("nh")
        if write.recharge is not None:
            # The change path must not start a recharge from the write that credits one.
            expression += ", last_cause = :cause"
            values[":cause"] = f"recharge:{write.recharge.recharge_id}"
        else:
            removes.append("last_cause")
        expression += " REMOVE " + ", ".join(removes)
        if write.mode == "create":
            condition = ACCOUNT_NEW
        elif write.mode == "migrate":
            condition = ACCOUNT_LEGACY
        else:
            condition = ACCOUNT_UNCHANGED
            values[":expect_v"] = write.expect_version
            if r.require_available is not None:
                condition += " AND " + AVAILABLE_COVERS_TAKEN
                values[":require"] = r.require_available
        return self.table.update(user_pk(write.user_id), BALANCE_SK, expression, values, condition,
                                 {"#schema": "schema"})

    def _book_item(self, write: AccountWrite) -> dict[str, Any]:
        from credits.grant_lot import dump_book

        return self.table.put({
            "PK": user_pk(write.user_id), "SK": BOOK_SK, "grants": dump_book(write.result.book),
            "v": write.expect_version + 1 if write.mode == "update" else 1,
            "mig": write.result.migration_grant_id,
        }, None)

    def _idem_put(self, user_id: str, write: IdempotencyWrite, now_ms: int) -> dict[str, Any]:
        return self.table.put(
            {"PK": user_pk(user_id), "SK": idem_sk(write.operation, write.key_digest),
             "request_hash": write.request_hash, "result": write.result,
             "expires_at_ttl": now_ms // 1000 + IDEMPOTENCY_TTL_SECONDS,
             "expires_ms": now_ms + IDEMPOTENCY_TTL_SECONDS * 1000},
            IDEMPOTENCY_KEY_FREE, {":now_s": now_ms // 1000, ":now_ms": now_ms},
        )


# --- parsing ---------------------------------------------------------------------------------------------------------
def _account(user_id: str, balance: Mapping[str, Any] | None, book: Mapping[str, Any] | None) -> AccountState:
    if balance is None:
        return AccountState(user_id)
    legacy = "v" not in balance
    return AccountState(
        user_id=user_id,
        exists=not legacy,
        legacy=legacy,
        available=int(balance.get("available", 0)),
        held=int(balance.get("held", 0)),
        unallocated=int(balance.get("unallocated", 0)),
        version=int(balance.get("v", 0)),
        seq=int(balance.get("seq", 0)),
        next_expiry_ms=int(balance.get("nx", NEVER)),
        next_hold_ms=int(balance["nh"]) if "nh" in balance else None,
        hold_watermark=str(balance.get("hw", "")),
        updated_at=balance.get("updated_at"),
        grants=tuple(load_book(book.get("grants"))) if book else (),
        migration_grant_id=book.get("mig") if book else None,
    )


def _raise_if_replay(exc: TransactionCancelled, write: IdempotencyWrite | None) -> None:
    if write is None or not exc.failed("idempotency"):
        return
    stored = exc.old("idempotency") or {}
    if stored.get("request_hash") != write.request_hash:
        raise IdempotencyKeyReused("This Idempotency-Key was already used with a different request.") from exc
    raise AlreadyApplied(dict(stored.get("result", {}))) from exc


def _raise_purchase(exc: TransactionCancelled, write: PurchaseFulfil | PurchaseClawback | None) -> None:
    old = exc.old("purchase") or {}
    if isinstance(write, PurchaseFulfil):
        if old.get("fulfilled_at"):
            raise PurchaseAlreadyFulfilled(write.purchase.session_id) from exc
        raise PurchaseMismatch(write.purchase.session_id) from exc
    raise PurchaseChanged(old.get("session_id", "")) from exc


__all__ = ["DynamoLedgerStore"]
