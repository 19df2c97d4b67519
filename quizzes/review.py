"""What a student reads when reviewing an attempt: marks and answers in words.

Pure functions over the grading key (calculations.Key) and a saved answer: no
ORM. selectors.attempt_payload decides *whether* each part may be shown (the
quiz's review options); this module decides *how* it reads.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from . import calculations as calc


class Mark:
    """How an answer did, in the words Moodle uses."""

    RIGHT = "right"
    PARTLY = "partly"
    WRONG = "wrong"
    UNANSWERED = "unanswered"
    WAITING = "waiting"

    LABELS = {
        RIGHT: "Correct", PARTLY: "Partly correct", WRONG: "Incorrect", UNANSWERED: "Not answered",
        WAITING: "Waiting for a grader",
    }


def mark(*, value, fraction: Decimal | None, needs_manual: bool, graded: bool) -> str:
    """right (full credit), partly (some), wrong (none), unanswered (blank), waiting (a grader has not graded it)."""
    if needs_manual and not graded:
        return Mark.WAITING
    if calc.is_blank(value) and not graded:
        return Mark.UNANSWERED
    if fraction is None:
        return Mark.WAITING
    if fraction >= 1:
        return Mark.RIGHT
    if fraction > 0:
        return Mark.PARTLY
    return Mark.WRONG


def number_in_words(value: Decimal, tolerance: Decimal) -> str:
    """0.25 ± 0.001; a number without tolerance reads as itself."""
    text = calc.plain_decimal(value)
    return f"{text} ± {calc.plain_decimal(abs(tolerance))}" if tolerance else text


def correct_in_words(key: calc.Key) -> list[str]:
    """The right answer(s) as a student would read them; empty for an essay (graded by hand).

    single: the best choice; multi: every choice earning credit; true/false: True
    or False; numeric: each fully accepted number with its tolerance; short: each
    fully accepted answer (a regular expression is shown as such).
    """
    full = [a for a in key.answers if a.fraction >= 1]
    if key.qtype == calc.SINGLE:
        best = max(key.answers, key=lambda a: a.fraction, default=None)
        return [best.text] if best is not None else []
    if key.qtype == calc.MULTI:
        return [a.text for a in key.answers if a.fraction > 0]
    if key.qtype == calc.TRUEFALSE:
        return [] if key.correct_bool is None else ["True" if key.correct_bool else "False"]
    if key.qtype == calc.NUMERIC:
        return [number_in_words(a.value, a.tolerance) for a in full if a.value is not None]
    if key.qtype == calc.SHORT:
        return [f"/{a.text}/ (pattern)" if key.use_regex else a.text for a in full]
    if key.qtype == calc.MATCHING:
        return [f"{a.text} → {a.match}" for a in key.answers if a.text]
    return []


def answer_in_words(key: calc.Key, value) -> str:
    """The student's saved answer as text: choice texts, True/False, or what they typed ("" when blank)."""
    if calc.is_blank(value):
        return ""
    if key.qtype in calc.CHOICE_TYPES:
        texts = {a.id: a.text for a in key.answers}
        ids = value if isinstance(value, list) else [value]
        return ", ".join(texts.get(i, "(a removed choice)") for i in ids)
    if key.qtype == calc.TRUEFALSE:
        return "True" if value else "False"
    if key.qtype == calc.MATCHING and isinstance(value, dict):
        return "; ".join(f"{a.text} → {value.get(str(a.id)) or '(none)'}" for a in key.answers if a.text)
    return str(value)


def when(value: dt.datetime | str | None) -> str:
    """A time as every table of the site shows it: Istanbul time, “2026-11-30 10:42”; "" for None."""
    if value in (None, ""):
        return ""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
