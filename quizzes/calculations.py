"""Pure quiz arithmetic: grading one answer, attempt scores, timing, statistics.

No ORM, no settings, no I/O. Selectors turn rows into the small dataclasses
below; services store what these functions return.

Units: a *fraction* is a share of a question's points (Decimal, 0..1 once
floored); *points* are Decimals rounded to 0.01.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

ZERO = Decimal("0")
ONE = Decimal("1")
CENT = Decimal("0.01")

SINGLE, MULTI, TRUEFALSE, NUMERIC, SHORT, ESSAY = "single", "multi", "truefalse", "numeric", "short", "essay"
MATCHING = "matching"
CHOICE_TYPES = (SINGLE, MULTI)


@dataclass(frozen=True)
class KeyAnswer:
    """One choice / accepted answer. `fraction` in [-1, 1]; numeric uses value ± tolerance."""

    id: int
    text: str = ""
    fraction: Decimal = ZERO
    feedback: str = ""
    value: Decimal | None = None
    tolerance: Decimal = ZERO
    match: str = ""  # matching: the partner of `text` (an empty text: a distractor)


@dataclass(frozen=True)
class Key:
    """Everything needed to grade an answer to one question."""

    qtype: str
    answers: tuple[KeyAnswer, ...] = ()
    correct_bool: bool | None = None
    case_sensitive: bool = False
    use_regex: bool = False
    manual_review: bool = False
    true_feedback: str = ""
    false_feedback: str = ""


@dataclass(frozen=True)
class Outcome:
    """The grade of one answer.

    fraction: share of the question's points in [0, 1], or None when only a
    person can grade it (an essay). needs_manual: the answer goes to the TA queue
    (essays, and questions marked for review, whose fraction is then a suggestion).
    feedback: the feedback texts of the answers the student chose or matched.
    """

    fraction: Decimal | None
    needs_manual: bool = False
    feedback: tuple[str, ...] = field(default_factory=tuple)


def _clamp(fraction: Decimal) -> Decimal:
    return min(ONE, max(ZERO, fraction))


def normalise_text(text: str, *, case_sensitive: bool) -> str:
    """Whitespace collapsed and trimmed; lower-cased unless case matters."""
    text = " ".join(str(text).split())
    return text if case_sensitive else text.casefold()


def parse_number(text) -> Decimal | None:
    """A student's numeric answer as a Decimal; None when it is not a number.

    Accepts a decimal comma (Turkish keyboards) when there is no point, and exponents.
    """
    if isinstance(text, bool) or text is None:
        return None
    raw = str(text).strip().replace(" ", "")
    if "," in raw and "." not in raw:
        raw = raw.replace(",", ".")
    try:
        number = Decimal(raw)
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _short_answer_matches(pattern: str, answer: str, *, key: Key) -> bool:
    if key.use_regex:
        flags = 0 if key.case_sensitive else re.IGNORECASE
        try:
            return re.fullmatch(pattern, " ".join(answer.split()), flags) is not None
        except re.error:
            return False
    wanted = normalise_text(pattern, case_sensitive=key.case_sensitive)
    given = normalise_text(answer, case_sensitive=key.case_sensitive)
    if "*" in wanted:  # Moodle's wildcard in short-answer keys
        regex = ".*".join(re.escape(part) for part in wanted.split("*"))
        return re.fullmatch(regex, given, re.DOTALL) is not None
    return wanted == given


def is_blank(value) -> bool:
    return value is None or value == "" or value == [] or value == {} or (isinstance(value, str) and not value.strip())


def matching_fraction(key: Key, value: dict) -> Decimal:
    """Matching: the share of items paired with their partner (Moodle's all-or-nothing per item)."""
    items = [a for a in key.answers if a.text]
    if not items:
        return ZERO
    right = sum(1 for a in items if value.get(str(a.id)) == a.match)
    return (Decimal(right) / Decimal(len(items))).quantize(Decimal("0.0000001"))


def grade_answer(key: Key, value) -> Outcome:
    """Grade one saved answer `value` (as stored in Response.value) against `key`.

    single: value is a choice id; the choice's fraction, floored at 0.
    multi: value is a list of choice ids; the sum of their fractions (wrong
    choices may be negative), floored at 0 and capped at 1 per question (Moodle).
    truefalse: value is a bool. numeric: the first accepted number within its
    tolerance. short: the first accepted answer that matches (case and
    whitespace rules, `*` wildcard, or a regular expression). essay: manual.
    A blank answer scores 0 and needs no grader.
    """
    if is_blank(value):
        return Outcome(fraction=ZERO)
    feedback: list[str] = []
    fraction: Decimal | None = ZERO
    if key.qtype == SINGLE:
        for answer in key.answers:
            if answer.id == value:
                fraction = _clamp(answer.fraction)
                feedback.append(answer.feedback)
                break
    elif key.qtype == MULTI:
        chosen = set(value) if isinstance(value, list) else {value}
        total = ZERO
        for answer in key.answers:
            if answer.id in chosen:
                total += answer.fraction
                feedback.append(answer.feedback)
        fraction = _clamp(total)
    elif key.qtype == TRUEFALSE:
        fraction = ONE if bool(value) == key.correct_bool else ZERO
        feedback.append(key.true_feedback if bool(value) else key.false_feedback)
    elif key.qtype == NUMERIC:
        number = parse_number(value)
        if number is not None:
            for answer in key.answers:
                if answer.value is not None and abs(number - answer.value) <= abs(answer.tolerance):
                    fraction = _clamp(answer.fraction)
                    feedback.append(answer.feedback)
                    break
    elif key.qtype == SHORT:
        for answer in key.answers:
            if _short_answer_matches(answer.text, str(value), key=key):
                fraction = _clamp(answer.fraction)
                feedback.append(answer.feedback)
                break
    elif key.qtype == ESSAY:
        return Outcome(fraction=None, needs_manual=True)
    elif key.qtype == MATCHING:
        fraction = matching_fraction(key, value) if isinstance(value, dict) else ZERO
    else:
        raise ValueError(f"unknown question type {key.qtype!r}")
    return Outcome(fraction=fraction, needs_manual=key.manual_review, feedback=tuple(f for f in feedback if f))


def points_for(fraction: Decimal | None, points: Decimal) -> Decimal | None:
    """Points earned: fraction × the slot's points, rounded half-up to 0.01; None stays None."""
    if fraction is None:
        return None
    return (fraction * points).quantize(CENT, rounding=ROUND_HALF_UP)


def attempt_score(points: Iterable[Decimal | None]) -> Decimal | None:
    """Sum of the answers' points; None while any answer awaits a grader."""
    total = ZERO
    for value in points:
        if value is None:
            return None
        total += value
    return total.quantize(CENT)


@dataclass(frozen=True)
class FinishedAttempt:
    number: int
    score: Decimal
    submitted_at: dt.datetime


def combine_attempts(method: str, attempts: Sequence[FinishedAttempt]) -> tuple[Decimal, dt.datetime] | None:
    """The quiz grade over a student's graded attempts and the submission time that goes with it.

    highest/first/last: that attempt's score and its submission time (ties in
    `highest` go to the earlier attempt); average: the mean (0.01) and the
    latest submission. None when there is no graded attempt yet.
    """
    if not attempts:
        return None
    ordered = sorted(attempts, key=lambda a: a.number)
    if method == "first":
        chosen = ordered[0]
    elif method == "last":
        chosen = ordered[-1]
    elif method == "highest":
        chosen = max(ordered, key=lambda a: (a.score, -a.number))
    elif method == "average":
        mean = sum((a.score for a in ordered), ZERO) / len(ordered)
        return mean.quantize(CENT, rounding=ROUND_HALF_UP), max(a.submitted_at for a in ordered)
    else:
        raise ValueError(f"unknown grading method {method!r}")
    return chosen.score, chosen.submitted_at


# --- Time ------------------------------------------------------------------------


def attempt_deadline(*, started_at: dt.datetime, time_limit: dt.timedelta | None, closes_at: dt.datetime) -> dt.datetime:
    """The earlier of start + time limit and the quiz's closing time."""
    if time_limit is None:
        return closes_at
    return min(started_at + time_limit, closes_at)


def accept_until(*, deadline: dt.datetime, grace_seconds: int) -> dt.datetime:
    """The last moment an answer still counts: the deadline plus the grace period."""
    return deadline + dt.timedelta(seconds=grace_seconds)


def accepts_answers(*, deadline: dt.datetime, grace_seconds: int, now: dt.datetime) -> bool:
    """True while an answer arriving at `now` still counts (deadline plus the grace period)."""
    return now <= deadline + dt.timedelta(seconds=grace_seconds)


# --- Review policy ---------------------------------------------------------------


def review_parts(
    *, after_submit: Iterable[str], after_close: Iterable[str], attempt_finished: bool,
    closes_at: dt.datetime, now: dt.datetime,
) -> frozenset[str]:
    """What a student may see of their own attempt now: a subset of score/answers/correct/feedback.

    Nothing before the attempt is submitted (apart from their own answers, which the
    taking page shows anyway); the after-submit set once it is; after the quiz closes,
    the union of both sets.
    """
    if not attempt_finished:
        return frozenset()
    parts = set(after_submit)
    if now >= closes_at:
        parts |= set(after_close)
    return frozenset(parts)


# --- Layout -----------------------------------------------------------------------


def build_layout(
    *, slots: Sequence[tuple], shuffle_questions: bool, shuffle_choices: bool, seed: str,
) -> list[dict]:
    """The order of slots and choices for one attempt, fixed once and stored.

    slots: (slot id, question type, choice ids in authoring order[, matching options]) in quiz order;
    for a matching question the choice ids are its items and the options the partners to pick from
    (always shuffled: their authoring order would give the pairs away).
    The same seed gives the same layout.
    """
    rng = random.Random(seed)
    order = list(slots)
    if shuffle_questions:
        rng.shuffle(order)
    layout = []
    for slot_id, qtype, choices, *rest in order:
        choice_ids = list(choices)
        if shuffle_choices and qtype in (*CHOICE_TYPES, MATCHING):
            rng.shuffle(choice_ids)
        entry = {"slot": slot_id, "type": qtype, "choices": choice_ids}
        if qtype == MATCHING:
            options = sorted(set(rest[0] if rest else ()))
            rng.shuffle(options)
            entry["options"] = options
        layout.append(entry)
    return layout


def moved(order: Sequence[int], item: int, offset: int) -> list[int]:
    """`order` with `item` moved `offset` places (negative: earlier), stopping at either end."""
    result = list(order)
    index = result.index(item)
    result.insert(max(0, min(len(result) - 1, index + offset)), result.pop(index))
    return result


def validate_value(entry: dict, value) -> str | None:
    """Why `value` cannot be saved for the layout entry, or None when it can.

    Only the shape is checked (a choice of this question, a bool, text); whether
    the answer is right is grading's business. Partial numeric text is allowed.
    """
    if value is None:
        return None
    qtype = entry["type"]
    if qtype == SINGLE:
        if isinstance(value, bool) or not isinstance(value, int) or value not in entry["choices"]:
            return "Choose one of the question's options."
    elif qtype == MULTI:
        if not isinstance(value, list) or any(
            isinstance(v, bool) or not isinstance(v, int) or v not in entry["choices"] for v in value
        ):
            return "Send a list of the question's option ids."
        if len(set(value)) != len(value):
            return "Each option may be chosen once."
    elif qtype == TRUEFALSE:
        if not isinstance(value, bool):
            return "Send true or false."
    elif qtype == MATCHING:
        items = {str(c) for c in entry["choices"]}
        options = set(entry.get("options", ()))
        if not isinstance(value, dict) or any(k not in items or not isinstance(v, str) or v not in options
                                              for k, v in value.items()):
            return "Send an object pairing item ids with one of the question's options, e.g. {\"12\": \"option\"}."
    else:
        if not isinstance(value, str):
            return "Send the answer as text."
        if len(value) > 20000:
            return "The answer is longer than 20,000 characters; shorten it."
        if "\x00" in value:
            return "The answer contains a NUL character (\\u0000), which cannot be stored; remove it."
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "The answer contains a broken character (an unpaired surrogate); retype it."
    return None


# --- Statistics ---------------------------------------------------------------------


def _pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    n = len(xs)
    if n < 2:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx == 0 or syy == 0:
        return None
    return sxy / math.sqrt(sxx * syy)


@dataclass(frozen=True)
class QuestionStats:
    slot: int
    n: int
    mean: float | None
    max_points: float
    facility: float | None  # percent
    discrimination: float | None  # percent (100 × correlation)
    sd: float | None


def question_statistics(*, slots: Sequence[tuple[int, float]], rows: Sequence[Sequence[float]]) -> list[QuestionStats]:
    """Moodle's facility and discrimination indices (docs.moodle.org/dev/Quiz_statistics_calculations).

    slots: (slot id, maximum points) in column order; rows: one per first attempt,
    the points each question earned (unanswered = 0). Facility F = 100·(mean −
    min)/(max − min) with the question's possible range [0, max]. Discrimination
    D = 100·r(x_i, X_i), the Pearson correlation of the question's score with the
    rest of the test X_i = total − x_i. None where undefined (no variance, n < 2).
    """
    result = []
    totals = [sum(row) for row in rows]
    for column, (slot_id, max_points) in enumerate(slots):
        scores = [row[column] for row in rows]
        n = len(scores)
        mean = sum(scores) / n if n else None
        facility = 100 * mean / max_points if mean is not None and max_points else None
        sd = (math.sqrt(sum((s - mean) ** 2 for s in scores) / (n - 1))
              if mean is not None and n > 1 else None)
        rest = [total - score for total, score in zip(totals, scores, strict=True)]
        r = _pearson(scores, rest)
        result.append(
            QuestionStats(slot=slot_id, n=n, mean=mean, max_points=max_points, facility=facility,
                          discrimination=None if r is None else 100 * r, sd=sd)
        )
    return result


def score_distribution(percentages: Iterable[float], *, bins: int = 10) -> list[dict]:
    """Counts of scores (percent of the maximum) in equal bins [0,10), [10,20) … [90,100]."""
    width = 100 / bins
    counts = [0] * bins
    for pct in percentages:
        index = min(bins - 1, max(0, int(pct // width)))
        counts[index] += 1
    return [
        {"from": round(i * width, 2), "to": round((i + 1) * width, 2), "count": counts[i]} for i in range(bins)
    ]


def plain_decimal(value: Decimal) -> str:
    """A Decimal as plain digits without trailing zeros: 100, 0.5, -1, 3.14 (never 1E+2, which str(normalize()) gives)."""
    return format(value.normalize(), "f")


def key_summary(key: Key) -> dict:
    """The answer key as plain JSON, to record what a change did (KeyChange.before/after)."""
    return {
        "type": key.qtype,
        "correct_bool": key.correct_bool,
        "case_sensitive": key.case_sensitive,
        "use_regex": key.use_regex,
        "manual_review": key.manual_review,
        "answers": [
            {"text": a.text, "match": a.match, "fraction": plain_decimal(a.fraction) if a.fraction else "0",
             "value": None if a.value is None else plain_decimal(a.value),
             "tolerance": plain_decimal(a.tolerance) if a.tolerance else "0"}
            for a in key.answers
        ],
    }
