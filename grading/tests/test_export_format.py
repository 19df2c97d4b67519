"""The fast export formatting writes exactly what the straightforward code would.

to_csv joins columns itself (three times faster than csv.writer on 10,000 students) and
the cell texts are made from integer hundredths without Decimal; these properties hold
them to csv.writer, csv.reader and fmt_points.
"""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from grading import exports
from grading.calculations import cents_to_decimal, fmt_points

texts = st.text(alphabet=st.sampled_from(list("ab ,\"'=+-@\t\r\nçİ0.")), max_size=6)


def csv_writer_text(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 4).flatmap(lambda width: st.lists(st.lists(texts, min_size=width, max_size=width),
                                                        min_size=2, max_size=5)))
def test_to_csv_reads_back_as_the_table_and_matches_csv_writer(rows):
    header, *body = rows
    table = pd.DataFrame(body, columns=range(len(header))) if body else pd.DataFrame(columns=range(len(header)))
    table.columns = header
    written = exports.to_csv(table)
    assert list(csv.reader(io.StringIO(written, newline=""))) == rows
    if not any("\r" in cell for row in rows for cell in row):  # 3.11's writer leaves a bare \r unquoted
        assert written == csv_writer_text(rows)


def test_to_csv_quotes_a_carriage_return():
    table = pd.DataFrame({"a": ["x\ry"], "b": ["z"]})
    assert exports.to_csv(table) == 'a,b\n"x\ry",z\n'


def test_to_csv_writes_none_as_empty_and_numbers_as_text():
    table = pd.DataFrame({"a": [None, 7], "b": ["x", 2.5]}, dtype=object)
    assert exports.to_csv(table) == "a,b\n,x\n7,2.5\n"


@given(st.integers(-10**7, 10**7))
def test_points_text_is_fmt_points_of_the_hundredths(cents):
    assert exports.points_text(cents) == fmt_points(cents_to_decimal(cents))


@given(st.lists(st.integers(-1, 20_000), min_size=1, max_size=50))
def test_percent_texts_have_two_decimals_and_blank_for_no_score(values):
    got = exports._pct_texts(np.array(values, dtype=np.int64)).tolist()
    assert got == ["" if v < 0 else f"{cents_to_decimal(v):.2f}" for v in values]


@given(st.lists(texts, max_size=8))
def test_neutralising_a_column_is_neutralise_per_cell(values):
    assert exports._neutralise_column(list(values)) == [exports.neutralise(v) for v in values]


def test_neutralising_a_column_with_none_gives_text():
    assert exports._neutralise_column([None, "=1", "ok"]) == ["", "'=1", "ok"]
