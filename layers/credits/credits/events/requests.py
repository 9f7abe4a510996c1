"""Request model of ``PUT /credits/settings`` (pydantic, strict): loaded by the settings route only.

Unknown fields are a 400 at every level; a field sent as ``null`` is a wrong type (400), not "unchanged"; the
read-only fields of the ``GET`` answer are accepted and ignored, so a client may send back what it read.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from credits.events.config import MAX_THRESHOLD, MAX_THRESHOLDS
from credits.events.settings import SettingsChange
from credits.models import MAX_AMOUNT

Threshold = Annotated[int, Field(ge=0, le=MAX_THRESHOLD)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


# ``Field(default=None)`` on a non-optional type: absent = None (unchanged), an explicit null fails validation.
class AlertsPatch(_Body):
    thresholds: list[Threshold] = Field(default=None, max_length=MAX_THRESHOLDS)


class AutoRechargePatch(_Body):
    enabled: bool = Field(default=None)
    threshold: int = Field(default=None, ge=0, le=MAX_AMOUNT)
    bundle: str = Field(default=None, min_length=1, max_length=64)
    monthly_limit: int = Field(default=None, ge=1, le=100)
    # read-only: computed by the service, ignored on input
    recharges_this_month: Any = None
    payment_method: Any = None
    status: Any = None


class SettingsPatch(_Body):
    alerts: AlertsPatch = Field(default=None)
    auto_recharge: AutoRechargePatch = Field(default=None)

    def change(self) -> SettingsChange:
        alerts, recharge = self.alerts, self.auto_recharge
        thresholds = None
        if alerts is not None and alerts.thresholds is not None:
            thresholds = tuple(dict.fromkeys(alerts.thresholds))  # a repeated threshold is the same threshold
        return SettingsChange(
            thresholds=thresholds,
            recharge_enabled=recharge.enabled if recharge else None,
            recharge_threshold=recharge.threshold if recharge else None,
            recharge_bundle=recharge.bundle if recharge else None,
            recharge_monthly_limit=recharge.monthly_limit if recharge else None,
        )
