"""Synthetic DynamoDB stream records in Lambda's event shape, in the ledger's item schema (for the change path)."""

from __future__ import annotations

from typing import Any

STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/credits/stream/2026-01-01T00:00:00.000"


def av(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, list):
        return {"L": [av(v) for v in value]}
    if isinstance(value, dict):
        return {"M": {k: av(v) for k, v in value.items()}}
    raise TypeError(value)


def record(name: str, sk: str, new: dict[str, Any] | None, old: dict[str, Any] | None = None, *,
           user: str = "alice", pk: str | None = None, seq: str = "100") -> dict[str, Any]:
    pk = pk or f"USER#{user}"
    ddb: dict[str, Any] = {"Keys": {"PK": av(pk), "SK": av(sk)}, "SequenceNumber": seq,
                           "ApproximateCreationDateTime": 1767225600, "StreamViewType": "NEW_AND_OLD_IMAGES",
                           "SizeBytes": 100}
    if new is not None:
        ddb["NewImage"] = {k: av(v) for k, v in {"PK": pk, "SK": sk, **new}.items()}
    if old is not None:
        ddb["OldImage"] = {k: av(v) for k, v in {"PK": pk, "SK": sk, **old}.items()}
    return {"eventID": f"ev-{seq}", "eventName": name, "eventVersion": "1.1", "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1", "dynamodb": ddb, "eventSourceARN": STREAM_ARN}


def balance(old: dict[str, Any] | None, new: dict[str, Any], *, name: str = "MODIFY", user: str = "alice",
            seq: str = "100") -> dict[str, Any]:
    return record(name, "BALANCE", new, old, user=user, seq=seq)


def entry(kind: str, amount: int, *, user: str = "alice", entry_id: str = "tx_1", seq: str = "100",
          **extra: Any) -> dict[str, Any]:
    fields = {"entry_id": entry_id, "type": kind, "amount": amount, "created_at": "2026-03-04T23:59:59.999Z",
              "description": "d", **extra}
    return record("INSERT", f"ENTRY#{entry_id}", fields, user=user, seq=seq)
