"""One credit lot as the book holds it (``LiveGrant``), the spend order, and the book's stored form.

A lot is both a member of the account's book (one item, rewritten by every slow-path write) and, once it has nothing
left, its own archived record; both store ``to_json``. The rules that move credits between lots are in
``credits.book``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from credits.ids import iso_ms
from credits.models import Grant

NEVER = 9_999_999_999_999  # "no expiry" in epoch milliseconds (year 2286), so conditions compare numbers only


@dataclass
class LiveGrant:
    id: str
    category: str
    source: str
    amount: int
    priority: int
    expires_ms: int | None
    created_ms: int
    description: str = ""
    reference: str | None = None
    remaining: int = 0
    spent: int = 0
    held: int = 0
    expired: int = 0
    voided: int = 0
    clawed_back: int = 0
    repaid_debt: int = 0
    restored: int = 0
    final: str | None = None  # "expired" or "voided" once that has been applied (both final)
    expiry_seq: int = 0  # number of expiry entries written for this grant (their ids are derived from it)
    void_seq: int = 0

    def order_key(self) -> tuple[int, int, int, str]:
        return (self.priority, self.expires_ms if self.expires_ms is not None else NEVER + 1, self.created_ms, self.id)

    def final_at(self, at_ms: int) -> str | None:
        """'expired'/'voided' if credits returning at ``at_ms`` must leave instead of coming back; else None."""
        if self.final is not None:
            return self.final
        if self.expires_ms is not None and at_ms >= self.expires_ms:
            return "expired"
        return None

    def status_at(self, now_ms: int) -> str:
        final = self.final_at(now_ms)
        if final is not None:
            return final
        return "active" if self.remaining > 0 or self.held > 0 else "depleted"

    def live(self) -> bool:
        return self.remaining > 0 or self.held > 0

    def public(self, now_ms: int) -> Grant:
        return Grant(
            grant_id=self.id,
            category=self.category,
            source=self.source,
            amount=self.amount,
            remaining=self.remaining,
            priority=self.priority,
            expires_at=iso_ms(self.expires_ms) if self.expires_ms is not None else None,
            created_at=iso_ms(self.created_ms),
            status=self.status_at(now_ms),
            description=self.description,
            reference=self.reference,
            spent=self.spent,
            held=self.held,
            expired=self.expired,
            voided=self.voided,
            clawed_back=self.clawed_back,
            repaid_debt=self.repaid_debt,
            restored=self.restored,
        )

    # Compact keys: the book is one item, billed by its size on every slow-path write.
    _KEYS = (("id", "i"), ("category", "c"), ("source", "s"), ("amount", "a"), ("priority", "p"),
             ("expires_ms", "x"), ("created_ms", "t"), ("description", "d"), ("reference", "r"),
             ("remaining", "rm"), ("spent", "sp"), ("held", "h"), ("expired", "ex"), ("voided", "vo"),
             ("clawed_back", "cb"), ("repaid_debt", "rd"), ("restored", "rs"), ("final", "f"),
             ("expiry_seq", "xs"), ("void_seq", "vs"))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, key in self._KEYS:
            value = getattr(self, name)
            if value not in (None, 0, "") or name in ("id", "amount", "created_ms"):
                out[key] = value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LiveGrant:
        values = {name: data[key] for name, key in cls._KEYS if key in data}
        values.setdefault("category", "paid")
        values.setdefault("source", "grant")
        values.setdefault("priority", 0)
        values.setdefault("expires_ms", None)
        return cls(**values)


def dump_book(grants: Iterable[LiveGrant]) -> str:
    return json.dumps([g.to_json() for g in grants], separators=(",", ":"), ensure_ascii=False)


def load_book(raw: str | None) -> list[LiveGrant]:
    return [LiveGrant.from_json(d) for d in json.loads(raw)] if raw else []


def spend_order(grants: Iterable[LiveGrant]) -> list[LiveGrant]:
    return sorted(grants, key=LiveGrant.order_key)
