"""``LedgerStore`` on DynamoDB: the account (balance + book), entries, holds, grants and idempotency records.

Item layout: ``credits.keys``. Every write is one ``TransactWriteItems`` whose items carry names; the conditions are
the constants below, each with the guarantee it enforces (docs/ledger.md numbers them).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from credits.account import AccountState, HoldMarker
from credits.adapters.dynamo import (
    IDEMPOTENCY_KEY_FREE,
    ITEM_NOT_EXISTS,
    NamedItem,
    Table,
    TransactionCancelled,
    item,
    plain,
)
from credits.adapters.dynamo_purchases import purchase_items
from credits.adapters.dynamo_recharge import settle_items
from credits.errors import HoldExpired, HoldNotPending, IdempotencyKeyReused, NotFound
from credits.grant_lot import NEVER, LiveGrant, load_book
from credits.ids import entry_sort_id, ms_of
from credits.keys import (
    ACCOUNT_PREFIX,
    BALANCE_SK,
    BOOK_SK,
    ENTRY_PREFIX,
    GRANT_EXPIRY_PREFIX,
    GRANT_PREFIX,
    GSI1,
    PENDING_PREFIX,
    SWEEP_SHARDS,
    entry_sk,
    grant_expiry_sk,
    grant_expiry_upper,
    grant_sk,
    grant_sweep_pk,
    grant_sweep_shard_pk,
    hold_sk,
    hold_sweep_pk,
    hold_sweep_shard_pk,
    idem_sk,
    pending_sk,
    pending_upper,
    type_pk,
    user_of,
    user_pk,
)
from credits.models import Entry, Hold
from credits.ports import (
    AccountWrite,
    AlreadyApplied,
    HoldResolution,
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
# A hold resolves at most once (guarantee 4): capture/release only while pending and live; expiry only once past.
HOLD_PENDING_AND_LIVE = "#status = :pending AND amount = :amount AND expires_epoch > :now_s"
HOLD_PENDING_AND_EXPIRED = "#status = :pending AND amount = :amount AND expires_epoch <= :now_s"

IDEMPOTENCY_TTL_SECONDS = 7 * 24 * 3600
RESOLVED_HOLD_TTL_SECONDS = 30 * 24 * 3600


class DynamoLedgerStore:
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
                KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
                ExpressionAttributeValues=item({":pk": user_pk(user_id), ":prefix": ACCOUNT_PREFIX}),
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
        return IdempotencyRecord(row["request_hash"], dict(row.get("result", {})))

    def remember(self, user_id: str, write: IdempotencyWrite, now_ms: int) -> IdempotencyRecord | None:
        put = self._idem_put(user_id, write, now_ms)["Put"]
        stored = self.table.write("put_item", Item=put["Item"], ConditionExpression=put["ConditionExpression"],
                                  ExpressionAttributeValues=put["ExpressionAttributeValues"])
        return None if stored else self.idempotency_record(user_id, write.operation, write.key_digest, now_ms)

    def get_hold(self, user_id: str, hold_id: str) -> Hold:
        resp = self.table.read(
            "get_item", Key=item({"PK": user_pk(user_id), "SK": hold_sk(hold_id)}), ConsistentRead=True
        )
        if "Item" not in resp:
            raise NotFound(f"No hold {hold_id!r}.")
        return _hold_from(plain(resp["Item"]))

    def due_hold_markers(self, user_id: str, after_sort_key: str, until_ms: int, limit: int) -> list[HoldMarker]:
        low = max(after_sort_key, PENDING_PREFIX)
        resp = self.table.read(
            "query",
            KeyConditionExpression="PK = :pk AND SK BETWEEN :lo AND :hi",
            ExpressionAttributeValues=item(
                {":pk": user_pk(user_id), ":lo": low, ":hi": pending_upper(until_ms // 1000)}),
            ConsistentRead=True,
            Limit=limit + 1,  # BETWEEN is inclusive: the watermark itself may come back
        )
        rows = [plain(i) for i in resp.get("Items", [])]
        return [_marker_from(r) for r in rows if r["SK"] > after_sort_key][:limit]

    def next_hold_expiry(self, user_id: str, until_ms: int) -> int | None:
        resp = self.table.read(
            "query",
            KeyConditionExpression="PK = :pk AND SK BETWEEN :lo AND :hi",
            ExpressionAttributeValues=item({":pk": user_pk(user_id), ":lo": pending_upper(until_ms // 1000),
                                            ":hi": PENDING_PREFIX + "~"}),
            ConsistentRead=True,
            Limit=1,
        )
        rows = [plain(i) for i in resp.get("Items", [])]
        return _marker_from(rows[0]).expires_ms if rows else None

    def query_entries(
        self, user_id: str, entry_type: str | None, limit: int, after_sort_key: str | None
    ) -> tuple[list[Entry], str | None]:
        """One page newest-first; reads ``limit + 1`` so the last page has no cursor (O(page), never O(all))."""
        if entry_type:
            kwargs: dict[str, Any] = {
                "IndexName": GSI1,
                "KeyConditionExpression": "GSI1PK = :pk",
                "ExpressionAttributeValues": item({":pk": type_pk(user_id, entry_type)}),
            }
            if after_sort_key:
                kwargs["ExclusiveStartKey"] = item({"PK": user_pk(user_id), "SK": after_sort_key,
                                                    "GSI1PK": type_pk(user_id, entry_type), "GSI1SK": after_sort_key})
        else:
            kwargs = {
                "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
                "ExpressionAttributeValues": item({":pk": user_pk(user_id), ":prefix": ENTRY_PREFIX}),
            }
            if after_sort_key:
                kwargs["ExclusiveStartKey"] = item({"PK": user_pk(user_id), "SK": after_sort_key})
        resp = self.table.read("query", ScanIndexForward=False, Limit=limit + 1, **kwargs)
        rows = [plain(i) for i in resp.get("Items", [])]
        entries = [_entry_from(r) for r in rows[:limit]]
        next_sk = rows[limit - 1]["SK"] if len(rows) > limit else None
        return entries, next_sk

    def grant_record(self, user_id: str, grant_id: str) -> LiveGrant | None:
        resp = self.table.read(
            "get_item", Key=item({"PK": user_pk(user_id), "SK": grant_sk(grant_id)}), ConsistentRead=True
        )
        return LiveGrant.from_json(json.loads(plain(resp["Item"])["data"])) if "Item" in resp else None

    def query_grant_records(
        self, user_id: str, limit: int, after_sort_key: str | None
    ) -> tuple[list[LiveGrant], str | None]:
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
            "ExpressionAttributeValues": item({":pk": user_pk(user_id), ":prefix": GRANT_PREFIX}),
        }
        if after_sort_key:
            kwargs["ExclusiveStartKey"] = item({"PK": user_pk(user_id), "SK": after_sort_key})
        resp = self.table.read("query", ScanIndexForward=False, Limit=limit + 1, ConsistentRead=True, **kwargs)
        rows = [plain(i) for i in resp.get("Items", [])]
        grants = [LiveGrant.from_json(json.loads(r["data"])) for r in rows[:limit]]
        return grants, (rows[limit - 1]["SK"] if len(rows) > limit else None)

    def _sweep(self, shard_pk: Any, low: str, high: str, limit: int) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        for shard in range(SWEEP_SHARDS):
            resp = self.table.read(
                "query",
                IndexName=GSI1,
                KeyConditionExpression="GSI1PK = :pk AND GSI1SK BETWEEN :lo AND :hi",
                ExpressionAttributeValues=item({":pk": shard_pk(shard), ":lo": low, ":hi": high}),
                Limit=limit,
            )
            found.extend((user_of(r["PK"]), r["SK"]) for r in map(plain, resp.get("Items", [])))
        return sorted(found, key=lambda p: p[1])[:limit]

    def due_hold_markers_all_users(self, until_ms: int, limit: int) -> list[tuple[str, str]]:
        return self._sweep(hold_sweep_shard_pk, PENDING_PREFIX, pending_upper(until_ms // 1000), limit)

    def due_grant_markers_all_users(self, until_ms: int, limit: int) -> list[tuple[str, str]]:
        return self._sweep(grant_sweep_shard_pk, GRANT_EXPIRY_PREFIX, grant_expiry_upper(until_ms), limit)

    def tidy_settled_holds(self, user_id: str, marker_sort_keys: list[str], resolved_at: str) -> int:
        """One small transaction per hold (status expired if still pending, marker deleted): the sweeper's work."""
        done = 0
        pk = user_pk(user_id)
        for sk in marker_sort_keys:
            hold_id = sk.split("#", 2)[2]
            try:
                self.table.transact([
                    ("hold", self.table.update(
                        pk, hold_sk(hold_id),
                        "SET #status = :expired, captured = :zero, released = amount, resolved_at = :at",
                        {":expired": "expired", ":zero": 0, ":at": resolved_at, ":pending": "pending"},
                        "#status = :pending", {"#status": "status"})),
                    ("marker", self.table.delete(pk, sk)),
                ])
            except TransactionCancelled:
                self.table.write("delete_item", Key=item({"PK": pk, "SK": sk}))  # resolved otherwise already
            done += 1
        return done

    def delete_grant_marker(self, user_id: str, marker_sort_key: str) -> None:
        self.table.write("delete_item", Key=item({"PK": user_pk(user_id), "SK": marker_sort_key}))

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

    def _entry_put(self, user_id: str, entry: Entry) -> dict[str, Any]:
        sk = entry_sk(entry_sort_id(entry.id, entry.created_at))
        values: dict[str, Any] = {
            "PK": user_pk(user_id), "SK": sk, "GSI1PK": type_pk(user_id, entry.type), "GSI1SK": sk,
            "entry_id": entry.id, "user_id": user_id, "type": entry.type, "amount": entry.amount,
            "description": entry.description, "reference": entry.reference, "created_at": entry.created_at,
            "grant_id": entry.grant_id, "feature": entry.feature, "quantity": entry.quantity,
        }
        for key, value in entry.extra.items():
            values.setdefault(key, value)
        return self.table.put(values)

    def _record_put(self, user_id: str, grant: LiveGrant) -> dict[str, Any]:
        return self.table.put({"PK": user_pk(user_id), "SK": grant_sk(grant.id), "user_id": user_id,
                               "data": json.dumps(grant.to_json(), separators=(",", ":"), ensure_ascii=False)}, None)

    def _grant_marker_put(self, user_id: str, grant_id: str, expires_ms: int) -> dict[str, Any]:
        sk = grant_expiry_sk(expires_ms, grant_id)
        # Found by the sweeper through GSI1, spread over a few partitions; deleted once the expiry is recorded.
        return self.table.put({"PK": user_pk(user_id), "SK": sk, "GSI1PK": grant_sweep_pk(grant_id), "GSI1SK": sk,
                               "user_id": user_id, "grant_id": grant_id}, None)

    def _hold_puts(self, hold: Hold) -> list[NamedItem]:
        pk = user_pk(hold.user_id)
        allocation = json.dumps(hold.allocation or [])
        marker = pending_sk(hold.expires_epoch, hold.hold_id)
        return [
            ("new_hold", self.table.put({
                "PK": pk, "SK": hold_sk(hold.hold_id), "hold_id": hold.hold_id, "user_id": hold.user_id,
                "amount": hold.amount, "status": "pending", "expires_at": hold.expires_at,
                "expires_epoch": hold.expires_epoch, "created_at": hold.created_at, "description": hold.description,
                "alloc": allocation,
            })),
            ("new_marker", self.table.put({
                "PK": pk, "SK": marker, "GSI1PK": hold_sweep_pk(hold.hold_id), "GSI1SK": marker,
                "hold_id": hold.hold_id, "user_id": hold.user_id, "amount": hold.amount,
                "expires_epoch": hold.expires_epoch, "alloc": allocation,
            })),
        ]

    def _hold_resolution(self, res: HoldResolution) -> list[NamedItem]:
        hold = res.hold
        pk = user_pk(hold.user_id)
        condition = HOLD_PENDING_AND_EXPIRED if res.status == "expired" else HOLD_PENDING_AND_LIVE
        return [
            ("hold", self.table.update(
                pk, hold_sk(hold.hold_id),
                "SET #status = :status, captured = :captured, released = :released, resolved_at = :at, "
                "expires_at_ttl = :ttl",
                {":status": res.status, ":captured": res.captured, ":released": res.released, ":at": res.resolved_at,
                 ":ttl": res.now_ms // 1000 + RESOLVED_HOLD_TTL_SECONDS, ":pending": "pending",
                 ":amount": hold.amount, ":now_s": res.now_ms / 1000},
                condition, {"#status": "status"})),
            ("marker", self.table.delete(pk, pending_sk(hold.expires_epoch, hold.hold_id))),
        ]

    def _idem_put(self, user_id: str, write: IdempotencyWrite, now_ms: int) -> dict[str, Any]:
        return self.table.put(
            {"PK": user_pk(user_id), "SK": idem_sk(write.operation, write.key_digest),
             "request_hash": write.request_hash, "result": write.result,
             "expires_at_ttl": now_ms // 1000 + IDEMPOTENCY_TTL_SECONDS},
            IDEMPOTENCY_KEY_FREE, {":now_s": now_ms // 1000},
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


def _entry_from(row: Mapping[str, Any]) -> Entry:
    extra = {k: row[k] for k in ("hold_id", "session_id", "payment_intent", "total_clawed_back", "recharge_id")
             if row.get(k) is not None}
    return Entry(
        id=row["entry_id"],
        type=row["type"],
        amount=int(row["amount"]),
        description=row.get("description", ""),
        created_at=row["created_at"],
        reference=row.get("reference"),
        grant_id=row.get("grant_id"),
        feature=row.get("feature"),
        quantity=int(row["quantity"]) if row.get("quantity") is not None else None,
        extra=extra,
    )


def _allocation(raw: Any) -> tuple[tuple[str, int], ...] | None:
    if not raw:
        return None  # a hold of the old layout: its credits belong to the migration grant
    parts = json.loads(raw) if isinstance(raw, str) else raw
    return tuple((str(g), int(n)) for g, n in parts) or None


def _hold_from(row: Mapping[str, Any]) -> Hold:
    return Hold(
        hold_id=row["hold_id"],
        user_id=row["user_id"],
        amount=int(row["amount"]),
        status=row["status"],
        expires_at=row["expires_at"],
        expires_epoch=int(row["expires_epoch"]),
        created_at=row["created_at"],
        description=row.get("description", ""),
        captured=row.get("captured"),
        released=row.get("released"),
        resolved_at=row.get("resolved_at"),
        allocation=_allocation(row.get("alloc")),
    )


def _marker_from(row: Mapping[str, Any]) -> HoldMarker:
    return HoldMarker(row["SK"], row["hold_id"], int(row["amount"]), int(row["expires_epoch"]) * 1000,
                      _allocation(row.get("alloc")))


__all__ = ["DynamoLedgerStore", "ms_of"]
