"""Pure rules (no database): time limits, score scaling and combining, counting policy, visibility,
run outcomes, text caps, and GPU discovery/planning."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projects import calculations as calc
from projects import gpus

UTC = dt.UTC
T0 = dt.datetime(2025, 1, 10, 12, tzinfo=UTC)


@given(st.floats(1, 4 * 3600), st.floats(1, 4 * 3600))
def test_time_limits_are_nested(predict, score):
    limits = calc.run_time_limits(predict_timeout_s=predict, score_timeout_s=score)
    assert predict + score < limits.sandbox_s < limits.soft_s < limits.hard_s < limits.stuck_after_s
    assert limits.stuck_after_s - limits.hard_s <= 120  # terminal within the limit plus two minutes


def test_time_limits_must_fit_under_the_visibility_timeout():
    limits = calc.run_time_limits(predict_timeout_s=3600, score_timeout_s=600)
    assert limits.fits(7200) and not limits.fits(4000)


@pytest.mark.parametrize(("score", "max_score", "worth", "expected"), [
    (4, 4, Decimal("30"), Decimal("30.00")),
    (1, 3, Decimal("10"), Decimal("3.33")),
    (8, 10, Decimal("30"), Decimal("24.00")),
    (None, 10, Decimal("30"), None),
    (5, 0, Decimal("30"), None),
])
def test_autograde_points_scale_to_the_part(score, max_score, worth, expected):
    assert calc.autograde_points(score=score, max_score=max_score, worth=worth) == expected


@pytest.mark.parametrize(("mode", "auto", "rubric", "expected"), [
    ("autograded", Decimal("7"), Decimal("2"), Decimal("7")),
    ("rubric", Decimal("7"), Decimal("2"), Decimal("2")),
    ("both", Decimal("7"), Decimal("2"), Decimal("9")),
    ("both", Decimal("7"), None, Decimal("7")),
    ("both", None, Decimal("2"), Decimal("2")),
    ("both", None, None, None),
    ("autograded", None, Decimal("2"), None),
])
def test_combine_part_points(mode, auto, rubric, expected):
    assert calc.combine_part_points(mode=mode, auto=auto, rubric=rubric) == expected


def cand(i, minutes, points):
    return calc.Candidate(submission_id=i, submitted_at=T0 + dt.timedelta(minutes=minutes),
                          points=None if points is None else Decimal(points))


def test_last_policy_takes_the_latest_scored_submission():
    chosen = calc.choose_counting([cand(1, 0, "9"), cand(2, 5, "3"), cand(3, 9, None)], policy="last")
    assert chosen.submission_id == 2  # 3 has no score yet (queued or errored)


def test_best_policy_takes_the_highest_and_the_later_on_ties():
    assert calc.choose_counting([cand(1, 0, "9"), cand(2, 5, "3")], policy="best").submission_id == 1
    assert calc.choose_counting([cand(1, 0, "9"), cand(2, 5, "9")], policy="best").submission_id == 2


def test_nothing_counts_without_a_score():
    assert calc.choose_counting([cand(1, 0, None)], policy="last") is None


TESTS = [{"name": n, "visibility": v} for n, v in
         [("a", "visible"), ("b", None), ("c", "after_due_date"), ("d", "hidden"), ("e", "after_published")]]


def names(result):
    return [t["name"] for t in result.tests]


def test_students_see_visible_tests_only_before_the_due_date():
    shown = calc.visible_results(TESTS, staff=False, now=T0, due_at=T0 + dt.timedelta(days=1), published=False)
    assert names(shown) == ["a", "b"] and shown.withheld == 3 and not shown.show_score


def test_after_due_date_tests_appear_after_the_deadline():
    shown = calc.visible_results(TESTS, staff=False, now=T0, due_at=T0 - dt.timedelta(seconds=1), published=False)
    assert names(shown) == ["a", "b", "c"]


def test_publishing_releases_hidden_tests_and_the_total():
    shown = calc.visible_results(TESTS, staff=False, now=T0, due_at=None, published=True)
    assert names(shown) == ["a", "b", "c", "d", "e"] and shown.show_score


def test_staff_see_everything():
    shown = calc.visible_results(TESTS, staff=True, now=T0, due_at=None, published=False)
    assert shown.withheld == 0 and len(shown.tests) == 5


@pytest.mark.parametrize(("record", "attempts", "expected"), [
    ({"status": "completed", "predict": {"status": "ok"}}, 1, ("succeeded", False)),
    ({"status": "completed", "predict": {"status": "timeout"}}, 1, ("timed_out", False)),
    ({"status": "completed", "predict": {"status": "failed"}}, 1, ("failed", False)),
    ({"status": "completed", "predict": {"status": "memory_limit"}}, 1, ("failed", False)),
    ({"status": "submission_error"}, 1, ("failed", False)),
    ({"status": "harness_error"}, 1, ("error", False)),
    ({"status": "infrastructure_error"}, 1, ("queued", True)),
    ({"status": "infrastructure_error"}, 3, ("error", False)),
])
def test_run_outcome(record, attempts, expected):
    outcome = calc.run_outcome(record, attempts=attempts, max_attempts=3)
    assert (outcome.status, outcome.retry) == expected


@given(st.text(max_size=3000), st.integers(64, 2000))
def test_cap_text_keeps_the_end_within_the_limit(text, limit):
    capped = calc.cap_text(text, max_bytes=limit)
    if len(text.encode("utf-8")) <= limit:
        assert capped == text
    else:
        assert len(capped.encode("utf-8")) <= limit and capped.startswith("[... ")
        assert text.endswith(capped.split("\n", 1)[1][-10:])


def test_daily_limit_resets_at_istanbul_midnight():
    late_evening_utc = dt.datetime(2025, 1, 10, 21, 30, tzinfo=UTC)  # 00:30 on the 11th in Istanbul
    start = calc.local_day_start(late_evening_utc, tz="Europe/Istanbul")
    assert start == dt.datetime(2025, 1, 11, tzinfo=ZoneInfo("Europe/Istanbul"))


# --- GPU discovery and the per-GPU launcher ---------------------------------------------------

SMI = """0, NVIDIA H100 80GB HBM3, GPU-aaa, 81559, 00000000:17:00.0
1, NVIDIA H100 80GB HBM3, GPU-bbb, 81559, 00000000:2A:00.0
"""


def _fake_driver_proc(tmp_path, minors: dict[str, int]) -> str:
    """A stand-in for /proc/driver/nvidia/gpus: one folder per PCI bus id with its Device Minor."""
    for bus, minor in minors.items():
        folder = tmp_path / bus
        folder.mkdir()
        (folder / "information").write_text(f"Model: \t\t NVIDIA H100\nDevice Minor: \t {minor}\n")
    return str(tmp_path)


def test_parse_nvidia_smi(tmp_path):
    proc = _fake_driver_proc(tmp_path, {"0000:17:00.0": 0, "0000:2a:00.0": 1})
    found = gpus.parse_nvidia_smi(SMI, proc=proc)
    assert [(g.index, g.name, g.memory_mb, g.minor) for g in found] == [
        (0, "NVIDIA H100 80GB HBM3", 81559, 0), (1, "NVIDIA H100 80GB HBM3", 81559, 1)]


def test_device_node_follows_the_driver_minor_not_the_index(tmp_path):
    # The driver may number device nodes differently from nvidia-smi's PCI order:
    # the sandbox must bind the node of the GPU the worker owns, not /dev/nvidia<index>.
    proc = _fake_driver_proc(tmp_path, {"0000:17:00.0": 5, "0000:2a:00.0": 2})
    specs = gpus.plan(gpus.parse_nvidia_smi(SMI, proc=proc))
    assert [(s.name, s.env[gpus.GPU_ENV], s.env["CUDA_VISIBLE_DEVICES"]) for s in specs] == [
        ("gpu0", "5", "GPU-aaa"), ("gpu1", "2", "GPU-bbb")]


def test_without_driver_information_the_index_is_the_device_number(tmp_path):
    found = gpus.parse_nvidia_smi(SMI, proc=str(tmp_path / "missing"))
    assert [(g.minor, g.device_number) for g in found] == [(None, 0), (None, 1)]


def test_one_worker_per_gpu_pinned_to_it(tmp_path):
    proc = _fake_driver_proc(tmp_path, {"0000:17:00.0": 0, "0000:2a:00.0": 1})
    specs = gpus.plan(gpus.parse_nvidia_smi(SMI, proc=proc), cpu_workers=1, rerun_gpus=(1,))
    assert [(s.name, s.queues, s.env.get("CUDA_VISIBLE_DEVICES"), s.env.get(gpus.GPU_ENV)) for s in specs] == [
        ("gpu0", ("gpu",), "GPU-aaa", "0"), ("rerun1", ("rerun",), "GPU-bbb", "1"),
        ("cpu0", ("cpu", "default"), "", "")]
    argv = specs[0].argv("python", "courseapp", "INFO")
    assert "--concurrency=1" in argv and "--prefetch-multiplier=1" in argv and "--queues=gpu" in argv


def test_worker_identity_comes_from_the_launcher(monkeypatch):
    monkeypatch.setenv(gpus.GPU_ENV, "3")
    monkeypatch.setenv(gpus.GPU_NAME_ENV, "NVIDIA H100")
    me = gpus.current_worker("gpu3@node7")
    assert (me.gpu_index, me.gpu_name, me.machine) == (3, "NVIDIA H100", "node7")
    monkeypatch.setenv(gpus.GPU_ENV, "")
    assert gpus.current_worker().gpu_index is None


def test_launcher_dry_run_without_gpus(capsys, monkeypatch):
    monkeypatch.setattr(gpus, "discover", lambda: [])
    assert gpus.main(["workers", "--dry-run"]) == 1
    assert gpus.main(["workers", "--dry-run", "--cpu-workers", "2"]) == 0
    assert capsys.readouterr().out.count("--queues=cpu,default") == 2
