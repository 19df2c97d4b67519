"""calculations.what_if_grades: a student's guesses put into a copy of the grade matrix, on small
hand-built frames (no database). Every expected total is computed by hand in the comment above it."""

from __future__ import annotations

from decimal import Decimal as D

import numpy as np

from grading.calculations import CURRENT, FINAL, compute, what_if_grades
from grading.tests.test_calculations import NOW, cats, grades, items

# Homework (40%): HW1 /10, HW2 /10. Exam (60%): Midterm /50, Final /50 (extra credit: Bonus /5).
CATS = cats((1, 40, "total_points", 0, 0), (2, 60, "total_points", 0, 0))
ITEMS = items((1, 1, 10), (2, 1, 10), (3, 2, 50), (4, 2, 50), (5, 2, 5, {"ec": True}))
# Student 7: HW1 8, HW2 excused, Midterm 30, Final missing.
STORED = grades({7: {1: "8", 2: "EX", 3: "30", 4: None, 5: None}})


def totals(matrix):
    result = compute(categories=CATS, items=ITEMS, grades=matrix, now=NOW)
    return result.total_percent(CURRENT)[7], result.total_percent(FINAL)[7]


def test_stored_totals_as_computed_by_hand():
    # current: HW 8/10 = 80%, Exam 30/50 = 60% → 0.4·80 + 0.6·60 = 68.00
    # final: Final exam past due counts 0 → Exam 30/100 = 30% → 0.4·80 + 0.6·30 = 50.00
    assert totals(STORED) == (D("68.00"), D("50.00"))


def test_a_guess_for_the_final_changes_both_totals_and_leaves_the_stored_matrix_alone():
    guessed, errors = what_if_grades(STORED, ITEMS, {"4": "45"})
    assert errors == []
    # Exam (30 + 45)/100 = 75% in both modes → 0.4·80 + 0.6·75 = 77.00
    assert totals(guessed) == (D("77.00"), D("77.00"))
    assert not STORED.graded[0, 3] and totals(STORED) == (D("68.00"), D("50.00"))


def test_decimal_comma_excuse_and_clearing_a_grade():
    # HW1 cleared (missing), HW2 "9,5" → HW 9.5/10 = 95% current; final HW (0 + 9.5)/20 = 47.5%.
    # Midterm excused, Final 40 → Exam 40/50 = 80% in both modes.
    # current 0.4·95 + 0.6·80 = 86.00; final 0.4·47.5 + 0.6·80 = 67.00
    guessed, errors = what_if_grades(STORED, ITEMS, {1: None, 2: "9,5", 3: "ex", 4: 40})
    assert errors == []
    assert totals(guessed) == (D("86.00"), D("67.00"))
    assert guessed.excused[0, 2] and not guessed.graded[0, 2]
    assert not guessed.graded[0, 0] and not guessed.excused[0, 0]


def test_extra_credit_may_go_above_its_points_possible():
    # Bonus 6 of 5 adds 6 to the exam numerator: current Exam (30 + 6)/50 = 72% → 0.4·80 + 0.6·72 = 75.20
    guessed, errors = what_if_grades(STORED, ITEMS, {5: "6"})
    assert errors == []
    assert totals(guessed)[0] == D("75.20")


def test_every_bad_guess_is_reported_saying_what_to_fix():
    guessed, errors = what_if_grades(STORED, ITEMS, {"1": "11", "2": "7.555", "3": "-1", "4": "lots", "99": "1",
                                                     "x": "1"})
    assert errors == [
        "I1: 11 is above the maximum of 10; enter at most the maximum.",
        "I2: 7.555 has more than two decimals; round it to hundredths (like 7.25).",
        "I3: -1 is negative; enter 0 or more.",
        "I4: “lots” is not a number; enter points like 7.5 or 7,5.",
        "Item 99 is not a released item of this course.",
        "Item x is not a released item of this course.",
    ]
    assert np.array_equal(guessed.cents, STORED.cents)  # nothing usable was put in
