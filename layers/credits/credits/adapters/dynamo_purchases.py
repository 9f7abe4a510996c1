"""``PurchaseStore`` on DynamoDB: Checkout sessions' records and the payment index, plus the purchase items that
ride in the ledger's transactions (fulfilment and clawback change credits and the purchase atomically)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from credits.adapters.dynamo import ITEM_NOT_EXISTS, NamedItem, Table, item, plain
from credits.keys import payment_pk, purchase_pk
from credits.models import Purchase
from credits.ports import PurchaseClawback, PurchaseFulfil

PURCHASE_SK = "PURCHASE"
PAYMENT_SK = "PAYMENT"
# Fulfil at most once (guarantee 6); a record that exists must belong to the same user and bundle as the event says.
PURCHASE_FULFILLABLE = (
    "attribute_not_exists(fulfilled_at) AND "
    "(attribute_not_exists(user_id) OR (user_id = :user_id AND bundle = :bundle))"
)
PURCHASE_NOT_FULFILLED = "attribute_exists(PK) AND attribute_not_exists(fulfilled_at)"
# The clawback rule is state-based: move ``credits_clawed_back`` from what was read to the new target, once.
PURCHASE_CLAWBACK_UNCHANGED = "attribute_exists(fulfilled_at) AND credits_clawed_back = :expect_taken"


def purchase_items(table: Table, write: PurchaseFulfil | PurchaseClawback, now_iso: str) -> list[NamedItem]:
    if isinstance(write, PurchaseFulfil):
        p = write.purchase
        values: dict[str, Any] = {
            ":user_id": p.user_id, ":bundle": p.bundle, ":credits": p.credits, ":amount": p.amount,
            ":currency": p.currency, ":fulfilled": "fulfilled", ":now": now_iso, ":zero": 0,
            ":session_id": p.session_id, ":grant_id": p.grant_id,
        }
        expression = (
            "SET #status = :fulfilled, fulfilled_at = :now, user_id = :user_id, bundle = :bundle, "
            "credits = :credits, amount = :amount, currency = :currency, session_id = :session_id, "
            "grant_id = :grant_id, created_at = if_not_exists(created_at, :now), "
            "refunded_amount = if_not_exists(refunded_amount, :zero), "
            "credits_clawed_back = if_not_exists(credits_clawed_back, :zero)"
        )
        if write.payment_intent:
            expression += ", payment_intent = :pi"
            values[":pi"] = write.payment_intent
        if p.expires_after_days is not None:
            expression += ", expires_after_days = :days"
            values[":days"] = p.expires_after_days
        items: list[NamedItem] = [("purchase", table.update(
            purchase_pk(p.session_id), PURCHASE_SK, expression, values, PURCHASE_FULFILLABLE, {"#status": "status"}))]
        if write.payment_intent:
            items.append(("payment", table.put(
                {"PK": payment_pk(write.payment_intent), "SK": PAYMENT_SK, "session_id": p.session_id}, None)))
        return items
    return [("purchase", table.update(
        purchase_pk(write.session_id), PURCHASE_SK,
        "SET credits_clawed_back = :taken, refunded_amount = :refunded, #status = :status, clawback_at = :now",
        {":taken": write.taken, ":refunded": write.refunded_amount, ":status": write.status, ":now": now_iso,
         ":expect_taken": write.expect_taken},
        PURCHASE_CLAWBACK_UNCHANGED, {"#status": "status"}))]


class DynamoPurchaseStore:
    def __init__(self, table: Table) -> None:
        self.table = table

    def put_purchase(self, purchase: Purchase) -> None:
        """Record a pending checkout session. A replayed Idempotency-Key maps to the same session: keep the first."""
        self.table.write(
            "put_item",
            Item=item({
                "PK": purchase_pk(purchase.session_id), "SK": PURCHASE_SK, "session_id": purchase.session_id,
                "user_id": purchase.user_id, "bundle": purchase.bundle, "credits": purchase.credits,
                "amount": purchase.amount, "currency": purchase.currency, "status": "pending",
                "created_at": purchase.created_at, "refunded_amount": 0, "credits_clawed_back": 0,
                "expires_after_days": purchase.expires_after_days,
            }),
            ConditionExpression=ITEM_NOT_EXISTS,
        )

    def get_purchase(self, session_id: str) -> Purchase | None:
        resp = self.table.read(
            "get_item", Key=item({"PK": purchase_pk(session_id), "SK": PURCHASE_SK}), ConsistentRead=True
        )
        return purchase_from(plain(resp["Item"])) if "Item" in resp else None

    def find_purchase_by_payment(self, payment_intent: str) -> Purchase | None:
        resp = self.table.read(
            "get_item", Key=item({"PK": payment_pk(payment_intent), "SK": PAYMENT_SK}), ConsistentRead=True
        )
        if "Item" not in resp:
            return None
        return self.get_purchase(plain(resp["Item"])["session_id"])

    def mark_mismatch(self, session_id: str, reason: str, now_iso: str) -> None:
        """Remember that a paid session failed verification, so reconciliation does not re-alarm it forever."""
        self.table.write(
            "update_item",
            Key=item({"PK": purchase_pk(session_id), "SK": PURCHASE_SK}),
            UpdateExpression="SET mismatch = :reason, status_changed_at = :now",
            ConditionExpression=PURCHASE_NOT_FULFILLED,
            ExpressionAttributeValues=item({":reason": reason[:500], ":now": now_iso}),
        )

    def set_purchase_status(self, session_id: str, status: str, now_iso: str) -> bool:
        """Mark a not-yet-fulfilled purchase failed/expired; a fulfilled one keeps its status (events arrive late)."""
        return self.table.write(
            "update_item",
            Key=item({"PK": purchase_pk(session_id), "SK": PURCHASE_SK}),
            UpdateExpression="SET #status = :status, status_changed_at = :now",
            ConditionExpression=PURCHASE_NOT_FULFILLED,
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=item({":status": status, ":now": now_iso}),
        )

    def get_checkpoint(self, name: str) -> int | None:
        resp = self.table.read("get_item", Key=_checkpoint_key(name), ConsistentRead=True)
        return int(plain(resp["Item"])["value"]) if "Item" in resp else None

    def put_checkpoint(self, name: str, value: int) -> None:
        self.table.write("put_item", Item={**_checkpoint_key(name), **item({"value": value})})


def purchase_from(row: Mapping[str, Any]) -> Purchase:
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
        grant_id=row.get("grant_id"),
        expires_after_days=int(row["expires_after_days"]) if row.get("expires_after_days") is not None else None,
    )


def _checkpoint_key(name: str) -> dict[str, Any]:
    return item({"PK": f"CHECKPOINT#{name}", "SK": "CHECKPOINT"})
