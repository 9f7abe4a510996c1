"""DynamoDB adapters of the change path and the settings, on the ledger's table (injected client).

Items, all under the user's partition so that one user's reads stay one Query:

    USER#<sub>  SETTINGS                   alert_thresholds (only once the user set them), recharge_enabled,
                                           recharge_threshold, recharge_bundle, recharge_monthly_limit, version
    USER#<sub>  USAGE#ENTRY#<entry id>     "this usage entry is counted" marker (TTL expires_at_ttl); the usage
                                           totals themselves are ``usage_store``'s month items
    USER#<sub>  EVT#<sha256(change)>       "the events of this change were published" marker (TTL expires_at_ttl)

These are the events function's own writes: they come back on the stream and are filtered out by the event source
mapping (only ``BALANCE`` and ``ENTRY#...`` records reach the function).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from credits.errors import TransientStoreError
from credits.events.derive import plain_image
from credits.keys import user_pk

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

SETTINGS_SK = "SETTINGS"
USAGE_ENTRY_PREFIX = "USAGE#ENTRY#"
EVENTS_MARKER_PREFIX = "EVT#"
# Stream records live 24 hours; a marker outlives any redelivery of its record by days.
MARKER_TTL_SECONDS = 8 * 24 * 3600

# --- named conditions --------------------------------------------------------------------------------------------
MARKER_NOT_EXISTS = "attribute_not_exists(PK)"
# Settings merge field by field from what was read: the write applies only if nobody wrote in between.
SETTINGS_UNCHANGED = "attribute_not_exists(version) OR version = :expected"
SETTINGS_NEW = "attribute_not_exists(version)"

_TRANSIENT = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionInProgressException",
}


def av(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | Decimal):
        return {"N": str(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, list | tuple):
        return {"L": [av(v) for v in value]}
    if isinstance(value, dict):
        return {"M": {k: av(v) for k, v in value.items()}}
    raise TypeError(f"cannot store {type(value).__name__}")


def key(pk: str, sk: str) -> dict[str, Any]:
    return {"PK": {"S": pk}, "SK": {"S": sk}}


def code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class Table:
    def __init__(self, table_name: str, client: DynamoDBClient) -> None:
        self.table = table_name
        self.client = client

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        """One request; throttling, 5xx and lost connections become ``TransientStoreError`` (the caller retries)."""
        try:
            return getattr(self.client, operation)(**kwargs)  # type: ignore[no-any-return]
        except ClientError as exc:
            if code(exc) in _TRANSIENT:
                raise TransientStoreError("The store is temporarily unavailable; please retry.") from exc
            raise
        except BotoCoreError as exc:
            raise TransientStoreError("The store could not be reached; please retry.") from exc


class EventMarkers(Table):
    """Remembers which changes had their events published, so a redelivered record publishes nothing again."""

    @staticmethod
    def _sk(change_key: str) -> str:
        return EVENTS_MARKER_PREFIX + hashlib.sha256(change_key.encode("utf-8")).hexdigest()[:40]

    def is_published(self, user_id: str, change_key: str) -> bool:
        resp = self._call("get_item", TableName=self.table, Key=key(user_pk(user_id), self._sk(change_key)),
                          ConsistentRead=True, ProjectionExpression="PK")
        return "Item" in resp

    def mark_published(self, user_id: str, change_key: str, event_ids: list[str], now: float) -> None:
        item = {
            **key(user_pk(user_id), self._sk(change_key)),
            "change": av(change_key[:1024]),
            "event_ids": av(event_ids),
            "published_at": av(int(now)),
            "expires_at_ttl": av(int(now) + MARKER_TTL_SECONDS),
        }
        self._call("put_item", TableName=self.table, Item=item)


class SettingsStore(Table):
    """The user's settings item; writes are field-by-field merges guarded by ``version``."""

    def get(self, user_id: str) -> dict[str, Any] | None:
        resp = self._call("get_item", TableName=self.table, Key=key(user_pk(user_id), SETTINGS_SK),
                          ConsistentRead=True)
        return plain_image(resp.get("Item"))

    def update(self, user_id: str, fields: Mapping[str, Any], expected_version: int | None,
               now_iso: str) -> dict[str, Any] | None:
        """SET ``fields`` if the item is still at ``expected_version``; the new item, or None on a conflict."""
        names = {f"#f{i}": name for i, name in enumerate(fields)}
        values = {f":f{i}": av(value) for i, value in enumerate(fields.values())}
        sets = [f"#f{i} = :f{i}" for i in range(len(fields))] + ["version = :next", "updated_at = :now"]
        values |= {":next": av((expected_version or 0) + 1), ":now": av(now_iso)}
        condition = SETTINGS_NEW
        if expected_version is not None:
            condition = SETTINGS_UNCHANGED
            values[":expected"] = av(expected_version)
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "Key": key(user_pk(user_id), SETTINGS_SK),
            "UpdateExpression": "SET " + ", ".join(sets),
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ReturnValues": "ALL_NEW",
        }
        if names:
            kwargs["ExpressionAttributeNames"] = names
        try:
            resp = self._call("update_item", **kwargs)
        except ClientError as exc:
            if code(exc) == "ConditionalCheckFailedException":
                return None
            raise
        return plain_image(resp.get("Attributes")) or {}
