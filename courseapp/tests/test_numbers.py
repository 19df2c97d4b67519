"""courseapp.numbers: the one points parser and formatter of the site (no database)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from courseapp.numbers import PointsError, format_points, format_score, parse_points


@pytest.mark.parametrize(("text", "points"), [
    ("12", D("12")), ("12.5", D("12.5")), ("12,50", D("12.50")), (" 7,25 ", D("7.25")), (".5", D("0.5")),
    ("0", D("0")), ("-0", D("0")), (7, D("7")), (D("8.50"), D("8.50")), (0.1, D("0.1")),
])
def test_accepts_points_with_a_decimal_point_or_comma(text, points):
    assert parse_points(text) == points


@pytest.mark.parametrize(("text", "message"), [
    ("12.505", "12.505 has more than two decimals; round it to hundredths (like 7.25)."),
    ("12,505", "12.505 has more than two decimals"),
    ("nan", "“nan” is not a number"), ("inf", "“inf” is not a number"), ("-Infinity", "is not a number"),
    (float("nan"), "is not a number"), (D("Infinity"), "is not a number"),
    ("1,234.5", "“1,234.5” is not a number"), ("1e3", "“1e3” is not a number"), ("seven", "“seven” is not a number"),
    ("", "Give a number of points"), (None, "Give a number of points"), (True, "Give a number of points"),
    ("-1", "-1 is negative; enter 0 or more."),
    ("9" * 40, "is too large for points"),
])
def test_refuses_what_is_not_points_saying_what_to_fix(text, message):
    with pytest.raises(PointsError) as refused:
        parse_points(text)
    assert message in str(refused.value)


def test_options_name_the_value_allow_negatives_and_a_maximum():
    assert parse_points("-2,5", allow_negative=True) == D("-2.5")
    with pytest.raises(PointsError, match=r"^Quiz 1: 11 is above the maximum of 10\.$"):
        parse_points("11", what="Quiz 1", maximum=D("10"))
    assert parse_points("0.125", places=3) == D("0.125")
    with pytest.raises(PointsError, match="more than three decimals; round it to thousandths"):
        parse_points("0.1255", places=3)


def test_computed_scores_are_rounded_half_up_instead_of_refused():
    assert parse_points(D("7.125"), round_extra=True) == D("7.13")
    assert parse_points(2 / 3, round_extra=True) == D("0.67")


@pytest.mark.parametrize(("value", "text"), [
    (D("10.00"), "10"), (D("8.50"), "8.5"), (D("7.25"), "7.25"), (D("8.0000"), "8"), (D("1E+1"), "10"),
    (D("0.00"), "0"), (D("-0.00"), "0"), (D("-3.50"), "-3.5"), (12, "12"), (None, ""),
])
def test_format_points_has_no_trailing_zeros_nor_exponent(value, text):
    assert format_points(value) == text


def test_format_score():
    assert format_score(D("8.50"), D("10.00")) == "8.5 / 10"
    assert format_score(D("12"), 30) == "12 / 30"
    assert format_score(None, D("10")) == "– / 10"


@pytest.mark.parametrize("cents", [0, 1, 10, 99, 100, 725, 750, 123456])
def test_format_reads_back_as_the_same_points(cents):
    points = D(cents).scaleb(-2)
    assert parse_points(format_points(points)) == points
