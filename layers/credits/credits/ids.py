"""Time-ordered identifiers (ULID layout) and UTC timestamps used by every record."""

from __future__ import annotations

import hashlib
import os
import time
from datetime import UTC, datetime

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid(now: float | None = None) -> str:
    """48 bits of milliseconds then 80 random bits: sorts by creation time, so ledger keys page newest-first."""
    millis = int((time.time() if now is None else now) * 1000)
    value = (millis << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def new_id(prefix: str, now: float | None = None) -> str:
    return f"{prefix}_{ulid(now).lower()}"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_ms(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ms_of(iso_text: str) -> int:
    """Epoch milliseconds of an ISO 8601 time (``...Z`` or an offset; without one it is read as UTC)."""
    parsed = datetime.fromisoformat(iso_text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return round(parsed.timestamp() * 1000)


def _ulid_from(millis: int, random80: int) -> str:
    value = (millis << 80) | (random80 & ((1 << 80) - 1))
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5)).lower()


def entry_sort_id(entry_id: str, created_at: str) -> str:
    """The time-ordered part of an entry's sort key.

    Most entries are named by a ULID already (``tx_<ulid>``). Entries with a derived id (``exp_<grant>_<n>``) get a
    ULID whose time is their ``created_at`` and whose random part comes from the id, so every writer of the same
    entry computes the same key (a second write of it fails its ``attribute_not_exists`` condition).
    """
    if entry_id.startswith("tx_"):
        return entry_id
    digest = int.from_bytes(hashlib.sha256(entry_id.encode()).digest()[:10], "big")
    return "tx_" + _ulid_from(ms_of(created_at), digest)
