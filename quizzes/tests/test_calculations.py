"""Pure quiz arithmetic: each question type's grading, attempts, time, review policy, statistics."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quizzes import calculations as calc
from quizzes.calculations import Key, KeyAnswer

UTC = dt.UTC


def choices(*fractions):
    return tuple(KeyAnswer(id=i + 1, text=f"c{i + 1}", fraction=D(f), feedback=f"fb{i + 1}") for i, f in enumerate(fractions))


# --- single choice -----------------------------------------------------------------

def test_single_choice_right_wrong_and_partial():
    key = Key(qtype="single", answers=choices("1", "0", "0.5"))
    assert calc.grade_answer(key, 1).fraction == D("1")
    assert calc.grade_answer(key, 2).fraction == D("0")
    assert calc.grade_answer(key, 3).fraction == D("0.5")
    assert calc.grade_answer(key, 1).feedback == ("fb1",)


def test_single_choice_unknown_id_scores_zero():
    assert calc.grade_answer(Key(qtype="single", answers=choices("1", "0")), 99).fraction == D("0")


# --- multiple choice ---------------------------------------------------------------

def test_multi_choice_partial_credit_sums_fractions():
    key = Key(qtype="multi", answers=choices("0.5", "0.5", "-1"))
    assert calc.grade_answer(key, [1]).fraction == D("0.5")
    assert calc.grade_answer(key, [1, 2]).fraction == D("1")


def test_multi_choice_wrong_choice_subtracts_and_is_floored_at_zero():
    key = Key(qtype="multi", answers=choices("0.5", "0.5", "-0.5", "-1"))
    assert calc.grade_answer(key, [1, 2, 3]).fraction == D("0.5")
    assert calc.grade_answer(key, [1, 4]).fraction == D("0")  # 0.5 - 1 floored


def test_multi_choice_total_is_capped_at_one():
    key = Key(qtype="multi", answers=choices("0.6", "0.6"))
    assert calc.grade_answer(key, [1, 2]).fraction == D("1")


@given(st.lists(st.integers(min_value=1, max_value=5), unique=True))
def test_multi_choice_fraction_always_between_zero_and_one(chosen):
    key = Key(qtype="multi", answers=choices("0.5", "0.5", "-1", "-0.333", "0.25"))
    fraction = calc.grade_answer(key, chosen).fraction
    assert D("0") <= fraction <= D("1")


# --- true/false --------------------------------------------------------------------

def test_true_false():
    key = Key(qtype="truefalse", correct_bool=False, true_feedback="no", false_feedback="yes")
    assert calc.grade_answer(key, False).fraction == D("1")
    assert calc.grade_answer(key, True).fraction == D("0")
    assert calc.grade_answer(key, True).feedback == ("no",)


# --- numeric -----------------------------------------------------------------------

def test_numeric_within_tolerance_counts_and_outside_does_not():
    key = Key(qtype="numeric", answers=(KeyAnswer(id=1, value=D("3.14"), tolerance=D("0.01"), fraction=D("1")),))
    assert calc.grade_answer(key, "3.15").fraction == D("1")
    assert calc.grade_answer(key, "3.13").fraction == D("1")
    assert calc.grade_answer(key, "3.16").fraction == D("0")


def test_numeric_accepts_decimal_comma_and_exponent_and_rejects_text():
    key = Key(qtype="numeric", answers=(KeyAnswer(id=1, value=D("0.001"), tolerance=D("0"), fraction=D("1")),))
    assert calc.grade_answer(key, "0,001").fraction == D("1")
    assert calc.grade_answer(key, "1e-3").fraction == D("1")
    assert calc.grade_answer(key, "about 0.001").fraction == D("0")


def test_numeric_first_matching_answer_wins_for_partial_credit():
    key = Key(qtype="numeric", answers=(
        KeyAnswer(id=1, value=D("2"), tolerance=D("0"), fraction=D("1")),
        KeyAnswer(id=2, value=D("2"), tolerance=D("1"), fraction=D("0.5")),
    ))
    assert calc.grade_answer(key, "2").fraction == D("1")
    assert calc.grade_answer(key, "2.8").fraction == D("0.5")


# --- short answer ------------------------------------------------------------------

def short_key(*texts, **kw):
    return Key(qtype="short", answers=tuple(KeyAnswer(id=i, text=t, fraction=D("1")) for i, t in enumerate(texts)), **kw)


def test_short_answer_ignores_case_and_extra_whitespace_by_default():
    key = short_key("gradient descent", "SGD")
    assert calc.grade_answer(key, "  Gradient   DESCENT ").fraction == D("1")
    assert calc.grade_answer(key, "sgd").fraction == D("1")
    assert calc.grade_answer(key, "adam").fraction == D("0")


def test_short_answer_case_sensitive_when_asked():
    key = short_key("ReLU", case_sensitive=True)
    assert calc.grade_answer(key, "ReLU").fraction == D("1")
    assert calc.grade_answer(key, "relu").fraction == D("0")


def test_short_answer_regular_expression():
    key = short_key(r"(leaky )?relu", use_regex=True)
    assert calc.grade_answer(key, "Leaky ReLU").fraction == D("1")
    assert calc.grade_answer(key, "relu6").fraction == D("0")  # full match only


def test_short_answer_moodle_wildcard():
    key = short_key("*transformer*")
    assert calc.grade_answer(key, "Vision Transformer (ViT)").fraction == D("1")


def test_short_answer_partial_credit_answer():
    key = Key(qtype="short", answers=(KeyAnswer(id=1, text="adam", fraction=D("1")),
                                      KeyAnswer(id=2, text="sgd", fraction=D("0.5"))))
    assert calc.grade_answer(key, "SGD").fraction == D("0.5")


# --- essay and manual review --------------------------------------------------------

def test_essay_needs_a_grader_and_has_no_fraction():
    outcome = calc.grade_answer(Key(qtype="essay"), "Attention lets tokens mix.")
    assert outcome.fraction is None and outcome.needs_manual


def test_blank_essay_scores_zero_without_a_grader():
    outcome = calc.grade_answer(Key(qtype="essay"), "   ")
    assert outcome.fraction == D("0") and not outcome.needs_manual


def test_question_marked_for_review_keeps_the_automatic_grade_as_a_suggestion():
    outcome = calc.grade_answer(Key(qtype="single", answers=choices("1", "0"), manual_review=True), 1)
    assert outcome.fraction == D("1") and outcome.needs_manual


# --- points, attempts --------------------------------------------------------------

def test_points_round_half_up_to_cents():
    assert calc.points_for(D("0.3333333"), D("2")) == D("0.67")
    assert calc.points_for(None, D("2")) is None


def test_attempt_score_is_none_while_an_answer_waits_for_a_grader():
    assert calc.attempt_score([D("1"), D("0.5")]) == D("1.50")
    assert calc.attempt_score([D("1"), None]) is None


T0 = dt.datetime(2024, 10, 9, 9, 0, tzinfo=UTC)
ATTEMPTS = [
    calc.FinishedAttempt(number=1, score=D("6"), submitted_at=T0),
    calc.FinishedAttempt(number=2, score=D("9"), submitted_at=T0 + dt.timedelta(hours=1)),
    calc.FinishedAttempt(number=3, score=D("7"), submitted_at=T0 + dt.timedelta(hours=2)),
]


@pytest.mark.parametrize(
    "method, score, hours",
    [("highest", D("9"), 1), ("first", D("6"), 0), ("last", D("7"), 2), ("average", D("7.33"), 2)],
)
def test_grading_methods_across_attempts(method, score, hours):
    assert calc.combine_attempts(method, ATTEMPTS) == (score, T0 + dt.timedelta(hours=hours))


def test_no_graded_attempt_gives_no_grade():
    assert calc.combine_attempts("highest", []) is None


# --- time --------------------------------------------------------------------------

def test_deadline_is_start_plus_limit_when_that_comes_first():
    close = T0 + dt.timedelta(hours=5)
    assert calc.attempt_deadline(started_at=T0, time_limit=dt.timedelta(minutes=30), closes_at=close) == T0 + dt.timedelta(minutes=30)


def test_deadline_is_the_closing_time_when_the_limit_would_run_past_it():
    close = T0 + dt.timedelta(minutes=10)
    assert calc.attempt_deadline(started_at=T0, time_limit=dt.timedelta(minutes=30), closes_at=close) == close


def test_deadline_without_a_limit_is_the_closing_time():
    assert calc.attempt_deadline(started_at=T0, time_limit=None, closes_at=T0 + dt.timedelta(days=1)) == T0 + dt.timedelta(days=1)


def test_grace_period_accepts_answers_just_after_the_deadline():
    assert calc.accepts_answers(deadline=T0, grace_seconds=5, now=T0 + dt.timedelta(seconds=5))
    assert not calc.accepts_answers(deadline=T0, grace_seconds=5, now=T0 + dt.timedelta(seconds=5, microseconds=1))


# --- review policy -----------------------------------------------------------------

def test_review_parts_nothing_before_submission():
    assert calc.review_parts(after_submit=["score"], after_close=["correct"], attempt_finished=False,
                             closes_at=T0, now=T0 + dt.timedelta(days=1)) == frozenset()


def test_review_parts_after_submit_then_after_close():
    kw = dict(after_submit=["score"], after_close=["answers", "correct"], attempt_finished=True, closes_at=T0)
    assert calc.review_parts(now=T0 - dt.timedelta(seconds=1), **kw) == {"score"}
    assert calc.review_parts(now=T0, **kw) == {"score", "answers", "correct"}


# --- layout ------------------------------------------------------------------------

def test_layout_is_stable_for_a_seed_and_shuffles_choices_only_of_choice_questions():
    slots = [(1, "single", [10, 11, 12, 13]), (2, "numeric", []), (3, "multi", [20, 21, 22, 23])]
    one = calc.build_layout(slots=slots, shuffle_questions=True, shuffle_choices=True, seed="abc")
    two = calc.build_layout(slots=slots, shuffle_questions=True, shuffle_choices=True, seed="abc")
    assert one == two
    assert sorted(e["slot"] for e in one) == [1, 2, 3]
    by_slot = {e["slot"]: e for e in one}
    assert sorted(by_slot[1]["choices"]) == [10, 11, 12, 13]
    plain = calc.build_layout(slots=slots, shuffle_questions=False, shuffle_choices=False, seed="abc")
    assert [e["slot"] for e in plain] == [1, 2, 3] and plain[0]["choices"] == [10, 11, 12, 13]


def test_validate_value_refuses_choices_of_other_questions():
    entry = {"slot": 1, "type": "single", "choices": [10, 11]}
    assert calc.validate_value(entry, 10) is None
    assert "options" in calc.validate_value(entry, 99)
    assert calc.validate_value({"slot": 2, "type": "multi", "choices": [1, 2]}, [1, 1]) == "Each option may be chosen once."
    assert calc.validate_value({"slot": 3, "type": "truefalse", "choices": []}, "yes") == "Send true or false."


# --- statistics (Moodle's definitions) --------------------------------------------

def test_facility_is_mean_over_maximum():
    stats = calc.question_statistics(slots=[(1, 2.0), (2, 1.0)], rows=[[2, 1], [1, 0], [0, 0], [1, 1]])
    assert stats[0].facility == pytest.approx(100 * 1.0 / 2.0)
    assert stats[1].facility == pytest.approx(50.0)


def test_discrimination_is_correlation_with_the_rest_of_the_test():
    rows = [[1, 3, 2], [0, 1, 1], [1, 2, 2], [0, 0, 0], [1, 3, 1]]
    stats = calc.question_statistics(slots=[(1, 1.0), (2, 3.0), (3, 2.0)], rows=rows)
    # By hand for question 1: x = item scores, y = total minus item.
    x = [r[0] for r in rows]
    y = [sum(r) - r[0] for r in rows]
    mx, my = sum(x) / 5, sum(y) / 5
    r = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True)) / math.sqrt(
        sum((a - mx) ** 2 for a in x) * sum((b - my) ** 2 for b in y))
    assert stats[0].discrimination == pytest.approx(100 * r)
    assert stats[0].discrimination > 0


def test_discrimination_undefined_without_variance():
    stats = calc.question_statistics(slots=[(1, 1.0), (2, 1.0)], rows=[[1, 0], [1, 1]])
    assert stats[0].discrimination is None


def test_score_distribution_bins_including_full_marks():
    bins = calc.score_distribution([0, 9.9, 10, 55, 100, 100])
    assert [b["count"] for b in bins] == [2, 1, 0, 0, 0, 1, 0, 0, 0, 2]


def test_moving_a_question_shifts_it_and_stops_at_either_end():
    assert calc.moved([1, 2, 3], 3, -1) == [1, 3, 2]
    assert calc.moved([1, 2, 3], 1, 1) == [2, 1, 3]
    assert calc.moved([1, 2, 3], 1, -1) == [1, 2, 3]
    assert calc.moved([1, 2, 3], 3, 5) == [1, 2, 3]
    assert calc.moved([7], 7, 1) == [7]


def test_decimals_print_as_plain_digits():
    assert [calc.plain_decimal(D(t)) for t in ("100.00000000", "0.5000000", "-1.0000000", "0E-7", "3.14")] == [
        "100", "0.5", "-1", "0", "3.14"]
