"""The course-wide rules through the interfaces people use: the options page and API (validation,
refusals, history), late penalty bases through grade_post and set-up changes, and what a student
sees (provisional totals, letters once released, one-line reasons). Expected numbers are computed
by hand in the comment above them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
from django.test import Client
from django.urls import reverse

from courseapp.tests.openapi import field_messages
from grading import services
from grading.models import Category, Grade, GradebookOptionsChange, GradeChange, GradeItem, LateBase
from grading.options import gradebook_options, gradebook_options_update

pytestmark = pytest.mark.django_db
UTC = dt.UTC
PAST = dt.datetime(2024, 11, 1, 12, 0, tzinfo=UTC)
JSON = "application/json"


def url(name, course, **kw):
    return reverse(name, kwargs={"code": course.code, **kw})


@pytest.fixture
def small(course):
    """The course with its own categories: C1 and C2, both weighing 0 (points mode)."""
    Category.objects.filter(course=course).delete()
    c1 = Category.objects.create(course=course, name="C1", weight=D("0"), position=1)
    c2 = Category.objects.create(course=course, name="C2", weight=D("0"), position=2)
    return course, c1, c2


def _item(category, name, possible, **kw):
    return GradeItem.objects.create(course=category.course, category=category, name=name,
                                    points_possible=D(possible), due_at=kw.pop("due_at", PAST),
                                    released=kw.pop("released", True), **kw)


def _summary(client, course, student=None):
    rows = client.get(f"/api/courses/{course.code}/grades/summary/").json()
    return rows[0] if student is None else next(r for r in rows if r["student_id"] == student.pk)


# --- points mode: excused = absent, end to end ------------------------------------------------------------

def test_points_mode_excused_item_gives_canvass_87_50_on_the_student_page(small, student, instructor, client_for):
    course, c1, c2 = small
    a, big, full = _item(c1, "A", "10"), _item(c2, "Big", "100"), _item(c2, "Full", "30")
    services.grade_set(item=a, student=student, points=D("5"), by=instructor)
    services.grade_set(item=big, student=student, points=None, state="excused", by=instructor)
    services.grade_set(item=full, student=student, points=D("30"), by=instructor)
    # (5 + 30)/(10 + 30) = 87.50 in both totals (the excused 100 points weigh nothing)
    summary = _summary(client_for(student), course)
    assert (summary["current"], summary["final"]) == ("87.50", "87.50")
    assert summary["points_mode"] and "counts by points" in summary["weighting"]
    assert "counts by its points" in client_for(student).get(url("grading-mine", course)).content.decode()
    excused = next(i for c in summary["categories"] for i in c["items"] if i["name"] == "Big")
    assert excused["note"] == "Excused: left out of both totals, as if the item did not exist."


# --- options: API, page, validation, refusals, history ----------------------------------------------------

def test_options_api_changes_weighting_and_keeps_a_history(small, instructor, student, client_for):
    course, c1, c2 = small
    c1.weight, c2.weight = D("100"), D("10")
    c1.save(), c2.save()
    a, bonus = _item(c1, "A", "10"), _item(c2, "Bonus", "10")
    services.grade_set(item=a, student=student, points=D("10"), by=instructor)
    services.grade_set(item=bonus, student=student, points=D("10"), by=instructor)
    path = f"/api/courses/{course.code}/grades/options/"
    teacher = client_for(instructor)
    before = teacher.get(path).json()
    assert before["weighting"] == "normalised" and before["missing_percent"] is None
    assert "normalised" in before["weighting_text"] and "110" in before["weight_warning"]
    # normalised: (100·100 + 10·100)/110 = 100.00; absolute: (100·100 + 10·100)/100 = 110.00
    assert _summary(teacher, course, student)["final"] == "100.00"
    changed = teacher.patch(path, {"weighting": "absolute", "reason": "bonus category"}, content_type=JSON)
    assert changed.status_code == 200 and changed.json()["weighting"] == "absolute"
    assert "absolute" in changed.json()["weighting_text"] and "gets 110%" in changed.json()["weight_warning"]
    assert _summary(teacher, course, student)["final"] == "110.00"
    row = GradebookOptionsChange.objects.get(course=course)
    assert (row.setting, row.old_value, row.new_value, row.reason, row.changed_by) == (
        "weighting", "normalised", "absolute", "bonus category", instructor)
    # the same again changes nothing and writes no history
    teacher.patch(path, {"weighting": "absolute"}, content_type=JSON)
    assert GradebookOptionsChange.objects.filter(course=course).count() == 1


def test_options_api_refuses_bad_values_with_what_to_fix(small, instructor, client_for):
    course = small[0]
    path = f"/api/courses/{course.code}/grades/options/"
    teacher = client_for(instructor)
    bad = teacher.patch(path, {"weighting": "sum", "missing_percent": "150", "letters_released": "maybe"},
                        content_type=JSON)
    assert bad.status_code == 400
    assert "use normalised" in field_messages(bad, "weighting")[0]
    assert "between 0 and 100; 150 is not" in field_messages(bad, "missing_percent")[0]
    assert "true or false" in field_messages(bad, "letters_released")[0]
    assert field_messages(teacher.patch(path, {"missing_percent": "12.345"}, content_type=JSON),
                          "missing_percent") == [
        "Grade for missing work (percent of the points): 12.345 has more than two decimals; "
        "round it to hundredths (like 7.25)."]
    assert gradebook_options(course=course).pk is None  # nothing stored
    assert not GradebookOptionsChange.objects.exists()


def test_options_are_the_instructors_alone(small, ta, student, outsider, client_for):
    course = small[0]
    path = f"/api/courses/{course.code}/grades/options/"
    for user in (ta, student):
        assert client_for(user).patch(path, {"letters_released": True}, content_type=JSON).status_code == 403
        assert client_for(user).get(url("grading-options", course)).status_code == 403
    assert client_for(student).get(path).status_code == 200  # members may read the rules
    assert client_for(outsider).get(path).status_code == 404
    assert Client().get(path).status_code in (401, 403)
    assert not gradebook_options(course=course).letters_released


def test_options_page_saves_and_the_setup_page_says_what_is_in_force(small, instructor, client_for):
    course = small[0]
    teacher = client_for(instructor)
    setup = teacher.get(url("grading-setup", course)).content.decode()
    assert "Every category weighs 0%, so the course counts by points" in setup
    Category.objects.filter(course=course).update(weight=D("60"))
    setup = teacher.get(url("grading-setup", course)).content.decode()
    assert "Weights are normalised" in setup and "Letters are\n    <strong>not released</strong>" in setup
    response = teacher.post(url("grading-options", course), {"weighting": "absolute", "missing_percent": "50",
                                                             "letters_released": "on", "reason": "syllabus"})
    assert response.status_code == 302
    options = gradebook_options(course=course)
    assert (options.weighting, options.missing_percent, options.letters_released) == ("absolute", D("50"), True)
    setup = teacher.get(url("grading-setup", course)).content.decode()
    assert "Weights are absolute" in setup
    assert "Missing work counts as 50% of its points once its due date has passed" in setup
    page = teacher.get(url("grading-options", course)).content.decode()
    assert page.count("syllabus") == 3  # one history row per changed setting
    bad = teacher.post(url("grading-options", course), {"weighting": "absolute", "missing_percent": "abc"})
    assert bad.status_code == 200 and "“abc” is not a number" in bad.content.decode()


def test_options_service_refuses_unknown_settings(small, instructor):
    with pytest.raises(ValueError):
        gradebook_options_update(course=small[0], by=instructor, colour="red")


# --- missing-work policy ------------------------------------------------------------------------------------

def test_missing_policy_counts_in_both_totals_and_says_so(small, instructor, student, client_for):
    course, c1, _ = small
    c1.weight = D("100")
    c1.save()
    done, late = _item(c1, "Done", "10"), _item(c1, "Skipped", "10")
    undated = _item(c1, "Undated", "10", due_at=None)
    services.grade_set(item=done, student=student, points=D("8"), by=instructor)
    learner = client_for(student)
    # no policy: current 8/10 = 80.00; final (8 + 0 + 0)/30 = 26.67
    summary = _summary(learner, course)
    assert (summary["current"], summary["final"]) == ("80.00", "26.67")
    notes = {i["name"]: i["note"] for c in summary["categories"] for i in c["items"]}
    assert notes["Undated"] == "Missing, with no due date: counts as 0 in the final total (not in the current one)."
    assert notes["Skipped"] == "Missing after its due date: counts as 0 in the final total (not in the current one)."
    gradebook_options_update(course=course, by=instructor, missing_percent=D("50"))
    # policy 50%: Skipped counts 5/10 in both: current (8 + 5)/20 = 65.00; final (8 + 5 + 0)/30 = 43.33
    summary = _summary(learner, course)
    assert (summary["current"], summary["final"]) == ("65.00", "43.33")
    notes = {i["name"]: i["note"] for c in summary["categories"] for i in c["items"]}
    assert notes["Skipped"] == ("Missing after its due date: counts as 5 points in both totals "
                                "(the course's missing-work policy).")
    assert "Missing work counts as 50%" in summary["missing_policy"]
    assert undated.pk and late.pk


# --- late penalty bases -----------------------------------------------------------------------------------

def test_grade_post_takes_points_possible_off_and_says_so(small, student):
    course, c1, _ = small
    item = _item(c1, "HW", "10", late_penalty_percent=D("10"), late_penalty_floor_percent=D("30"),
                 late_penalty_base=LateBase.POSSIBLE)
    # two started days late, 10%/day of 10 points = 2 → 6 − 2 = 4.00 (above the floor, 30% of 10 = 3)
    grade = services.grade_post(item=item, student=student, raw_points=D("6"),
                                submitted_at=PAST + dt.timedelta(days=1, hours=1), source="quiz")
    assert (grade.late_penalty_points, grade.points) == (D("2.00"), D("4.00"))
    change = GradeChange.objects.get(item=item, student=student)
    assert change.reason == "late by 2 day(s): −20% of points possible, never below 30% (2.00 points)"
    # the floor is a percent of points possible too: 30%/day would take 6 points, but 6 − 3 = 3 at most
    item.late_penalty_percent = D("30")
    item.save()
    grade = services.grade_post(item=item, student=student, raw_points=D("6"),
                                submitted_at=PAST + dt.timedelta(days=1, hours=1), source="quiz")
    assert grade.points == D("3.00")


def test_items_follow_their_categorys_base_and_a_new_base_is_reapplied(small, student, instructor):
    course, c1, _ = small
    item = _item(c1, "HW", "10", late_penalty_percent=D("10"))
    late = PAST + dt.timedelta(days=1, hours=1)
    services.grade_post(item=item, student=student, raw_points=D("6"), submitted_at=late, source="quiz")
    # of the score: 6 − 20%·6 = 4.80
    assert Grade.objects.get(item=item).points == D("4.80")
    services.category_update(category=c1, by=instructor, late_penalty_base="possible", reason="syllabus")
    # of points possible: 6 − 20%·10 = 4.00, with a history row
    assert Grade.objects.get(item=item).points == D("4.00")
    assert GradeChange.objects.filter(item=item, source="late policy", reason="syllabus").count() == 1
    # an item's own base wins over its category's
    services.item_update(item=item, by=instructor, late_penalty_base="score", reason="back to the score")
    assert Grade.objects.get(item=item).points == D("4.80")
    assert GradeChange.objects.filter(item=item, source="late policy", reason="back to the score").exists()


def test_new_points_possible_is_reapplied_when_the_penalty_is_of_points_possible(small, student, instructor):
    course, c1, _ = small
    item = _item(c1, "HW", "10", late_penalty_percent=D("10"), late_penalty_base="possible")
    services.grade_post(item=item, student=student, raw_points=D("6"),
                        submitted_at=PAST + dt.timedelta(days=1, hours=1), source="quiz")
    services.item_update(item=item, by=instructor, points_possible=D("20"))
    # 20%·20 = 4 → 6 − 4 = 2.00
    assert Grade.objects.get(item=item).points == D("2.00")


def test_late_base_is_validated_on_the_api_and_the_pages(small, instructor, client_for):
    course, c1, _ = small
    item = _item(c1, "HW", "10")
    teacher = client_for(instructor)
    response = teacher.patch(f"/api/courses/{course.code}/grade-items/{item.pk}/", {"late_penalty_base": "grade"},
                             content_type=JSON)
    assert response.status_code == 400 and "use score" in field_messages(response, "late_penalty_base")[0]
    response = teacher.patch(f"/api/courses/{course.code}/grade-categories/{c1.pk}/", {"late_penalty_base": "x"},
                             content_type=JSON)
    assert response.status_code == 400 and "Unknown late penalty base" in field_messages(response, "late_penalty_base")[0]
    ok = teacher.patch(f"/api/courses/{course.code}/grade-categories/{c1.pk}/", {"late_penalty_base": "possible"},
                       content_type=JSON)
    assert ok.status_code == 200 and ok.json()["late_penalty_base"] == "possible"
    page = teacher.post(url("grading-item-edit", course, item_id=item.pk), {
        "name": "HW", "category": c1.pk, "points_possible": "10", "late_penalty_percent": "10",
        "late_penalty_unit": "day", "late_penalty_floor_percent": "50", "late_penalty_base": "possible",
        "due_at": "2024-11-01 15:00"})
    assert page.status_code == 302
    item.refresh_from_db()
    assert item.late_penalty_base == "possible"


def test_student_sees_the_late_policy_in_words_with_its_floor(small, student, client_for):
    course, c1, _ = small
    c1.weight = D("100")
    c1.late_penalty_base = "possible"
    c1.save()
    _item(c1, "HW", "10", late_penalty_percent=D("10"), late_penalty_floor_percent=D("50"))
    html = client_for(student).get(url("grading-mine", course)).content.decode()
    assert "Late policy: −10% of points possible per started day, never below 50%" in html


# --- what students see vs the grid -------------------------------------------------------------------------

@pytest.fixture
def split(small, instructor, student):
    """C1 (100%): Shown 6/10 released; Hidden 2/10 not released. Grid: 8/20 = 40.00 FF;
    the student's page: 6/10 = 60.00 (DD would be its letter)."""
    course, c1, _ = small
    c1.weight = D("100")
    c1.save()
    shown, hidden = _item(c1, "Shown", "10"), _item(c1, "Hidden", "10", released=False)
    services.grade_set(item=shown, student=student, points=D("6"), by=instructor)
    services.grade_set(item=hidden, student=student, points=D("2"), by=instructor)
    return course


def test_student_figures_are_provisional_and_the_letter_waits_for_release(split, instructor, student, client_for):
    learner = client_for(student)
    summary = _summary(learner, split)
    assert summary["final"] == "60.00" and summary["provisional"]
    assert summary["not_counted"] == [{"name": "Hidden", "why": "not released yet"}]
    assert (summary["letter"], summary["current_letter"], summary["letters_released"]) == ("", "", False)
    what_if = learner.post(f"/api/courses/{split.code}/grades/what-if/", {"grades": {}}, content_type=JSON).json()
    assert (what_if["letter"], what_if["letters_released"]) == ("", False)
    html = learner.get(url("grading-mine", split)).content.decode()
    assert "Final total (provisional)" in html and "Letters are not released yet" in html
    assert "from the final total" not in html
    gradebook_options_update(course=split, by=instructor, letters_released=True)
    # released: the grid's letter (40.00 → FF), said to come from every item, not the 60.00 shown
    summary = _summary(learner, split)
    assert summary["letter"] == "FF" and summary["letters_released"]
    as_students = client_for(instructor).get(url("grading-gradebook", split) + "?view=students").content.decode()
    # the grid as students see it shows the same letter as the student's page: the whole gradebook's (FF),
    # not DD, which the 60.00 of the released items alone would earn
    assert "Letters are released" in as_students and ">FF<" in as_students and ">DD<" not in as_students
    assert "including 1 not released to you yet" in summary["letter_note"]


def test_staff_summary_keeps_the_letter_before_release(split, instructor, student, client_for):
    rows = client_for(instructor).get(f"/api/courses/{split.code}/grades/summary/").json()
    row = next(r for r in rows if r["student_id"] == student.pk)
    assert row["letter"] == "FF" and row["final"] == "40.00" and not row["letters_released"]


def test_staff_view_the_grid_as_students_see_it(split, ta, student, client_for):
    assistant = client_for(ta)
    full = assistant.get(url("grading-gradebook", split)).content.decode()
    assert ">40.00<" in full and "FF" in full and "View as students see it" in full
    as_students = assistant.get(url("grading-gradebook", split) + "?view=students").content.decode()
    assert ">60.00<" in as_students and ">40.00<" not in as_students
    assert "Not released, so not counted here: Hidden." in as_students
    assert 'data-total="letter"></td>' in as_students  # letters not released: none shown
    assert " readonly" in as_students and "Back to the full grid" in as_students
    # a student asking for it gets their own page
    response = client_for(student).get(url("grading-gradebook", split) + "?view=students")
    assert response.status_code == 302 and response["Location"].endswith("/grades/mine/")


def test_letters_page_releases_letters(split, instructor, ta, client_for):
    teacher = client_for(instructor)
    assert "Release letters to students" in teacher.get(url("grading-letters", split)).content.decode()
    teacher.post(url("grading-letters", split), {"action": "release", "letters_released": "1"})
    assert gradebook_options(course=split).letters_released
    assert client_for(ta).post(url("grading-letters", split), {"action": "release",
                                                              "letters_released": "0"}).status_code == 403
    assert gradebook_options(course=split).letters_released
