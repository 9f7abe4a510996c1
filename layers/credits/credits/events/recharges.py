"""Auto-recharge on the change path: the events function's two small jobs for it.

``check``: a qualifying change (see ``derive``) is handed to the recharge service with the user's settings, which
decides and makes the one conditional "recharge requested" write. ``enqueue``: a new recharge record goes to the
recharge queue, whose function calls Stripe. No Stripe call happens here (the consumer stays fast and retryable).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from credits.events.model import RechargeCheck, RechargeJob

if TYPE_CHECKING:
    from credits.events.store import SettingsStore
    from credits.recharge import RechargeService, RechargeSettings


def recharge_settings(item: dict[str, Any] | None) -> RechargeSettings:
    from credits.events.settings import DEFAULT_MONTHLY_LIMIT, DEFAULT_RECHARGE_BUNDLE, DEFAULT_RECHARGE_THRESHOLD
    from credits.recharge import RechargeSettings

    item = item or {}
    return RechargeSettings(
        enabled=bool(item.get("recharge_enabled", False)),
        threshold=int(item.get("recharge_threshold", DEFAULT_RECHARGE_THRESHOLD)),
        bundle=str(item.get("recharge_bundle", DEFAULT_RECHARGE_BUNDLE)),
        monthly_limit=int(item.get("recharge_monthly_limit", DEFAULT_MONTHLY_LIMIT)),
    )


class ChangePathRecharges:
    def __init__(
        self,
        settings: SettingsStore,
        available: Callable[[str], int],
        service: Callable[[], RechargeService],
        *,
        sqs: Any,
        queue_url: str | None,
    ) -> None:
        self.settings = settings
        self.available = available
        self.service = service  # built on first use: most changes are of users without auto-recharge
        self.sqs = sqs
        self.queue_url = queue_url

    def check(self, check: RechargeCheck) -> None:
        settings = recharge_settings(self.settings.get(check.user_id))
        if not settings.enabled:
            return
        available = check.available if check.available is not None else self.available(check.user_id)
        if available >= settings.threshold:
            return
        self.service().consider(check.user_id, available, check.trigger, settings)

    def enqueue(self, job: RechargeJob) -> None:
        if not self.queue_url:
            raise RuntimeError("RECHARGE_QUEUE_URL is not set: a requested recharge cannot be charged")
        self.sqs.send_message(QueueUrl=self.queue_url,
                              MessageBody=json.dumps({"user_id": job.user_id, "recharge_id": job.recharge_id}))
