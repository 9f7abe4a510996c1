"""Request model of ``PUT /credits/settings`` (pydantic, strict): loaded by the settings route only.

Unknown fields are a 400 at every level; a field sent as ``null`` is refused (400), not "unchanged"; the
read-only fields of the ``GET`` answer are accepted and ignored, so a client may send back what it read.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from credits.events.config import MAX_THRESHOLD, MAX_THRESHOLDS
from credits.events.settings import SettingsChange
from credits.models import MAX_AMOUNT

Threshold = Annotated[int, Field(ge=0, le=MAX_THRESHOLD)]


READ_ONLY = {"recharges_this_month", "payment_method", "status", "last_failure"}


class _Body(BaseModel):
    """Absent field = None (unchanged); a field sent as null is refused, naming it."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in READ_ONLY:
            raise ValueError("must not be null")
        return value


class AlertsPatch(_Body):
    thresholds: list[Threshold] | None = Field(default=None, max_length=MAX_THRESHOLDS)


class AutoRechargePatch(_Body):
    enabled: bool | None = None
    threshold: int | None = Field(default=None, ge=0, le=MAX_AMOUNT)
    bundle: str | None = Field(default=None, min_length=1, max_length=64)
    monthly_limit: int | None = Field(default=None, ge=1, le=100)
    # read-only: computed by the service, ignored on input
    recharges_this_month: Any = None
    payment_method: Any = None
    status: Any = None
    last_failure: Any = None


class SettingsPatch(_Body):
    alerts: AlertsPatch | None = None
    auto_recharge: AutoRechargePatch | None = None

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
