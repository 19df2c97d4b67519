"""Pure grading arithmetic: no ORM, no settings, no I/O.

Units: points are Decimals with two decimal places (or integer hundredths inside
the engine); percentages are exact rationals, rounded half up to two decimals only
for display and export (``round_half_up``).
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from courseapp.numbers import PointsError, format_points, parse_points

HUNDREDTH = Decimal("0.01")
HUNDRED = Decimal("100")


def round_half_up(value: Decimal, places: int = 2) -> Decimal:
    """Round half away from zero to `places` decimals (the way people round by hand: 84.995 → 85.00)."""
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def fmt_points(value: Decimal | None) -> str:
    """Points for people: 10.00 → "10", 7.50 → "7.5", None → ""."""
    if value is None:
        return ""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


SCORE_BASE = "score"
POSSIBLE_BASE = "possible"
LATE_BASES = (SCORE_BASE, POSSIBLE_BASE)


@dataclass(frozen=True)
class LatePenalty:
    """What a late policy takes off one score.

    units_late: started days (or hours) past the due date, 0 if on time.
    percent: percent of the base taken off before the floor caps it in points (base "score": of the
    raw score, already capped by the floor; base "possible": of points possible, up to 100).
    points: points taken off, rounded half up to hundredths (the floor applied).
    base: "score" or "possible".
    """

    units_late: int
    percent: Decimal
    points: Decimal
    base: str = SCORE_BASE


NO_PENALTY = LatePenalty(units_late=0, percent=Decimal("0"), points=Decimal("0.00"))


def late_penalty(
    *,
    raw_points: Decimal,
    due_at: dt.datetime | None,
    submitted_at: dt.datetime | None,
    percent_per_unit: Decimal,
    unit: str,
    floor_percent: Decimal,
    base: str = SCORE_BASE,
    points_possible: Decimal | None = None,
) -> LatePenalty:
    """The penalty for work submitted at `submitted_at` against `due_at`.

    Each started `unit` ("day" = 24 hours, "hour") past the due date takes
    `percent_per_unit` percent of the base off, and the floor is a percent of the same base:

    * base "score" (the default, this gradebook's original rule): percent of the raw score,
      never taking the score below `floor_percent` percent of itself (the cap on the penalty
      is 100 - floor): 6/10 two days late at 10 %/day → 6 − 1.2 = 4.80.
    * base "possible" (Canvas's rule): percent of `points_possible`, never taking the score
      below `floor_percent` percent of points possible (a score already below the floor loses
      nothing): 6/10 two days late at 10 %/day → 6 − 2 = 4.00.

    No due date, no submission time, or a zero rate means no penalty. Both datetimes
    must be timezone-aware. Raises ValueError for an unknown base, or base "possible"
    without points_possible.
    """
    if base not in LATE_BASES:
        raise ValueError(f"unknown late penalty base {base!r}")
    if due_at is None or submitted_at is None or percent_per_unit <= 0 or raw_points <= 0:
        return replace(NO_PENALTY, base=base)
    late_by = submitted_at - due_at
    if late_by <= dt.timedelta(0):
        return replace(NO_PENALTY, base=base)
    seconds = {"day": 86400, "hour": 3600}[unit]
    units = math.ceil(late_by.total_seconds() / seconds)
    if base == POSSIBLE_BASE:
        if points_possible is None:
            raise ValueError("a late penalty of points possible needs points_possible")
        if points_possible <= 0:
            return replace(NO_PENALTY, units_late=units, base=base)
        percent = min(percent_per_unit * units, HUNDRED)
        room = max(Decimal("0"), raw_points - points_possible * floor_percent / HUNDRED)
        points = round_half_up(min(points_possible * percent / HUNDRED, room))
        return LatePenalty(units_late=units, percent=percent, points=points, base=base)
    cap = max(Decimal("0"), HUNDRED - floor_percent)
    percent = min(percent_per_unit * units, cap)
    points = round_half_up(raw_points * percent / HUNDRED)
    return LatePenalty(units_late=units, percent=percent, points=points, base=base)


# --------------------------------------------------------------------------------------------
# The gradebook engine
#
# Inputs are pandas frames (built by selectors.gradebook_frame, or by hand in tests):
#   categories: index = category id; columns name, weight (Decimal, percent of the course),
#               aggregation ("total_points" | "mean" | "weighted_mean"), drop_lowest, drop_highest
#   items:      index = item id; columns category (id), name, points_possible (Decimal),
#               weight (Decimal or None = 1), due_at (aware datetime or None), extra_credit, never_drop
#   grades:     a GradeMatrix: students × items, points in integer hundredths plus masks
#
# Everything below is integer arithmetic (numpy int64 where a bound proves it cannot overflow,
# Python ints in object arrays otherwise), so every percentage is an exact rational N/D and
# is rounded half up only when shown (Result.*_percent) — never binary floating point.
# --------------------------------------------------------------------------------------------

from fractions import Fraction  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

CURRENT = "current"
FINAL = "final"
MODES = (CURRENT, FINAL)
_INT64_SAFE = 2**62
NORMALISED = "normalised"
ABSOLUTE = "absolute"
WEIGHTINGS = (NORMALISED, ABSOLUTE)


@dataclass(frozen=True)
class GradingOptions:
    """Course-wide rules of the engine (stored per course as grading.models.GradebookOptions).

    weighting: how category weights combine when they do not add up to 100.
      "normalised" (default): Σ w·score ÷ Σ w over the categories with a score, so weights that add
      up to 110 are read in proportion and a total cannot pass 100% without extra credit.
      "absolute" (Canvas): weights are percent of the course as given; the sum is divided by 100,
      or by Σ w when the categories with a score weigh less than 100 (a category with nothing
      counted still drops out), so a bonus category can take the total above 100%.
      Ignored when every category weighs 0 (points mode).
    missing_percent: None (default) = off. Otherwise missing work on an item whose due date has
      passed counts as this percent of its points possible (rounded half up to hundredths of a
      point) in both totals, like a grade (Canvas's missing-submission policy). Extra-credit items
      and items without a due date are left to the ordinary rules.
    """

    weighting: str = NORMALISED
    missing_percent: Decimal | None = None

    def __post_init__(self) -> None:
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"unknown weighting {self.weighting!r}")
        if self.missing_percent is not None and not (0 <= self.missing_percent <= 100):
            raise ValueError("missing_percent must be between 0 and 100")


DEFAULT_OPTIONS = GradingOptions()


def to_cents(value: Decimal | int | str | None) -> int | None:
    """Points → integer hundredths (Decimal('7.25') → 725). None stays None.

    Raises ValueError for more than two decimals: the database stores hundredths.
    """
    if value is None:
        return None
    d = Decimal(str(value)) if not isinstance(value, Decimal) else value
    scaled = d.scaleb(2)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more than two decimals")
    return int(scaled)


def cents_to_decimal(cents: int) -> Decimal:
    return Decimal(int(cents)).scaleb(-2)


@dataclass
class GradeMatrix:
    """Grades of S students on I items.

    cents: int64 (S×I), the counted points in hundredths (0 where there is no number);
    graded: bool (S×I), a number is present; excused: bool (S×I).
    Missing = neither graded nor excused.
    """

    students: pd.Index
    items: pd.Index
    cents: np.ndarray
    graded: np.ndarray
    excused: np.ndarray

    @classmethod
    def empty(cls, students, items) -> GradeMatrix:
        shape = (len(students), len(items))
        return cls(
            pd.Index(students), pd.Index(items), np.zeros(shape, dtype=np.int64),
            np.zeros(shape, dtype=bool), np.zeros(shape, dtype=bool),
        )

    @classmethod
    def from_frame(cls, points: pd.DataFrame, excused: pd.DataFrame | None = None) -> GradeMatrix:
        """From a students × items frame of Decimal/str/None ("E" or "EX" also means excused)."""
        matrix = cls.empty(points.index, points.columns)
        for (i, j), value in np.ndenumerate(points.to_numpy(dtype=object)):
            if isinstance(value, str) and value.upper() in {"E", "EX", "EXCUSED"}:
                matrix.excused[i, j] = True
            elif value is not None and not (isinstance(value, float) and math.isnan(value)):
                matrix.cents[i, j] = to_cents(value)
                matrix.graded[i, j] = True
        if excused is not None:
            mask = excused.reindex(index=points.index, columns=points.columns, fill_value=False).to_numpy(bool)
            matrix.excused |= mask
            matrix.graded &= ~mask
            matrix.cents[mask] = 0
        return matrix

    @classmethod
    def from_rows(cls, students, items, rows) -> GradeMatrix:
        """From (student_id, item_id, excused: bool, cents: int | None) rows; vectorised."""
        matrix = cls.empty(students, items)
        if len(rows) == 0:
            return matrix
        sid, iid, exc, cents = (np.asarray(col, dtype=object) for col in zip(*rows, strict=True))
        si = matrix.students.get_indexer(sid.astype(np.int64))
        ii = matrix.items.get_indexer(iid.astype(np.int64))
        keep = (si >= 0) & (ii >= 0)
        exc = exc.astype(bool)
        has = np.array([c is not None for c in cents], dtype=bool) & ~exc & keep
        matrix.excused[si[keep & exc], ii[keep & exc]] = True
        matrix.graded[si[has], ii[has]] = True
        matrix.cents[si[has], ii[has]] = cents[has].astype(np.int64)
        return matrix

    @classmethod
    def from_codes(cls, students, items, rows) -> GradeMatrix:
        """From (student_id, item_id, code) integer rows (tuples, or an n × 3 array): code ≥ 0 is hundredths of a point,
        -1 a grade row without a number (missing), -2 excused. Rows of other students or
        items are ignored. Vectorised: 10,000 × 14 grades take a few milliseconds."""
        matrix = cls.empty(students, items)
        if len(rows) == 0:
            return matrix
        if isinstance(rows, np.ndarray):  # already an (n × 3) integer array
            arr = rows.astype(np.int64, copy=False).reshape(-1, 3)
        else:
            arr = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int64, count=3 * len(rows)).reshape(-1, 3)
        si = matrix.students.get_indexer(arr[:, 0])
        ii = matrix.items.get_indexer(arr[:, 1])
        code = arr[:, 2]
        keep = (si >= 0) & (ii >= 0)
        graded = keep & (code >= 0)
        excused = keep & (code == -2)
        matrix.graded[si[graded], ii[graded]] = True
        matrix.cents[si[graded], ii[graded]] = code[graded]
        matrix.excused[si[excused], ii[excused]] = True
        return matrix

    def copy(self) -> GradeMatrix:
        return GradeMatrix(self.students, self.items, self.cents.copy(), self.graded.copy(), self.excused.copy())


@dataclass
class Result:
    """Exact results of `compute`. Rationals are (numerator, denominator) arrays; den 0 = no score.

    Per mode (CURRENT, FINAL): cat_num/cat_den (S×C) give each category's percentage as
    100·num/den; total_num/total_den (S) the course total the same way; dropped (S×I)
    marks the items the drop rules removed; counted (S×I) the items that entered the total.
    missing_policy (S×I): missing work that the missing-work policy scored (same in both modes).
    points_mode: every category weighs 0, so categories weigh their points possible.
    """

    students: pd.Index
    items: pd.Index
    categories: pd.Index
    cat_num: dict
    cat_den: dict
    total_num: dict
    total_den: dict
    dropped: dict
    counted: dict
    missing_policy: np.ndarray | None = None
    points_mode: bool = False

    def category_percent(self, mode: str = CURRENT) -> pd.DataFrame:
        """Category percentages, rounded half up to hundredths (Decimal; None = no score)."""
        return pd.DataFrame(
            _round_ratio(self.cat_num[mode], self.cat_den[mode]), index=self.students, columns=self.categories
        )

    def total_percent(self, mode: str = CURRENT) -> pd.Series:
        """Course totals in percent, rounded half up to hundredths (Decimal; None = nothing counted)."""
        return pd.Series(_round_ratio(self.total_num[mode], self.total_den[mode]), index=self.students,
                         dtype=object)

    def total_exact(self, mode: str = CURRENT) -> pd.Series:
        """Course totals in percent as exact Fractions (None = nothing counted)."""
        values = [
            Fraction(100 * int(n), int(d)) if d else None
            for n, d in zip(self.total_num[mode], self.total_den[mode], strict=True)
        ]
        return pd.Series(values, index=self.students, dtype=object)

    def category_hundredths(self, mode: str = CURRENT) -> np.ndarray:
        """Category percentages as integer hundredths, rounded half up (-1 = no score). S×C int64."""
        return _hundredths(self.cat_num[mode], self.cat_den[mode])

    def total_hundredths(self, mode: str = CURRENT) -> np.ndarray:
        """Course totals as integer hundredths of a percent, rounded half up (-1 = nothing counted)."""
        return _hundredths(self.total_num[mode], self.total_den[mode])

    def category_exact(self, mode: str = CURRENT) -> pd.DataFrame:
        num, den = self.cat_num[mode], self.cat_den[mode]
        values = np.empty(num.shape, dtype=object)
        for idx in np.ndindex(num.shape):
            values[idx] = Fraction(100 * int(num[idx]), int(den[idx])) if den[idx] else None
        return pd.DataFrame(values, index=self.students, columns=self.categories)


def _hundredths(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """round_half_up(10000·num/den) as int64, -1 where den == 0. Exact: integer arithmetic."""
    num = np.asarray(num)
    den = np.asarray(den)
    try:  # Python ints that fit int64 convert in C; the bound keeps 20000·num + den exact in int64
        small = num.astype(np.int64), den.astype(np.int64)
    except OverflowError:
        small = None
    if small is not None and (not num.size or 20000 * int(np.abs(small[0]).max()) + 2 * int(np.abs(small[1]).max())
                              < _INT64_SAFE):
        num, den = small
    else:
        num, den = num.astype(object), den.astype(object)
    has = den != 0
    safe = np.where(has, den, 1)
    values = (20000 * num + safe) // (2 * safe)
    return np.where(has, values, -1).astype(np.int64)


def _round_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """100·num/den rounded half up to hundredths, as Decimals (None where den == 0). num ≥ 0."""
    num = np.asarray(num)
    den = np.asarray(den)
    out = np.full(num.shape, None, dtype=object)
    has = den != 0
    if not has.any():
        return out
    n = num[has].astype(object)
    d = den[has].astype(object)
    hundredths = (20000 * n + d) // (2 * d)  # exact half-up rounding of 10000·n/d
    out[has] = [Decimal(int(h)).scaleb(-2) for h in hundredths]
    return out


def _int(value: Decimal, scale: int) -> int:
    return int((Decimal(value) * scale).to_integral_value(rounding=ROUND_HALF_UP))


def _past_due(items: pd.DataFrame, item_ids: pd.Index, now: dt.datetime) -> tuple[np.ndarray, np.ndarray]:
    """(has a due date that has passed, has no due date) per item."""
    due = items["due_at"].reindex(item_ids).to_numpy(dtype=object)
    no_due = np.array([bool(pd.isna(d)) for d in due], dtype=bool)
    passed = np.array([not n and d <= now for d, n in zip(due, no_due, strict=True)], dtype=bool)
    return passed, no_due


def missing_policy_cents(points_possible: Decimal, percent: Decimal) -> int:
    """What the missing-work policy gives an item, in hundredths of a point: `percent` of its points
    possible, rounded half up to the hundredth (50% of 0.15 → 0.08 → 8)."""
    return int(round_half_up(Decimal(to_cents(points_possible) or 0) * percent / HUNDRED, 0))


def _missing_policy(
    grades: GradeMatrix, items: pd.DataFrame, now: dt.datetime, options: GradingOptions
) -> tuple[np.ndarray, np.ndarray]:
    """(mask, cents) of missing work the missing-work policy scores: past due, not extra credit."""
    shape = grades.cents.shape
    if options.missing_percent is None:
        return np.zeros(shape, dtype=bool), np.zeros(shape, dtype=np.int64)
    passed, _ = _past_due(items, grades.items, now)
    ec = items["extra_credit"].reindex(grades.items).to_numpy(bool)
    per_item = np.array([missing_policy_cents(p, options.missing_percent)
                         for p in items["points_possible"].reindex(grades.items)], dtype=np.int64)
    mask = ~grades.graded & ~grades.excused & (passed & ~ec)[None, :]
    return mask, np.where(mask, per_item[None, :], 0)


def _counted(
    grades: GradeMatrix, items: pd.DataFrame, mode: str, now: dt.datetime, options: GradingOptions = DEFAULT_OPTIONS
) -> tuple[np.ndarray, np.ndarray]:
    """(counted mask, cents) for a mode, before drops. Excused work never counts.

    CURRENT: graded work, plus missing work the missing-work policy scores (past due).
    FINAL: also missing work past due (or with no due date) as 0 where the policy does not score it.
    """
    policy, policy_cents = _missing_policy(grades, items, now, options)
    counted = (grades.graded & ~grades.excused) | policy
    cents = np.where(grades.graded & ~grades.excused, grades.cents, policy_cents)
    if mode == FINAL:
        passed, no_due = _past_due(items, grades.items, now)
        counted = counted | (~grades.graded & ~grades.excused & (passed | no_due)[None, :])
    return counted, np.where(counted, cents, 0)


def _category_coefficients(items: pd.DataFrame, aggregation: str) -> tuple[list, list]:
    """Per item (alpha, beta): a kept item adds alpha·cents to N and beta to D."""
    q = [to_cents(v) or 0 for v in items["points_possible"]]  # points possible is never None
    ec = list(items["extra_credit"].astype(bool))
    if aggregation == "total_points":
        return [1] * len(q), [0 if e else qq for qq, e in zip(q, ec, strict=True)]
    weights = [1000 if (w is None or pd.isna(w)) else _int(w, 1000)
               for w in items["weight"]] if aggregation == "weighted_mean" else [1] * len(q)
    positive = [qq for qq in q if qq > 0]
    lcm = math.lcm(*positive) if positive else 1
    alpha = [w * (lcm // qq) if qq > 0 else 0 for qq, w in zip(q, weights, strict=True)]
    beta = [0 if (e or qq <= 0) else w * lcm for qq, w, e in zip(q, weights, ec, strict=True)]
    return alpha, beta


def _best_drops(
    a: np.ndarray, beta: np.ndarray, counted: np.ndarray, candidate: np.ndarray, low: int, high: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Choose drops per student; returns (N, D, dropped mask).

    a (S×n): each item's contribution to the numerator; beta (n): to the denominator.
    Drop-lowest takes the `low` items whose removal maximises N/D; drop-highest the
    `high` items whose removal minimises it; with both, the lowest are chosen knowing
    the highest will go too (max over low-sets of min over high-sets). Each N/D on a
    fixed kept set is non-decreasing in every grade, and max/min preserve that, so the
    result is monotone. Cost: C(n, low)·C(n-low, high) vectorised passes over students.
    """
    s, n = a.shape
    kept_a = np.where(counted, a, 0)
    total_n = kept_a.sum(axis=1)
    total_d = (counted * beta[None, :]).sum(axis=1)
    countable = counted & (beta[None, :] > 0)
    m = countable.sum(axis=1)
    c = candidate.sum(axis=1)
    lows = np.clip(np.minimum(np.minimum(low, c), m - 1), 0, None)
    highs = np.clip(np.minimum(np.minimum(high, c - lows), m - 1 - lows), 0, None)
    dropped = np.zeros((s, n), dtype=bool)
    out_n, out_d = total_n.copy(), total_d.copy()
    keys = np.unique(lows.astype(np.int64) * 4096 + highs.astype(np.int64))  # one sort of ints, not of rows
    for lo, hi in ((int(k) // 4096, int(k) % 4096) for k in keys if k):
        rows = np.flatnonzero((lows == lo) & (highs == hi))
        ka, cand = kept_a[rows], candidate[rows]
        tn, td = total_n[rows], total_d[rows]
        combos: list[tuple[int, ...]] = []
        best_n: Any = None  # arrays over `rows` once the first combination is seen
        best_d: Any = None
        best_idx: Any = None
        for low_set in itertools.combinations(range(n), lo):
            low_cols = list(low_set)
            low_ok = cand[:, low_cols].all(axis=1)
            ln = tn - ka[:, low_cols].sum(axis=1)
            ld = td - beta[low_cols].sum()
            inner_n: Any = None
            inner_d: Any = None
            inner_idx: Any = None
            rest = [j for j in range(n) if j not in low_set]
            for high_set in itertools.combinations(rest, hi):
                high_cols = list(high_set)
                combos.append(low_set + high_set)
                ok = low_ok & cand[:, high_cols].all(axis=1)
                hn = ln - ka[:, high_cols].sum(axis=1)
                hd = ld - beta[high_cols].sum()
                if inner_n is None:
                    take = ok
                    inner_n, inner_d = np.where(ok, hn, 0), np.where(ok, hd, 0)
                    inner_idx = np.full(len(rows), -1)
                else:  # the smaller ratio wins (hd > 0 wherever ok holds)
                    take = ok & ((inner_d == 0) | (hn * inner_d < inner_n * hd))
                    inner_n, inner_d = np.where(take, hn, inner_n), np.where(take, hd, inner_d)
                inner_idx = np.where(take, len(combos) - 1, inner_idx)
            if best_n is None:
                take = inner_d != 0
                best_n, best_d = np.where(take, inner_n, 0), np.where(take, inner_d, 0)
                best_idx = np.where(take, inner_idx, -1)
            else:  # the larger ratio wins
                take = (inner_d != 0) & ((best_d == 0) | (inner_n * best_d > best_n * inner_d))
                best_n, best_d = np.where(take, inner_n, best_n), np.where(take, inner_d, best_d)
                best_idx = np.where(take, inner_idx, best_idx)
        out_n[rows], out_d[rows] = best_n, best_d
        table = np.zeros((len(combos) + 1, n), dtype=bool)  # last row: "nothing dropped" for -1
        for k, combo in enumerate(combos):
            table[k, list(combo)] = True
        dropped[rows] = table[best_idx]
    return out_n, out_d, dropped


def compute(
    *, categories: pd.DataFrame, items: pd.DataFrame, grades: GradeMatrix, now: dt.datetime,
    options: GradingOptions = DEFAULT_OPTIONS,
) -> Result:
    """Category percentages, course totals and drops for every student, in both modes.

    CURRENT counts graded work only: excused and missing items leave numerator and
    denominator; a category with nothing counted has no score and the remaining
    category weights are scaled up (see GradingOptions.weighting). FINAL also counts
    missing work as 0 once its due date has passed (`now`, aware) or when it has no due
    date. With a missing-work policy (options.missing_percent), missing work past due
    counts as that percent of its points in both modes. Extra-credit items add their
    points (or percentage) to the numerator and nothing to the denominator and are never
    dropped. Category weights are percent of the course.

    Points mode (every category weighs 0): each category weighs the points possible of
    the student's items that count in that mode before drops (graded, or scored as missing),
    so with no drops the total is points earned over points possible, as in Canvas's
    points mode, and an excused item weighs nothing, exactly as if it did not exist.
    The weights do not depend on the grade values (nor on the drops), so raising any
    grade never lowers a total.
    """
    item_ids = grades.items
    items = items.reindex(item_ids)
    cat_ids = pd.Index(categories.index)
    s = len(grades.students)
    policy_mask, _ = _missing_policy(grades, items, now, options)
    result = Result(grades.students, item_ids, cat_ids, {}, {}, {}, {}, {}, {}, missing_policy=policy_mask)
    cat_weights = [_int(w, 1000) for w in categories["weight"]]
    points_mode = not any(cat_weights)
    result.points_mode = points_mode
    item_cat = items["category"].to_numpy(dtype=object)
    possible = np.array([0 if ec else to_cents(p) for p, ec in zip(items["points_possible"], items["extra_credit"],
                                                                   strict=True)], dtype=np.int64)
    for mode in MODES:
        counted, cents = _counted(grades, items, mode, now, options)
        cat_num = np.zeros((s, len(cat_ids)), dtype=object)
        cat_den = np.zeros((s, len(cat_ids)), dtype=object)
        point_weights = np.zeros((s, len(cat_ids)), dtype=np.int64)  # points mode: per student and category
        dropped = np.zeros(counted.shape, dtype=bool)
        for k, (cat_id, cat) in enumerate(categories.iterrows()):
            cols = np.flatnonzero(item_cat == cat_id)
            if len(cols) == 0:
                continue
            if points_mode:
                point_weights[:, k] = (counted[:, cols] * possible[cols][None, :]).sum(axis=1)
            sub = items.iloc[cols]
            alpha, beta = _category_coefficients(sub, cat["aggregation"])
            bound = (max(alpha) or 1) * (int(cents[:, cols].max(initial=0)) + 1) * len(cols) * (sum(beta) + 1)
            dtype = np.int64 if bound < _INT64_SAFE else object
            a = cents[:, cols].astype(dtype) * np.array(alpha, dtype=dtype)[None, :]
            beta_arr = np.array(beta, dtype=dtype)
            ec = sub["extra_credit"].to_numpy(bool)
            never = sub["never_drop"].to_numpy(bool)
            candidate = counted[:, cols] & ~ec[None, :] & ~never[None, :] & (beta_arr > 0)[None, :]
            n, d, drop = _best_drops(
                a, beta_arr, counted[:, cols], candidate, int(cat["drop_lowest"]), int(cat["drop_highest"])
            )
            has = d != 0
            cat_num[:, k] = np.where(has, n, 0).astype(object)
            cat_den[:, k] = np.where(has, d, 0).astype(object)
            dropped[:, cols] = drop
        cap = None if points_mode or options.weighting == NORMALISED else 100 * 1000
        total_num, total_den = _weighted_total(cat_num, cat_den, point_weights if points_mode else cat_weights,
                                               cap=cap)
        result.cat_num[mode], result.cat_den[mode] = cat_num, cat_den
        result.total_num[mode], result.total_den[mode] = total_num, total_den
        result.dropped[mode] = dropped
        result.counted[mode] = counted & ~dropped
    return result


def _weighted_total(
    cat_num: np.ndarray, cat_den: np.ndarray, weights: list[int] | np.ndarray, cap: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Σ w_c·N_c/D_c ÷ W over categories with a score, as one exact fraction per student.

    weights: one per category (a list), or one per student and category (an S×C array).
    W = Σ w_c over the categories with a score; with `cap` (absolute weights: 100% in the
    weights' units), W = min(Σ w_c, cap), so weights above 100 in all take the total above 100%.
    """
    s, c = cat_num.shape
    has = cat_den != 0
    w_given = np.asarray(weights, dtype=object)
    w_rows = np.broadcast_to(w_given if w_given.ndim == 2 else w_given.reshape(1, c), (s, c))
    # int64 when a bound proves nothing overflows (each term w·N_k·Π_{j≠k} D_j, and the sum);
    # exact Python ints (object arrays) otherwise. Same integers either way.
    max_num = [max(abs(int(cat_num[:, k].max(initial=0))), abs(int(cat_num[:, k].min(initial=0))))
               for k in range(c)]
    max_den = [max(int(cat_den[:, k].max(initial=0)), 1) for k in range(c)]
    product = math.prod(max_den)
    w_sum = int(np.abs(w_rows[:1] if w_given.ndim == 1 else w_rows).sum(axis=1).max(initial=0)) if s else 0
    bound = max(product, w_sum * product + w_sum * sum(n * (product // d) for n, d in zip(max_num, max_den,
                                                                                        strict=True)))
    dtype = np.int64 if bound < _INT64_SAFE else object
    cat_num = cat_num.astype(dtype)
    w_arr = np.asarray(w_rows).astype(dtype)
    dens = np.where(has, cat_den, 1).astype(dtype)
    common = np.ones(s, dtype=dtype)
    for k in range(c):
        common = common * dens[:, k]
    num = np.zeros(s, dtype=dtype)
    wsum = np.zeros(s, dtype=dtype)
    for k in range(c):
        w = w_arr[:, k]
        use = has[:, k] & (w != 0)
        num = num + np.where(use, w * cat_num[:, k] * (common // dens[:, k]), 0)
        wsum = wsum + np.where(use, w, 0)
    if cap is not None:
        wsum = np.where(wsum > cap, cap, wsum)
    den = np.where(wsum != 0, wsum * common, 0)
    return num, den


# --- letters -------------------------------------------------------------------------------

METU_SCALE: tuple[tuple[str, Decimal, Decimal], ...] = (
    ("AA", Decimal("90"), Decimal("4.0")),
    ("BA", Decimal("85"), Decimal("3.5")),
    ("BB", Decimal("80"), Decimal("3.0")),
    ("CB", Decimal("75"), Decimal("2.5")),
    ("CC", Decimal("70"), Decimal("2.0")),
    ("DC", Decimal("65"), Decimal("1.5")),
    ("DD", Decimal("60"), Decimal("1.0")),
    ("FD", Decimal("50"), Decimal("0.5")),
    ("FF", Decimal("0"), Decimal("0.0")),
)


def letter_for(percent: Decimal | None, scale=METU_SCALE) -> str:
    """The letter for a total already rounded for display (so 89.995 → 90.00 → AA); "" for None.

    scale: (letter, min_percent, grade_point) rows in any order; below every cut-off is the
    lowest row's letter.
    """
    if percent is None:
        return ""
    rows = sorted(scale, key=lambda row: row[1], reverse=True)
    for letter, minimum, _ in rows:
        if percent >= minimum:
            return letter
    return rows[-1][0]


def letters_for(hundredths: np.ndarray, scale=METU_SCALE) -> np.ndarray:
    """Vectorised letter_for over totals in integer hundredths of a percent (-1 = no total → "")."""
    rows = sorted(scale, key=lambda row: row[1])
    cuts = np.array([int(row[1] * 100) for row in rows], dtype=np.int64)
    names = np.array([row[0] for row in rows] + [""], dtype=object)
    pos = np.searchsorted(cuts, hundredths, side="right") - 1
    pos = np.where(pos < 0, 0, pos)  # below every cut-off: the lowest letter
    pos = np.where(hundredths < 0, len(rows), pos)
    return names[pos]


def validate_scale(rows: list[tuple[str, Decimal, Decimal]]) -> list[str]:
    """Problems with a letter scale, as messages (empty list = fine)."""
    problems = []
    letters = [r[0] for r in rows]
    if len(set(letters)) != len(letters):
        problems.append("Each letter may appear only once.")
    cutoffs = [r[1] for r in rows]
    if len(set(cutoffs)) != len(cutoffs):
        problems.append("Two letters have the same cut-off; give each letter its own lowest percentage.")
    if any(c < 0 or c > 200 for c in cutoffs):
        problems.append("Cut-offs must be between 0 and 200 percent.")
    ordered = sorted(rows, key=lambda row: row[1], reverse=True)
    if any(a[2] <= b[2] for a, b in zip(ordered, ordered[1:], strict=False)):
        problems.append("A letter with a higher grade point needs a higher cut-off; check the order.")
    if rows and min(cutoffs) != 0:
        problems.append("The lowest letter must start at 0 so that every total gets a letter.")
    return problems


# --- gradebook set-up rules ----------------------------------------------------------------


def weight_warning(weights: list[Decimal], weighting: str = NORMALISED) -> str | None:
    """What an instructor should know about a course's category weights (percent), or None.

    Weights that do not add up to 100 are a warning, not an error: refusing would make
    re-weighting impossible one category at a time. Normalised weights count in proportion to
    their sum; absolute weights above 100 in all let totals pass 100% (a bonus category).
    """
    if not weights:
        return None
    total = sum(weights, Decimal(0))
    if total == 100:
        return None
    if total == 0:
        return ("Every category weighs 0%, so each counts by its points possible. To weigh them as the "
                "syllabus says, give them weights that add up to 100%.")
    if weighting == ABSOLUTE and total > 100:
        return (f"Category weights add up to {fmt_points(total)}% and are absolute, so a student with full marks "
                f"everywhere gets {fmt_points(total)}%. If that is not meant as a bonus, check the weights against "
                "the syllabus.")
    if weighting == ABSOLUTE:
        return (f"Category weights add up to {fmt_points(total)}%, not 100%. With every category scored, totals are "
                "divided by that sum (weights below 100% are scaled up), but check the weights against the syllabus.")
    return (f"Category weights add up to {fmt_points(total)}%, not 100%. Totals are still computed (each "
            "weight counts in proportion to their sum), but check the weights against the syllabus.")


def drop_problems(
    *, name: str, aggregation: str, drop_lowest: int, drop_highest: int, items: list[dict]
) -> list[str]:
    """Why a category's drop rule cannot hold for its items (empty list = it can).

    items: one dict per item of the category with points_possible (Decimal), weight
    (Decimal or None), extra_credit, never_drop. Counted items are those the engine can
    weigh (not extra credit, points possible above 0, and a weight above 0 under weighted
    mean); droppable ones are counted items not marked "never drop". The drops together
    may not exceed the droppable items, and at least one counted item must remain.
    """
    drops = drop_lowest + drop_highest
    if drops == 0:
        return []
    counted = [
        i for i in items
        if not i["extra_credit"] and i["points_possible"] > 0
        and not (aggregation == "weighted_mean" and i["weight"] is not None and i["weight"] <= 0)
    ]
    droppable = [i for i in counted if not i["never_drop"]]
    rule = " + ".join(part for part in (f"drop lowest {drop_lowest}" if drop_lowest else "",
                                        f"drop highest {drop_highest}" if drop_highest else "") if part)
    if drops > len(droppable):
        return [f"{name} would drop {drops} item(s) ({rule}) but has only {len(droppable)} that may be dropped "
                "(not extra credit, not “never drop”). Lower the drop counts, or add the items first."]
    if drops >= len(counted):
        return [f"{name} has {len(counted)} counted item(s) and would drop {drops} ({rule}); at least one must "
                f"count. Drop at most {len(counted) - 1} in all."]
    return []


# --- what if ----------------------------------------------------------------------------------

EXCUSED_WORDS = frozenset({"E", "EX", "EXCUSED"})


def what_if_grades(
    grades: GradeMatrix, items: pd.DataFrame, guesses: Mapping[object, object], *, row: int = 0,
) -> tuple[GradeMatrix, list[str]]:
    """A copy of `grades` with one student's (row `row`) guesses put in; `grades` is left as it is.

    guesses: item id (int, or its text as JSON object keys are) → points typed by a person
    ("8.5", "8,5", 8), "EX"/"E"/"excused" to excuse, None or "" to take the grade out (missing).
    items: the frame's items (index = item id; name, points_possible, extra_credit); only these
    may be guessed (for a student: the released ones). Points are read with the site's parser
    (courseapp.numbers: at most two decimals, not negative) and may not exceed points possible
    unless the item is extra credit.
    Returns (grades, errors): every guess that cannot be used gives one error saying what to
    fix, and then nothing should be computed from the returned matrix.
    """
    out = grades.copy()
    errors: list[str] = []
    for key, value in guesses.items():
        try:
            item_id = int(str(key).strip())
            j = int(out.items.get_loc(item_id))
        except (KeyError, ValueError, TypeError):
            errors.append(f"Item {key} is not a released item of this course.")
            continue
        item = items.loc[item_id]
        text = "" if value is None else str(value).strip()
        if text == "":
            out.graded[row, j] = out.excused[row, j] = False
            out.cents[row, j] = 0
            continue
        if text.upper() in EXCUSED_WORDS:
            out.excused[row, j], out.graded[row, j], out.cents[row, j] = True, False, 0
            continue
        try:
            points = parse_points(text, what=str(item["name"]))
        except PointsError as exc:
            errors.append(str(exc))
            continue
        if not item["extra_credit"] and points > item["points_possible"]:
            errors.append(f"{item['name']}: {format_points(points)} is above the maximum of "
                          f"{format_points(item['points_possible'])}; enter at most the maximum.")
            continue
        out.graded[row, j], out.excused[row, j] = True, False
        out.cents[row, j] = to_cents(points)
    return out, errors
