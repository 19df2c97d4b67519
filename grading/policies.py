"""Pure wording of the gradebook's rules for people: late policies, the missing-work policy, the
weighting in force, drop rules and the one-line reason of each row on a student's page.

No ORM, no settings: callers pass values (from a GradebookFrame, a model instance or a form)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from .calculations import ABSOLUTE, POSSIBLE_BASE, SCORE_BASE, fmt_points

UNIT_WORDS = {"day": "day", "hour": "hour"}


def effective_late_base(item_base: str | None, category_base: str | None) -> str:
    """The base an item's late penalty uses: its own, else its category's, else the score."""
    return item_base or category_base or SCORE_BASE


def late_policy_text(*, percent: Decimal, unit: str, floor: Decimal, base: str) -> str:
    """The late policy in words, with its floor ("" when there is none):

    base "possible": "−10% of points possible per started day, never below 50%";
    base "score": "−10% of the score per started day, never below 50% of the score".
    """
    if not percent or percent <= 0:
        return ""
    unit_word = UNIT_WORDS.get(unit, unit)
    if base == POSSIBLE_BASE:
        text = f"−{fmt_points(percent)}% of points possible per started {unit_word}"
        return text + (f", never below {fmt_points(floor)}%" if floor else "")
    text = f"−{fmt_points(percent)}% of the score per started {unit_word}"
    return text + (f", never below {fmt_points(floor)}% of the score" if floor else "")


def missing_policy_text(percent: Decimal | None) -> str:
    """The missing-work policy in words ("" when it is off)."""
    if percent is None:
        return ""
    return (f"Missing work counts as {fmt_points(percent)}% of its points once its due date has passed "
            "(in both totals, until a grade is entered).")


def weighting_text(*, weighting: str, weight_total: Decimal, points_mode: bool) -> str:
    """Which way category weights combine, in words, for the set-up page and the student page."""
    if points_mode:
        return ("Every category weighs 0%, so the course counts by points: each category weighs the points "
                "possible of the work that counts (excused work weighs nothing).")
    total = fmt_points(weight_total)
    if weighting == ABSOLUTE:
        return (f"Weights are absolute: each is percent of the course as given ({total}% in all), so the total can "
                "pass 100% when they add up to more; categories with nothing counted yet are left out and, when the "
                "rest weigh less than 100%, scaled up.")
    return (f"Weights are normalised: each counts in proportion to the sum of the weights of the categories with a "
            f"score ({total}% in all), so a total passes 100% only through extra credit.")


def drop_rule_text(*, name: str, drop_lowest: int, drop_highest: int) -> str:
    """A category's drop rule, explained once ("" when it has none)."""
    parts = []
    if drop_lowest:
        parts.append(f"the lowest {drop_lowest}" if drop_lowest > 1 else "the lowest one")
    if drop_highest:
        parts.append(f"the highest {drop_highest}" if drop_highest > 1 else "the highest one")
    if not parts:
        return ""
    rule = " and ".join(parts)
    return (f"{name} drops {rule}: of all the ways the rule allows, the items left out are the ones that give "
            f"{'the highest' if drop_lowest else 'the lowest'} category score (not simply the lowest percentages), "
            "chosen again whenever a grade changes. Struck-through rows are the ones left out now.")


def row_note(
    *,
    state: str,
    due_at: dt.datetime | None,
    now: dt.datetime,
    extra_credit: bool,
    dropped_current: bool,
    dropped_final: bool,
    policy_points: Decimal | None,
) -> str:
    """The one-line reason of a row on a student's page ("" for plain graded work).

    state: "graded", "excused" or "missing". policy_points: what the missing-work policy gives
    this missing item (None: the policy does not apply to it)."""
    if state == "excused":
        return "Excused: left out of both totals, as if the item did not exist."
    if state == "missing":
        if policy_points is not None:
            note = (f"Missing after its due date: counts as {fmt_points(policy_points)} points in both totals "
                    "(the course's missing-work policy).")
        elif extra_credit:
            return "Extra credit not done: it can only add, so it counts in neither total."
        elif due_at is None:
            note = "Missing, with no due date: counts as 0 in the final total (not in the current one)."
        elif due_at <= now:
            note = "Missing after its due date: counts as 0 in the final total (not in the current one)."
        else:
            return "Not due yet: counts in neither total until it is graded."
    else:
        note = ""
    if dropped_current and dropped_final:
        drop = "Dropped by the category's rule (see above)."
    elif dropped_current:
        drop = "Dropped by the category's rule in the current total only."
    elif dropped_final:
        drop = "Dropped by the category's rule in the final total only."
    else:
        drop = ""
    return " ".join(part for part in (note, drop) if part)
