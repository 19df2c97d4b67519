"""The pure engine, on small hand-built frames. Every expected number is computed by hand
in the comment above it; published examples cite their source."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D
from fractions import Fraction

import pandas as pd
import pytest

from grading.calculations import (
    CURRENT,
    FINAL,
    METU_SCALE,
    GradeMatrix,
    compute,
    late_penalty,
    letter_for,
    round_half_up,
    validate_scale,
)

UTC = dt.UTC
NOW = dt.datetime(2024, 12, 1, tzinfo=UTC)
PAST = dt.datetime(2024, 11, 1, tzinfo=UTC)
FUTURE = dt.datetime(2025, 1, 1, tzinfo=UTC)


def cats(*rows):
    """rows: (id, weight, aggregation, drop_lowest, drop_highest)."""
    frame = pd.DataFrame(rows, columns=["id", "weight", "aggregation", "drop_lowest", "drop_highest"])
    frame["weight"] = frame["weight"].map(D)
    frame["name"] = frame["id"].map(lambda i: f"C{i}")
    return frame.set_index("id")


def items(*rows):
    """rows: (id, category, points_possible[, options dict])."""
    records = []
    for row in rows:
        opts = row[3] if len(row) > 3 else {}
        records.append({
            "id": row[0], "category": row[1], "points_possible": D(str(row[2])), "name": f"I{row[0]}",
            "weight": D(str(opts["weight"])) if "weight" in opts else None,
            "due_at": opts.get("due_at", PAST), "extra_credit": opts.get("ec", False),
            "never_drop": opts.get("never_drop", False),
        })
    return pd.DataFrame(records).set_index("id")


def grades(table: dict):
    """{student: {item: "7.5" | "E" | None}} → GradeMatrix."""
    frame = pd.DataFrame.from_dict(table, orient="index").astype(object)
    frame = frame.where(frame.notna(), None)
    return GradeMatrix.from_frame(frame)


def run(categories, item_frame, table, now=NOW):
    return compute(categories=categories, items=item_frame, grades=grades(table), now=now)


def pct(result, student=1, mode=CURRENT):
    return result.total_percent(mode)[student]


def cat_pct(result, category, student=1, mode=CURRENT):
    return result.category_percent(mode).loc[student, category]


# --- published examples -------------------------------------------------------------------

# Moodle, "Grade aggregation" help (lang/en/grades.php, aggregation_help; docs.moodle.org/en/Grade_aggregation):
# https://github.com/moodle/moodle/blob/724578a008a603f34036a1e9bcefb05900601088/lang/en/grades.php
# A1 70/100, A2 20/80, A3 10/10.
MOODLE_ITEMS = ((1, 1, 100, {"weight": 10}), (2, 1, 80, {"weight": 5}), (3, 1, 10, {"weight": 3}))
MOODLE_GRADES = {1: {1: "70", 2: "20", 3: "10"}}


def test_moodle_mean_of_grades_example():
    # (0.7 + 0.25 + 1.0)/3 = 0.65 --> 65/100
    result = run(cats((1, 100, "mean", 0, 0)), items(*MOODLE_ITEMS), MOODLE_GRADES)
    assert cat_pct(result, 1) == D("65.00")


def test_moodle_weighted_mean_of_grades_example():
    # (0.7*10 + 0.25*5 + 1.0*3)/18 = 0.625 --> 62.5/100
    result = run(cats((1, 100, "weighted_mean", 0, 0)), items(*MOODLE_ITEMS), MOODLE_GRADES)
    assert cat_pct(result, 1) == D("62.50")


def test_moodle_simple_weighted_mean_equals_total_points_example():
    # (0.7*100 + 0.25*80 + 1.0*10)/190 = 0.526 --> 52.6/100; to the hundredth 100/190 = 52.63
    result = run(cats((1, 100, "total_points", 0, 0)), items(*MOODLE_ITEMS), MOODLE_GRADES)
    assert cat_pct(result, 1) == D("52.63")


# Canvas, "How do I weight the final course grade based on assignment groups?"
# https://community.canvaslms.com/t5/Instructor-Guide/How-do-I-weight-the-final-course-grade-based-on-assignment/ta-p/746
def test_canvas_group_is_points_earned_over_points_possible():
    # three assignments totalling 25 points, 15 earned → 60%
    result = run(cats((1, 100, "total_points", 0, 0)), items((1, 1, 5), (2, 1, 10), (3, 1, 10)),
                 {1: {1: "5", 2: "4", 3: "6"}})
    assert cat_pct(result, 1) == D("60.00")


CANVAS_CATS = cats((1, 20, "total_points", 0, 0), (2, 50, "total_points", 0, 0), (3, 30, "total_points", 0, 0))


def test_canvas_weighted_groups_example():
    # 75% × 0.20 + 98% × 0.50 + 87% × 0.30 = 90.1%
    result = run(CANVAS_CATS, items((1, 1, 100), (2, 2, 100), (3, 3, 100)), {1: {1: "75", 2: "98", 3: "87"}})
    assert pct(result) == D("90.10")


def test_canvas_group_without_graded_work_drops_out_and_weights_scale():
    # [(.75 × .20) + (.98 × .50)] ÷ .70 = .9143 → 91.43%
    result = run(CANVAS_CATS, items((1, 1, 100), (2, 2, 100), (3, 3, 100, {"due_at": FUTURE})),
                 {1: {1: "75", 2: "98", 3: None}})
    assert pct(result) == D("91.43")
    # FINAL: group C's work is not yet due, so it is still left out
    assert pct(result, mode=FINAL) == D("91.43")


# --- CENG 501: 20 / 35 / 45 ----------------------------------------------------------------

CENG = cats((1, 20, "total_points", 0, 0), (2, 35, "total_points", 0, 0), (3, 45, "total_points", 0, 0))
CENG_ITEMS = items((1, 1, 10), (2, 1, 10), (3, 2, 100), (4, 3, 60), (5, 3, 40))


def test_ceng501_weighted_total():
    # quizzes 17/20 = 85%; final 72%; project (50+30)/100 = 80%
    # 0.20·85 + 0.35·72 + 0.45·80 = 17 + 25.2 + 36 = 78.2
    result = run(CENG, CENG_ITEMS, {1: {1: "9", 2: "8", 3: "72", 4: "50", 5: "30"}})
    assert pct(result) == D("78.20")
    assert letter_for(pct(result)) == "CB"


def test_current_ignores_missing_final_counts_past_due_missing_as_zero():
    # current: quizzes 9/10 = 90% (quiz 2 missing), final 72%, project 50/60
    #   (0.2·90 + 0.35·72 + 0.45·83.333…) = 18 + 25.2 + 37.5 = 80.7
    # final: quiz 2 past due → 9/20 = 45%; project part 2 past due → 50/100 = 50%
    #   0.2·45 + 0.35·72 + 0.45·50 = 9 + 25.2 + 22.5 = 56.7
    result = run(CENG, CENG_ITEMS, {1: {1: "9", 2: None, 3: "72", 4: "50", 5: None}})
    assert pct(result) == D("80.70")
    assert pct(result, mode=FINAL) == D("56.70")


def test_missing_work_before_its_due_date_is_ignored_in_final_too():
    item_frame = items((1, 1, 10), (2, 1, 10, {"due_at": FUTURE}))
    result = run(cats((1, 100, "total_points", 0, 0)), item_frame, {1: {1: "6", 2: None}})
    assert pct(result, mode=FINAL) == D("60.00")


def test_missing_work_without_a_due_date_counts_as_zero_in_final():
    item_frame = items((1, 1, 10), (2, 1, 10, {"due_at": None}))
    result = run(cats((1, 100, "total_points", 0, 0)), item_frame, {1: {1: "6", 2: None}})
    # 6 / 20
    assert pct(result, mode=FINAL) == D("30.00")


def test_category_with_nothing_graded_drops_out_of_current():
    # only the final exam is graded: the total is the final exam's percentage
    result = run(CENG, CENG_ITEMS, {1: {1: None, 2: None, 3: "64.5", 4: None, 5: None}})
    assert pct(result) == D("64.50")
    assert cat_pct(result, 1) is None


def test_nothing_graded_gives_no_total():
    result = run(CENG, CENG_ITEMS, {1: {1: None, 2: None, 3: None, 4: None, 5: None}})
    assert pct(result) is None
    assert letter_for(pct(result)) == ""


def test_excused_item_leaves_numerator_and_denominator():
    # quiz 1 excused: quizzes = 4/10 = 40% both current and final
    result = run(cats((1, 100, "total_points", 0, 0)), items((1, 1, 10), (2, 1, 10)), {1: {1: "E", 2: "4"}})
    assert pct(result) == D("40.00")
    assert pct(result, mode=FINAL) == D("40.00")


def test_all_excused_category_has_no_score_even_in_final():
    result = run(CENG, CENG_ITEMS, {1: {1: "E", 2: "E", 3: "50", 4: "30", 5: "20"}})
    # quizzes out; (0.35·50 + 0.45·50)/0.80 = 50
    assert cat_pct(result, 1, mode=FINAL) is None
    assert pct(result, mode=FINAL) == D("50.00")


# --- extra credit -----------------------------------------------------------------------------

def test_extra_credit_adds_to_numerator_only():
    # (8 + 7 + 3 bonus) / (10 + 10) = 18/20 = 90%
    item_frame = items((1, 1, 10), (2, 1, 10), (3, 1, 5, {"ec": True}))
    result = run(cats((1, 100, "total_points", 0, 0)), item_frame, {1: {1: "8", 2: "7", 3: "3"}})
    assert pct(result) == D("90.00")


def test_extra_credit_can_take_a_category_above_100():
    item_frame = items((1, 1, 10), (2, 1, 5, {"ec": True}))
    result = run(cats((1, 100, "total_points", 0, 0)), item_frame, {1: {1: "10", 2: "2.5"}})
    assert pct(result) == D("125.00")


def test_extra_credit_in_mean_of_percentages_adds_its_percentage_without_counting():
    # (80% + 60% + 50% bonus) / 2 = 95%
    item_frame = items((1, 1, 10), (2, 1, 20), (3, 1, 4, {"ec": True}))
    result = run(cats((1, 100, "mean", 0, 0)), item_frame, {1: {1: "8", 2: "12", 3: "2"}})
    assert pct(result) == D("95.00")


def test_missing_extra_credit_is_harmless_in_final():
    item_frame = items((1, 1, 10), (2, 1, 5, {"ec": True}))
    result = run(cats((1, 100, "total_points", 0, 0)), item_frame, {1: {1: "7", 2: None}})
    assert pct(result, mode=FINAL) == D("70.00")


# --- drops --------------------------------------------------------------------------------------

def test_drop_lowest_with_different_maxima_drops_what_helps_most_not_the_lowest_percentage():
    # A 10/20 (50%), B 55/100 (55%), C 20/20.
    # drop A (lowest %): (55+20)/120 = 62.5%;  drop B: (10+20)/40 = 75%;  drop C: 65/120 = 54.17%
    item_frame = items((1, 1, 20), (2, 1, 100), (3, 1, 20))
    result = run(cats((1, 100, "total_points", 1, 0)), item_frame, {1: {1: "10", 2: "55", 3: "20"}})
    assert pct(result) == D("75.00")
    assert list(result.dropped[CURRENT][0]) == [False, True, False]


def test_drop_two_lowest_is_not_greedy_for_total_points():
    # Items: A 0/1 (0%)? no — A 1/2, B 40/100, C 45/100, D 9/10.
    # Greedy by removal: first drop B → (1+45+9)/112 = 49.1%; then best of rest: drop C → 10/12 = 83.33%.
    # All pairs: {A,B}: 54/110=49.09 {A,C}: 49/110=44.55 {A,D}: 85/200=42.5 {B,C}: 10/12=83.33
    #            {B,D}: 46/102=45.10 {C,D}: 41/102=40.2   → best {B,C}: 83.33
    item_frame = items((1, 1, 2), (2, 1, 100), (3, 1, 100), (4, 1, 10))
    result = run(cats((1, 100, "total_points", 2, 0)), item_frame, {1: {1: "1", 2: "40", 3: "45", 4: "9"}})
    assert pct(result) == D("83.33")


def test_greedy_one_at_a_time_would_be_wrong():
    # A 4/10, B 3/10, C 90/100, D 8/100.  Drop 2.
    # Greedy: best single drop is D (97/120 = 80.83%); then best second: B → 94/110 = 85.45%.
    # Optimal: drop {A, B}? 98/200 = 49%; {B, D}: 94/110 = 85.45; {A, D}: 93/110 = 84.55; {C, D}: 7/20 = 35
    # Here greedy happens to agree: pick a case where it does not —
    # A 1/1 (100%), B 50/100, C 0/1, D 48/100. Drop 2:
    #   single best: drop D → 51/102 (50%) vs drop C → 99/201 (49.25%) vs drop B → 49/102 (48.04%)
    #   greedy then: from {A,B,C} drop C → 51/101 = 50.50%
    #   optimal: drop {B, D} → 1/2 = 50%? drop {C, D}: 51/101 = 50.50; drop {B, C}: 49/101;
    #            drop {A, C}: 98/200 = 49%  → optimum 50.50 (greedy matches)
    # The non-greedy case above (test_drop_two_lowest_is_not_greedy_for_total_points) is the real check;
    # here we check ties leave one combination and a sane total.
    item_frame = items((1, 1, 1), (2, 1, 100), (3, 1, 1), (4, 1, 100))
    result = run(cats((1, 100, "total_points", 2, 0)), item_frame, {1: {1: "1", 2: "50", 3: "0", 4: "48"}})
    assert pct(result) == D("50.50")
    assert result.dropped[CURRENT][0].sum() == 2


def test_never_drop_item_is_kept_even_when_lowest():
    # A 2/10 never drop, B 5/10, C 9/10; drop 1 → must drop B: (2+9)/20 = 55%
    item_frame = items((1, 1, 10, {"never_drop": True}), (2, 1, 10), (3, 1, 10))
    result = run(cats((1, 100, "total_points", 1, 0)), item_frame, {1: {1: "2", 2: "5", 3: "9"}})
    assert pct(result) == D("55.00")


def test_drop_highest_removes_what_lowers_the_score_most():
    # A 10/10, B 30/100, C 5/10; drop highest 1:
    #   drop A: 35/110 = 31.82%; drop B: 15/20 = 75%; drop C: 40/110 = 36.36% → 31.82
    item_frame = items((1, 1, 10), (2, 1, 100), (3, 1, 10))
    result = run(cats((1, 100, "total_points", 0, 1)), item_frame, {1: {1: "10", 2: "30", 3: "5"}})
    assert pct(result) == D("31.82")


def test_drop_lowest_and_highest_together():
    # mean of percentages; 100%, 90%, 40%, 70%; drop 1 lowest, 1 highest → (90+70)/2 = 80%
    item_frame = items((1, 1, 10), (2, 1, 10), (3, 1, 10), (4, 1, 10))
    result = run(cats((1, 100, "mean", 1, 1)), item_frame, {1: {1: "10", 2: "9", 3: "4", 4: "7"}})
    assert pct(result) == D("80.00")


def test_drops_never_remove_the_last_counted_item():
    item_frame = items((1, 1, 10), (2, 1, 10, {"due_at": FUTURE}))
    result = run(cats((1, 100, "total_points", 2, 0)), item_frame, {1: {1: "3", 2: None}})
    assert pct(result) == D("30.00")


def test_missing_past_due_counts_as_a_zero_that_can_be_dropped_in_final():
    # quiz 3 missing (past due) → 0; drop lowest 1 drops it: (7 + 9)/20 = 80%
    item_frame = items((1, 1, 10), (2, 1, 10), (3, 1, 10))
    result = run(cats((1, 100, "total_points", 1, 0)), item_frame, {1: {1: "7", 2: "9", 3: None}})
    assert pct(result, mode=FINAL) == D("80.00")
    assert list(result.dropped[FINAL][0]) == [False, False, True]
    # current: only 7 and 9 count, one is dropped: 9/10
    assert pct(result) == D("90.00")


def test_excused_items_are_not_drop_candidates():
    # A excused, B 3/10, C 8/10, drop 1 → drop B: 80%
    item_frame = items((1, 1, 10), (2, 1, 10), (3, 1, 10))
    result = run(cats((1, 100, "total_points", 1, 0)), item_frame, {1: {1: "E", 2: "3", 3: "8"}})
    assert pct(result) == D("80.00")
    assert not result.dropped[CURRENT][0][0]


def test_drops_are_chosen_per_student():
    item_frame = items((1, 1, 10), (2, 1, 10), (3, 1, 10))
    result = run(cats((1, 100, "total_points", 1, 0)), item_frame,
                 {1: {1: "1", 2: "9", 3: "9"}, 2: {1: "9", 2: "9", 3: "1"}})
    assert list(result.total_percent()) == [D("90.00"), D("90.00")]
    assert result.dropped[CURRENT][:, 0].tolist() == [True, False]


def test_weighted_mean_uses_item_weights_in_the_category():
    # 80% × 1 + 50% × 3 → (80 + 150)/4 = 57.5
    item_frame = items((1, 1, 10, {"weight": 1}), (2, 1, 20, {"weight": 3}))
    result = run(cats((1, 100, "weighted_mean", 0, 0)), item_frame, {1: {1: "8", 2: "10"}})
    assert pct(result) == D("57.50")


# --- rounding ------------------------------------------------------------------------------------

def test_rounding_at_the_half_hundredth_goes_up():
    # 16.999/20 → 84.995% exactly → 85.00 (half up), then the letter is BA
    result = run(cats((1, 100, "total_points", 0, 0)), items((1, 1, 200)), {1: {1: "169.99"}})
    assert result.total_exact()[1] == Fraction(8499500, 100000)
    assert pct(result) == D("85.00")
    assert letter_for(pct(result)) == "BA"


def test_rounding_just_below_the_half_goes_down():
    # 1/3 of 100 = 33.333… → 33.33;  2/3 → 66.666… → 66.67
    result = run(cats((1, 100, "total_points", 0, 0)), items((1, 1, 3)), {1: {1: "1"}, 2: {1: "2"}})
    assert list(result.total_percent()) == [D("33.33"), D("66.67")]


def test_no_binary_float_drift_in_sums():
    # 0.1 + 0.2 points out of 0.3: exactly 100%, where floats give 100.00000000000001
    item_frame = items((1, 1, "0.1"), (2, 1, "0.2"))
    result = run(cats((1, 100, "total_points", 0, 0)), item_frame, {1: {1: "0.1", 2: "0.2"}})
    assert result.total_exact()[1] == 100


def test_round_half_up_helper():
    assert round_half_up(D("2.675")) == D("2.68")
    assert round_half_up(D("2.665")) == D("2.67")


# --- letters ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "total, letter",
    [("100", "AA"), ("90", "AA"), ("89.99", "BA"), ("85", "BA"), ("80", "BB"), ("75", "CB"), ("70", "CC"),
     ("65", "DC"), ("60", "DD"), ("59.99", "FD"), ("50", "FD"), ("49.99", "FF"), ("0", "FF")],
)
def test_metu_letters_at_their_cutoffs(total, letter):
    assert letter_for(D(total), METU_SCALE) == letter


def test_curved_scale_moves_a_cutoff():
    curved = [(letter, D("88") if letter == "AA" else cut, gp) for letter, cut, gp in METU_SCALE]
    assert letter_for(D("88.5"), METU_SCALE) == "BA"
    assert letter_for(D("88.5"), curved) == "AA"
    assert validate_scale(curved) == []


def test_scale_problems_are_reported():
    assert validate_scale(list(METU_SCALE)) == []
    bad = [("AA", D("90"), D("4")), ("BA", D("90"), D("3.5"))]
    problems = validate_scale(bad)
    assert any("same cut-off" in p for p in problems) and any("start at 0" in p for p in problems)
    inverted = [("AA", D("80"), D("4")), ("BA", D("85"), D("3.5")), ("FF", D("0"), D("0"))]
    assert any("higher grade point needs a higher cut-off" in p for p in validate_scale(inverted))


# --- late penalty (pure) ------------------------------------------------------------------------------

def test_late_penalty_per_started_hour():
    due = dt.datetime(2024, 11, 6, 23, 59, tzinfo=UTC)
    penalty = late_penalty(raw_points=D("50"), due_at=due, submitted_at=due + dt.timedelta(hours=2, seconds=1),
                           percent_per_unit=D("5"), unit="hour", floor_percent=D("0"))
    # 3 started hours × 5% = 15% of 50 = 7.5
    assert (penalty.units_late, penalty.percent, penalty.points) == (3, D("15"), D("7.50"))


def test_no_penalty_on_time_or_without_due_date():
    due = dt.datetime(2024, 11, 6, 23, 59, tzinfo=UTC)
    assert late_penalty(raw_points=D("5"), due_at=due, submitted_at=due, percent_per_unit=D("10"),
                        unit="day", floor_percent=D("0")).points == 0
    assert late_penalty(raw_points=D("5"), due_at=None, submitted_at=due, percent_per_unit=D("10"),
                        unit="day", floor_percent=D("0")).points == 0


def test_unweighted_course_weighs_categories_by_points_possible():
    # A: 5/10, B: 30/30 → (5 + 30)/(10 + 30) = 87.5%
    result = run(cats((1, 0, "total_points", 0, 0), (2, 0, "total_points", 0, 0)),
                 items((1, 1, 10), (2, 2, 30)), {1: {1: "5", 2: "30"}})
    assert pct(result) == D("87.50")
