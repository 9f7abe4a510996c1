"""Domain events and usage deltas: what the change path derives from one stream record.

An event's ``id`` is derived from what happened (never from a stream or queue message id), so a duplicate record
yields the same id; it is the outbound ``webhook-id`` and the id listed by the local stack's ``/_local/events``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

EVENT_ID_PREFIX = "evt_"


def event_id(*parts: object) -> str:
    """``evt_`` + the first 128 bits of sha256 over the parts joined by ``|`` (type, user, what happened...)."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode("utf-8")).hexdigest()
    return EVENT_ID_PREFIX + digest[:32]


@dataclass(frozen=True)
class DomainEvent:
    id: str
    type: str
    timestamp: str  # when the change happened (ISO 8601 UTC), not when it was sent
    data: dict[str, Any]  # always carries user_id

    @property
    def user_id(self) -> str:
        return str(self.data["user_id"])

    def body(self) -> dict[str, Any]:
        """The webhook body: ``{"type", "timestamp", "data"}``."""
        return {"type": self.type, "timestamp": self.timestamp, "data": self.data}

    def body_json(self) -> str:
        """Canonical JSON of the body: the same bytes on every delivery and retry of this event."""
        return json.dumps(self.body(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def envelope(self) -> dict[str, Any]:
        """What travels through the bus and the queue (and what ``/_local/events`` lists)."""
        return {"id": self.id, **self.body()}

    @classmethod
    def from_envelope(cls, envelope: Mapping[str, Any]) -> DomainEvent:
        data = envelope["data"]
        if not isinstance(data, dict) or not isinstance(envelope["id"], str) or not isinstance(envelope["type"], str):
            raise ValueError("not a domain event envelope")
        return cls(id=envelope["id"], type=envelope["type"], timestamp=str(envelope["timestamp"]), data=dict(data))


@dataclass(frozen=True)
class UsageDelta:
    """One ``usage`` entry's contribution to its user's daily totals (applied once per entry)."""

    user_id: str
    entry_id: str
    day: str  # YYYY-MM-DD, UTC day of the entry's created_at
    feature: str | None
    credits: int  # positive: the credits spent
    count: int = 1


@dataclass(frozen=True)
class RechargeCheck:
    """A change that may start an auto-recharge (the recharge service decides): ``available`` after it (None =
    read it now), and ``trigger``, which names the change so that a redelivered record starts nothing new."""

    user_id: str
    available: int | None
    trigger: str


@dataclass(frozen=True)
class RechargeJob:
    """A recharge was requested: the recharge function must charge it (enqueued, at least once)."""

    user_id: str
    recharge_id: str


@dataclass(frozen=True)
class Derived:
    events: list[DomainEvent] = field(default_factory=list)
    usage: UsageDelta | None = None
    recharge_check: RechargeCheck | None = None
    recharge_job: RechargeJob | None = None
