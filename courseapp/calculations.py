"""Pure functions over already-loaded course data: no ORM, no settings, no I/O."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Protocol


class _Dated(Protocol):
    starts_at: dt.datetime


def week_monday(day: dt.date) -> dt.date:
    """The Monday of the Monday–Sunday week that contains `day`."""
    return day - dt.timedelta(days=day.weekday())


def current_lecture_index(starts: Sequence[dt.date], today: dt.date) -> int | None:
    """Index of the lecture held in the Monday–Sunday week that contains `today`.

    `starts` are the lectures' local (course time zone) dates in order. None when
    `today` falls in no lecture's week: before the first lecture's week, after the
    last one's, or in a week without a lecture (a holiday).
    """
    monday = week_monday(today)
    for index, day in enumerate(starts):
        if week_monday(day) == monday:
            return index
    return None


def next_lecture_index(ends: Sequence[dt.datetime], now: dt.datetime) -> int | None:
    """Index of the first lecture that has not ended at `now` (aware datetimes); None after the last."""
    for index, end in enumerate(ends):
        if end > now:
            return index
    return None
