"""Gradebook tables and files (pandas): CSV, Excel, Moodle's CSV import layout, per-item report.

Pure formatting over a GradebookFrame and its Result; no ORM. Every text cell a
spreadsheet would run as a formula (starting with =, +, -, @, or a tab/CR) is
prefixed with an apostrophe. Numbers are written as plain decimal strings,
rounded half up to hundredths; the Excel file writes them as numbers.

Points possible are in the item columns' headers ("Quiz 1 (10)", "Bonus (5, extra credit)"),
never in a first data row: every row of a gradebook file is a student, so a spreadsheet or
pandas reads each column with one type. The import reads these headers back.
"""

from __future__ import annotations

import io
import itertools
import re

import numpy as np
import pandas as pd

from courseapp.text import for_export

from . import calculations as calc

STUDENT_NUMBER = "Student number"
POINTS_POSSIBLE = "Points possible"  # the first data row of exports before points possible moved to the headers
EXCUSED = "EX"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
ID_COLUMNS = [STUDENT_NUMBER, "Username", "Last name", "First name"]


def neutralise(value):
    """Text a spreadsheet would evaluate becomes inert text ('=cmd → '=cmd). Numbers pass through."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        # plain negative numbers are never written here (points are ≥ 0), so '-' is always suspicious
        return "'" + value
    return value


def _neutralise_column(values: list) -> list:
    """neutralise() over a column of texts (None → ""). Asks first, in one C-level pass, whether
    any cell starts like a formula: names almost never do, and building a new list cell by
    cell costs more than the rest of a 10,000-student export's formatting."""
    try:
        risky = any(map(str.startswith, values, itertools.repeat(FORMULA_START)))
    except TypeError:  # None or a non-text value: convert cell by cell
        return [neutralise("" if v is None else str(v)) for v in values]
    return [neutralise(v) for v in values] if risky else values


def _neutralise_text(table: pd.DataFrame, text_columns: list[str]) -> pd.DataFrame:
    """Neutralise the headers and the columns that carry people's text. The other cells are
    written by this module from numbers ("7.5", "EX", "85.00") and never start with = + - @."""
    for column in text_columns:
        table[column] = np.array(_neutralise_column(table[column].tolist()), dtype=object)
    table.columns = [neutralise(c) for c in table.columns]
    return table


def points_text(cents: int) -> str:
    """Integer hundredths of a point → the text fmt_points gives (725 → "7.25", 750 → "7.5",
    700 → "7"), in integer arithmetic."""
    return _points_texts([int(cents)])[0]


_FRACTION_TEXTS = ["", *(f".{k // 10}" if k % 10 == 0 else f".{k:02d}" for k in range(1, 100))]
_PERCENT_FRACTIONS = [f".{k:02d}" for k in range(100)]


def _points_texts(values: list[int]) -> list[str]:
    """points_text over many integers: whole part and a looked-up fraction (".25", ".5", "")."""
    frac = _FRACTION_TEXTS
    return [f"{v // 100}{frac[v % 100]}" if v >= 0 else f"-{-v // 100}{frac[-v % 100]}" for v in values]


def _percent_texts(values: list[int]) -> list[str]:
    """Integer hundredths of a percent → "85.00"; negative (no score) → ""."""
    frac = _PERCENT_FRACTIONS
    return [f"{v // 100}{frac[v % 100]}" if v >= 0 else "" for v in values]


def _distinct_texts(values: np.ndarray, fmt_many) -> np.ndarray:
    """fmt_many(list of ints) → texts, applied to an int array formatting each distinct value
    once (10,000 students have a few thousand distinct scores). O(n) through a lookup table
    when the values span a small range."""
    if values.size == 0:
        return np.empty(values.shape, dtype=object)
    low, high = int(values.min()), int(values.max())
    if high - low <= 2_000_000:
        present = np.zeros(high - low + 1, dtype=bool)
        present[values - low] = True
        table = np.empty(high - low + 1, dtype=object)
        distinct = np.flatnonzero(present)
        table[distinct] = fmt_many((distinct + low).tolist())
        return table[values - low]
    distinct, inverse = np.unique(values, return_inverse=True)
    return np.array(fmt_many(distinct.tolist()), dtype=object)[inverse.reshape(values.shape)]


def _pct_texts(hundredths: np.ndarray) -> np.ndarray:
    """Integer hundredths (-1 = none) → "85.00" / ""."""
    return _distinct_texts(hundredths, _percent_texts)


def cell_texts(frame) -> np.ndarray:
    """Students × items texts: points ("7.5"), "EX" for excused, "" for missing."""
    grades = frame.grades
    out = np.full(grades.cents.shape, "", dtype=object)
    idx = np.nonzero(grades.graded)
    out[idx] = _distinct_texts(grades.cents[idx], _points_texts)
    out[grades.excused] = EXCUSED
    return out


def item_header(items: pd.DataFrame, item_id) -> str:
    return str(items.loc[item_id, "name"])


EXTRA_CREDIT = "extra credit"
# " (10)", " (7.5, extra credit)" at the end of a header: the points possible the export wrote there
POSSIBLE_SUFFIX = re.compile(r"\s+\((\d+(?:\.\d+)?)(?:,\s*extra credit)?\)$", re.IGNORECASE)


def item_header_with_possible(items: pd.DataFrame, item_id) -> str:
    """The gradebook export's item header: its name and points possible, "Quiz 1 (10)" or
    "Bonus (5, extra credit)" (read back by the import, see POSSIBLE_SUFFIX)."""
    possible = calc.fmt_points(items.loc[item_id, "points_possible"])
    extra = f", {EXTRA_CREDIT}" if items.loc[item_id, "extra_credit"] else ""
    return f"{item_header(items, item_id)} ({possible}{extra})"


def gradebook_table(frame, result: calc.Result, letters: pd.DataFrame) -> pd.DataFrame:
    """One row per student, one column per item headed with its points possible ("Quiz 1 (10)"),
    then category percentages (current and final), totals and the letter. All cells are strings;
    the numeric columns are named in table.attrs["numeric_columns"] (to_xlsx writes them as numbers)."""
    students, items, cats = frame.students, frame.items, frame.categories
    columns = {  # built as a dict and turned into a frame once (inserting columns one by one is slow)
        STUDENT_NUMBER: students["student_number"].fillna("").to_numpy(),
        "Username": students["username"].to_numpy(),
        "Last name": students["last_name"].to_numpy(),
        "First name": students["first_name"].to_numpy(),
    }
    texts = cell_texts(frame)
    for j, item_id in enumerate(items.index):
        columns[item_header_with_possible(items, item_id)] = texts[:, j]
    # every percentage column formatted in one pass (they share most of their distinct values)
    blocks = [result.category_hundredths(mode) for mode in calc.MODES]
    blocks += [result.total_hundredths(mode)[:, None] for mode in calc.MODES]
    percents = _pct_texts(np.hstack(blocks)) if len(students) else np.empty((0, 2 * len(cats) + 2), object)
    names = [f"{cats.loc[cat_id, 'name']} % ({mode})" for mode in calc.MODES for cat_id in cats.index]
    for k, name in enumerate([*names, "Current total %", "Final total %"]):
        columns[name] = percents[:, k]
    numeric = [c for c in columns if c not in ID_COLUMNS]
    columns["Letter"] = letters["letter"].to_numpy()
    columns["Letter override reason"] = letters["reason"].to_numpy()
    table = pd.DataFrame({column: np.asarray(values, dtype=object) for column, values in columns.items()})
    table = _neutralise_text(table, [*ID_COLUMNS, "Letter override reason"])
    table.attrs["numeric_columns"] = [neutralise(c) for c in numeric]
    return table


def moodle_table(frame) -> pd.DataFrame:
    """The column layout of Moodle's grade export, which its CSV import reads back
    (https://docs.moodle.org/en/Grade_import): map "ID number" to useridnumber (our student
    number) and each "<item> (Real)" column to a grade item. No grade is written as "-"."""
    students, items = frame.students, frame.items
    table = pd.DataFrame({
        "First name": students["first_name"].to_numpy(),
        "Last name": students["last_name"].to_numpy(),
        "ID number": students["student_number"].fillna("").to_numpy(),
        "Email address": students["email"].fillna("").to_numpy() if "email" in students else [""] * len(students),
    })
    texts = cell_texts(frame)
    texts[(texts == "") | (texts == EXCUSED)] = "-"
    for j, item_id in enumerate(items.index):
        table[f"{item_header(items, item_id)} (Real)"] = texts[:, j]
    return _neutralise_text(table, ["First name", "Last name", "ID number", "Email address"])


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


_NEEDS_QUOTES = re.compile('[",\r\n]')
_QUOTE_CHARS = (",", '"', "\r", "\n")


def _csv_column(values: list, *, alone: bool = False) -> list[str]:
    """A column's cells as CSV fields: quoted (with "" for ") when they hold a comma, a quote
    or a line break, as is otherwise; None → "", other values → str(). `alone`: the only
    column, where an empty field must be written "" (an empty line would read as no row)."""
    try:
        joined = "".join(values)
    except TypeError:
        values = ["" if v is None else str(v) for v in values]
        joined = "".join(values)
    if alone:
        return ['"' + v.replace('"', '""') + '"' if not v or _NEEDS_QUOTES.search(v) else v for v in values]
    if not any(char in joined for char in _QUOTE_CHARS):  # substring search: far faster than a regex
        return values
    return ['"' + v.replace('"', '""') + '"' if _NEEDS_QUOTES.search(v) else v for v in values]


def to_csv(table: pd.DataFrame) -> str:
    """CSV text (RFC 4180 quoting, \n line ends): what csv.writer writes (QUOTE_MINIMAL),
    except that a field holding a carriage return is quoted too (Python 3.11's writer leaves
    it bare, which spreadsheets read as a line break).

    Built column-wise: one regex check per column decides whether any cell needs quotes,
    and the rows are joined in C; three times faster than csv.writer on a 10,000-student
    gradebook (see bench/gradebook.py)."""
    alone = len(table.columns) == 1
    header = _csv_column(list(table.columns), alone=alone)
    columns = [_csv_column(table.iloc[:, k].tolist(), alone=alone) for k in range(len(table.columns))]
    return "\n".join([",".join(header), *map(",".join, zip(*columns, strict=True))]) + "\n"


def _numbers_for_excel(values: pd.Series) -> pd.Series:
    """Texts of numbers ("7.5", "85.00") → floats, "" → None (an empty cell); other text ("EX") stays."""
    numbers = pd.to_numeric(values, errors="coerce")
    out = values.astype(object).where(numbers.isna(), numbers.astype(object))
    return out.where(values != "", None)


def to_xlsx(table: pd.DataFrame, sheet: str = "Gradebook") -> bytes:
    """Excel workbook (openpyxl). The columns named in table.attrs["numeric_columns"] (points,
    percentages) are written as numbers, so sums and charts work; their other cells ("EX") and
    every other column are written as text, so nothing is evaluated.

    Control characters (which openpyxl refuses, failing the whole workbook) become U+FFFD in
    headers and cells: a name stored with one must not break every export (courseapp.text)."""
    numeric = set(table.attrs.get("numeric_columns", []))
    positions = [k for k, column in enumerate(table.columns) if column in numeric]
    table = table.rename(columns=for_export).map(for_export)
    for k in positions:
        table.isetitem(k, _numbers_for_excel(table.iloc[:, k]))
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
