"""Pure shaping of computed results for pages and the API: a student's report, statistics,
histograms. No ORM; inputs are a GradebookFrame (selectors) and its Result (calculations)."""

from __future__ import annotations

import statistics
from decimal import Decimal
from html import escape

import numpy as np
import pandas as pd

from . import calculations as calc
from . import policies


def _item_state(frame, s: int, j: int) -> str:
    if frame.grades.excused[s, j]:
        return "excused"
    return "graded" if frame.grades.graded[s, j] else "missing"


def _policy_points(frame, result: calc.Result, s: int, j: int) -> Decimal | None:
    """What the missing-work policy gives student row s on item column j (None: it does not apply)."""
    if result.missing_policy is None or not result.missing_policy[s, j]:
        return None
    return calc.cents_to_decimal(calc.missing_policy_cents(frame.items.iloc[j]["points_possible"],
                                                           frame.engine_options.missing_percent))


def student_report(
    frame, result: calc.Result, letters: pd.DataFrame, student_id: int, *, for_student: bool = False,
    not_released: list[str] | None = None, official: dict | None = None,
) -> dict:
    """Everything "my grades" shows: items by category with state, points, late penalty and its
    policy in words, comment, whether dropped, and each row's one-line reason (excused, missing,
    dropped); each category's drop rule explained once; category percentages and totals (current
    and final); which items are not counted yet (provisional); the letter.

    for_student: what the student may see. The letter (and current_letter) is shown only once
    the instructor released letters (frame.options.letters_released); then it is `official`
    ({"letter", "overridden"}, from the whole gradebook, as the grid shows it) when given, else
    this frame's. not_released: names of the items the student cannot see yet."""
    s = frame.students.index.get_loc(student_id)
    details = {}
    if frame.details is not None:
        for row in frame.details[frame.details["student_id"] == student_id].itertuples():
            details[row.item_id] = row
    cats_cur = result.category_percent(calc.CURRENT).iloc[s]
    cats_fin = result.category_percent(calc.FINAL).iloc[s]
    counted_current = result.counted[calc.CURRENT][s] | result.dropped[calc.CURRENT][s]
    not_counted = [{"name": name, "why": "not released yet"} for name in (not_released or [])]
    categories = []
    for cat_id, cat in frame.categories.iterrows():
        rows = []
        base = cat.get("late_penalty_base") or calc.SCORE_BASE
        for j, item_id in enumerate(frame.items.index):
            item = frame.items.loc[item_id]
            if item["category"] != cat_id:
                continue
            detail = details.get(item_id)
            state = _item_state(frame, s, j)
            dropped_current = bool(result.dropped[calc.CURRENT][s, j])
            dropped_final = bool(result.dropped[calc.FINAL][s, j])
            note = policies.row_note(
                state=state, due_at=item["due_at"], now=frame.now, extra_credit=bool(item["extra_credit"]),
                dropped_current=dropped_current, dropped_final=dropped_final,
                policy_points=_policy_points(frame, result, s, j),
            )
            if state == "missing" and not counted_current[j] and not item["extra_credit"]:
                not_counted.append({"name": item["name"], "why": "not graded yet"})
            rows.append({
                "id": int(item_id), "name": item["name"], "points_possible": item["points_possible"],
                "due_at": item["due_at"], "extra_credit": bool(item["extra_credit"]), "state": state,
                "points": calc.cents_to_decimal(frame.grades.cents[s, j]) if state == "graded" else None,
                "raw_points": getattr(detail, "raw_points", None),
                "late_penalty": getattr(detail, "late_penalty_points", None) or None,
                "late_policy": policies.late_policy_text(
                    percent=item.get("late_penalty_percent") or Decimal(0), unit=item.get("late_penalty_unit") or "day",
                    floor=item.get("late_penalty_floor_percent") or Decimal(0),
                    base=policies.effective_late_base(item.get("late_penalty_base"), base)),
                "comment": getattr(detail, "comment", "") or "",
                "dropped": dropped_current or dropped_final,
                "dropped_why": note if dropped_current or dropped_final else "",
                "note": note,
            })
        categories.append({
            "id": int(cat_id), "name": cat["name"], "weight": cat["weight"],
            "aggregation": cat["aggregation"], "drop_lowest": int(cat["drop_lowest"]),
            "drop_highest": int(cat["drop_highest"]),
            "drop_rule": policies.drop_rule_text(name=cat["name"], drop_lowest=int(cat["drop_lowest"]),
                                                 drop_highest=int(cat["drop_highest"])),
            "current": cats_cur[cat_id], "final": cats_fin[cat_id], "items": rows,
        })
    letter_row = letters.loc[student_id]
    released = bool(frame.options.letters_released) if frame.options is not None else False
    final = result.total_percent(calc.FINAL).iloc[s]
    current = result.total_percent(calc.CURRENT).iloc[s]
    letter, overridden = letter_row["letter"], bool(letter_row["override"])
    if official is not None:
        letter, overridden = official["letter"], official["overridden"]
    show_letter = released or not for_student
    if not show_letter:
        letter_note = "Letters are not released yet: the instructor releases them when the grades are final."
    elif overridden:
        letter_note = "Set by the instructor."
    elif not letter:
        letter_note = "No letter yet: nothing counts in the final total."
    elif not_released:
        letter_note = (f"From the course's final total of every item, including {len(not_released)} not released to "
                       "you yet, so it may differ from the final total shown here.")
    else:
        letter_note = "From the final total (rounded to hundredths, then the letter scale)."
    weights = list(frame.categories["weight"])
    options = frame.engine_options
    return {
        "student_id": int(student_id),
        "categories": categories,
        "current": current,
        "final": final,
        "provisional": bool(not_counted),
        "not_counted": not_counted,
        "letters_released": released,
        "letter": letter if show_letter else "",
        "letter_overridden": overridden if show_letter else False,
        "letter_note": letter_note,
        "current_letter": calc.letter_for(current, frame.scale) if show_letter else "",
        "points_mode": bool(weights) and not any(weights),
        "weighting": policies.weighting_text(weighting=options.weighting, weight_total=sum(weights, Decimal(0)),
                                             points_mode=bool(weights) and not any(weights)),
        "missing_policy": policies.missing_policy_text(options.missing_percent),
    }


def describe(values: list[Decimal]) -> dict:
    """count, mean, median, sample standard deviation (Decimal arithmetic, shown rounded half up)."""
    if not values:
        return {"count": 0, "mean": None, "median": None, "std": None, "min": None, "max": None}
    mean = sum(values) / len(values)
    std = statistics.stdev(values) if len(values) > 1 else Decimal(0)
    return {
        "count": len(values),
        "mean": calc.round_half_up(Decimal(mean)),
        "median": calc.round_half_up(Decimal(statistics.median(values))),
        "std": calc.round_half_up(Decimal(std)),
        "min": min(values), "max": max(values),
    }


def histogram_svg(values: list[Decimal], *, maximum: Decimal, bins: int = 10, label: str = "") -> str:
    """A small bar chart (inline SVG, no JavaScript) of `values` over [0, maximum] in `bins` bins."""
    width, height, pad = 220, 80, 14
    top = float(max([maximum, *values])) if values else float(maximum)
    counts, _ = np.histogram([float(v) for v in values], bins=bins, range=(0, top or 1))
    peak = max(int(counts.max()) if len(counts) else 0, 1)
    bar_w = (width - 2) / bins
    bars = []
    for k, count in enumerate(counts):
        h = (height - pad) * int(count) / peak
        lo, hi = top * k / bins, top * (k + 1) / bins
        bars.append(
            f'<rect x="{1 + k * bar_w:.1f}" y="{height - pad - h:.1f}" width="{bar_w - 1:.1f}" height="{h:.1f}">'
            f"<title>{lo:g}–{hi:g}: {int(count)}</title></rect>"
        )
    return (
        f'<svg class="histogram" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="Histogram of {escape(label)}">{"".join(bars)}'
        f'<text x="0" y="{height - 2}">0</text><text x="{width}" y="{height - 2}" text-anchor="end">{top:g}</text>'
        "</svg>"
    )


def statistics_table(frame, result: calc.Result) -> list[dict]:
    """Per item (graded points) and for the final course total (percent): describe() + histogram.

    count (= graded) counts the students with a number; excused and missing count the others
    (missing: no grade at all, whether or not it is due yet). For the course total, missing
    counts the students with no total (nothing counted yet) and excused is None."""
    out = []
    n_students = len(frame.students)
    for j, item_id in enumerate(frame.items.index):
        item = frame.items.loc[item_id]
        mask = frame.grades.graded[:, j]
        excused = int(frame.grades.excused[:, j].sum())
        values = [calc.cents_to_decimal(c) for c in frame.grades.cents[mask, j]]
        out.append({"id": int(item_id), "name": item["name"], "points_possible": item["points_possible"],
                    **describe(values), "graded": len(values), "excused": excused,
                    "missing": n_students - len(values) - excused,
                    "histogram": histogram_svg(values, maximum=item["points_possible"], label=item["name"])})
    totals = [t for t in result.total_percent(calc.FINAL) if t is not None]
    out.append({"id": None, "name": "Course total (final, %)", "points_possible": Decimal(100), **describe(totals),
                "graded": len(totals), "excused": None, "missing": n_students - len(totals),
                "histogram": histogram_svg(totals, maximum=Decimal(100), label="course total")})
    return out


def grid_rows(frame, result: calc.Result, letters: pd.DataFrame, editable: set | None = None) -> list[dict]:
    """Rows of the gradebook grid: student, one cell per item (text, state, late penalty, comment,
    dropped), totals and letter."""
    texts = _cell_texts(frame)
    late, comments = {}, {}
    if frame.details is not None and len(frame.details):
        d = frame.details
        for sid, iid, pen, com in zip(d["student_id"], d["item_id"], d["late_penalty_points"], d["comment"],
                                      strict=True):
            if pen:
                late[(sid, iid)] = pen
            if com:
                comments[(sid, iid)] = com
    cur = result.total_percent(calc.CURRENT)
    fin = result.total_percent(calc.FINAL)
    dropped = result.dropped[calc.CURRENT]
    item_ids = list(frame.items.index)
    rows = []
    for s, (sid, student) in enumerate(frame.students.iterrows()):
        cells = []
        for j, iid in enumerate(item_ids):
            cells.append({
                "item": iid, "text": texts[s, j], "state": _item_state(frame, s, j),
                "late": late.get((sid, iid)), "comment": comments.get((sid, iid), ""),
                "dropped": bool(dropped[s, j]), "editable": editable is None or iid in editable,
            })
        rows.append({
            "id": sid, "name": student["name"], "number": student["student_number"] or "",
            "cells": cells, "current": cur.iloc[s], "final": fin.iloc[s],
            "letter": letters.iloc[s]["letter"], "overridden": bool(letters.iloc[s]["override"]),
        })
    return rows


def _cell_texts(frame):
    from .exports import cell_texts

    return cell_texts(frame)
