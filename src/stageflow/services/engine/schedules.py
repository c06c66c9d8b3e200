"""Cron schedules (the `schedule` trigger), evaluated in the workspace time zone."""

from __future__ import annotations

from datetime import datetime

from cronsim import CronSim, CronSimError

from stageflow.automation.calendar import zone
from stageflow.domain.errors import ValidationFailed


def check_cron(expression: str) -> None:
    try:
        CronSim(expression, datetime(2026, 1, 1))
    except CronSimError as exc:
        raise ValidationFailed(
            f"trigger: '{expression}' is not a cron expression ({exc})", field="trigger.cron"
        ) from None


def next_fire(expression: str, after: datetime, timezone: str) -> datetime:
    """The first moment strictly after ``after`` that the expression names."""
    local = after.astimezone(zone(timezone))
    return next(CronSim(expression, local)).astimezone(after.tzinfo)
