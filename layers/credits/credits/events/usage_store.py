"""Usage totals kept by the change path: per user and UTC month, every day's credits and count by feature, packed.

Items, in the user's partition of the ledger's table (the events function's own writes; the event source mapping
filters them out of the stream it feeds back):

    USER#<sub>  USAGE#MONTH#<yyyy-mm>#<part>   days (S, packed JSON, below), v (version), updated_at
    USER#<sub>  USAGE#ENTRY#<entry id>         "this usage entry is counted" marker (TTL expires_at_ttl)

Why months, packed: ``GET /credits/usage`` must cost the same for a user with 10 entries as for one with 10,000. With
an item per day its cost followed the days that had usage (a 90-day report read 10 items for a light user and 90 for
a heavy one, 1.7 times slower on DynamoDB Local); a month item holds all of its days in one string attribute, so a
90-day report reads the 3 or 4 months it touches (and any further parts) in one Query, whatever was spent in
them.

``days`` maps the day of the month to ``[credits, count, {feature: [credits, count]}]``: the first two are spends
without a feature, the map (left out when empty) those with one; a day's totals are their sum.

A packed string cannot be ``ADD``-ed to, so a write reads the month's newest part, folds the entries in and puts it
back, in one transaction with a marker per entry. Guarantees:

1. An entry is counted at most once: its marker is put under ``attribute_not_exists``; a duplicate (a redelivered
   record) cancels the transaction, is dropped, and the rest is written again.
2. No update is lost: the part is put under the version that was read (``PART_UNCHANGED``, or ``PART_NEW`` for a new
   part); a concurrent writer cancels the transaction and the write is read again and retried.
3. An entry is counted at least once when the write returns: its marker and the totals commit together.
4. A part stays small: a write that would grow its packed days past ``PART_BUDGET`` bytes starts the next part
   instead (which then holds that write's entries alone: at most 99, about 9 KB with the longest feature ids), and a
   read sums every part of a month.
5. A write costs what the month item weighs, so the events function writes a stream batch's entries of one user and
   month in one transaction (up to 99 entries): a busy user's month is rewritten once per batch, not per entry.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from credits.errors import TransientStoreError
from credits.events.model import UsageDelta
from credits.events.store import MARKER_NOT_EXISTS, MARKER_TTL_SECONDS, USAGE_ENTRY_PREFIX, Table, av, code, key
from credits.keys import prefix_range, user_pk

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

USAGE_MONTH_PREFIX = "USAGE#MONTH#"
# Bytes of packed days per part. Far below the 400 KB item limit on purpose: the table streams new and old images,
# so every rewrite of a part puts about twice its size on the user's stream shard (filtered out, but read), and a
# write is billed per KB of it. 32 KB hold 31 days of about 50 features with 64-character ids.
PART_BUDGET = 32_000
MAX_PARTS = 1000  # part numbers are 3 digits
MAX_ENTRIES_PER_WRITE = 99  # + the month part: DynamoDB's 100-item transaction limit
MAX_CONFLICT_ATTEMPTS = 5

# Cancellation reasons that a later attempt can clear (the part's ConditionalCheckFailed: another writer won)
_BUSY = ("TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded")

# --- named conditions --------------------------------------------------------------------------------------------
PART_NEW = "attribute_not_exists(PK)"
PART_UNCHANGED = "v = :v"

# day of month -> [credits, count] of spends without a feature, and {feature: [credits, count]} when any had one
PackedDays = dict[str, list[Any]]


class UsageWriteRefused(Exception):
    """DynamoDB refused the write for a reason that retrying the same write cannot clear (not a conflict)."""


@dataclass(frozen=True)
class DayUsage:
    day: str
    credits: int
    count: int
    by_feature: dict[str | None, tuple[int, int]] = field(default_factory=dict)  # feature -> (credits, count)


def month_sk(month: str, part: int) -> str:
    return f"{USAGE_MONTH_PREFIX}{month}#{part:03d}"


def month_range(first_month: str, last_month: str) -> tuple[str, str]:
    """``SK BETWEEN`` bounds of every part of the months ``first_month`` to ``last_month`` (yyyy-mm)."""
    return prefix_range(f"{USAGE_MONTH_PREFIX}{first_month}#")[0], prefix_range(f"{USAGE_MONTH_PREFIX}{last_month}#")[1]


def fold(days: PackedDays, deltas: Iterable[UsageDelta]) -> None:
    """Add each entry to its day of ``days`` (in place)."""
    for d in deltas:
        cell = days.setdefault(d.day[8:10], [0, 0])
        if d.feature is None:
            cell[0] += d.credits
            cell[1] += d.count
        else:
            if len(cell) == 2:
                cell.append({})
            total = cell[2].setdefault(d.feature, [0, 0])
            total[0] += d.credits
            total[1] += d.count


def pack(days: PackedDays) -> str:
    return json.dumps(days, separators=(",", ":"), sort_keys=True)


def unpack(month: str, packed: str) -> Iterator[DayUsage]:
    for dd, cell in json.loads(packed).items():
        by_feature: dict[str | None, tuple[int, int]] = {}
        if cell[1]:
            by_feature[None] = (int(cell[0]), int(cell[1]))
        for feature, (credits, count) in (cell[2] if len(cell) > 2 else {}).items():
            by_feature[feature] = (int(credits), int(count))
        yield DayUsage(f"{month}-{dd}", sum(c for c, _ in by_feature.values()), sum(n for _, n in by_feature.values()),
                       by_feature)


def write_groups(deltas: Iterable[UsageDelta]) -> list[list[UsageDelta]]:
    """The deltas by user and month, in arrival order, each group at most ``MAX_ENTRIES_PER_WRITE`` distinct
    entries (an entry seen twice, a duplicate record in one batch, is kept once: one transaction cannot write its
    marker twice)."""
    groups: dict[tuple[str, str], list[list[UsageDelta]]] = {}
    seen: set[tuple[str, str]] = set()
    for d in deltas:
        if (d.user_id, d.entry_id) in seen:
            continue
        seen.add((d.user_id, d.entry_id))
        chunks = groups.setdefault((d.user_id, d.day[:7]), [[]])
        if len(chunks[-1]) == MAX_ENTRIES_PER_WRITE:
            chunks.append([])
        chunks[-1].append(d)
    return [chunk for chunks in groups.values() for chunk in chunks]


class UsageStore(Table):
    """Per-user per-month usage, each usage entry counted once (a marker in the same transaction)."""

    def __init__(self, table_name: str, client: DynamoDBClient, sleep: Callable[[float], None] = time.sleep,
                 part_budget: int = PART_BUDGET) -> None:
        super().__init__(table_name, client)
        self._sleep = sleep
        self.part_budget = part_budget  # smaller in tests, to fill parts with a few entries

    def apply(self, delta: UsageDelta, now: float) -> bool:
        """Count one entry. False when it was counted before (a duplicate record)."""
        return bool(self.apply_group([delta], now))

    def apply_group(self, deltas: Sequence[UsageDelta], now: float) -> set[str]:
        """Count entries of one user and month (at most ``MAX_ENTRIES_PER_WRITE``) in one transaction; the ids
        counted now (the others were counted before). Raises ``TransientStoreError`` when the month stays busy (or
        the store is unavailable) and ``UsageWriteRefused`` when DynamoDB refuses the write for another reason."""
        if not deltas:
            return set()
        user, month = deltas[0].user_id, deltas[0].day[:7]
        pending = {d.entry_id: d for d in deltas}
        if any((d.user_id, d.day[:7]) != (user, month) for d in deltas) or len(pending) > MAX_ENTRIES_PER_WRITE:
            raise ValueError("apply_group: one user and month, at most 99 distinct entries (see write_groups)")
        conflicts = 0
        while pending:
            items = self._write_items(user, month, list(pending.values()), now)
            try:
                self._call("transact_write_items", TransactItems=items, ClientRequestToken=uuid.uuid4().hex)
                return set(pending)
            except ClientError as exc:
                if code(exc) != "TransactionCanceledException":
                    raise
                reasons = [r.get("Code") for r in exc.response.get("CancellationReasons") or []]
                if len(reasons) != len(items):  # which item failed is unknown: never guess a duplicate
                    raise TransientStoreError("The usage write was cancelled without its reasons; retry.") from exc
                counted = [eid for eid, reason in zip(pending, reasons[1:], strict=True)
                           if reason == "ConditionalCheckFailed"]
                if counted:  # duplicates: drop them and write the others (their totals are folded again)
                    for eid in counted:
                        del pending[eid]
                    continue
                refused = {r for r in reasons if r not in (None, "None", "ConditionalCheckFailed", *_BUSY)}
                if refused:  # e.g. ValidationError: retrying the same write cannot succeed
                    raise UsageWriteRefused(f"DynamoDB refused the usage write: {', '.join(sorted(refused))}") from exc
                conflicts += 1
                if conflicts == MAX_CONFLICT_ATTEMPTS:
                    raise TransientStoreError("The usage totals are busy; retry.") from exc
                self._sleep(random.uniform(0, 0.02 * 2**conflicts))
        return set()

    def _write_items(self, user: str, month: str, deltas: list[UsageDelta], now: float) -> list[dict[str, Any]]:
        """The part put (first, so its cancellation reason is the first) and one marker put per entry."""
        pk = user_pk(user)
        part, version, days = self._newest_part(pk, month)
        fold(days, deltas)
        packed = pack(days)
        if version is not None and len(packed.encode("utf-8")) > self.part_budget:
            if part + 1 >= MAX_PARTS:  # pragma: no cover - 1,000 parts of 32 KB is 32 MB of one month's usage
                raise UsageWriteRefused(f"usage of {month} has {MAX_PARTS} parts")
            part, version, days = part + 1, None, {}
            fold(days, deltas)
            packed = pack(days)
        put: dict[str, Any] = {
            "TableName": self.table,
            "Item": {**key(pk, month_sk(month, part)), "days": av(packed), "v": av((version or 0) + 1),
                     "updated_at": av(datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds"))},
            "ConditionExpression": PART_NEW,
        }
        if version is not None:
            put["ConditionExpression"] = PART_UNCHANGED
            put["ExpressionAttributeValues"] = {":v": av(version)}
        markers = [{"Put": {
            "TableName": self.table,
            "Item": {**key(pk, USAGE_ENTRY_PREFIX + d.entry_id), "day": av(d.day), "credits": av(d.credits),
                     "expires_at_ttl": av(int(now) + MARKER_TTL_SECONDS)},
            "ConditionExpression": MARKER_NOT_EXISTS,
        }} for d in deltas]
        return [{"Put": put}, *markers]

    def _newest_part(self, pk: str, month: str) -> tuple[int, int | None, PackedDays]:
        """(part number, version or None when the month has no part yet, its days) of the month's last part."""
        lo, hi = month_range(month, month)
        resp = self._call("query", TableName=self.table, KeyConditionExpression="PK = :pk AND SK BETWEEN :lo AND :hi",
                          ExpressionAttributeValues={":pk": av(pk), ":lo": av(lo), ":hi": av(hi)},
                          ScanIndexForward=False, Limit=1, ConsistentRead=True)
        items = resp.get("Items") or []
        if not items:
            return 0, None, {}
        item = items[0]
        part = int(item["SK"]["S"].rsplit("#", 1)[1])
        return part, int(item["v"]["N"]), json.loads(item["days"]["S"])

    def days(self, user_id: str, first_day: str, last_day: str) -> list[DayUsage]:
        """Usage of each day from ``first_day`` to ``last_day`` inclusive that had any, oldest first: one Query of the
        month parts the range touches (a page per MB), whatever the number of entries."""
        lo, hi = month_range(first_day[:7], last_day[:7])
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "PK = :pk AND SK BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": {":pk": av(user_pk(user_id)), ":lo": av(lo), ":hi": av(hi)},
            "ProjectionExpression": "SK, #days",
            "ExpressionAttributeNames": {"#days": "days"},
            "ConsistentRead": True,
        }
        merged: dict[str, DayUsage] = {}
        while True:
            resp = self._call("query", **kwargs)
            for item in resp.get("Items", []):
                month = item["SK"]["S"][len(USAGE_MONTH_PREFIX):len(USAGE_MONTH_PREFIX) + 7]
                for day in unpack(month, item["days"]["S"]):
                    if first_day <= day.day <= last_day:
                        merged[day.day] = _merge(merged.get(day.day), day)
            if "LastEvaluatedKey" not in resp:
                return [merged[d] for d in sorted(merged)]
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


def _merge(a: DayUsage | None, b: DayUsage) -> DayUsage:
    """One day's usage from two parts of its month (a day can start in one part and go on in the next)."""
    if a is None:
        return b
    by_feature = dict(a.by_feature)
    for feature, (credits, count) in b.by_feature.items():
        c0, n0 = by_feature.get(feature, (0, 0))
        by_feature[feature] = (c0 + credits, n0 + count)
    return DayUsage(a.day, a.credits + b.credits, a.count + b.count, by_feature)

