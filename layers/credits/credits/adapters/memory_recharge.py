"""The in-memory ``RechargeStore`` (a mixin of ``MemoryStore``): the same conditions as ``dynamo_recharge``."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

from credits.ports import RechargeRecord, RechargeSettle, RechargeState

MAX_FAILURES = 3


class MemoryRechargeStore:
    _lock: threading.RLock
    requests: int

    def _recharge_init(self) -> None:
        self._recharge_states: dict[str, RechargeState] = {}
        self._recharge_records: dict[tuple[str, str], RechargeRecord] = {}
        self._settings_enabled: dict[str, bool] = {}

    def set_auto_recharge_enabled(self, user_id: str, enabled: bool) -> None:
        """The settings item's ``recharge_enabled`` (tests set it; deployed, the settings service writes it)."""
        with self._lock:
            self._settings_enabled[user_id] = enabled

    def state(self, user_id: str) -> RechargeState | None:
        with self._lock:
            self.requests += 1
            return self._recharge_states.get(user_id)

    def _update_state(self, user_id: str, **changes: Any) -> RechargeState:
        current = self._recharge_states.get(user_id) or RechargeState(user_id)
        updated = replace(current, **changes)
        self._recharge_states[user_id] = updated
        return updated

    def set_customer(self, user_id: str, customer_id: str, now_iso: str) -> str:
        with self._lock:
            self.requests += 1
            current = self._recharge_states.get(user_id)
            if current is not None and current.customer_id:
                return current.customer_id
            return self._update_state(user_id, customer_id=customer_id).customer_id or customer_id

    def save_card(
        self, user_id: str, customer_id: str | None, payment_method: str, brand: str, last4: str, now_iso: str
    ) -> None:
        with self._lock:
            self.requests += 1
            current = self._recharge_states.get(user_id) or RechargeState(user_id)
            self._update_state(user_id, payment_method=payment_method, brand=brand, last4=last4, failures=0,
                               needs_payment_method=False, last_failure_ms=None, last_failure_reason=None,
                               customer_id=current.customer_id or customer_id)

    def reset_failures(self, user_id: str, now_iso: str) -> None:
        with self._lock:
            self.requests += 1
            self._update_state(user_id, failures=0, last_failure_ms=None)

    def start(self, record: RechargeRecord, *, month: str, monthly_limit: int, retry_cutoff_ms: int) -> bool:
        with self._lock:
            self.requests += 1
            s = self._recharge_states.get(record.user_id)
            key = (record.user_id, record.recharge_id)
            if (not self._settings_enabled.get(record.user_id) or s is None or not s.payment_method
                    or s.in_flight or s.needs_payment_method or s.failures >= MAX_FAILURES
                    or (s.last_failure_ms is not None and s.last_failure_ms > retry_cutoff_ms)
                    or (s.month == month and s.started >= monthly_limit) or key in self._recharge_records):
                return False
            started = s.started + 1 if s.month == month else 1
            self._update_state(record.user_id, in_flight=record.recharge_id, month=month, started=started)
            self._recharge_records[key] = record
            return True

    def record(self, user_id: str, recharge_id: str) -> RechargeRecord | None:
        with self._lock:
            self.requests += 1
            return self._recharge_records.get((user_id, recharge_id))

    def auto_recharge_enabled(self, user_id: str) -> bool:
        with self._lock:
            self.requests += 1
            return bool(self._settings_enabled.get(user_id))

    def set_payment_intent(self, user_id: str, recharge_id: str, payment_intent: str) -> None:
        with self._lock:
            self.requests += 1
            key = (user_id, recharge_id)
            if key in self._recharge_records:
                self._recharge_records[key] = replace(self._recharge_records[key], payment_intent=payment_intent)

    def fail(self, user_id: str, recharge_id: str, reason: str, missing_card: bool, now_ms: int) -> bool:
        with self._lock:
            self.requests += 1
            key = (user_id, recharge_id)
            record = self._recharge_records.get(key)
            state = self._recharge_states.get(user_id)
            if record is None or record.status != "requested" or state is None or state.in_flight != recharge_id:
                return False
            self._recharge_records[key] = replace(record, status="failed", reason=reason[:100])
            self._update_state(user_id, in_flight=None, failures=state.failures + 1, last_failure_ms=now_ms,
                               last_failure_reason=reason[:100],
                               needs_payment_method=state.needs_payment_method or missing_card)
            return True

    def in_flight(self, older_than_ms: int) -> list[tuple[str, str]]:
        with self._lock:
            self.requests += 1
            return [(u, r) for (u, r), rec in self._recharge_records.items()
                    if rec.status == "requested" and rec.created_ms <= older_than_ms]

    # --- the ledger's transaction ------------------------------------------------------------------------------
    def _recharge_settleable(self, settle: RechargeSettle) -> bool:
        record = self._recharge_records.get((settle.user_id, settle.recharge_id))
        state = self._recharge_states.get(settle.user_id)
        return (record is not None and record.status == "requested" and state is not None
                and state.in_flight == settle.recharge_id)

    def _recharge_settle(self, settle: RechargeSettle) -> None:
        key = (settle.user_id, settle.recharge_id)
        self._recharge_records[key] = replace(self._recharge_records[key], status="succeeded")
        self._update_state(settle.user_id, in_flight=None, failures=0)
