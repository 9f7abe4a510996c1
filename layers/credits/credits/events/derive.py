"""Pure derivation: one DynamoDB stream record (Lambda's event shape) -> domain events and a usage delta.

No I/O here: the consumer reads the user's alert thresholds and hands them in, so every rule is testable with
synthetic records. Items of the table that matter (anything else is ignored, ``REMOVE`` records included):

- ``SK = "BALANCE"`` (exactly; ``BALANCE#...`` items are not balances): ``available`` (negative = debt), ``v``
  (bumps on every write that is not a plain spend), ``seq`` (bumps on every write; may be absent in older
  images), ``updated_at``, and ``steps``: the ``available`` after each time-caused step (a grant or hold expiry)
  recorded by this same write, meaningful only when ``v`` changed. Crossings are evaluated along
  ``[old available (0 without an old image), *steps, new available]``: ``credits.balance.low`` once per threshold
  T with prev >= T > cur, ``credits.balance.depleted`` when prev > 0 >= cur, for each consecutive pair. Crossings
  come from the record's own images, never from a flag the consumer stores: retried or reordered batches cannot
  break them, and a crossing is re-armed by the write that recovers above the threshold.
- ``SK = "ENTRY#..."`` on ``INSERT`` (entries are immutable): ``ENTRY_RULES`` maps an entry type to its event;
  ``usage`` entries feed the usage aggregates instead.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from itertools import pairwise
from typing import Any, Literal

from credits.events.model import Derived, DomainEvent, RechargeCheck, RechargeJob, UsageDelta, event_id

USER_PREFIX = "USER#"
BALANCE_SK = "BALANCE"
ENTRY_PREFIX = "ENTRY#"
SETTINGS_SK = "SETTINGS"
RECHARGE_PREFIX = "RECHARGE#"

BALANCE_LOW = "credits.balance.low"
BALANCE_DEPLETED = "credits.balance.depleted"
PURCHASE_FULFILLED = "credits.purchase.fulfilled"
PURCHASE_REFUNDED = "credits.purchase.refunded"
PURCHASE_RESTORED = "credits.purchase.restored"
GRANT_EXPIRED = "credits.grant.expired"
RECHARGE_SUCCEEDED = "credits.recharge.succeeded"
RECHARGE_FAILED = "credits.recharge.failed"


# --- DynamoDB JSON -> plain values -------------------------------------------------------------------------------
def _number(text: str) -> int | Decimal:
    value = Decimal(text)
    return int(value) if value == value.to_integral_value() else value


def plain(attribute: Mapping[str, Any]) -> Any:
    """One attribute value of a stream image (``{"N": "5"}``, ``{"M": {...}}``...) as a plain Python value."""
    ((kind, value),) = attribute.items()
    if kind == "S":
        return value
    if kind == "N":
        return _number(value)
    if kind in ("BOOL", "NULL"):
        return None if kind == "NULL" else bool(value)
    if kind == "M":
        return {k: plain(v) for k, v in value.items()}
    if kind == "L":
        return [plain(v) for v in value]
    if kind == "SS":
        return set(value)
    if kind == "NS":
        return {_number(v) for v in value}
    if kind == "B":
        return base64.b64decode(value) if isinstance(value, str) else bytes(value)
    if kind == "BS":
        return {base64.b64decode(v) if isinstance(v, str) else bytes(v) for v in value}
    raise ValueError(f"unknown attribute type {kind!r}")


def plain_image(image: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if image is None else {k: plain(v) for k, v in image.items()}


# --- the record -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StreamChange:
    """A record this module cares about: a balance write or a new ledger entry, images as plain values."""

    kind: Literal["balance", "entry", "settings", "recharge"]
    user_id: str
    old: dict[str, Any] | None
    new: dict[str, Any]
    record_time: str  # ApproximateCreationDateTime, for images that carry no time of their own


def _epoch_iso(seconds: Any) -> str:
    try:
        ts = float(seconds)
    except (TypeError, ValueError):
        ts = 0.0
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_record(record: Mapping[str, Any]) -> StreamChange | None:
    """The change a stream record describes, or None for records that derive nothing.

    ``REMOVE`` records (AWS emits them for TTL deletes of our own markers) and the events function's own writes
    (``USAGE#``, ``EVT#`` items) are ignored here too, not only by the event source mapping's filter.
    """
    name = record.get("eventName")
    ddb = record.get("dynamodb") or {}
    keys = plain_image(ddb.get("Keys")) or {}
    pk, sk = keys.get("PK"), keys.get("SK")
    if name not in ("INSERT", "MODIFY") or not isinstance(pk, str) or not isinstance(sk, str):
        return None
    if not pk.startswith(USER_PREFIX) or len(pk) == len(USER_PREFIX):
        return None
    new = plain_image(ddb.get("NewImage"))
    if new is None:  # a stream view without new images: nothing to derive from
        return None
    old = plain_image(ddb.get("OldImage"))
    when = _epoch_iso(ddb.get("ApproximateCreationDateTime"))
    user = pk[len(USER_PREFIX):]
    if sk == BALANCE_SK:
        return StreamChange("balance", user, old, new, when)
    if sk.startswith(ENTRY_PREFIX) and name == "INSERT":
        return StreamChange("entry", user, old, new, when)
    if sk == SETTINGS_SK:
        return StreamChange("settings", user, old, new, when)
    if sk.startswith(RECHARGE_PREFIX):
        return StreamChange("recharge", user, old, new, when)
    return None


def _int(value: Any, default: int = 0) -> int:
    if isinstance(value, bool) or value is None:
        return default
    if isinstance(value, int | Decimal):
        return int(value)
    try:
        return int(Decimal(str(value)))
    except ArithmeticError:
        return default


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# --- balance: threshold crossings ---------------------------------------------------------------------------------
def balance_path(change: StreamChange) -> list[tuple[int, str]]:
    """``(available, at)`` points the user could see, from before this write to after it."""
    old, new = change.old, change.new
    final_at = _str_or_none(new.get("updated_at")) or change.record_time
    points = [(_int(old.get("available")) if old else 0, _str_or_none(old.get("updated_at")) if old else None)]
    steps = new.get("steps")
    v_changed = old is None or old.get("v") != new.get("v")
    if v_changed and isinstance(steps, list):
        for step in steps:
            if isinstance(step, dict) and "available" in step:
                points.append((_int(step["available"]), _str_or_none(step.get("at")) or final_at))
    points.append((_int(new.get("available")), final_at))
    return [(available, at or final_at) for available, at in points]


def needs_thresholds(change: StreamChange) -> bool:
    """True when some step lowers ``available``: only then can a low-balance threshold be crossed."""
    if change.kind != "balance":
        return False
    path = balance_path(change)
    return any(prev > cur for (prev, _), (cur, _) in pairwise(path))


def change_key(change: StreamChange) -> str:
    """Identity of the write behind this record: ``seq`` when the image has it, else what the images pin down."""
    new, old = change.new, change.old or {}
    if change.kind == "entry":
        return f"entry:{new.get('entry_id') or new.get('SK')}"
    if change.kind == "recharge":  # one record per recharge; each status it reaches is its own change
        return f"recharge:{new.get('recharge_id')}:{new.get('status')}"
    if "seq" in new:
        return f"seq:{_int(new['seq'])}"
    return (
        f"at:{old.get('updated_at')}>{new.get('updated_at')}|"
        f"available:{_int(old.get('available'))}>{_int(new.get('available'))}|v:{old.get('v')}>{new.get('v')}"
    )


def alert_events(change: StreamChange, thresholds: Sequence[int]) -> list[DomainEvent]:
    user, key = change.user_id, change_key(change)
    events: list[DomainEvent] = []
    path = balance_path(change)
    for index, ((prev, _), (cur, at)) in enumerate(pairwise(path), start=1):
        if prev <= cur:
            continue
        for threshold in sorted(set(thresholds), reverse=True):
            if prev >= threshold > cur:
                events.append(
                    DomainEvent(
                        event_id(BALANCE_LOW, user, key, index, threshold),
                        BALANCE_LOW,
                        at,
                        {"user_id": user, "available": cur, "threshold": threshold},
                    )
                )
        if prev > 0 >= cur:
            events.append(
                DomainEvent(event_id(BALANCE_DEPLETED, user, key, index), BALANCE_DEPLETED, at,
                            {"user_id": user, "available": cur})
            )
    return events


# --- entries: a small table, one rule per entry type --------------------------------------------------------------
def _session_id(entry: Mapping[str, Any]) -> str | None:
    # Older entries carry the Checkout session only as their reference.
    reference = _str_or_none(entry.get("reference"))
    return _str_or_none(entry.get("session_id")) or (reference if reference and reference.startswith("cs_") else None)


def _payment_intent(entry: Mapping[str, Any]) -> str | None:
    reference = _str_or_none(entry.get("reference"))
    return _str_or_none(entry.get("payment_intent")) or (
        reference if reference and reference.startswith("pi_") else None
    )


def _total_clawed_back(entry: Mapping[str, Any]) -> int | None:
    return _int(entry["total_clawed_back"]) if entry.get("total_clawed_back") is not None else None


def _fulfilled(e: Mapping[str, Any]) -> dict[str, Any] | None:
    return {"session_id": _session_id(e), "payment_intent": _payment_intent(e), "credits": _int(e.get("amount")),
            "grant_id": _str_or_none(e.get("grant_id"))}


def _refunded(e: Mapping[str, Any]) -> dict[str, Any] | None:
    return {"session_id": _session_id(e), "payment_intent": _payment_intent(e),
            "credits_clawed_back": -_int(e.get("amount")), "total_clawed_back": _total_clawed_back(e)}


def _restored(e: Mapping[str, Any]) -> dict[str, Any] | None:
    return {"session_id": _session_id(e), "payment_intent": _payment_intent(e),
            "credits_restored": _int(e.get("amount")), "total_clawed_back": _total_clawed_back(e)}


def _expired(e: Mapping[str, Any]) -> dict[str, Any] | None:
    expired = -_int(e.get("amount"))
    if expired <= 0:  # "none when nothing is removed"
        return None
    return {"grant_id": _str_or_none(e.get("grant_id")), "expired": expired}


@dataclass(frozen=True)
class EntryRule:
    event_type: str
    data: Callable[[Mapping[str, Any]], dict[str, Any] | None]  # None: this entry emits nothing


# Extend here (e.g. the recharge events): entry type -> the event it emits and that event's data.
ENTRY_RULES: dict[str, EntryRule] = {
    "purchase": EntryRule(PURCHASE_FULFILLED, _fulfilled),
    "refund": EntryRule(PURCHASE_REFUNDED, _refunded),
    "restore": EntryRule(PURCHASE_RESTORED, _restored),
    "expiry": EntryRule(GRANT_EXPIRED, _expired),
}


def _recharged(e: Mapping[str, Any]) -> dict[str, Any] | None:
    if not _str_or_none(e.get("recharge_id")):
        return None  # a Checkout purchase
    return {"payment_intent": _payment_intent(e), "credits": _int(e.get("amount")),
            "recharge_id": _str_or_none(e.get("recharge_id"))}


# A purchase entry of an auto-recharge also says so.
SECOND_ENTRY_RULES: dict[str, EntryRule] = {"purchase": EntryRule(RECHARGE_SUCCEEDED, _recharged)}


def entry_events(change: StreamChange) -> list[DomainEvent]:
    return [*_entry_events(change, ENTRY_RULES), *_entry_events(change, SECOND_ENTRY_RULES)]


def _entry_events(change: StreamChange, rules: Mapping[str, EntryRule]) -> list[DomainEvent]:
    entry = change.new
    rule = rules.get(str(entry.get("type")))
    entry_id = _str_or_none(entry.get("entry_id"))
    if rule is None or entry_id is None:
        return []
    data = rule.data(entry)
    if data is None:
        return []
    at = _str_or_none(entry.get("created_at")) or change.record_time
    return [
        DomainEvent(
            event_id(rule.event_type, change.user_id, entry_id),
            rule.event_type,
            at,
            {"user_id": change.user_id, "entry_id": entry_id, **data},
        )
    ]


def utc_day(timestamp: str) -> str | None:
    try:
        parsed = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).date().isoformat()


def usage_delta(change: StreamChange) -> UsageDelta | None:
    """A ``usage`` entry's credits (``-amount``) on the UTC day of its ``created_at``, by ``feature``."""
    entry = change.new
    if change.kind != "entry" or entry.get("type") != "usage":
        return None
    entry_id = _str_or_none(entry.get("entry_id"))
    credits = -_int(entry.get("amount"))
    day = utc_day(_str_or_none(entry.get("created_at")) or change.record_time)
    if entry_id is None or credits <= 0 or day is None:
        return None
    return UsageDelta(change.user_id, entry_id, day, _str_or_none(entry.get("feature")), credits)


# --- auto-recharge --------------------------------------------------------------------------------------------------
def balance_recharge_check(change: StreamChange) -> RechargeCheck | None:
    """A committed write that changed ``balance`` or ``available`` (or recorded a 402 refusal) may start a recharge;
    the write that credits a recharge never starts another."""
    old, new = change.old or {}, change.new
    v_changed = change.old is None or old.get("v") != new.get("v")
    if v_changed and str(new.get("last_cause") or "").startswith("recharge"):
        return None
    moved = (_int(old.get("available")) != _int(new.get("available"))
             or _int(old.get("held")) != _int(new.get("held"))
             or _int(old.get("refusals")) != _int(new.get("refusals")))
    if not moved:
        return None
    return RechargeCheck(change.user_id, _int(new.get("available")), change_key(change))


def settings_recharge_check(change: StreamChange) -> RechargeCheck | None:
    """Auto-recharge switched on (or ``enabled: true`` sent again): top up now if below the threshold."""
    old, new = change.old or {}, change.new
    if not new.get("recharge_enabled"):
        return None
    if change.old is not None and old.get("recharge_enabled") and (
            old.get("recharge_enabled_at") == new.get("recharge_enabled_at")):
        return None
    return RechargeCheck(change.user_id, None, f"settings:{_int(new.get('version'))}")


def recharge_record_effects(change: StreamChange) -> Derived:
    old, new = change.old or {}, change.new
    recharge_id = _str_or_none(new.get("recharge_id"))
    if recharge_id is None:
        return Derived()
    if change.old is None and new.get("status") == "requested":
        return Derived(recharge_job=RechargeJob(change.user_id, recharge_id))
    if new.get("status") == "failed" and old.get("status") != "failed":
        at = _str_or_none(new.get("resolved_at")) or change.record_time
        event = DomainEvent(event_id(RECHARGE_FAILED, change.user_id, recharge_id), RECHARGE_FAILED, at,
                            {"user_id": change.user_id, "recharge_id": recharge_id,
                             "reason": _str_or_none(new.get("reason")) or "failed"})
        return Derived(events=[event])
    return Derived()


def derive(change: StreamChange, thresholds: Sequence[int] = ()) -> Derived:
    if change.kind == "balance":
        return Derived(events=alert_events(change, thresholds), recharge_check=balance_recharge_check(change))
    if change.kind == "settings":
        return Derived(recharge_check=settings_recharge_check(change))
    if change.kind == "recharge":
        return recharge_record_effects(change)
    return Derived(events=entry_events(change), usage=usage_delta(change))
