"""Pure functions: the current lecture week and the next lecture."""

import datetime as dt
from zoneinfo import ZoneInfo

from courseapp.calculations import current_lecture_index, next_lecture_index, week_monday

WEDNESDAYS = [dt.date(2024, 10, 2) + dt.timedelta(weeks=i) for i in range(14)]
TZ = ZoneInfo("Europe/Istanbul")


def test_week_monday_of_a_wednesday_and_of_a_sunday():
    assert week_monday(dt.date(2024, 10, 2)) == dt.date(2024, 9, 30)
    assert week_monday(dt.date(2024, 10, 6)) == dt.date(2024, 9, 30)
    assert week_monday(dt.date(2024, 10, 7)) == dt.date(2024, 10, 7)


def test_the_whole_monday_to_sunday_week_of_a_lecture_is_current():
    for offset in range(-2, 5):  # Monday 11 Nov … Sunday 17 Nov
        assert current_lecture_index(WEDNESDAYS, dt.date(2024, 11, 13) + dt.timedelta(days=offset)) == 6


def test_no_current_lecture_before_the_first_week_or_after_the_last():
    assert current_lecture_index(WEDNESDAYS, dt.date(2024, 9, 29)) is None
    assert current_lecture_index(WEDNESDAYS, dt.date(2024, 9, 30)) == 0
    assert current_lecture_index(WEDNESDAYS, dt.date(2025, 1, 5)) == 13
    assert current_lecture_index(WEDNESDAYS, dt.date(2025, 1, 6)) is None


def test_a_week_without_a_lecture_has_no_current_one():
    holiday = [d for d in WEDNESDAYS if d != dt.date(2024, 12, 25)]
    assert current_lecture_index(holiday, dt.date(2024, 12, 24)) is None
    assert current_lecture_index([], dt.date(2024, 12, 24)) is None


def test_next_lecture_is_the_first_that_has_not_ended():
    ends = [dt.datetime.combine(d, dt.time(11, 30), tzinfo=TZ) for d in WEDNESDAYS]
    assert next_lecture_index(ends, dt.datetime(2024, 10, 2, 11, 29, tzinfo=TZ)) == 0
    assert next_lecture_index(ends, dt.datetime(2024, 10, 2, 11, 30, tzinfo=TZ)) == 1
    assert next_lecture_index(ends, dt.datetime(2025, 1, 1, 12, 0, tzinfo=TZ)) is None
