"""``RechargeStore`` on DynamoDB: a user's auto-recharge state and one record per recharge.

    USER#<sub>   RECHARGE              customer, saved card (id, brand, last4), failures, last failure, needs_pm,
                                       in_flight (a recharge id), month + started (this month's count)
    USER#<sub>   RECHARGE#<id>         one recharge: requested -> succeeded | failed, bundle, amount, payment intent;
                                       GSI1PK = RECHARGES_IN_FLIGHT#<n> while unsettled (reconciliation finds them)

The start is one transaction whose conditions are the policy's hard limits (guarantee: never two in flight, never
more than the monthly limit started), so concurrent triggers start one recharge.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any

from credits.adapters.dynamo import NamedItem, Table, TransactionCancelled, item, plain
from credits.keys import GSI1, SWEEP_SHARDS, user_of, user_pk
from credits.ports import RechargeRecord, RechargeSettle, RechargeState

STATE_SK = "RECHARGE"
RECORD_PREFIX = "RECHARGE#"
SETTINGS_SK = "SETTINGS"
MAX_FAILURES = 3

# --- named conditions ---------------------------------------------------------------------------------------------
# A recharge may start: a card, nothing in flight, no missing-card flag, under 3 failures, paced after the last one.
CAN_START = (
    "attribute_exists(pm_id) AND attribute_not_exists(in_flight) "
    "AND (attribute_not_exists(needs_pm) OR needs_pm = :false) "
    "AND (attribute_not_exists(failures) OR failures < :max_failures) "
    "AND (attribute_not_exists(last_failure_ms) OR last_failure_ms <= :cutoff)"
)
SAME_MONTH_UNDER_LIMIT = "#month = :month AND started < :limit"
NEW_MONTH = "(attribute_not_exists(#month) OR #month <> :month)"
AUTO_RECHARGE_ON = "recharge_enabled = :true"
RECORD_UNSETTLED = "#status = :requested"
IN_FLIGHT_IS_THIS = "in_flight = :rid"


def record_sk(recharge_id: str) -> str:
    return RECORD_PREFIX + recharge_id


def in_flight_pk(recharge_id: str) -> str:
    return f"RECHARGES_IN_FLIGHT#{zlib.crc32(recharge_id.encode()) % SWEEP_SHARDS}"


def settle_items(table: Table, settle: RechargeSettle, now_iso: str) -> list[NamedItem]:
    """The recharge's side of the transaction that credits it (see ``DynamoLedgerStore.commit``)."""
    pk = user_pk(settle.user_id)
    return [
        ("recharge_record", table.update(
            pk, record_sk(settle.recharge_id), "SET #status = :succeeded, resolved_at = :now REMOVE GSI1PK, GSI1SK",
            {":succeeded": "succeeded", ":now": now_iso, ":requested": "requested"}, RECORD_UNSETTLED,
            {"#status": "status"})),
        ("recharge_state", table.update(
            pk, STATE_SK, "SET failures = :zero, updated_at = :now REMOVE in_flight",
            {":zero": 0, ":now": now_iso, ":rid": settle.recharge_id}, IN_FLIGHT_IS_THIS)),
    ]


class DynamoRechargeStore:
    def __init__(self, table: Table) -> None:
        self.table = table

    def state(self, user_id: str) -> RechargeState | None:
        resp = self.table.read("get_item", Key=item({"PK": user_pk(user_id), "SK": STATE_SK}), ConsistentRead=True)
        return _state(user_id, plain(resp["Item"])) if "Item" in resp else None

    def set_customer(self, user_id: str, customer_id: str, now_iso: str) -> str:
        self.table.write(
            "update_item", Key=item({"PK": user_pk(user_id), "SK": STATE_SK}),
            UpdateExpression="SET customer_id = :c, updated_at = :now",
            ConditionExpression="attribute_not_exists(customer_id)",
            ExpressionAttributeValues=item({":c": customer_id, ":now": now_iso}),
        )
        stored = self.state(user_id)
        return stored.customer_id if stored is not None and stored.customer_id else customer_id

    def save_card(
        self, user_id: str, customer_id: str | None, payment_method: str, brand: str, last4: str, now_iso: str
    ) -> None:
        values: dict[str, Any] = {":pm": payment_method, ":brand": brand, ":last4": last4, ":zero": 0,
                                  ":false": False, ":now": now_iso}
        expression = ("SET pm_id = :pm, pm_brand = :brand, pm_last4 = :last4, failures = :zero, needs_pm = :false, "
                      "updated_at = :now")
        if customer_id:
            expression += ", customer_id = if_not_exists(customer_id, :c)"
            values[":c"] = customer_id
        self.table.write("update_item", Key=item({"PK": user_pk(user_id), "SK": STATE_SK}),
                         UpdateExpression=expression + " REMOVE last_failure_ms, last_failure_reason",
                         ExpressionAttributeValues=item(values))

    def reset_failures(self, user_id: str, now_iso: str) -> None:
        self.table.write("update_item", Key=item({"PK": user_pk(user_id), "SK": STATE_SK}),
                         UpdateExpression="SET failures = :zero, updated_at = :now REMOVE last_failure_ms",
                         ExpressionAttributeValues=item({":zero": 0, ":now": now_iso}))

    def start(self, record: RechargeRecord, *, month: str, monthly_limit: int, retry_cutoff_ms: int) -> bool:
        current = self.state(record.user_id)
        same_month = current is not None and current.month == month
        pk = user_pk(record.user_id)
        values: dict[str, Any] = {":rid": record.recharge_id, ":false": False, ":max_failures": MAX_FAILURES,
                                  ":cutoff": retry_cutoff_ms, ":month": month, ":one": 1, ":now": record.created_at}
        if same_month:
            expression = "SET in_flight = :rid, updated_at = :now ADD started :one"
            condition = f"{CAN_START} AND {SAME_MONTH_UNDER_LIMIT}"
            values[":limit"] = monthly_limit
        else:
            expression = "SET in_flight = :rid, started = :one, #month = :month, updated_at = :now"
            condition = f"{CAN_START} AND {NEW_MONTH}"
        items: list[NamedItem] = [
            ("settings", {"ConditionCheck": {
                "TableName": self.table.name, "Key": item({"PK": pk, "SK": SETTINGS_SK}),
                "ConditionExpression": AUTO_RECHARGE_ON, "ExpressionAttributeValues": item({":true": True})}}),
            ("state", self.table.update(pk, STATE_SK, expression, values, condition, {"#month": "month"})),
            ("record", self.table.put(_record_item(record))),
        ]
        try:
            self.table.transact(items)
        except TransactionCancelled:
            return False
        return True

    def record(self, user_id: str, recharge_id: str) -> RechargeRecord | None:
        resp = self.table.read("get_item", Key=item({"PK": user_pk(user_id), "SK": record_sk(recharge_id)}),
                               ConsistentRead=True)
        return _record(plain(resp["Item"])) if "Item" in resp else None

    def auto_recharge_enabled(self, user_id: str) -> bool:
        resp = self.table.read("get_item", Key=item({"PK": user_pk(user_id), "SK": SETTINGS_SK}),
                               ProjectionExpression="recharge_enabled", ConsistentRead=True)
        return bool(plain(resp["Item"]).get("recharge_enabled")) if "Item" in resp else False

    def set_payment_intent(self, user_id: str, recharge_id: str, payment_intent: str) -> None:
        self.table.write("update_item", Key=item({"PK": user_pk(user_id), "SK": record_sk(recharge_id)}),
                         UpdateExpression="SET payment_intent = :pi", ConditionExpression="attribute_exists(PK)",
                         ExpressionAttributeValues=item({":pi": payment_intent}))

    def fail(self, user_id: str, recharge_id: str, reason: str, missing_card: bool, now_ms: int) -> bool:
        from credits.ids import iso_ms

        pk, now_iso = user_pk(user_id), iso_ms(now_ms)
        state_expression = ("SET last_failure_ms = :ms, last_failure_reason = :reason, updated_at = :now "
                            "ADD failures :one REMOVE in_flight")
        values: dict[str, Any] = {":ms": now_ms, ":reason": reason[:100], ":now": now_iso, ":one": 1,
                                  ":rid": recharge_id}
        if missing_card:
            state_expression = state_expression.replace("updated_at = :now", "updated_at = :now, needs_pm = :true")
            values[":true"] = True
        try:
            self.table.transact([
                ("record", self.table.update(
                    pk, record_sk(recharge_id),
                    "SET #status = :failed, reason = :reason, resolved_at = :now REMOVE GSI1PK, GSI1SK",
                    {":failed": "failed", ":reason": reason[:100], ":now": now_iso, ":requested": "requested"},
                    RECORD_UNSETTLED, {"#status": "status"})),
                ("state", self.table.update(pk, STATE_SK, state_expression, values, IN_FLIGHT_IS_THIS)),
            ])
        except TransactionCancelled:
            return False  # settled already (a webhook and the function raced)
        return True

    def in_flight(self, older_than_ms: int) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        for shard in range(SWEEP_SHARDS):
            resp = self.table.read(
                "query", IndexName=GSI1, KeyConditionExpression="GSI1PK = :pk AND GSI1SK <= :upper",
                ExpressionAttributeValues=item({":pk": f"RECHARGES_IN_FLIGHT#{shard}",
                                                ":upper": f"{older_than_ms:015d}"}),
                Limit=100,
            )
            found += [(user_of(r["PK"]), r["recharge_id"]) for r in map(plain, resp.get("Items", []))]
        return found


def _record_item(record: RechargeRecord) -> dict[str, Any]:
    row: dict[str, Any] = {
        "PK": user_pk(record.user_id), "SK": record_sk(record.recharge_id), "user_id": record.user_id,
        "recharge_id": record.recharge_id, "status": record.status, "bundle": record.bundle,
        "credits": record.credits, "amount": record.amount, "currency": record.currency,
        "created_at": record.created_at, "created_ms": record.created_ms,
        "GSI1PK": in_flight_pk(record.recharge_id), "GSI1SK": f"{record.created_ms:015d}",
    }
    optional = {"customer_id": record.customer_id, "pm_id": record.payment_method,
                "expires_after_days": record.expires_after_days}
    return row | {k: v for k, v in optional.items() if v is not None}


def _record(row: Mapping[str, Any]) -> RechargeRecord:
    return RechargeRecord(
        user_id=row["user_id"], recharge_id=row["recharge_id"], status=row["status"], bundle=row["bundle"],
        credits=int(row["credits"]), amount=int(row["amount"]), currency=row["currency"],
        payment_intent=row.get("payment_intent"), reason=row.get("reason"), created_at=row["created_at"],
        created_ms=int(row["created_ms"]), customer_id=row.get("customer_id"), payment_method=row.get("pm_id"),
        expires_after_days=int(row["expires_after_days"]) if row.get("expires_after_days") is not None else None,
    )


def _state(user_id: str, row: Mapping[str, Any]) -> RechargeState:
    return RechargeState(
        user_id=user_id, customer_id=row.get("customer_id"), payment_method=row.get("pm_id"),
        brand=str(row.get("pm_brand") or ""), last4=str(row.get("pm_last4") or ""),
        failures=int(row.get("failures") or 0),
        last_failure_ms=int(row["last_failure_ms"]) if row.get("last_failure_ms") is not None else None,
        last_failure_reason=row.get("last_failure_reason"), needs_payment_method=bool(row.get("needs_pm")),
        in_flight=row.get("in_flight"), month=row.get("month"), started=int(row.get("started") or 0),
    )
