"""Gradebook tables and files (pandas): CSV, Excel, Moodle's CSV import layout, per-item report.

Pure formatting over a GradebookFrame and its Result; no ORM. Every text cell a
spreadsheet would run as a formula (starting with =, +, -, @, or a tab/CR) is
prefixed with an apostrophe. Numbers are written as plain decimal strings,
rounded half up to hundredths.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from . import calculations as calc

STUDENT_NUMBER = "Student number"
POINTS_POSSIBLE = "Points possible"
EXCUSED = "EX"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
ID_COLUMNS = [STUDENT_NUMBER, "Username", "Last name", "First name"]


def neutralise(value):
    """Text a spreadsheet would evaluate becomes inert text ('=cmd → '=cmd). Numbers pass through."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        # plain negative numbers are never written here (points are ≥ 0), so '-' is always suspicious
        return "'" + value
    return value


def _fmt(cents: int) -> str:
    return calc.fmt_points(calc.cents_to_decimal(cents))


def _pct(value) -> str:
    return "" if value is None else f"{value:.2f}"


def cell_texts(frame) -> np.ndarray:
    """Students × items texts: points ("7.5"), "EX" for excused, "" for missing."""
    grades = frame.grades
    out = np.full(grades.cents.shape, "", dtype=object)
    idx = np.nonzero(grades.graded)
    out[idx] = [_fmt(c) for c in grades.cents[idx]]
    out[grades.excused] = EXCUSED
    return out


def item_header(items: pd.DataFrame, item_id) -> str:
    return str(items.loc[item_id, "name"])


def gradebook_table(frame, result: calc.Result, letters: pd.DataFrame) -> pd.DataFrame:
    """One row per student (plus a first "Points possible" row), one column per item, then
    category percentages (current and final), totals and the letter. All cells are strings."""
    students, items, cats = frame.students, frame.items, frame.categories
    table = pd.DataFrame({
        STUDENT_NUMBER: students["student_number"].fillna("").to_numpy(),
        "Username": students["username"].to_numpy(),
        "Last name": students["last_name"].to_numpy(),
        "First name": students["first_name"].to_numpy(),
    })
    texts = cell_texts(frame)
    for j, item_id in enumerate(items.index):
        table[item_header(items, item_id)] = texts[:, j]
    for mode in calc.MODES:
        percents = result.category_percent(mode)
        for cat_id in cats.index:
            table[f"{cats.loc[cat_id, 'name']} % ({mode})"] = [_pct(v) for v in percents[cat_id]]
    table["Current total %"] = [_pct(v) for v in result.total_percent(calc.CURRENT)]
    table["Final total %"] = [_pct(v) for v in result.total_percent(calc.FINAL)]
    table["Letter"] = letters["letter"].to_numpy()
    table["Letter override reason"] = letters["reason"].to_numpy()
    possible = {c: "" for c in table.columns}
    possible[STUDENT_NUMBER] = POINTS_POSSIBLE
    for item_id in items.index:
        text = calc.fmt_points(items.loc[item_id, "points_possible"])
        possible[item_header(items, item_id)] = text + (" (extra credit)" if items.loc[item_id, "extra_credit"] else "")
    table = pd.concat([pd.DataFrame([possible]), table], ignore_index=True)
    return table.map(neutralise)


def moodle_table(frame) -> pd.DataFrame:
    """The column layout of Moodle's grade export, which its CSV import reads back
    (https://docs.moodle.org/en/Grade_import): map "ID number" to useridnumber (our student
    number) and each "<item> (Real)" column to a grade item. No grade is written as "-"."""
    students, items = frame.students, frame.items
    table = pd.DataFrame({
        "First name": students["first_name"].to_numpy(),
        "Last name": students["last_name"].to_numpy(),
        "ID number": students["student_number"].fillna("").to_numpy(),
        "Email address": [""] * len(students),
    })
    texts = cell_texts(frame)
    texts[(texts == "") | (texts == EXCUSED)] = "-"
    for j, item_id in enumerate(items.index):
        table[f"{item_header(items, item_id)} (Real)"] = texts[:, j]
    return table.map(neutralise)


def item_report(frame, item_id) -> pd.DataFrame:
    """One item: each student's raw points, late penalty, counted points, state and comment."""
    details = frame.details if frame.details is not None else pd.DataFrame(columns=["student_id", "item_id"])
    mine = details[details["item_id"] == item_id].set_index("student_id")
    rows = []
    for sid, student in frame.students.iterrows():
        grade = mine.loc[sid] if sid in mine.index else None
        state = "missing" if grade is None else ("excused" if grade["state"] == "excused" else
                                                 ("graded" if grade["points"] is not None else "missing"))
        rows.append({
            STUDENT_NUMBER: student["student_number"] or "", "Last name": student["last_name"],
            "First name": student["first_name"], "State": state,
            "Raw points": "" if grade is None else calc.fmt_points(grade["raw_points"]),
            "Late penalty": "" if grade is None or not grade["late_penalty_points"] else
            calc.fmt_points(grade["late_penalty_points"]),
            "Points": "" if grade is None else calc.fmt_points(grade["points"]),
            "Comment": "" if grade is None else grade["comment"],
        })
    return pd.DataFrame(rows, columns=[STUDENT_NUMBER, "Last name", "First name", "State", "Raw points",
                                       "Late penalty", "Points", "Comment"]).map(neutralise)


def to_csv(table: pd.DataFrame) -> str:
    return table.to_csv(index=False, lineterminator="\n")


def to_xlsx(table: pd.DataFrame, sheet: str = "Gradebook") -> bytes:
    """Excel workbook (openpyxl). Cells are written as text so nothing is evaluated."""
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        table.to_excel(writer, index=False, sheet_name=sheet[:31])
        sheet_obj = writer.sheets[sheet[:31]]
        for column in sheet_obj.columns:
            width = max(len(str(c.value or "")) for c in column[:200])
            sheet_obj.column_dimensions[column[0].column_letter].width = min(40, max(8, width + 2))
            for cell in column:
                cell.data_type = "s" if isinstance(cell.value, str) else cell.data_type
    return buffer.getvalue()
