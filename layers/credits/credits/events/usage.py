"""``GET /credits/usage``: credits spent per UTC day or per feature, answered from the monthly aggregates.

The change path keeps one item per user and month with every day of it packed (``usage_store.UsageStore``), so a
report reads the months its range touches (at most 13 for 366 days, plus a part per 32 KB of a month's packed days)
whatever the number of entries. ``from``/``to`` are inclusive UTC dates; ``to`` defaults to today and ``from`` to
``to`` - 29 days; more than 366 days, or ``from`` after ``to``, is a 400.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from credits.errors import InvalidRequest
from credits.events.usage_store import UsageStore

MAX_RANGE_DAYS = 366
DEFAULT_RANGE_DAYS = 30
GROUP_BY = ("day", "feature")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _parse_day(value: str, name: str) -> date:
    if not _DAY.match(value):
        raise InvalidRequest(f"{name}: must be a date in the form YYYY-MM-DD.")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidRequest(f"{name}: {value!r} is not a calendar date.") from exc


class UsageService:
    def __init__(
        self,
        store: UsageStore,
        clock: Callable[[], float] = time.time,
        ensure_user: Callable[[str], None] = lambda _user: None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.ensure_user = ensure_user  # a first request of a new user creates the welcome grant like any other

    def report(
        self, user_id: str, *, from_day: str | None, to_day: str | None, group_by: str | None
    ) -> dict[str, Any]:
        self.ensure_user(user_id)
        group = "day" if group_by is None else group_by
        if group not in GROUP_BY:
            raise InvalidRequest("group_by: must be day or feature.")
        last = _parse_day(to_day, "to") if to_day is not None else datetime.fromtimestamp(self.clock(), UTC).date()
        if from_day is not None:
            first = _parse_day(from_day, "from")
        elif last.toordinal() > DEFAULT_RANGE_DAYS:
            first = last - timedelta(days=DEFAULT_RANGE_DAYS - 1)
        else:  # the default range would start before year 1
            raise InvalidRequest("to: without from, must be later than 0001-01-30.")
        if first > last:
            raise InvalidRequest("from: must not be after to.")
        if (last - first).days + 1 > MAX_RANGE_DAYS:
            raise InvalidRequest(f"from, to: the range is at most {MAX_RANGE_DAYS} days.")
        days = self.store.days(user_id, first.isoformat(), last.isoformat())
        if group == "day":
            items = [{"day": d.day, "feature": None, "credits": d.credits, "count": d.count} for d in days if d.count]
        else:
            totals: dict[str | None, list[int]] = {}
            for d in days:
                for feature, (credits, count) in d.by_feature.items():
                    total = totals.setdefault(feature, [0, 0])
                    total[0] += credits
                    total[1] += count
            ranked = sorted(totals.items(), key=lambda kv: (-kv[1][0], kv[0] is None, kv[0] or ""))
            items = [{"day": None, "feature": f, "credits": c, "count": n} for f, (c, n) in ranked if n]
        return {"from": first.isoformat(), "to": last.isoformat(), "group_by": group, "items": items}
