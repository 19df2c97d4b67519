"""Template filters for quiz tables: one time format (Istanbul) and attempt states in words."""

from __future__ import annotations

import datetime as dt

from django import template

from quizzes import review
from quizzes.models import AttemptState

register = template.Library()


@register.filter
def when(value: dt.datetime | str | None) -> str:
    """`{{ attempt.submitted_at|when }}` → 2026-11-30 10:42 (Europe/Istanbul); "—" when empty."""
    return review.when(value) or "—"


@register.filter
def state_words(row) -> str:
    """An attempt (model or summary dict) as words: In progress / Submitted automatically, graded / …"""
    state = row["state"] if isinstance(row, dict) else row.state
    auto = row.get("auto_submitted") if isinstance(row, dict) else row.auto_submitted
    words = {
        AttemptState.IN_PROGRESS: "In progress",
        AttemptState.NEEDS_GRADING: "Submitted, waiting for a grader",
        AttemptState.GRADED: "Graded",
    }.get(state, str(state))
    if auto and state != AttemptState.IN_PROGRESS:
        words += " (submitted automatically at the deadline)"
    return words


@register.filter
def mark_words(mark: str) -> str:
    return review.Mark.LABELS.get(mark, mark)
