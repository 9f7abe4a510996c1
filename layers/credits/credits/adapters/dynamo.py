"""DynamoDB plumbing shared by the ledger and purchase adapters: serialisation, named transaction items, retries.

A transaction is a list of ``(name, item)``: when DynamoDB cancels it, ``CancellationReasons`` (one per item, in order)
are handed back by name, so no caller reads reasons by list position. ``TransactionConflict`` is retried here with
jitter; ``ConditionalCheckFailed`` becomes ``TransactionCancelled`` for the adapter to turn into a domain error.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from credits.errors import InvalidRequest, TransientStoreError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

MAX_CONFLICT_ATTEMPTS = 6
# --- named conditions shared by both adapters ---------------------------------------------------------------------
ITEM_NOT_EXISTS = "attribute_not_exists(PK)"
# An idempotency record older than 7 days counts as absent even before TTL deletes it (TTL may lag by days).
# ``expires_ms`` is exact (a key is new again 7 days after to the millisecond, as the memory store has it); records
# written before it existed carry only the TTL's seconds.
IDEMPOTENCY_KEY_FREE = "attribute_not_exists(PK) OR expires_ms <= :now_ms OR expires_at_ttl < :now_s"

_ser = TypeSerializer()
_deser = TypeDeserializer()

NamedItem = tuple[str, dict[str, Any]]


def av(value: Any) -> dict[str, Any]:
    if isinstance(value, float):  # times, to the millisecond; truncated so "now" is never in the future
        value = Decimal(int(value * 1000)) / 1000
    return cast("dict[str, Any]", _ser.serialize(value))


def item(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: av(v) for k, v in values.items() if v is not None}


def plain(raw: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        v = _deser.deserialize(value)
        out[key] = _numbers(v)
    return out


def _numbers(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    if isinstance(value, dict):
        return {k: _numbers(v) for k, v in value.items()}
    return value


class TransactionCancelled(Exception):
    """A condition failed. ``reasons[name]`` is DynamoDB's reason for that item (``Code``, maybe ``Item``)."""

    def __init__(self, reasons: dict[str, Mapping[str, Any]]) -> None:
        super().__init__(", ".join(f"{k}={v.get('Code')}" for k, v in reasons.items() if v.get("Code") != "None"))
        self.reasons = reasons

    def failed(self, name: str) -> bool:
        return self.reasons.get(name, {}).get("Code") == "ConditionalCheckFailed"

    def failed_prefix(self, prefix: str) -> bool:
        return any(self.failed(n) for n in self.reasons if n.startswith(prefix))

    def old(self, name: str) -> dict[str, Any] | None:
        raw = self.reasons.get(name, {}).get("Item")
        return plain(raw) if raw else None


def translate(exc: ClientError) -> Exception:
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


def default_client(endpoint_url: str | None, region: str | None) -> DynamoDBClient:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint_url,
        region_name=region,
        # Throttling, 5xx and lost connections are retried by botocore (3 attempts in all; a retried transaction
        # reuses its ClientRequestToken, so it cannot apply twice); TransactionConflict is ours (Table.transact).
        # The bounds keep the worst case (3 x (1 s + 2 s) plus backoff) inside a 10 s function timeout, so a slow
        # DynamoDB answers 503 instead of a timeout.
        config=Config(retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=1, read_timeout=2),
    )


class Table:
    """One table and a client; item builders and the two ways of talking to it (transactions and reads)."""

    def __init__(
        self,
        table_name: str,
        client: DynamoDBClient | None = None,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client if client is not None else default_client(endpoint_url, region)
        self.name = table_name
        self._sleep = sleep
        self.requests = 0  # requests sent (bench and cost tests read it)

    def transact(self, items: Sequence[NamedItem]) -> None:
        """Run one transaction; retry only TransactionConflict, bounded, with full jitter.

        Each attempt has its own ClientRequestToken: botocore's retry of a request whose response was lost reuses
        it (so it cannot apply twice), while a conflict-cancelled attempt, which applied nothing, is not replayed
        as the same cancellation.
        """
        names = [name for name, _ in items]
        if len(set(names)) != len(names):
            raise AssertionError(f"transaction item names must be unique: {names}")
        payload = [body for _, body in items]
        for attempt in range(1, MAX_CONFLICT_ATTEMPTS + 1):
            try:
                self.requests += 1
                self.client.transact_write_items(TransactItems=payload, ClientRequestToken=uuid.uuid4().hex)  # type: ignore[arg-type]
                return
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code != "TransactionCanceledException":
                    raise translate(exc) from exc
                raw: Sequence[Mapping[str, Any]] = exc.response.get("CancellationReasons") or []
                reasons = {name: (raw[i] if i < len(raw) else {}) for i, name in enumerate(names)}
                codes = {r.get("Code") for r in reasons.values()}
                if "ConditionalCheckFailed" in codes:
                    raise TransactionCancelled(reasons) from exc
                if "TransactionConflict" not in codes:
                    raise translate(exc) from exc
                if attempt == MAX_CONFLICT_ATTEMPTS:
                    raise TransientStoreError("The ledger is busy; please retry.") from exc
                self._sleep(random.uniform(0, min(0.5, 0.02 * 2**attempt)))
            except BotoCoreError as exc:  # connection lost / timed out after botocore's own retries
                raise TransientStoreError("The ledger could not be reached; please retry.") from exc
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def read(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        """GetItem / Query with the same error mapping as writes: throttling and outages become a 503."""
        try:
            self.requests += 1
            return getattr(self.client, operation)(TableName=self.name, **kwargs)  # type: ignore[no-any-return]
        except ClientError as exc:
            raise translate(exc) from exc
        except BotoCoreError as exc:
            raise TransientStoreError("The ledger could not be reached; please retry.") from exc

    def write(self, operation: str, **kwargs: Any) -> bool:
        """A single-item write; False when its condition failed."""
        try:
            self.requests += 1
            getattr(self.client, operation)(TableName=self.name, **kwargs)
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise translate(exc) from exc
        except BotoCoreError as exc:
            raise TransientStoreError("The ledger could not be reached; please retry.") from exc

    # --- item builders ------------------------------------------------------------------------------------------
    def put(
        self,
        values: Mapping[str, Any],
        condition: str | None = ITEM_NOT_EXISTS,
        condition_values: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        put: dict[str, Any] = {"TableName": self.name, "Item": item(values)}
        if condition:
            put["ConditionExpression"] = condition
            put["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
            if condition_values:
                put["ExpressionAttributeValues"] = item(condition_values)
        return {"Put": put}

    def update(
        self,
        pk: str,
        sk: str,
        expression: str,
        values: Mapping[str, Any],
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        update: dict[str, Any] = {
            "TableName": self.name,
            "Key": item({"PK": pk, "SK": sk}),
            "UpdateExpression": expression,
        }
        if values:
            update["ExpressionAttributeValues"] = item(values)
        if names:
            update["ExpressionAttributeNames"] = dict(names)
        if condition:
            update["ConditionExpression"] = condition
            update["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        return {"Update": update}

    def delete(self, pk: str, sk: str) -> dict[str, Any]:
        return {"Delete": {"TableName": self.name, "Key": item({"PK": pk, "SK": sk})}}
