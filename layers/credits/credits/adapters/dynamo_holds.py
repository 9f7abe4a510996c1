"""Holds on DynamoDB (a part of ``DynamoLedgerStore``): the hold item and its pending marker, written in the account's
transaction; reading a hold and the markers a settlement returns credits for.

A pending hold has two items: the hold (``HOLD#``, read by id) and a marker (``PENDING#<expiry>#<id>``) that sorts by
expiry, so a settlement finds the holds past expiry with one query from the account's watermark.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from credits.account import HoldMarker
from credits.adapters.dynamo import NamedItem, Table, item, plain
from credits.errors import NotFound
from credits.keys import PENDING_PREFIX, hold_sk, hold_sweep_pk, pending_sk, pending_upper, user_pk
from credits.models import Hold
from credits.ports import HoldResolution

# A hold resolves at most once (guarantee 4): capture/release only while pending and live; expiry only once past.
HOLD_PENDING_AND_LIVE = "#status = :pending AND amount = :amount AND expires_epoch > :now_s"
HOLD_PENDING_AND_EXPIRED = "#status = :pending AND amount = :amount AND expires_epoch <= :now_s"

RESOLVED_HOLD_TTL_SECONDS = 30 * 24 * 3600


class DynamoHolds:
    table: Table

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
