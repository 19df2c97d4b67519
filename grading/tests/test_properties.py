"""Property tests (hypothesis), in every mode of the engine (points and weighted courses,
normalised and absolute weights, with and without a missing-work policy): raising a grade never
lowers a total, drops and totals agree with a brute-force search, excused work is exactly as if
the item did not exist, and shown percentages are the exact ones rounded half up. The late
penalty (both bases) is checked for monotonicity and its floor."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal as D
from fractions import Fraction

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grading.calculations import (
    ABSOLUTE,
    CURRENT,
    FINAL,
    MODES,
    NORMALISED,
    GradeMatrix,
    GradingOptions,
    compute,
    late_penalty,
)

NOW = dt.datetime(2024, 12, 1, tzinfo=dt.UTC)
PAST = dt.datetime(2024, 11, 1, tzinfo=dt.UTC)
FUTURE = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
AGGREGATIONS = ["total_points", "mean", "weighted_mean"]


@st.composite
def books(draw):
    n_cats = draw(st.integers(1, 3))
    points_mode = draw(st.booleans()) and draw(st.booleans())  # every category weighs 0
    cat_rows = []
    for c in range(1, n_cats + 1):
        cat_rows.append({
            "id": c, "name": f"C{c}",
            "weight": D("0") if points_mode else D(draw(st.sampled_from(["0", "20", "35", "45", "12.5", "80"]))),
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


options = st.builds(
    GradingOptions, weighting=st.sampled_from([NORMALISED, ABSOLUTE]),
    missing_percent=st.sampled_from([None, None, D("0"), D("50"), D("62.5"), D("100")]),
)


def _run(book, opts, frame=None):
    categories, items, grades = book
    return compute(categories=categories, items=items, grades=GradeMatrix.from_frame(grades if frame is None else frame),
                   now=NOW, options=opts)


def _policy_value(items, i, opts) -> D | None:
    """What the missing-work policy gives a missing grade on item i (None: it does not apply)."""
    due = items.loc[i, "due_at"]
    if opts.missing_percent is None or pd.isna(due) or due > NOW or items.loc[i, "extra_credit"]:
        return None
    cents = (items.loc[i, "points_possible"] * 100 * opts.missing_percent / 100).quantize(D(1), "ROUND_HALF_UP")
    return cents / 100


def _all(result, mode):
    return list(result.total_exact(mode)), result.category_exact(mode).to_numpy().tolist()


def _not_lower(before, after):
    return all(b is None or (a is not None and a >= b) for b, a in zip(before, after, strict=True))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(books(), options, st.data())
def test_raising_any_grade_never_lowers_any_total(book, opts, data):
    categories, items, frame = book
    base = _run(book, opts)
    # pick a cell that counts in some mode: a number, or missing (counts in FINAL when due, or by the policy)
    candidates = [(s, i) for s in frame.index for i in frame.columns if frame.loc[s, i] != "E"]
    if not candidates:
        return
    s, i = data.draw(st.sampled_from(candidates))
    old = frame.loc[s, i]
    top = items.loc[i, "points_possible"] * (2 if items.loc[i, "extra_credit"] else 1)
    policy = _policy_value(items, i, opts)
    due = items.loc[i, "due_at"]
    if old is not None:
        low, modes = old, [CURRENT, FINAL]
    elif policy is not None:
        low, modes = policy, [CURRENT, FINAL]  # the policy counted it in both modes
    elif pd.isna(due) or due <= NOW:
        low, modes = D(0), [FINAL]  # only FINAL had it, as a 0
    else:
        return  # missing and not yet due: no mode counted it, so entering it is not a raise
    new = data.draw(st.integers(int(low * 100), int(max(low, top) * 100)).map(lambda c: D(c) / 100))
    raised = frame.copy()
    raised.loc[s, i] = new
    after = _run(book, opts, raised)
    for mode in modes:
        totals_before, cats_before = _all(base, mode)
        totals_after, cats_after = _all(after, mode)
        assert _not_lower(totals_before, totals_after), (mode, s, i, old, new, opts)
        for row_b, row_a in zip(cats_before, cats_after, strict=True):
            assert _not_lower(row_b, row_a), (mode, s, i, old, new, opts)


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


def _counted_values(items, frame, s, mode, opts) -> dict:
    """item → the points that count for student s in `mode` before drops (absent: not counted)."""
    out = {}
    for i in items.index:
        value, due = frame.loc[s, i], items.loc[i, "due_at"]
        if value == "E":
            continue
        if value is not None:
            out[i] = Fraction(value)
        elif _policy_value(items, i, opts) is not None:
            out[i] = Fraction(_policy_value(items, i, opts))
        elif mode == FINAL and (pd.isna(due) or due <= NOW):
            out[i] = Fraction(0)
    return out


def _reference_total(categories, items, frame, s, mode, opts):
    """The course total by brute force and the documented rules, in Fractions."""
    counted = _counted_values(items, frame, s, mode, opts)
    points_mode = all(w == 0 for w in categories["weight"])
    weighted, weight_sum, cat_scores = Fraction(0), Fraction(0), {}
    for cat_id, cat in categories.iterrows():
        sub = items[items["category"] == cat_id]
        score = _brute_category(
            [counted.get(i) for i in sub.index], [Fraction(p) for p in sub["points_possible"]],
            list(sub["extra_credit"]), list(sub["never_drop"]), int(cat["drop_lowest"]), int(cat["drop_highest"]),
            cat["aggregation"], [Fraction(1) if w is None or pd.isna(w) else Fraction(w) for w in sub["weight"]],
        )
        cat_scores[cat_id] = score
        if points_mode:  # the points possible of what counts before drops
            weight = sum((Fraction(sub.loc[i, "points_possible"]) for i in sub.index
                          if i in counted and not sub.loc[i, "extra_credit"]), Fraction(0))
        else:
            weight = Fraction(cat["weight"])
        if score is not None and weight:
            weighted += weight * score
            weight_sum += weight
    if not weight_sum:
        return None, cat_scores
    if not points_mode and opts.weighting == ABSOLUTE:
        weight_sum = min(weight_sum, Fraction(100))
    return weighted / weight_sum, cat_scores


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(books(), options)
def test_category_scores_and_totals_match_a_brute_force_search_in_every_mode(book, opts):
    categories, items, frame = book
    result = _run(book, opts)
    for mode in MODES:
        exact = result.category_exact(mode)
        totals = result.total_exact(mode)
        for s in frame.index:
            total, cat_scores = _reference_total(categories, items, frame, s, mode, opts)
            for cat_id, expected in cat_scores.items():
                assert exact.loc[s, cat_id] == expected, (mode, opts, cat_id)
            assert totals[s] == total, (mode, opts)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(books(), options, st.data())
def test_excused_work_is_exactly_as_if_the_item_did_not_exist(book, opts, data):
    categories, items, frame = book
    s = data.draw(st.sampled_from(list(frame.index)))
    i = data.draw(st.sampled_from(list(items.index)))
    excused = frame.copy()
    excused.loc[s, i] = "E"
    with_excused = _run(book, opts, excused)
    without = compute(categories=categories, items=items.drop(index=i),
                      grades=GradeMatrix.from_frame(frame.loc[[s]].drop(columns=i)), now=NOW, options=opts)
    for mode in MODES:
        assert with_excused.total_exact(mode)[s] == without.total_exact(mode)[s], (mode, opts)
        assert (with_excused.category_exact(mode).loc[s].tolist()
                == without.category_exact(mode).loc[s].tolist()), (mode, opts)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(books(), options)
def test_shown_percentages_are_the_exact_ones_rounded_half_up_in_every_mode(book, opts):
    result = _run(book, opts)

    def half_up(value):
        return None if value is None else D(int(value * 100 + Fraction(1, 2))) / 100

    for mode in MODES:
        assert list(result.total_percent(mode)) == [half_up(v) for v in result.total_exact(mode)]
        shown = result.category_percent(mode).to_numpy().tolist()
        assert shown == [[half_up(v) for v in row] for row in result.category_exact(mode).to_numpy().tolist()]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["score", "possible"]), st.integers(1, 2000), st.integers(0, 2000), st.integers(0, 2000),
       st.sampled_from([D("0"), D("5"), D("12.5"), D("50")]), st.sampled_from([D("0"), D("30"), D("50"), D("100")]),
       st.integers(0, 240))
def test_a_late_penalty_never_makes_a_better_score_worse_and_keeps_its_floor(
        base, possible_cents, raw_a, raw_b, rate, floor, hours_late):
    possible = D(possible_cents) / 100
    low, high = sorted([min(raw_a, possible_cents), min(raw_b, possible_cents)])
    due = dt.datetime(2024, 11, 6, 23, 59, tzinfo=dt.UTC)
    submitted = due + dt.timedelta(hours=hours_late, seconds=1)

    def after(cents):
        raw = D(cents) / 100
        penalty = late_penalty(raw_points=raw, due_at=due, submitted_at=submitted, percent_per_unit=rate,
                               unit="day", floor_percent=floor, base=base, points_possible=possible)
        assert D(0) <= penalty.points <= raw
        kept = raw - penalty.points
        floor_points = (raw if base == "score" else possible) * floor / 100
        # never below the floor (to the hundredth it is rounded to), unless the raw score already was
        assert kept >= min(raw, floor_points) - D("0.005")
        return kept

    assert after(low) <= after(high)


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
