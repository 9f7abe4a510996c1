"""Entries and grant records on DynamoDB (a part of ``DynamoLedgerStore``): the items the account's transactions append
(entries, archived or new grants' records) and the paged reads of history and grants."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from credits.adapters.dynamo import Table, item, plain
from credits.grant_lot import LiveGrant
from credits.ids import entry_sort_id
from credits.keys import ENTRY_RANGE, GRANT_RANGE, GSI1, entry_sk, grant_sk, type_pk, user_pk
from credits.models import Entry


class DynamoHistory:
    table: Table

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
                "KeyConditionExpression": "PK = :pk AND SK BETWEEN :lo AND :hi",
                "ExpressionAttributeValues": item({":pk": user_pk(user_id), ":lo": ENTRY_RANGE[0],
                                                ":hi": ENTRY_RANGE[1]}),
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
            "KeyConditionExpression": "PK = :pk AND SK BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": item({":pk": user_pk(user_id), ":lo": GRANT_RANGE[0],
                                               ":hi": GRANT_RANGE[1]}),
        }
        if after_sort_key:
            kwargs["ExclusiveStartKey"] = item({"PK": user_pk(user_id), "SK": after_sort_key})
        resp = self.table.read("query", ScanIndexForward=False, Limit=limit + 1, ConsistentRead=True, **kwargs)
        rows = [plain(i) for i in resp.get("Items", [])]
        grants = [LiveGrant.from_json(json.loads(r["data"])) for r in rows[:limit]]
        return grants, (rows[limit - 1]["SK"] if len(rows) > limit else None)

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
