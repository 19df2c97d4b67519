"""Course-wide rules of the engine (issue: Canvas and Moodle semantics), on small hand-built frames:
points mode and excused work, late penalty bases, the missing-work policy, absolute weights.
Every expected number is computed by hand in the comment above it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from grading.calculations import (
    ABSOLUTE,
    CURRENT,
    FINAL,
    GradingOptions,
    compute,
    late_penalty,
)
from grading.tests.test_calculations import FUTURE, NOW, cats, grades, items, pct

UTC = dt.UTC


def run(categories, item_frame, table, **options):
    return compute(categories=categories, items=item_frame, grades=grades(table), now=NOW,
                   options=GradingOptions(**options))


# --- points mode (every category weighs 0) ------------------------------------------------------------

POINTS_CATS = cats((1, 0, "total_points", 0, 0), (2, 0, "total_points", 0, 0))


def test_points_mode_excused_item_is_as_if_it_did_not_exist():
    # C1 5/10; C2: a 100-point item excused and 30/30.
    # Canvas's points mode: (5 + 30)/(10 + 30) = 87.50 (the excused item weighs nothing);
    # weighing C2 by all its points possible would give (10·50% + 130·100%)/140 = 96.43.
    with_excused = run(POINTS_CATS, items((1, 1, 10), (2, 2, 100), (3, 2, 30)), {1: {1: "5", 2: "E", 3: "30"}})
    deleted = run(POINTS_CATS, items((1, 1, 10), (3, 2, 30)), {1: {1: "5", 3: "30"}})
    for mode in (CURRENT, FINAL):
        assert pct(with_excused, mode=mode) == D("87.50")
        assert with_excused.total_exact(mode)[1] == deleted.total_exact(mode)[1]


def test_points_mode_current_total_is_points_earned_over_points_graded():
    # C1: 5/10 and a 90-point item missing (past due); C2: 30/30.
    # current: graded work only, as Canvas: (5 + 30)/(10 + 30) = 87.50
    # final: the missing item counts 0 out of 90: 35/130 = 26.923… → 26.92
    result = run(POINTS_CATS, items((1, 1, 10), (2, 1, 90), (3, 2, 30)), {1: {1: "5", 2: None, 3: "30"}})
    assert pct(result) == D("87.50")
    assert pct(result, mode=FINAL) == D("26.92")
    assert result.points_mode


def test_points_mode_weighs_a_category_with_drops_by_all_its_counted_points():
    # C1 (drop lowest 1): 2/10, 8/10 → 80% after the drop, but C1 still weighs its 20 points;
    # C2: 10/20 = 50%, weighs 20. (20·80 + 20·50)/40 = 65.00. Weights that followed the drop (10 and 20)
    # would give 60.00 and could fall when a grade rises (the drop moves to a heavier item).
    categories = cats((1, 0, "total_points", 1, 0), (2, 0, "total_points", 0, 0))
    result = run(categories, items((1, 1, 10), (2, 1, 10), (3, 2, 20)), {1: {1: "2", 2: "8", 3: "10"}})
    assert pct(result) == D("65.00")


# --- weighted courses: excused is absent too ----------------------------------------------------------

def test_weighted_course_excused_item_is_as_if_it_did_not_exist_in_both_modes():
    # C1 (50%): 6/10 and a 10-point item excused → 60%; C2 (50%): 9/10 → 90%. Total 75.00.
    categories = cats((1, 50, "total_points", 0, 0), (2, 50, "total_points", 0, 0))
    result = run(categories, items((1, 1, 10), (2, 1, 10), (3, 2, 10)), {1: {1: "6", 2: "E", 3: "9"}})
    deleted = run(categories, items((1, 1, 10), (3, 2, 10)), {1: {1: "6", 3: "9"}})
    for mode in (CURRENT, FINAL):
        assert pct(result, mode=mode) == D("75.00")
        assert result.total_exact(mode)[1] == deleted.total_exact(mode)[1]


# --- absolute weights ---------------------------------------------------------------------------------

BONUS_CATS = cats((1, 45, "total_points", 0, 0), (2, 40, "total_points", 0, 0), (3, 20, "total_points", 0, 0))
BONUS_ITEMS = items((1, 1, 100), (2, 2, 100), (3, 3, 100))


def test_absolute_weights_above_100_keep_the_total_above_100_percent_like_canvas():
    # weights 45/40/20 (105 in all), scores 80/90/100:
    # absolute (Canvas): 0.45·80 + 0.40·90 + 0.20·100 = 36 + 36 + 20 = 92.00
    # normalised: 92 ÷ 1.05 = 87.619… → 87.62
    table = {1: {1: "80", 2: "90", 3: "100"}, 2: {1: "100", 2: "100", 3: "100"}}
    absolute = run(BONUS_CATS, BONUS_ITEMS, table, weighting=ABSOLUTE)
    normalised = run(BONUS_CATS, BONUS_ITEMS, table)
    assert pct(absolute) == D("92.00")
    assert pct(normalised) == D("87.62")
    # full marks everywhere: 105% absolute, 100% normalised
    assert pct(absolute, student=2) == D("105.00")
    assert pct(normalised, student=2) == D("100.00")


def test_absolute_weights_still_scale_up_when_the_categories_with_a_score_weigh_less_than_100():
    # only C1 (45) and C2 (40) graded: 85 < 100, so (36 + 36)/85 = 84.705… → 84.71, in both weightings
    item_frame = items((1, 1, 100), (2, 2, 100), (3, 3, 100, {"due_at": FUTURE}))
    table = {1: {1: "80", 2: "90", 3: None}}
    assert pct(run(BONUS_CATS, item_frame, table, weighting=ABSOLUTE)) == D("84.71")
    assert pct(run(BONUS_CATS, item_frame, table)) == D("84.71")


def test_absolute_weights_that_add_up_to_100_change_nothing():
    # Canvas's published example (test_calculations): 75/98/87 at 20/50/30 → 90.10 either way
    categories = cats((1, 20, "total_points", 0, 0), (2, 50, "total_points", 0, 0), (3, 30, "total_points", 0, 0))
    result = run(categories, items((1, 1, 100), (2, 2, 100), (3, 3, 100)), {1: {1: "75", 2: "98", 3: "87"}},
                 weighting=ABSOLUTE)
    assert pct(result) == D("90.10")


def test_absolute_weighting_is_ignored_in_points_mode():
    result = run(POINTS_CATS, items((1, 1, 10), (2, 2, 30)), {1: {1: "5", 2: "30"}}, weighting=ABSOLUTE)
    assert pct(result) == D("87.50")


def test_unknown_weighting_is_refused():
    with pytest.raises(ValueError):
        GradingOptions(weighting="sum")


# --- missing-work policy ------------------------------------------------------------------------------

ONE_CAT = cats((1, 100, "total_points", 0, 0))


def test_missing_policy_scores_missing_work_past_due_in_both_totals():
    # 8/10 graded; a 10-point item missing past due; a 10-point item missing, not due yet.
    # policy 50%: the past-due one counts 5/10 in both totals: (8 + 5)/20 = 65.00 (the future one: neither)
    # without the policy: current 8/10 = 80.00; final (8 + 0)/20 = 40.00
    item_frame = items((1, 1, 10), (2, 1, 10), (3, 1, 10, {"due_at": FUTURE}))
    table = {1: {1: "8", 2: None, 3: None}}
    policy = run(ONE_CAT, item_frame, table, missing_percent=D("50"))
    assert (pct(policy), pct(policy, mode=FINAL)) == (D("65.00"), D("65.00"))
    assert policy.missing_policy[0].tolist() == [False, True, False]
    plain = run(ONE_CAT, item_frame, table)
    assert (pct(plain), pct(plain, mode=FINAL)) == (D("80.00"), D("40.00"))


def test_missing_policy_leaves_items_without_due_date_and_extra_credit_alone():
    # 6/10 graded; a 10-point item without due date missing; a 5-point extra-credit item missing past due.
    # policy 70%: neither is scored. current 6/10 = 60.00; final (6 + 0)/20 = 30.00 (no due date counts 0)
    item_frame = items((1, 1, 10), (2, 1, 10, {"due_at": None}), (3, 1, 5, {"ec": True}))
    result = run(ONE_CAT, item_frame, {1: {1: "6", 2: None, 3: None}}, missing_percent=D("70"))
    assert (pct(result), pct(result, mode=FINAL)) == (D("60.00"), D("30.00"))
    assert not result.missing_policy.any()


def test_missing_policy_points_are_rounded_half_up_to_hundredths():
    # 50% of 0.15 points = 0.075 → 0.08; 0.08/0.15 = 53.333… → 53.33
    result = run(ONE_CAT, items((1, 1, "0.15")), {1: {1: None}}, missing_percent=D("50"))
    assert pct(result) == D("53.33")


def test_missing_policy_scores_are_drop_candidates():
    # drop lowest 1; 9/10, 7/10, one missing past due scored 0% (policy 0) → dropped: (9 + 7)/20 = 80.00
    item_frame = items((1, 1, 10), (2, 1, 10), (3, 1, 10))
    result = run(cats((1, 100, "total_points", 1, 0)), item_frame, {1: {1: "9", 2: "7", 3: None}},
                 missing_percent=D("0"))
    assert pct(result) == D("80.00")
    assert result.dropped[CURRENT][0].tolist() == [False, False, True]


def test_excused_work_is_never_scored_by_the_missing_policy():
    result = run(ONE_CAT, items((1, 1, 10), (2, 1, 10)), {1: {1: "4", 2: "E"}}, missing_percent=D("50"))
    assert (pct(result), pct(result, mode=FINAL)) == (D("40.00"), D("40.00"))


# --- late penalty bases -------------------------------------------------------------------------------

DUE = dt.datetime(2024, 11, 6, 23, 59, tzinfo=UTC)
TWO_DAYS_LATE = DUE + dt.timedelta(days=1, hours=1)  # 2 started days


def _late(raw, base, *, percent="10", floor="0", submitted=TWO_DAYS_LATE, possible="10"):
    return late_penalty(raw_points=D(raw), due_at=DUE, submitted_at=submitted, percent_per_unit=D(percent),
                        unit="day", floor_percent=D(floor), base=base, points_possible=D(possible))


def test_late_penalty_of_the_score_is_todays_rule():
    # 6/10 two days late at 10%/day of the score: 6 − 20%·6 = 6 − 1.2 = 4.80
    penalty = _late("6", "score")
    assert (penalty.units_late, penalty.percent, penalty.points) == (2, D("20"), D("1.20"))


def test_late_penalty_of_points_possible_is_canvass_rule():
    # 6/10 two days late at 10%/day of points possible: 6 − 20%·10 = 6 − 2 = 4.00
    penalty = _late("6", "possible")
    assert (penalty.units_late, penalty.percent, penalty.points) == (2, D("20"), D("2.00"))


def test_late_floor_is_a_percent_of_the_same_base():
    eight_days = DUE + dt.timedelta(days=7, minutes=1)
    # score base, floor 50%: 80% capped at 50% of the score: 6 → 3.00 (penalty 3)
    assert _late("6", "score", floor="50", submitted=eight_days).points == D("3.00")
    # points-possible base, floor 50% of 10 = 5: 80%·10 = 8 capped at 6 − 5 = 1 → 5.00 (penalty 1)
    assert _late("6", "possible", floor="50", submitted=eight_days).points == D("1.00")
    # a score already below the floor loses nothing (Canvas)
    assert _late("4", "possible", floor="50", submitted=eight_days).points == D("0.00")


def test_late_penalty_of_points_possible_never_takes_the_score_below_zero():
    # 3/10, 5 days late at 10%/day of points possible: 5 points off, but only 3 to take → 0
    assert _late("3", "possible", submitted=DUE + dt.timedelta(days=4, hours=1)).points == D("3.00")


def test_late_penalty_of_points_possible_rounds_half_up():
    # 2 days × 12.5% of 0.1 points = 0.025 → 0.03
    assert _late("0.1", "possible", percent="12.5", possible="0.1").points == D("0.03")


def test_late_penalty_base_is_checked():
    with pytest.raises(ValueError):
        _late("6", "grade")
    with pytest.raises(ValueError):
        late_penalty(raw_points=D("6"), due_at=DUE, submitted_at=TWO_DAYS_LATE, percent_per_unit=D("10"),
                     unit="day", floor_percent=D("0"), base="possible")


def test_missing_policy_starts_at_the_due_instant_itself():
    # due exactly now: past due (as for the final total's zeros), so the policy's 50% counts: 5/10 = 50.00;
    # a second later it is not due yet: nothing counts
    at_now = run(ONE_CAT, items((1, 1, 10, {"due_at": NOW})), {1: {1: None}}, missing_percent=D("50"))
    assert (pct(at_now), pct(at_now, mode=FINAL)) == (D("50.00"), D("50.00"))
    later = run(ONE_CAT, items((1, 1, 10, {"due_at": NOW + dt.timedelta(seconds=1)})), {1: {1: None}},
                missing_percent=D("50"))
    assert (pct(later), pct(later, mode=FINAL)) == (None, None)


def test_late_penalty_in_another_time_zone_counts_started_days_from_the_same_instant():
    # due 23:59 in Istanbul (20:59 UTC); handed in 00:30 the next day in Istanbul = 31 minutes late: 1 started day
    from zoneinfo import ZoneInfo

    due = dt.datetime(2024, 11, 6, 23, 59, tzinfo=ZoneInfo("Europe/Istanbul"))
    handed_in = dt.datetime(2024, 11, 6, 21, 30, tzinfo=UTC)
    penalty = late_penalty(raw_points=D("6"), due_at=due, submitted_at=handed_in, percent_per_unit=D("10"),
                           unit="day", floor_percent=D("0"), base="possible", points_possible=D("10"))
    assert (penalty.units_late, penalty.points) == (1, D("1.00"))
