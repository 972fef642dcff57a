"""Cron schedules in a time zone: checking an expression and finding its next tick.

Expressions have five fields (minute hour day-of-month month day-of-week) and are read by
``cronsim``, which handles daylight saving time the way cron does: a tick that falls in the
hour skipped in spring runs when the clocks jump, and one in the hour repeated in autumn runs
once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from solder.errors import BadInput


@dataclass(frozen=True)
class Schedule:
    cron: str
    zone: ZoneInfo

    def next_after(self, moment: datetime) -> datetime:
        """The first tick strictly after ``moment``, in UTC."""
        local = moment.astimezone(self.zone).replace(second=0, microsecond=0)
        tick: datetime = next(CronSim(self.cron, local))
        return tick.astimezone(UTC)


def parse(cron: str, timezone: str = "UTC") -> Schedule:
    if len(cron.split()) != 5:
        raise BadInput(
            f"cron: {cron!r} must have five fields: minute hour day-of-month month day-of-week",
            field="cron",
        )
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadInput(
            f"timeZone: {timezone!r} is not an IANA time zone name", field="timeZone"
        ) from None
    try:
        CronSim(cron, datetime.now(zone))
    except CronSimError as exc:
        raise BadInput(f"cron: {cron!r}: {exc}", field="cron") from None
    return Schedule(cron, zone)
