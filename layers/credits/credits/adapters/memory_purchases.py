"""The in-memory ``PurchaseStore`` (a mixin of ``MemoryStore``): the same conditions as ``dynamo_purchases``, including
the purchase changes that ride in the ledger's commit (checked before, applied with it, under the store's one lock)."""

from __future__ import annotations

import threading
from dataclasses import replace

from credits.models import Purchase
from credits.ports import (
    AccountWrite,
    PurchaseAlreadyFulfilled,
    PurchaseChanged,
    PurchaseClawback,
    PurchaseFulfil,
    PurchaseMismatch,
)


class MemoryPurchaseStore:
    _lock: threading.RLock
    requests: int

    def _purchases_init(self) -> None:
        self._purchases: dict[str, Purchase] = {}
        self._payments: dict[str, str] = {}
        self._checkpoints: dict[str, int] = {}

    def _check_purchase(self, write: AccountWrite) -> None:
        p = write.purchase
        if isinstance(p, PurchaseFulfil):
            current = self._purchases.get(p.purchase.session_id)
            if current is not None and current.fulfilled_at:
                raise PurchaseAlreadyFulfilled(p.purchase.session_id)
            if current is not None and current.user_id and (
                    current.user_id != p.purchase.user_id or current.bundle != p.purchase.bundle):
                raise PurchaseMismatch(p.purchase.session_id)
        elif isinstance(p, PurchaseClawback):
            current = self._purchases.get(p.session_id)
            if current is None or not current.fulfilled_at or current.credits_clawed_back != p.expect_taken:
                raise PurchaseChanged(p.session_id)

    def _apply_purchase(self, write: AccountWrite) -> None:
        p = write.purchase
        if isinstance(p, PurchaseFulfil):
            current = self._purchases.get(p.purchase.session_id)
            merged = replace(p.purchase, status="fulfilled", fulfilled_at=write.updated_at,
                             payment_intent=p.payment_intent or p.purchase.payment_intent,
                             created_at=current.created_at if current else p.purchase.created_at,
                             refunded_amount=current.refunded_amount if current else 0,
                             credits_clawed_back=current.credits_clawed_back if current else 0)
            self._purchases[merged.session_id] = merged
            if p.payment_intent:
                self._payments[p.payment_intent] = merged.session_id
        elif isinstance(p, PurchaseClawback):
            current = self._purchases[p.session_id]
            self._purchases[p.session_id] = replace(current, credits_clawed_back=p.taken, status=p.status,
                                                    refunded_amount=p.refunded_amount)

    def put_purchase(self, purchase: Purchase) -> None:
        with self._lock:
            self.requests += 1
            self._purchases.setdefault(purchase.session_id, replace(purchase, status="pending"))

    def get_purchase(self, session_id: str) -> Purchase | None:
        with self._lock:
            self.requests += 1
            return self._purchases.get(session_id)

    def find_purchase_by_payment(self, payment_intent: str) -> Purchase | None:
        with self._lock:
            self.requests += 1
            session = self._payments.get(payment_intent)
            return self._purchases.get(session) if session else None

    def mark_mismatch(self, session_id: str, reason: str, now_iso: str) -> None:
        with self._lock:
            self.requests += 1
            current = self._purchases.get(session_id)
            if current is not None and not current.fulfilled_at:
                self._purchases[session_id] = replace(current, mismatch=reason[:500])

    def set_purchase_status(self, session_id: str, status: str, now_iso: str) -> bool:
        with self._lock:
            self.requests += 1
            current = self._purchases.get(session_id)
            if current is None or current.fulfilled_at:
                return False
            self._purchases[session_id] = replace(current, status=status)
            return True

    def get_checkpoint(self, name: str) -> int | None:
        with self._lock:
            return self._checkpoints.get(name)

    def put_checkpoint(self, name: str, value: int) -> None:
        with self._lock:
            self._checkpoints[name] = value
