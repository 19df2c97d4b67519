"""The site's one format for times, points and durations (courseapp/templatetags/site_format.py)."""

import datetime as dt
from decimal import Decimal

import pytest
from django.template import engines

from courseapp.templatetags.site_format import format_points, format_when, score, time_left


@pytest.mark.parametrize(("value", "text"), [
    (Decimal("8.0000"), "8"), (Decimal("7.50"), "7.5"), (Decimal("7.25"), "7.25"), (Decimal("0.125"), "0.13"),
    (Decimal("-0.00"), "0"), (17.5, "17.5"), ("30", "30"), (None, ""), (Decimal("120"), "120"),
])
def test_points_have_at_most_two_decimals_and_no_trailing_zeros(value, text):
    assert format_points(value) == text


def test_score_reads_got_over_possible():
    assert score(Decimal("8.0000"), Decimal("10.00")) == "8 / 10"
    assert score(None, Decimal("30")) == "– / 30"


def test_times_are_istanbul_year_month_day_hours_minutes():
    utc = dt.datetime(2026, 11, 30, 14, 13, tzinfo=dt.UTC)
    assert format_when(utc) == "2026-11-30 17:13"
    assert format_when("2026-11-30T14:13:59+00:00") == "2026-11-30 17:13"  # ISO text from a payload
    assert format_when(dt.date(2028, 2, 29)) == "2028-02-29"
    assert format_when(None) == ""


def test_bare_datetimes_use_the_same_format_without_a_filter():
    template = engines["django"].from_string("{{ moment }} {{ moment|when }} {{ n|points }}")
    html = template.render({"moment": dt.datetime(2026, 11, 30, 14, 13, tzinfo=dt.UTC), "n": Decimal("9.50")})
    assert html == "2026-11-30 17:13 2026-11-30 17:13 9.5"


@pytest.mark.parametrize(("delta", "text"), [
    (dt.timedelta(days=3, hours=23, minutes=30), "3 days 23 h"), (dt.timedelta(days=1), "1 day"),
    (dt.timedelta(hours=3, minutes=20), "3 h 20 min"), (dt.timedelta(minutes=12), "12 min"),
    (dt.timedelta(seconds=-5), "closed"),
])
def test_time_left_in_words(delta, text):
    assert time_left(delta) == text
