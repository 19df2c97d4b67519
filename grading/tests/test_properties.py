"""Property tests (hypothesis): monotonicity, and drops agree with a brute-force search."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal as D
from fractions import Fraction

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grading.calculations import CURRENT, FINAL, GradeMatrix, compute

NOW = dt.datetime(2024, 12, 1, tzinfo=dt.UTC)
PAST = dt.datetime(2024, 11, 1, tzinfo=dt.UTC)
FUTURE = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
AGGREGATIONS = ["total_points", "mean", "weighted_mean"]


@st.composite
def books(draw):
    n_cats = draw(st.integers(1, 3))
    cat_rows = []
    for c in range(1, n_cats + 1):
        cat_rows.append({
            "id": c, "name": f"C{c}", "weight": D(draw(st.sampled_from(["0", "20", "35", "45", "12.5"]))),
            "aggregation": draw(st.sampled_from(AGGREGATIONS)),
            "drop_lowest": draw(st.integers(0, 2)), "drop_highest": draw(st.integers(0, 1)),
        })
    n_items = draw(st.integers(1, 6))
    item_rows = []
    for i in range(1, n_items + 1):
        item_rows.append({
            "id": i, "name": f"I{i}", "category": draw(st.integers(1, n_cats)),
            "points_possible": D(draw(st.integers(1, 2000))) / 100,
            "weight": draw(st.sampled_from([None, D("1"), D("2.5"), D("0")])),
            "due_at": draw(st.sampled_from([PAST, FUTURE, None])),
            "extra_credit": draw(st.booleans()) and draw(st.booleans()),
            "never_drop": draw(st.booleans()) and draw(st.booleans()),
        })
    n_students = draw(st.integers(1, 4))
    cells = {}
    for s in range(1, n_students + 1):
        for item in item_rows:
            top = int(item["points_possible"] * 100) * (2 if item["extra_credit"] else 1)
            cells[(s, item["id"])] = draw(st.one_of(
                st.none(), st.just("E"), st.integers(0, top).map(lambda c: D(c) / 100)))
    categories = pd.DataFrame(cat_rows).set_index("id")
    items = pd.DataFrame(item_rows).set_index("id")
    frame = pd.DataFrame(index=range(1, n_students + 1), columns=items.index, dtype=object)
    for (s, i), value in cells.items():
        frame.loc[s, i] = value
    frame = frame.astype(object).where(frame.notna(), None)
    return categories, items, frame


def _all(result, mode):
    return list(result.total_exact(mode)), result.category_exact(mode).to_numpy().tolist()


def _not_lower(before, after):
    return all(b is None or (a is not None and a >= b) for b, a in zip(before, after, strict=True))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(books(), st.data())
def test_raising_any_grade_never_lowers_any_total(book, data):
    categories, items, frame = book
    base = compute(categories=categories, items=items, grades=GradeMatrix.from_frame(frame), now=NOW)
    # pick a cell that counts in some mode: a number, or missing (counts as 0 in FINAL when due)
    candidates = [(s, i) for s in frame.index for i in frame.columns if frame.loc[s, i] != "E"]
    if not candidates:
        return
    s, i = data.draw(st.sampled_from(candidates))
    old = frame.loc[s, i]
    top = items.loc[i, "points_possible"] * (2 if items.loc[i, "extra_credit"] else 1)
    low = old if old is not None else D(0)
    new = data.draw(st.integers(int(low * 100), int(max(low, top) * 100)).map(lambda c: D(c) / 100))
    raised = frame.copy()
    raised.loc[s, i] = new
    after = compute(categories=categories, items=items, grades=GradeMatrix.from_frame(raised), now=NOW)
    modes = [FINAL] if old is None else [CURRENT, FINAL]  # from missing, only FINAL had it as a 0
    due = items.loc[i, "due_at"]
    if old is None and not (pd.isna(due) or due <= NOW):
        return  # missing and not yet due: no mode counted it, so entering it is not a raise
    for mode in modes:
        totals_before, cats_before = _all(base, mode)
        totals_after, cats_after = _all(after, mode)
        assert _not_lower(totals_before, totals_after), (mode, s, i, old, new)
        for row_b, row_a in zip(cats_before, cats_after, strict=True):
            assert _not_lower(row_b, row_a), (mode, s, i, old, new)


def _brute_category(values, possible, ec, never, low, high, aggregation, weights):
    """Best category percentage by trying every drop set (Fractions): max over low-sets of min over high-sets."""
    idx = [j for j, v in enumerate(values) if v is not None]
    countable = [j for j in idx if not ec[j] and possible[j] > 0 and (aggregation != "weighted_mean" or weights[j] > 0)]
    if not countable:
        return None
    cand = [j for j in countable if not never[j]]
    lo = max(0, min(low, len(cand), len(countable) - 1))
    hi = max(0, min(high, len(cand) - lo, len(countable) - 1 - lo))

    def score(kept):
        if aggregation == "total_points":
            num = sum(values[j] for j in kept)
            den = sum(possible[j] for j in kept if not ec[j])
        else:
            w = [weights[j] if aggregation == "weighted_mean" else 1 for j in range(len(values))]
            num = sum(w[j] * values[j] / possible[j] for j in kept if possible[j] > 0)
            den = sum(w[j] for j in kept if not ec[j] and possible[j] > 0)
        return Fraction(100) * num / den

    best = None
    for low_set in itertools.combinations(cand, lo):
        inner = None
        for high_set in itertools.combinations([j for j in cand if j not in low_set], hi):
            kept = [j for j in idx if j not in low_set and j not in high_set]
            value = score(kept)
            inner = value if inner is None or value < inner else inner
        best = inner if best is None or inner > best else best
    return best


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(books())
def test_category_scores_match_a_brute_force_search(book):
    categories, items, frame = book
    result = compute(categories=categories, items=items, grades=GradeMatrix.from_frame(frame), now=NOW)
    exact = result.category_exact(CURRENT)
    for cat_id, cat in categories.iterrows():
        sub = items[items["category"] == cat_id]
        for s in frame.index:
            values = [None if frame.loc[s, i] in (None, "E") else Fraction(frame.loc[s, i]) for i in sub.index]
            expected = _brute_category(
                values, [Fraction(p) for p in sub["points_possible"]], list(sub["extra_credit"]),
                list(sub["never_drop"]), int(cat["drop_lowest"]), int(cat["drop_highest"]), cat["aggregation"],
                [Fraction(1) if w is None or pd.isna(w) else Fraction(w) for w in sub["weight"]],
            )
            assert exact.loc[s, cat_id] == expected, (cat.to_dict(), values)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_weighted_total_is_exact_on_small_and_huge_numbers(data):
    """_weighted_total takes int64 when a bound allows and Python ints otherwise; both give the
    exact Σ w·N/D ÷ Σ w over the categories with a score."""
    import numpy as np

    from grading.calculations import _weighted_total

    n_cats = data.draw(st.integers(1, 4))
    size = data.draw(st.sampled_from([10**3, 10**6, 10**12]))  # the last forces exact Python ints
    students = data.draw(st.integers(1, 4))
    num = np.empty((students, n_cats), dtype=object)
    den = np.empty((students, n_cats), dtype=object)
    for s in range(students):
        for k in range(n_cats):
            d = data.draw(st.sampled_from([0, data.draw(st.integers(1, size))]))
            num[s, k], den[s, k] = (data.draw(st.integers(0, 2 * d)) if d else 0), d
    weights = [data.draw(st.integers(0, 100_000)) for _ in range(n_cats)]
    total_num, total_den = _weighted_total(num, den, weights)
    for s in range(students):
        counted = [k for k in range(n_cats) if den[s, k] and weights[k]]
        if not counted:
            assert total_den[s] == 0
            continue
        expected = sum(Fraction(weights[k] * num[s, k], den[s, k]) for k in counted) / sum(weights[k] for k in counted)
        assert Fraction(int(total_num[s]), int(total_den[s])) == expected


@given(st.lists(st.tuples(st.integers(0, 10**30), st.integers(0, 10**30)), min_size=1, max_size=6),
       st.sampled_from([10**3, 10**13, 10**30]))
def test_hundredths_round_half_up_exactly_at_any_size(pairs, scale):
    import numpy as np

    from grading.calculations import _hundredths

    den = np.array([d % scale for _, d in pairs], dtype=object)
    # numerators up to 1000 × the denominator: percentages up to 100,000% (extra credit), as in a gradebook
    num = np.array([n % (1000 * d + 1) for (n, _), d in zip(pairs, den, strict=True)], dtype=object)
    got = _hundredths(num, den).tolist()
    for g, n, d in zip(got, num, den, strict=True):
        expected = -1 if d == 0 else int(Fraction(10000 * n, d) + Fraction(1, 2))  # floor(x + ½): half up
        assert g == expected
