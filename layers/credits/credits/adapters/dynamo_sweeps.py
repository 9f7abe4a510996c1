"""The sweeper's markers on DynamoDB (a part of ``DynamoLedgerStore``): a new expiring grant's marker, the queries over
every user's due hold and grant markers (GSI1, sharded), and tidying what a settlement already applied."""

from __future__ import annotations

from typing import Any

from credits.adapters.dynamo import Table, TransactionCancelled, item, plain
from credits.keys import (
    GRANT_EXPIRY_PREFIX,
    GSI1,
    PENDING_PREFIX,
    SWEEP_SHARDS,
    grant_expiry_sk,
    grant_expiry_upper,
    grant_sweep_pk,
    grant_sweep_shard_pk,
    hold_sk,
    hold_sweep_shard_pk,
    pending_upper,
    user_of,
    user_pk,
)


class DynamoSweeps:
    table: Table

    def _grant_marker_put(self, user_id: str, grant_id: str, expires_ms: int) -> dict[str, Any]:
        sk = grant_expiry_sk(expires_ms, grant_id)
        # Found by the sweeper through GSI1, spread over a few partitions; deleted once the expiry is recorded.
        return self.table.put({"PK": user_pk(user_id), "SK": sk, "GSI1PK": grant_sweep_pk(grant_id), "GSI1SK": sk,
                               "user_id": user_id, "grant_id": grant_id}, None)

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
