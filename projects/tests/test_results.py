"""results.json parsing: tolerant of Gradescope variants, strict where a grade could go wrong."""

from __future__ import annotations

import json
import os

import pytest

from projects.runner.results import MAX_TEXT_CHARS, ResultsError, parse_results, read_results


def test_gradescope_example_is_read():
    results = parse_results(
        json.dumps(
            {
                "score": 44.0,
                "execution_time": 136,
                "output": "Text relevant to the entire submission",
                "visibility": "after_due_date",
                "stdout_visibility": "visible",
                "extra_data": {},
                "tests": [
                    {
                        "score": 2.0,
                        "max_score": 2.0,
                        "status": "passed",
                        "name": "Your name here",
                        "number": "1.1",
                        "output": "Giant multiline string",
                        "tags": ["tag1"],
                        "visibility": "visible",
                        "extra_data": {},
                    }
                ],
                "leaderboard": [{"name": "Accuracy", "value": 0.926}],
            }
        )
    )
    assert results.score == 44.0
    assert results.execution_time == 136.0
    assert results.output == "Text relevant to the entire submission"
    assert results.tests == [
        {
            "name": "Your name here",
            "score": 2.0,
            "max_score": 2.0,
            "output": "Giant multiline string",
            "visibility": "visible",
            "number": "1.1",
            "status": "passed",
        }
    ]


def test_numbers_may_be_strings():
    results = parse_results('{"score": "7.5", "execution_time": "12.3", "tests": [{"score": "1"}]}')
    assert results.score == 7.5
    assert results.execution_time == 12.3
    assert results.tests[0]["score"] == 1.0
    assert results.tests[0]["name"] == "Test 1"


def test_an_unreadable_execution_time_is_ignored():
    assert parse_results('{"score": 1, "execution_time": "fast"}').execution_time is None


def test_missing_score_is_the_sum_of_test_scores():
    results = parse_results('{"tests": [{"score": 1.5}, {"score": 2}, {"max_score": 3}]}')
    assert results.score == 3.5
    assert results.score_was_given is False


def test_missing_visibility_is_visible_and_unknown_is_hidden():
    results = parse_results('{"tests": [{"score": 1}, {"score": 1, "visibility": "hiden"}]}')
    assert [t["visibility"] for t in results.tests] == ["visible", "hidden"]


def test_long_outputs_are_cut():
    results = parse_results(json.dumps({"score": 1, "tests": [{"output": "x" * (MAX_TEXT_CHARS + 10)}]}))
    assert results.tests[0]["output"].endswith("[10 characters cut]")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "results.json is not valid JSON"),
        ("[1, 2]", "must hold a JSON object"),
        ("{}", "has neither 'score' nor 'tests'"),
        ('{"score": NaN}', "score must be finite"),
        ('{"score": Infinity}', "score must be finite"),
        ('{"score": "lots"}', "score must be a number, not 'lots'"),
        ('{"score": true}', "score must be a number, not True"),
        ('{"score": 1e999999}', "score must be finite"),
        ('{"score": 1' + "0" * 400 + "}", "score is too large"),
        ('{"score": 1, "tests": {"a": 1}}', "'tests' must be a list"),
        ('{"score": 1, "tests": [3]}', "tests[0] must be an object"),
        ('{"tests": [{"score": [1]}]}', "tests[0].score must be a number"),
        ("[" * 100_000 + "]" * 100_000, "results.json"),
    ],
)
def test_unusable_results_say_what_is_wrong(text, message):
    with pytest.raises(ResultsError) as info:
        parse_results(text)
    assert message in str(info.value)


def test_missing_file_names_results_json(tmp_path):
    with pytest.raises(ResultsError, match="wrote no results.json"):
        read_results(tmp_path / "results.json")


def test_oversized_file_is_refused(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"score": 1, "output": "x" * 2000}))
    with pytest.raises(ResultsError, match="larger than 1 KB"):
        read_results(path, max_bytes=1024)


def test_symlink_is_not_followed(tmp_path):
    (tmp_path / "real.json").write_text('{"score": 1}')
    (tmp_path / "results.json").symlink_to(tmp_path / "real.json")
    with pytest.raises(ResultsError, match="could not be opened"):
        read_results(tmp_path / "results.json")


def test_fifo_does_not_hang(tmp_path):
    os.mkfifo(tmp_path / "results.json")
    with pytest.raises(ResultsError, match="not a regular file"):
        read_results(tmp_path / "results.json")
