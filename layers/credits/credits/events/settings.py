"""A user's settings: alert thresholds (read by the change path) and auto-recharge preferences.

``PUT`` merges field by field (``alerts.thresholds`` is replaced whole) onto what was read, and writes only if
nobody wrote in between (``version``); read-only fields are computed, never stored from input. Auto-recharge needs a
saved payment method (``409 payment_method_required`` otherwise); its read-only state (card, status, this month's
count, the last failure) comes from the recharge service. Sending ``enabled: true`` resets the failure count and the
pacing and stamps ``recharge_enabled_at``, so the change path sees the request even when it was on already.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from credits.errors import InvalidRequest, PaymentMethodRequired, TransientStoreError
from credits.events.store import SettingsStore
from credits.ids import iso

DEFAULT_RECHARGE_THRESHOLD = 200
DEFAULT_RECHARGE_BUNDLE = "standard"
DEFAULT_MONTHLY_LIMIT = 5
RECHARGE_STATUSES = ("active", "needs_payment_method", "disabled_after_failures")
MERGE_ATTEMPTS = 5


class RechargeView(Protocol):
    """What settings need of auto-recharge (``credits.recharge.RechargeService`` is one)."""

    def has_card(self, user_id: str) -> bool: ...

    def view(self, user_id: str, enabled: bool) -> dict[str, Any]:
        """``recharges_this_month``, ``payment_method``, ``status``, ``last_failure``."""
        ...

    def re_enable(self, user_id: str) -> None: ...


class NoRecharges:
    """No auto-recharge wired (tests of alerts alone): nobody has a saved card."""

    def has_card(self, user_id: str) -> bool:
        return False

    def view(self, user_id: str, enabled: bool) -> dict[str, Any]:
        return {"recharges_this_month": 0, "payment_method": None, "status": "off" if not enabled else
                "needs_payment_method", "last_failure": None}

    def re_enable(self, user_id: str) -> None:
        return None


@dataclass(frozen=True)
class SettingsChange:
    """A validated ``PUT`` body: None = that field was not sent (keep what is stored)."""

    thresholds: tuple[int, ...] | None = None
    recharge_enabled: bool | None = None
    recharge_threshold: int | None = None
    recharge_bundle: str | None = None
    recharge_monthly_limit: int | None = None

    def stored_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "alert_thresholds": list(self.thresholds) if self.thresholds is not None else None,
            "recharge_enabled": self.recharge_enabled,
            "recharge_threshold": self.recharge_threshold,
            "recharge_bundle": self.recharge_bundle,
            "recharge_monthly_limit": self.recharge_monthly_limit,
        }
        return {k: v for k, v in fields.items() if v is not None}


class SettingsService:
    def __init__(
        self,
        store: SettingsStore,
        *,
        default_thresholds: tuple[int, ...],
        bundle_credits: Callable[[str], int | None],
        recharges: RechargeView | None = None,
        clock: Callable[[], float] = time.time,
        ensure_user: Callable[[str], None] = lambda _user: None,
    ) -> None:
        self.ensure_user = ensure_user  # a first request of a new user creates the welcome grant like any other
        self.store = store
        self.default_thresholds = default_thresholds
        self.bundle_credits = bundle_credits
        self.recharges = recharges or NoRecharges()
        self.clock = clock

    def thresholds(self, user_id: str) -> tuple[int, ...]:
        """The user's own thresholds once set (an empty list = none), else the service's default."""
        return self._thresholds(self.store.get(user_id))

    def _thresholds(self, item: Mapping[str, Any] | None) -> tuple[int, ...]:
        stored = (item or {}).get("alert_thresholds")
        if isinstance(stored, list):
            return tuple(int(t) for t in stored)
        return self.default_thresholds

    def get(self, user_id: str) -> dict[str, Any]:
        self.ensure_user(user_id)
        return self._view(user_id, self.store.get(user_id))

    def update(self, user_id: str, change: SettingsChange) -> dict[str, Any]:
        self.ensure_user(user_id)
        fields = change.stored_fields()
        for _ in range(MERGE_ATTEMPTS):
            item = self.store.get(user_id)
            self._check(user_id, item, change)
            if not fields:
                return self._view(user_id, item)
            version = int(item["version"]) if item and "version" in item else None
            stamp = {"recharge_enabled_at": iso(self.clock())} if change.recharge_enabled else {}
            saved = self.store.update(user_id, {**fields, **stamp}, version, iso(self.clock()))
            if saved is not None:
                if change.recharge_enabled:
                    self.recharges.re_enable(user_id)
                return self._view(user_id, saved)
        raise TransientStoreError("The settings kept changing while saving; please retry.")

    def _check(self, user_id: str, item: Mapping[str, Any] | None, change: SettingsChange) -> None:
        """Rules on the merged result; a rejected request saves nothing."""
        merged = {**_recharge(item), **{k: v for k, v in {
            "threshold": change.recharge_threshold, "bundle": change.recharge_bundle}.items() if v is not None}}
        touches_bundle = change.recharge_threshold is not None or change.recharge_bundle is not None
        if touches_bundle or change.recharge_enabled:
            credits = self.bundle_credits(merged["bundle"])
            if credits is None:
                raise InvalidRequest(f"auto_recharge.bundle: unknown bundle {merged['bundle']!r}.")
            if credits <= merged["threshold"]:
                raise InvalidRequest(
                    f"auto_recharge.bundle: bundle {merged['bundle']!r} has {credits} credits, which must exceed "
                    f"auto_recharge.threshold ({merged['threshold']})."
                )
        if change.recharge_enabled and not self.recharges.has_card(user_id):
            raise PaymentMethodRequired(
                "auto_recharge.enabled: save a payment method (a purchase with save_payment_method) first."
            )

    def _view(self, user_id: str, item: Mapping[str, Any] | None) -> dict[str, Any]:
        recharge = _recharge(item)
        return {
            "alerts": {"thresholds": list(self._thresholds(item))},
            "auto_recharge": {**recharge, **self.recharges.view(user_id, recharge["enabled"])},
        }


def _recharge(item: Mapping[str, Any] | None) -> dict[str, Any]:
    item = item or {}
    return {
        "enabled": bool(item.get("recharge_enabled", False)),
        "threshold": int(item.get("recharge_threshold", DEFAULT_RECHARGE_THRESHOLD)),
        "bundle": str(item.get("recharge_bundle", DEFAULT_RECHARGE_BUNDLE)),
        "monthly_limit": int(item.get("recharge_monthly_limit", DEFAULT_MONTHLY_LIMIT)),
    }
