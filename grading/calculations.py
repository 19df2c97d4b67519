"""Pure grading arithmetic: no ORM, no settings, no I/O.

Units: points are Decimals with two decimal places (or integer hundredths inside
the engine); percentages are exact rationals, rounded half up to two decimals only
for display and export (``round_half_up``).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

HUNDREDTH = Decimal("0.01")
HUNDRED = Decimal("100")


def round_half_up(value: Decimal, places: int = 2) -> Decimal:
    """Round half away from zero to `places` decimals (the way people round by hand: 84.995 → 85.00)."""
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def fmt_points(value: Decimal | None) -> str:
    """Points for people: 10.00 → "10", 7.50 → "7.5", None → ""."""
    if value is None:
        return ""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


@dataclass(frozen=True)
class LatePenalty:
    """What a late policy takes off one score.

    units_late: started days (or hours) past the due date, 0 if on time.
    percent: percent of the raw score taken off (already capped by the floor).
    points: points taken off, rounded half up to hundredths.
    """

    units_late: int
    percent: Decimal
    points: Decimal


NO_PENALTY = LatePenalty(units_late=0, percent=Decimal("0"), points=Decimal("0.00"))


def late_penalty(
    *,
    raw_points: Decimal,
    due_at: dt.datetime | None,
    submitted_at: dt.datetime | None,
    percent_per_unit: Decimal,
    unit: str,
    floor_percent: Decimal,
) -> LatePenalty:
    """The penalty for work submitted at `submitted_at` against `due_at`.

    Each started `unit` ("day" = 24 hours, "hour") past the due date takes
    `percent_per_unit` percent of the raw score off, but never takes the score below
    `floor_percent` percent of itself (so the cap on the penalty is 100 - floor).
    No due date, no submission time, or a zero rate means no penalty. Both datetimes
    must be timezone-aware.
    """
    if due_at is None or submitted_at is None or percent_per_unit <= 0 or raw_points <= 0:
        return NO_PENALTY
    late_by = submitted_at - due_at
    if late_by <= dt.timedelta(0):
        return NO_PENALTY
    seconds = {"day": 86400, "hour": 3600}[unit]
    units = math.ceil(late_by.total_seconds() / seconds)
    cap = max(Decimal("0"), HUNDRED - floor_percent)
    percent = min(percent_per_unit * units, cap)
    points = round_half_up(raw_points * percent / HUNDRED)
    return LatePenalty(units_late=units, percent=percent, points=points)
