"""DynamoDB adapters of the change path and the settings, on the ledger's table (injected client).

Items, all under the user's partition so that one user's reads stay one Query:

    USER#<sub>  SETTINGS                   alert_thresholds (only once the user set them), recharge_enabled,
                                           recharge_threshold, recharge_bundle, recharge_monthly_limit, version
    USER#<sub>  USAGE#DAY#<yyyy-mm-dd>     credits, count; nf_credits / nf_count (spends without a feature);
                                           fc#<feature> / fn#<feature> (credits / count of that feature)
    USER#<sub>  USAGE#ENTRY#<entry id>     "this usage entry is counted" marker (TTL expires_at_ttl)
    USER#<sub>  EVT#<sha256(change)>       "the events of this change were published" marker (TTL expires_at_ttl)

These are the events function's own writes: they come back on the stream and are filtered out by the event source
mapping (only ``BALANCE`` and ``ENTRY#...`` records reach the function). Per-feature totals are top-level
attributes because DynamoDB cannot ``ADD`` into a map that does not exist yet.
"""

from __future__ import annotations

import hashlib
import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from credits.errors import TransientStoreError
from credits.events.derive import USER_PREFIX, plain_image
from credits.events.model import UsageDelta

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

SETTINGS_SK = "SETTINGS"
USAGE_DAY_PREFIX = "USAGE#DAY#"
USAGE_ENTRY_PREFIX = "USAGE#ENTRY#"
EVENTS_MARKER_PREFIX = "EVT#"
FEATURE_CREDITS = "fc#"
FEATURE_COUNT = "fn#"
# Stream records live 24 hours; a marker outlives any redelivery of its record by days.
MARKER_TTL_SECONDS = 8 * 24 * 3600
MAX_CONFLICT_ATTEMPTS = 5

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


def user_pk(user_id: str) -> str:
    return USER_PREFIX + user_id


def _av(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | Decimal):
        return {"N": str(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, list | tuple):
        return {"L": [_av(v) for v in value]}
    if isinstance(value, dict):
        return {"M": {k: _av(v) for k, v in value.items()}}
    raise TypeError(f"cannot store {type(value).__name__}")


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"PK": {"S": pk}, "SK": {"S": sk}}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class _Table:
    def __init__(self, table_name: str, client: DynamoDBClient) -> None:
        self.table = table_name
        self.client = client

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        """One request; throttling, 5xx and lost connections become ``TransientStoreError`` (the caller retries)."""
        try:
            return getattr(self.client, operation)(**kwargs)  # type: ignore[no-any-return]
        except ClientError as exc:
            if _code(exc) in _TRANSIENT:
                raise TransientStoreError("The store is temporarily unavailable; please retry.") from exc
            raise
        except BotoCoreError as exc:
            raise TransientStoreError("The store could not be reached; please retry.") from exc


class EventMarkers(_Table):
    """Remembers which changes had their events published, so a redelivered record publishes nothing again."""

    @staticmethod
    def _sk(change_key: str) -> str:
        return EVENTS_MARKER_PREFIX + hashlib.sha256(change_key.encode("utf-8")).hexdigest()[:40]

    def is_published(self, user_id: str, change_key: str) -> bool:
        resp = self._call("get_item", TableName=self.table, Key=_key(user_pk(user_id), self._sk(change_key)),
                          ConsistentRead=True, ProjectionExpression="PK")
        return "Item" in resp

    def mark_published(self, user_id: str, change_key: str, event_ids: list[str], now: float) -> None:
        item = {
            **_key(user_pk(user_id), self._sk(change_key)),
            "change": _av(change_key[:1024]),
            "event_ids": _av(event_ids),
            "published_at": _av(int(now)),
            "expires_at_ttl": _av(int(now) + MARKER_TTL_SECONDS),
        }
        self._call("put_item", TableName=self.table, Item=item)


@dataclass(frozen=True)
class DayUsage:
    day: str
    credits: int
    count: int
    by_feature: dict[str | None, tuple[int, int]] = field(default_factory=dict)  # feature -> (credits, count)


class UsageStore(_Table):
    """Per-user per-day totals, each usage entry counted once (a marker in the same transaction)."""

    def __init__(self, table_name: str, client: DynamoDBClient, sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(table_name, client)
        self._sleep = sleep

    def apply(self, delta: UsageDelta, now: float) -> bool:
        """Add one entry to its day. False when that entry was counted before (a duplicate record)."""
        pk = user_pk(delta.user_id)
        if delta.feature is None:
            credits_attr, count_attr = "nf_credits", "nf_count"
        else:
            credits_attr, count_attr = FEATURE_CREDITS + delta.feature, FEATURE_COUNT + delta.feature
        items: list[dict[str, Any]] = [
            {"Put": {
                "TableName": self.table,
                "Item": {**_key(pk, USAGE_ENTRY_PREFIX + delta.entry_id), "day": _av(delta.day),
                         "credits": _av(delta.credits), "expires_at_ttl": _av(int(now) + MARKER_TTL_SECONDS)},
                "ConditionExpression": MARKER_NOT_EXISTS,
            }},
            {"Update": {
                "TableName": self.table,
                "Key": _key(pk, USAGE_DAY_PREFIX + delta.day),
                "UpdateExpression": "ADD #credits :credits, #count :count, #fc :credits, #fn :count SET #day = :day",
                "ExpressionAttributeNames": {"#credits": "credits", "#count": "count", "#fc": credits_attr,
                                             "#fn": count_attr, "#day": "day"},
                "ExpressionAttributeValues": {":credits": _av(delta.credits), ":count": _av(delta.count),
                                              ":day": _av(delta.day)},
            }},
        ]
        for attempt in range(1, MAX_CONFLICT_ATTEMPTS + 1):
            try:
                self._call("transact_write_items", TransactItems=items, ClientRequestToken=uuid.uuid4().hex)
                return True
            except ClientError as exc:
                if _code(exc) != "TransactionCanceledException":
                    raise
                codes = [r.get("Code") for r in exc.response.get("CancellationReasons") or []]
                if codes and codes[0] == "ConditionalCheckFailed":
                    return False
                if "TransactionConflict" not in codes or attempt == MAX_CONFLICT_ATTEMPTS:
                    raise TransientStoreError("The usage totals are busy; retry.") from exc
                self._sleep(random.uniform(0, 0.02 * 2**attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def days(self, user_id: str, first_day: str, last_day: str) -> list[DayUsage]:
        """The day items from ``first_day`` to ``last_day`` inclusive, oldest first: one Query, O(days)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "PK = :pk AND SK BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": {":pk": _av(user_pk(user_id)), ":lo": _av(USAGE_DAY_PREFIX + first_day),
                                          ":hi": _av(USAGE_DAY_PREFIX + last_day)},
            "ConsistentRead": True,
        }
        out: list[DayUsage] = []
        while True:
            resp = self._call("query", **kwargs)
            out.extend(_day_from(plain_image(item) or {}) for item in resp.get("Items", []))
            if "LastEvaluatedKey" not in resp:
                return out
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


def _day_from(item: Mapping[str, Any]) -> DayUsage:
    by_feature: dict[str | None, tuple[int, int]] = {}
    if item.get("nf_count"):
        by_feature[None] = (int(item.get("nf_credits", 0)), int(item["nf_count"]))
    for name, value in item.items():
        if name.startswith(FEATURE_CREDITS):
            feature = name[len(FEATURE_CREDITS):]
            by_feature[feature] = (int(value), int(item.get(FEATURE_COUNT + feature, 0)))
    return DayUsage(str(item["SK"])[len(USAGE_DAY_PREFIX):], int(item.get("credits", 0)), int(item.get("count", 0)),
                    by_feature)


class SettingsStore(_Table):
    """The user's settings item; writes are field-by-field merges guarded by ``version``."""

    def get(self, user_id: str) -> dict[str, Any] | None:
        resp = self._call("get_item", TableName=self.table, Key=_key(user_pk(user_id), SETTINGS_SK),
                          ConsistentRead=True)
        return plain_image(resp.get("Item"))

    def update(self, user_id: str, fields: Mapping[str, Any], expected_version: int | None,
               now_iso: str) -> dict[str, Any] | None:
        """SET ``fields`` if the item is still at ``expected_version``; the new item, or None on a conflict."""
        names = {f"#f{i}": name for i, name in enumerate(fields)}
        values = {f":f{i}": _av(value) for i, value in enumerate(fields.values())}
        sets = [f"#f{i} = :f{i}" for i in range(len(fields))] + ["version = :next", "updated_at = :now"]
        values |= {":next": _av((expected_version or 0) + 1), ":now": _av(now_iso)}
        condition = SETTINGS_NEW
        if expected_version is not None:
            condition = SETTINGS_UNCHANGED
            values[":expected"] = _av(expected_version)
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "Key": _key(user_pk(user_id), SETTINGS_SK),
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
            if _code(exc) == "ConditionalCheckFailedException":
                return None
            raise
        return plain_image(resp.get("Attributes")) or {}
