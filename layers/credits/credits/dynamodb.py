"""DynamoDB adapter: every money movement as one ``TransactWriteItems`` with named conditions.

Single-table layout (PK / SK, plus GSI1 for history by type):

    USER#<sub>      BALANCE                         available, held, updated_at
    USER#<sub>      ENTRY#<entry id>                immutable ledger entry (GSI1PK = USER#<sub>#TYPE#<type>)
    USER#<sub>      HOLD#<hold id>                  hold record; status pending -> captured | released | expired
    USER#<sub>      PENDING#<expiry epoch>#<hold>   exists only while a hold is pending, so expired holds are
                                                    found with one key range (O(expired holds), never a scan)
    USER#<sub>      IDEM#<op>#<sha256(key)>         idempotency record, written in the same transaction
    PURCHASE#<cs>   PURCHASE                        checkout session -> user, bundle, credits, status
    PURCHASE#<cs>   REFUND#<re id> | DISPUTE#<dp>   "this refund/dispute was applied" markers
    PAYMENT#<pi>    PAYMENT                         payment intent -> checkout session (refunds, disputes)

ConditionalCheckFailed cancellations become typed domain errors; TransactionConflict is retried with jitter.
"""

from __future__ import annotations

import random
import time
import uuid
import zlib
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from credits.errors import (
    HoldExpired,
    HoldNotPending,
    IdempotencyKeyReused,
    InsufficientCredits,
    InvalidRequest,
    NotFound,
    TransientStoreError,
)
from credits.models import Balance, Entry, Hold, Purchase

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# --- keys --------------------------------------------------------------------------------------------------------
BALANCE_SK = "BALANCE"
ENTRY_PREFIX = "ENTRY#"
GSI1 = "GSI1"


def user_pk(user_id: str) -> str:
    return f"USER#{user_id}"


def type_pk(user_id: str, entry_type: str) -> str:
    return f"USER#{user_id}#TYPE#{entry_type}"


def hold_sk(hold_id: str) -> str:
    return f"HOLD#{hold_id}"


def pending_sk(expires_epoch: int, hold_id: str) -> str:
    # Zero-padded so that string order is numeric order: "PENDING#0" .. "PENDING#<now>" = the expired holds.
    return f"PENDING#{expires_epoch:012d}#{hold_id}"


SWEEP_SHARDS = 8


def sweep_shard_pk(shard: int) -> str:
    return f"PENDING_HOLDS#{shard}"


def sweep_pk(hold_id: str) -> str:
    return sweep_shard_pk(zlib.crc32(hold_id.encode()) % SWEEP_SHARDS)


def idem_sk(operation: str, key_digest: str) -> str:
    return f"IDEM#{operation}#{key_digest}"


def purchase_pk(session_id: str) -> str:
    return f"PURCHASE#{session_id}"


def payment_pk(payment_intent: str) -> str:
    return f"PAYMENT#{payment_intent}"


# --- named conditions --------------------------------------------------------------------------------------------
ITEM_NOT_EXISTS = "attribute_not_exists(PK)"
# A missing balance item fails this too, which is what we want: an unseen user has 0 available.
AVAILABLE_COVERS_AMOUNT = "available >= :amount"
# Capture/release only while pending AND not yet expired; an expired pending hold already "counts as released".
HOLD_PENDING_AND_LIVE = "#status = :pending AND expires_epoch > :now"
HOLD_PENDING_AND_EXPIRED = "#status = :pending AND expires_epoch <= :now"
# Fulfil at most once; a record that exists must belong to the same user and bundle as the event says.
PURCHASE_FULFILLABLE = (
    "attribute_not_exists(fulfilled_at) AND "
    "(attribute_not_exists(user_id) OR (user_id = :user_id AND bundle = :bundle))"
)
PURCHASE_NOT_FULFILLED = "attribute_exists(PK) AND attribute_not_exists(fulfilled_at)"
# Clawbacks read the purchase first; this optimistic check makes two refunds applied at once serialise
# (both totals, since a refund may move the refunded amount without moving whole credits).
PURCHASE_CLAWBACK_UNCHANGED = (
    "attribute_exists(fulfilled_at) AND credits_clawed_back = :clawed_before AND refunded_amount = :refunded_before"
)

IDEMPOTENCY_TTL_SECONDS = 7 * 24 * 3600
RESOLVED_HOLD_TTL_SECONDS = 30 * 24 * 3600
MAX_CONFLICT_ATTEMPTS = 6

_ser = TypeSerializer()
_deser = TypeDeserializer()


def _av(value: Any) -> dict[str, Any]:
    if isinstance(value, float):  # times, to the millisecond; truncated so "now" is never in the future
        value = Decimal(int(value * 1000)) / 1000
    return cast("dict[str, Any]", _ser.serialize(value))


def _item(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _av(v) for k, v in values.items() if v is not None}


def _plain(item: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in item.items():
        v = _deser.deserialize(value)
        out[key] = int(v) if isinstance(v, Decimal) else v
    return out


class AlreadyApplied(Exception):
    """The idempotency record exists with the same request: the caller returns the stored result."""

    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__("already applied")
        self.result = result


class PurchaseMismatch(Exception):
    """The purchase record belongs to another user or bundle than the event claims."""


class PurchaseChanged(Exception):
    """The purchase changed between our read and the clawback transaction: read it again and retry."""


class DynamoLedgerStore:
    """Persistence for the ledger. Accepts an injected client so tests can point it at DynamoDB Local."""

    def __init__(
        self,
        table_name: str,
        client: DynamoDBClient | None = None,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if client is None:
            import boto3
            from botocore.config import Config

            client = boto3.client(
                "dynamodb",
                endpoint_url=endpoint_url,
                region_name=region,
                # Throttling and 5xx are retried by botocore; TransactionConflict is ours (see _transact).
                config=Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=3, read_timeout=5),
            )
        self.client = client
        self.table = table_name
        self._sleep = sleep

    # --- transaction plumbing -------------------------------------------------------------------------------------
    def _transact(self, items: list[dict[str, Any]]) -> None:
        """Run one transaction; retry only TransactionConflict, bounded, with full jitter.

        Each attempt has its own ClientRequestToken: botocore's retry of a request whose response was lost reuses
        it (so it cannot apply twice), while a conflict-cancelled attempt, which applied nothing, is not replayed
        as the same cancellation.
        """
        for attempt in range(1, MAX_CONFLICT_ATTEMPTS + 1):
            try:
                self.client.transact_write_items(TransactItems=items, ClientRequestToken=uuid.uuid4().hex)  # type: ignore[arg-type]
                return
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code != "TransactionCanceledException":
                    raise _translate(exc) from exc
                codes = {r.get("Code") for r in _reasons(exc)}
                if "ConditionalCheckFailed" in codes or "TransactionConflict" not in codes:
                    raise
                if attempt == MAX_CONFLICT_ATTEMPTS:
                    raise TransientStoreError("The ledger is busy; please retry.") from exc
                self._sleep(random.uniform(0, min(0.5, 0.02 * 2**attempt)))
            except BotoCoreError as exc:  # connection lost / timed out after botocore's own retries
                raise TransientStoreError("The ledger could not be reached; please retry.") from exc
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def _read(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        """GetItem / Query with the same error mapping as writes: throttling and outages become a 503."""
        try:
            return getattr(self.client, operation)(TableName=self.table, **kwargs)  # type: ignore[no-any-return]
        except ClientError as exc:
            raise _translate(exc) from exc
        except BotoCoreError as exc:
            raise TransientStoreError("The ledger could not be reached; please retry.") from exc

    def _put(self, values: Mapping[str, Any], condition: str | None = ITEM_NOT_EXISTS) -> dict[str, Any]:
        put: dict[str, Any] = {"TableName": self.table, "Item": _item(values)}
        if condition:
            put["ConditionExpression"] = condition
            put["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        return {"Put": put}

    def _update(
        self,
        pk: str,
        sk: str,
        expression: str,
        values: Mapping[str, Any],
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        update: dict[str, Any] = {
            "TableName": self.table,
            "Key": _item({"PK": pk, "SK": sk}),
            "UpdateExpression": expression,
            "ExpressionAttributeValues": _item(values),
        }
        if names:
            update["ExpressionAttributeNames"] = dict(names)
        if condition:
            update["ConditionExpression"] = condition
            update["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        return {"Update": update}

    def _delete(self, pk: str, sk: str) -> dict[str, Any]:
        return {"Delete": {"TableName": self.table, "Key": _item({"PK": pk, "SK": sk})}}

    def _balance_update(
        self, user_id: str, available_delta: int, held_delta: int, now_iso: str, require: int | None
    ) -> dict[str, Any]:
        values: dict[str, Any] = {":da": available_delta, ":dh": held_delta, ":now": now_iso}
        condition = None
        if require is not None:
            values[":amount"] = require
            condition = AVAILABLE_COVERS_AMOUNT
        return self._update(
            user_pk(user_id),
            BALANCE_SK,
            "ADD available :da, held :dh SET updated_at = :now",
            values,
            condition,
        )

    def _entry_put(self, user_id: str, entry: Entry) -> dict[str, Any]:
        return self._put(
            {
                "PK": user_pk(user_id),
                "SK": ENTRY_PREFIX + entry.id,
                "GSI1PK": type_pk(user_id, entry.type),
                "GSI1SK": ENTRY_PREFIX + entry.id,
                "entry_id": entry.id,
                "type": entry.type,
                "amount": entry.amount,
                "description": entry.description,
                "reference": entry.reference,
                "created_at": entry.created_at,
            }
        )

    def _idem_put(
        self, user_id: str, operation: str, key_digest: str, request_hash: str, result: dict[str, Any], now: float
    ) -> dict[str, Any]:
        return self._put(
            {
                "PK": user_pk(user_id),
                "SK": idem_sk(operation, key_digest),
                "request_hash": request_hash,
                "result": result,
                "expires_at_ttl": int(now) + IDEMPOTENCY_TTL_SECONDS,
            }
        )

    # --- reads ----------------------------------------------------------------------------------------------------
    def get_balance(self, user_id: str) -> Balance:
        resp = self._read(
            "get_item", Key=_item({"PK": user_pk(user_id), "SK": BALANCE_SK}), ConsistentRead=True
        )
        return _balance_from(user_id, resp.get("Item"))

    def expired_pending_holds(self, user_id: str, now: float) -> list[tuple[str, int]]:
        """(hold_id, amount) of pending holds whose expiry has passed, via one key range."""
        resp = self._read(
            "query",
            KeyConditionExpression="PK = :pk AND SK BETWEEN :lo AND :hi",
            ExpressionAttributeValues=_item(
                {":pk": user_pk(user_id), ":lo": "PENDING#", ":hi": pending_sk(int(now), "~")}
            ),
            ConsistentRead=True,
        )
        return [(p["hold_id"], p["amount"]) for p in map(_plain, resp.get("Items", []))]

    def expired_holds_all_users(self, now: float, limit: int = 500) -> list[tuple[str, str]]:
        """(user_id, hold_id) of pending holds past expiry across all users, for the sweeper."""
        found: list[tuple[str, str]] = []
        for shard in range(SWEEP_SHARDS):
            resp = self._read(
                "query",
                IndexName=GSI1,
                KeyConditionExpression="GSI1PK = :pk AND GSI1SK BETWEEN :lo AND :hi",
                ExpressionAttributeValues=_item(
                    {":pk": sweep_shard_pk(shard), ":lo": "PENDING#", ":hi": pending_sk(int(now), "~")}
                ),
                Limit=limit,
            )
            found.extend((p["user_id"], p["hold_id"]) for p in map(_plain, resp.get("Items", [])))
        return found

    def get_hold(self, user_id: str, hold_id: str) -> Hold:
        resp = self._read(
            "get_item", Key=_item({"PK": user_pk(user_id), "SK": hold_sk(hold_id)}), ConsistentRead=True
        )
        if "Item" not in resp:
            raise NotFound(f"No hold {hold_id!r}.")
        return _hold_from(_plain(resp["Item"]))

    def query_entries(
        self, user_id: str, entry_type: str | None, limit: int, after_sk: str | None
    ) -> tuple[list[Entry], str | None]:
        """One page newest-first; reads ``limit + 1`` so the last page has no cursor (O(page), never O(all))."""
        if entry_type:
            kwargs: dict[str, Any] = {
                "IndexName": GSI1,
                "KeyConditionExpression": "GSI1PK = :pk",
                "ExpressionAttributeValues": _item({":pk": type_pk(user_id, entry_type)}),
            }
            if after_sk:
                kwargs["ExclusiveStartKey"] = _item(
                    {"PK": user_pk(user_id), "SK": after_sk, "GSI1PK": type_pk(user_id, entry_type), "GSI1SK": after_sk}
                )
        else:
            kwargs = {
                "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
                "ExpressionAttributeValues": _item({":pk": user_pk(user_id), ":prefix": ENTRY_PREFIX}),
            }
            if after_sk:
                kwargs["ExclusiveStartKey"] = _item({"PK": user_pk(user_id), "SK": after_sk})
        resp = self._read("query", ScanIndexForward=False, Limit=limit + 1, **kwargs)
        rows = [_plain(i) for i in resp.get("Items", [])]
        entries = [_entry_from(r) for r in rows[:limit]]
        next_sk = rows[limit - 1]["SK"] if len(rows) > limit else None
        return entries, next_sk

    # --- money movements ------------------------------------------------------------------------------------------
    def post_entry(
        self,
        user_id: str,
        entry: Entry,
        *,
        require_available: int | None,
        idempotency: tuple[str, str, str] | None,
        result: dict[str, Any],
        now: float,
    ) -> None:
        """Apply ``entry.amount`` to available and append the entry, in one transaction.

        ``require_available`` (debits) guards the balance; ``idempotency`` = (operation, key digest, request hash).
        """
        items = [
            self._balance_update(user_id, entry.amount, 0, entry.created_at, require_available),
            self._entry_put(user_id, entry),
        ]
        if idempotency:
            op, digest, request_hash = idempotency
            items.append(self._idem_put(user_id, op, digest, request_hash, result, now))
        try:
            self._transact(items)
        except ClientError as exc:
            reasons = _reasons(exc)
            if idempotency:
                _raise_if_replay(reasons[2], idempotency[2], exc)
            if require_available is not None and _failed(reasons[0]):
                old = _balance_from(user_id, reasons[0].get("Item"))
                raise _Insufficient(old, require_available) from exc
            raise _translate(exc) from exc

    def place_hold(
        self,
        hold: Hold,
        *,
        idempotency: tuple[str, str, str] | None,
        result: dict[str, Any],
        now: float,
    ) -> None:
        user = hold.user_id
        items = [
            self._balance_update(user, -hold.amount, hold.amount, hold.created_at, hold.amount),
            self._put(
                {
                    "PK": user_pk(user),
                    "SK": hold_sk(hold.hold_id),
                    "hold_id": hold.hold_id,
                    "user_id": user,
                    "amount": hold.amount,
                    "status": "pending",
                    "expires_at": hold.expires_at,
                    "expires_epoch": hold.expires_epoch,
                    "created_at": hold.created_at,
                    "description": hold.description,
                }
            ),
            self._put(
                {
                    "PK": user_pk(user),
                    "SK": pending_sk(hold.expires_epoch, hold.hold_id),
                    # The sweeper finds expired holds of all users through GSI1, spread over a few partitions.
                    "GSI1PK": sweep_pk(hold.hold_id),
                    "GSI1SK": pending_sk(hold.expires_epoch, hold.hold_id),
                    "hold_id": hold.hold_id,
                    "user_id": user,
                    "amount": hold.amount,
                }
            ),
        ]
        if idempotency:
            op, digest, request_hash = idempotency
            items.append(self._idem_put(user, op, digest, request_hash, result, now))
        try:
            self._transact(items)
        except ClientError as exc:
            reasons = _reasons(exc)
            if idempotency:
                _raise_if_replay(reasons[3], idempotency[2], exc)
            if _failed(reasons[0]):
                raise _Insufficient(_balance_from(user, reasons[0].get("Item")), hold.amount) from exc
            raise _translate(exc) from exc

    def resolve_hold(
        self,
        hold: Hold,
        *,
        status: str,
        captured: int,
        entry: Entry | None,
        now: float,
        now_iso: str,
    ) -> None:
        """Move a pending hold to ``status`` (captured / released / expired) exactly once.

        Timeline that the conditions protect against (two callers, one hold):
            A: read hold (pending)   B: read hold (pending)
            A: transact -> ok        B: transact -> ConditionalCheckFailed on the hold -> HoldNotPending
        """
        user = hold.user_id
        released = hold.amount - captured
        condition = HOLD_PENDING_AND_EXPIRED if status == "expired" else HOLD_PENDING_AND_LIVE
        items = [
            self._update(
                user_pk(user),
                hold_sk(hold.hold_id),
                "SET #status = :status, captured = :captured, released = :released, resolved_at = :now_iso, "
                "expires_at_ttl = :ttl",
                {
                    ":status": status,
                    ":captured": captured,
                    ":released": released,
                    ":now_iso": now_iso,
                    ":ttl": int(now) + RESOLVED_HOLD_TTL_SECONDS,
                    ":pending": "pending",
                    ":now": int(now) if status == "expired" else now,
                    ":amount": hold.amount,
                },
                condition + " AND amount = :amount",
                {"#status": "status"},
            ),
            self._balance_update(user, released, -hold.amount, now_iso, None),
            self._delete(user_pk(user), pending_sk(hold.expires_epoch, hold.hold_id)),
        ]
        if entry is not None:
            items.append(self._entry_put(user, entry))
        try:
            self._transact(items)
        except ClientError as exc:
            reasons = _reasons(exc)
            if _failed(reasons[0]):
                old_status = _plain(reasons[0].get("Item", {})).get("status")
                if old_status not in ("pending", "expired"):
                    raise HoldNotPending(f"Hold {hold.hold_id} is already {old_status}.") from exc
                raise HoldExpired(f"Hold {hold.hold_id} expired at {hold.expires_at}.") from exc
            raise _translate(exc) from exc

    # --- purchases ------------------------------------------------------------------------------------------------
    def put_purchase(self, purchase: Purchase) -> None:
        """Record a pending checkout session. A replayed Idempotency-Key maps to the same session: keep the first."""
        try:
            self.client.put_item(
                TableName=self.table,
                Item=_item(
                    {
                        "PK": purchase_pk(purchase.session_id),
                        "SK": "PURCHASE",
                        "session_id": purchase.session_id,
                        "user_id": purchase.user_id,
                        "bundle": purchase.bundle,
                        "credits": purchase.credits,
                        "amount": purchase.amount,
                        "currency": purchase.currency,
                        "status": "pending",
                        "created_at": purchase.created_at,
                        "refunded_amount": 0,
                        "credits_clawed_back": 0,
                    }
                ),
                ConditionExpression=ITEM_NOT_EXISTS,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise _translate(exc) from exc

    def get_purchase(self, session_id: str) -> Purchase | None:
        resp = self._read(
            "get_item", Key=_item({"PK": purchase_pk(session_id), "SK": "PURCHASE"}), ConsistentRead=True
        )
        return _purchase_from(_plain(resp["Item"])) if "Item" in resp else None

    def find_purchase_by_payment(self, payment_intent: str) -> Purchase | None:
        resp = self._read(
            "get_item", Key=_item({"PK": payment_pk(payment_intent), "SK": "PAYMENT"}), ConsistentRead=True
        )
        if "Item" not in resp:
            return None
        return self.get_purchase(_plain(resp["Item"])["session_id"])

    def fulfil_purchase(self, purchase: Purchase, entry: Entry, payment_intent: str | None) -> bool:
        """Credit a paid session exactly once. Returns False when it was already fulfilled (a duplicate delivery).

        One transaction: mark the purchase fulfilled (creating it from the event if our pending record is missing),
        add the credits, append the ``purchase`` entry, and index the payment intent for later refunds.
        """
        values = {
            ":user_id": purchase.user_id,
            ":bundle": purchase.bundle,
            ":credits": purchase.credits,
            ":amount": purchase.amount,
            ":currency": purchase.currency,
            ":fulfilled": "fulfilled",
            ":now": entry.created_at,
            ":zero": 0,
            ":session_id": purchase.session_id,
        }
        expression = (
            "SET #status = :fulfilled, fulfilled_at = :now, user_id = :user_id, bundle = :bundle, "
            "credits = :credits, amount = :amount, currency = :currency, session_id = :session_id, "
            "created_at = if_not_exists(created_at, :now), refunded_amount = if_not_exists(refunded_amount, :zero), "
            "credits_clawed_back = if_not_exists(credits_clawed_back, :zero)"
        )
        if payment_intent:
            expression += ", payment_intent = :pi"
            values[":pi"] = payment_intent
        items = [
            self._update(
                purchase_pk(purchase.session_id), "PURCHASE", expression, values, PURCHASE_FULFILLABLE,
                {"#status": "status"},
            ),
            self._balance_update(purchase.user_id, purchase.credits, 0, entry.created_at, None),
            self._entry_put(purchase.user_id, entry),
        ]
        if payment_intent:
            items.append(
                self._put({"PK": payment_pk(payment_intent), "SK": "PAYMENT", "session_id": purchase.session_id}, None)
            )
        try:
            self._transact(items)
        except ClientError as exc:
            reasons = _reasons(exc)
            if _failed(reasons[0]):
                old = _plain(reasons[0].get("Item", {}))
                if "fulfilled_at" in old:
                    return False
                raise PurchaseMismatch(
                    f"purchase {purchase.session_id} belongs to another user or bundle"
                ) from exc
            raise _translate(exc) from exc
        return True

    def mark_mismatch(self, session_id: str, reason: str, now_iso: str) -> None:
        """Remember that a paid session failed verification, so reconciliation does not re-alarm it forever."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key=_item({"PK": purchase_pk(session_id), "SK": "PURCHASE"}),
                UpdateExpression="SET mismatch = :reason, status_changed_at = :now",
                ConditionExpression=PURCHASE_NOT_FULFILLED,
                ExpressionAttributeValues=_item({":reason": reason[:500], ":now": now_iso}),
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise _translate(exc) from exc

    def set_purchase_status(self, session_id: str, status: str, now_iso: str) -> bool:
        """Mark a not-yet-fulfilled purchase failed/expired; a fulfilled one keeps its status (events arrive late)."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key=_item({"PK": purchase_pk(session_id), "SK": "PURCHASE"}),
                UpdateExpression="SET #status = :status, status_changed_at = :now",
                ConditionExpression=PURCHASE_NOT_FULFILLED,
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=_item({":status": status, ":now": now_iso}),
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise _translate(exc) from exc
        return True

    def apply_clawback(
        self,
        purchase: Purchase,
        *,
        marker_sk: str,
        refunded_amount: int,
        clawed_total: int,
        status: str,
        entry: Entry | None,
        now_iso: str,
    ) -> bool:
        """Record one refund/dispute once (marker), raising the purchase's clawed total from what we read.

        Returns False when the marker exists already (that refund was applied by an earlier delivery).
        """
        delta = clawed_total - purchase.credits_clawed_back
        items = [
            self._put({"PK": purchase_pk(purchase.session_id), "SK": marker_sk, "applied_at": now_iso}),
            self._update(
                purchase_pk(purchase.session_id),
                "PURCHASE",
                "SET refunded_amount = :refunded, credits_clawed_back = :clawed, #status = :status",
                {
                    ":refunded": refunded_amount,
                    ":clawed": clawed_total,
                    ":status": status,
                    ":clawed_before": purchase.credits_clawed_back,
                    ":refunded_before": purchase.refunded_amount,
                },
                PURCHASE_CLAWBACK_UNCHANGED,
                {"#status": "status"},
            ),
        ]
        if entry is not None and delta:
            items.append(self._balance_update(purchase.user_id, -delta, 0, now_iso, None))
            items.append(self._entry_put(purchase.user_id, entry))
        try:
            self._transact(items)
        except ClientError as exc:
            reasons = _reasons(exc)
            if _failed(reasons[0]):
                return False
            if _failed(reasons[1]):
                raise PurchaseChanged(purchase.session_id) from exc
            raise _translate(exc) from exc
        return True


# --- helpers -------------------------------------------------------------------------------------------------------
class _Insufficient(InsufficientCredits):
    """InsufficientCredits that also remembers the balance read from the failed condition."""

    def __init__(self, old: Balance, required: int) -> None:
        super().__init__(available=old.available, required=required)
        self.old = old


def _reasons(exc: ClientError) -> Sequence[Mapping[str, Any]]:
    # Always present on TransactionCanceledException; the padding keeps indexing safe if it ever is not.
    return exc.response.get("CancellationReasons") or [{}] * 8


def _failed(reason: Mapping[str, Any]) -> bool:
    return reason.get("Code") == "ConditionalCheckFailed"


def _raise_if_replay(reason: Mapping[str, Any], request_hash: str, exc: ClientError) -> None:
    if not _failed(reason):
        return
    stored = _plain(reason.get("Item", {}))
    if stored.get("request_hash") != request_hash:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used with a different request body."
        ) from exc
    raise AlreadyApplied(dict(stored.get("result", {}))) from exc


def _translate(exc: ClientError) -> Exception:
    code = exc.response.get("Error", {}).get("Code", "")
    if code in (
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionCanceledException",
        "TransactionInProgressException",
    ):
        return TransientStoreError("The ledger is temporarily unavailable; please retry.")
    if code == "ValidationException":
        return InvalidRequest("The request could not be stored (invalid value).")
    return exc


def _balance_from(user_id: str, item: Mapping[str, Any] | None) -> Balance:
    if not item:
        return Balance(user_id=user_id, available=0, held=0, updated_at=None)
    data = _plain(item)
    return Balance(
        user_id=user_id,
        available=int(data.get("available", 0)),
        held=int(data.get("held", 0)),
        updated_at=data.get("updated_at"),
    )


def _entry_from(row: Mapping[str, Any]) -> Entry:
    return Entry(
        id=row["entry_id"],
        type=row["type"],
        amount=int(row["amount"]),
        description=row.get("description", ""),
        created_at=row["created_at"],
        reference=row.get("reference"),
    )


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
    )


def _purchase_from(row: Mapping[str, Any]) -> Purchase:
    return Purchase(
        session_id=row["session_id"],
        user_id=row["user_id"],
        bundle=row["bundle"],
        credits=int(row["credits"]),
        amount=int(row["amount"]),
        currency=row["currency"],
        status=row["status"],
        created_at=row["created_at"],
        fulfilled_at=row.get("fulfilled_at"),
        payment_intent=row.get("payment_intent"),
        refunded_amount=int(row.get("refunded_amount", 0)),
        credits_clawed_back=int(row.get("credits_clawed_back", 0)),
        mismatch=row.get("mismatch"),
    )
