"""Setting up the gradebook: categories and items through the pages and the API, the rules that
refuse what would break grades (with messages saying what to fix), and who may do it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from courseapp.tests.openapi import field_messages, messages
from grading.calculations import drop_problems, weight_warning
from grading.models import Category, Grade, GradeChange, GradeItem, GradeState
from grading.services import grade_post, grade_set, item_update

IST = ZoneInfo("Europe/Istanbul")


def page(name, course, **kw):
    return reverse(name, kwargs={"code": course.code, **kw})


def post_json(client, url, body):
    return client.post(url, body, content_type="application/json")


def patch_json(client, url, body):
    return client.patch(url, body, content_type="application/json")


def item_form(category, **overrides):
    """What the item page posts for a plain 10-point item."""
    data = {"name": "Quiz 11", "short_name": "Q11", "category": category.pk, "points_possible": "10", "weight": "",
            "due_at": "", "late_penalty_percent": "0", "late_penalty_unit": "day",
            "late_penalty_floor_percent": "0", "position": ""}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


# --- pure rules ----------------------------------------------------------------------------------

def rows(n, **flags):
    return [{"points_possible": D("10"), "weight": None, "extra_credit": False, "never_drop": False, **flags}
            for _ in range(n)]


def test_drops_may_not_exceed_the_droppable_items():
    items = rows(2) + rows(1, never_drop=True) + rows(1, extra_credit=True)
    assert drop_problems(name="Q", aggregation="total_points", drop_lowest=2, drop_highest=0, items=items) == []
    (message,) = drop_problems(name="Q", aggregation="total_points", drop_lowest=2, drop_highest=1, items=items)
    assert "Q would drop 3 item(s) (drop lowest 2 + drop highest 1) but has only 2 that may be dropped" in message


def test_at_least_one_counted_item_must_remain():
    (message,) = drop_problems(name="Q", aggregation="mean", drop_lowest=2, drop_highest=0, items=rows(2))
    assert "Q has 2 counted item(s) and would drop 2 (drop lowest 2); at least one must count." in message
    assert "Drop at most 1 in all." in message


def test_zero_weight_items_do_not_count_under_weighted_mean():
    items = rows(2) + rows(1, weight=D("0"))
    assert drop_problems(name="Q", aggregation="weighted_mean", drop_lowest=2, drop_highest=0, items=items)
    assert not drop_problems(name="Q", aggregation="mean", drop_lowest=2, drop_highest=0, items=items)


def test_weight_warning_only_when_weights_do_not_add_up_to_100():
    assert weight_warning([D("20"), D("35"), D("45")]) is None
    assert "add up to 110%, not 100%" in weight_warning([D("20"), D("35"), D("45"), D("10")])
    assert "Every category weighs 0%" in weight_warning([D("0"), D("0")])
    assert weight_warning([]) is None


# --- who may ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,kw", [
    ("grading-setup", {}), ("grading-category-new", {}), ("grading-item-new", {}),
])
def test_ta_and_student_are_refused_the_setup_pages_outsider_gets_404(book, ta, student, outsider, client_for, name,
                                                                      kw):
    assert client_for(ta).get(page(name, book, **kw)).status_code == 403
    assert client_for(student).get(page(name, book, **kw)).status_code == 403
    assert client_for(outsider).get(page(name, book, **kw)).status_code == 404


def test_ta_and_student_may_not_change_categories_or_items(book, ta, student, item, client_for):
    quizzes = Category.objects.get(course=book, name="Quizzes")
    quiz1 = item("Quiz 1")
    for user in (ta, student):
        client = client_for(user)
        assert post_json(client, page("grading-api-categories", book), {"name": "X", "weight": "5"}).status_code == 403
        assert patch_json(client, page("grading-api-category", book, category_id=quizzes.pk),
                          {"weight": "50"}).status_code == 403
        assert client.delete(page("grading-api-category", book, category_id=quizzes.pk)).status_code == 403
        assert post_json(client, page("grading-api-items", book),
                         {"name": "X", "category": quizzes.pk, "points_possible": "5"}).status_code == 403
        assert patch_json(client, page("grading-api-item", book, item_id=quiz1.pk),
                          {"points_possible": "20"}).status_code == 403
        assert client.delete(page("grading-api-item", book, item_id=quiz1.pk)).status_code == 403
        assert client.post(page("grading-item-edit", book, item_id=quiz1.pk),
                           item_form(quizzes, name="Quiz 1", points_possible="20")).status_code == 403
        assert client.post(page("grading-item-delete", book, item_id=quiz1.pk)).status_code == 403
    quizzes.refresh_from_db()
    quiz1.refresh_from_db()
    assert quizzes.weight == D("20") and quiz1.points_possible == D("10")
    assert not Category.objects.filter(course=book, name="X").exists()


def test_outsider_gets_404_from_the_setup_api(book, outsider, client_for):
    response = post_json(client_for(outsider), page("grading-api-categories", book), {"name": "X", "weight": "5"})
    assert response.status_code == 404


# --- categories -------------------------------------------------------------------------------------

def test_instructor_adds_a_category_on_the_page_and_sees_the_weight_warning(book, instructor, client_for):
    client = client_for(instructor)
    response = client.post(page("grading-category-new", book), {
        "name": "Participation", "weight": "10", "aggregation": "mean", "drop_lowest": "0", "drop_highest": "0",
        "position": "", "description": "in-class"})
    assert response.status_code == 302 and response["Location"] == page("grading-setup", book)
    category = Category.objects.get(course=book, name="Participation")
    assert category.weight == D("10") and category.aggregation == "mean"
    assert category.position > Category.objects.get(course=book, name="Project").position
    html = client.get(page("grading-setup", book)).content.decode()
    assert "Participation" in html and "add up to 110%, not 100%" in html
    assert "add up to 110%, not 100%" in client.get(page("grading-gradebook", book)).content.decode()


def test_category_form_shows_what_to_fix_under_the_field(book, instructor, client_for):
    response = client_for(instructor).post(page("grading-category-new", book), {
        "name": "Quizzes", "weight": "abc", "aggregation": "total_points", "drop_lowest": "2"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "A category named “Quizzes” already exists in this course; choose another name." in html
    assert "“abc” is not a number" in html
    assert Category.objects.filter(course=book).count() == 3


def test_api_updates_weights_and_reports_the_sum(book, instructor, client_for):
    client = client_for(instructor)
    quizzes = Category.objects.get(course=book, name="Quizzes")
    response = patch_json(client, page("grading-api-category", book, category_id=quizzes.pk), {"weight": "25"})
    assert response.status_code == 200 and response.json()["weight"] == "25.000"
    assert "add up to 105%" in response.json()["weight_warning"]
    project = Category.objects.get(course=book, name="Project")
    response = patch_json(client, page("grading-api-category", book, category_id=project.pk), {"weight": "40"})
    assert response.json()["weight_warning"] is None
    listing = client_for(instructor).get(page("grading-api-categories", book)).json()
    assert [c["weight"] for c in listing["categories"]] == ["25.000", "35.000", "40.000"]


def test_drop_counts_beyond_the_droppable_items_are_refused(book, instructor, item, client_for):
    client = client_for(instructor)
    quizzes = Category.objects.get(course=book, name="Quizzes")
    url = page("grading-api-category", book, category_id=quizzes.pk)
    response = patch_json(client, url, {"drop_lowest": 11})
    assert response.status_code == 400
    assert "Quizzes would drop 11 item(s) (drop lowest 11) but has only 10 that may be dropped" in \
        field_messages(response, "drop_lowest")[0]
    assert patch_json(client, url, {"drop_lowest": 2}).status_code == 200
    # marking quizzes "never drop" may not leave fewer droppable items than the rule drops
    for n in range(1, 9):
        assert patch_json(client, page("grading-api-item", book, item_id=item(f"Quiz {n}").pk),
                          {"never_drop": True}).status_code == 200
    response = patch_json(client, page("grading-api-item", book, item_id=item("Quiz 9").pk), {"never_drop": True})
    assert response.status_code == 400 and "has only 1 that may be dropped" in messages(response)[0]
    assert not item("Quiz 9").never_drop


def test_a_category_with_items_is_not_deleted_an_empty_one_is(book, instructor, client_for):
    client = client_for(instructor)
    quizzes = Category.objects.get(course=book, name="Quizzes")
    response = client.delete(page("grading-api-category", book, category_id=quizzes.pk))
    assert response.status_code == 400
    assert messages(response) == [
        "Quizzes still holds 10 item(s); move them to another category or delete them first."]
    empty = post_json(client, page("grading-api-categories", book), {"name": "Bonus", "weight": "0"}).json()
    html = client.post(page("grading-category-delete", book, category_id=empty["id"]))
    assert html.status_code == 302
    assert not Category.objects.filter(pk=empty["id"]).exists()


# --- items ----------------------------------------------------------------------------------------

def test_instructor_adds_an_item_with_a_due_date_in_istanbul_time(book, instructor, client_for):
    quizzes = Category.objects.get(course=book, name="Quizzes")
    client = client_for(instructor)
    response = client.post(page("grading-item-new", book), item_form(
        quizzes, due_at="2024-12-18T23:59", late_penalty_percent="10", late_penalty_unit="hour",
        late_penalty_floor_percent="50", ta_editable="on", released="on"))
    assert response.status_code == 302, response.content.decode()[:2000]
    quiz = GradeItem.objects.get(course=book, name="Quiz 11")
    assert quiz.due_at == dt.datetime(2024, 12, 18, 23, 59, tzinfo=IST)
    assert quiz.due_at.astimezone(dt.UTC).hour == 20  # Istanbul is UTC+3
    assert (quiz.late_penalty_percent, quiz.late_penalty_unit, quiz.late_penalty_floor_percent) == (
        D("10"), "hour", D("50"))
    assert quiz.ta_editable and quiz.released and not quiz.extra_credit
    assert quiz.position == 11  # after Quiz 10
    edit = client.get(page("grading-item-edit", book, item_id=quiz.pk)).content.decode()
    assert 'value="2024-12-18T23:59"' in edit  # shown back in course time


def test_item_api_reads_an_offset_free_due_date_as_course_time(book, instructor, client_for):
    quizzes = Category.objects.get(course=book, name="Quizzes")
    response = post_json(client_for(instructor), page("grading-api-items", book), {
        "name": "Quiz 11", "category": quizzes.pk, "points_possible": "10", "due_at": "2024-12-18T23:59"})
    assert response.status_code == 201, response.content
    assert response.json()["due_at"].startswith("2024-12-18T23:59:00+03:00")
    bad = post_json(client_for(instructor), page("grading-api-items", book), {
        "name": "Quiz 12", "category": quizzes.pk, "points_possible": "10", "due_at": "next friday"})
    assert bad.status_code == 400 and "enter it like 2024-11-06 23:59" in field_messages(bad, "due_at")[0]


def test_item_rules_say_what_to_fix(book, instructor, client_for):
    quizzes = Category.objects.get(course=book, name="Quizzes")
    client = client_for(instructor)
    url = page("grading-api-items", book)
    cases = [
        ({"name": "Quiz 1"}, "name", "“Quiz 1” is already the name or short name of Quiz 1; choose another"),
        ({"short_name": "q2"}, "short_name", "“q2” is already the name or short name of Quiz 2"),
        ({"points_possible": "0"}, "points_possible", "Points possible must be more than 0"),
        ({"points_possible": "7.555"}, "points_possible", "7.555 has more than two decimals; round it"),
        ({"points_possible": "nan"}, "points_possible", "“nan” is not a number"),
        ({"late_penalty_percent": "10"}, "due_at", "A late penalty needs a due date"),
        ({"late_penalty_percent": "120", "due_at": "2024-12-01T10:00"}, "late_penalty_percent",
         "must be between 0 and 100"),
        ({"category": 999999}, "category", "No category 999999 in this course"),
    ]
    for change, field, text in cases:
        body = {"name": "New quiz", "category": quizzes.pk, "points_possible": "10", **change}
        response = post_json(client, url, body)
        assert response.status_code == 400, (change, response.content)
        assert any(text in m for m in field_messages(response, field)), (text, response.json())
    assert not GradeItem.objects.filter(course=book, name="New quiz").exists()
    assert post_json(client, url, {"name": "Bonus", "category": quizzes.pk, "points_possible": "0",
                                   "extra_credit": True}).status_code == 201


def test_points_possible_below_a_given_grade_is_refused_with_the_names(book, instructor, student, item, client_for):
    quiz = item("Quiz 5")
    grade_set(item=quiz, student=student, points=D("8.5"), by=instructor)
    url = page("grading-api-item", book, item_id=quiz.pk)
    response = patch_json(client_for(instructor), url, {"points_possible": "8"})
    assert response.status_code == 400
    message = field_messages(response, "points_possible")[0]
    assert f"1 student(s) have more than 8 on Quiz 5: {student.get_full_name()} 8.5." in message
    assert "Change those grades first, or mark the item extra credit." in message
    quiz.refresh_from_db()
    assert quiz.points_possible == D("10")
    assert patch_json(client_for(instructor), url, {"points_possible": "8.5"}).status_code == 200
    assert patch_json(client_for(instructor), url, {"points_possible": "5", "extra_credit": True}).status_code == 200
    response = patch_json(client_for(instructor), url, {"extra_credit": False})
    assert response.status_code == 400 and "Keep it extra credit, or raise points possible" in \
        field_messages(response, "extra_credit")[0]


def test_an_item_with_grades_is_not_deleted_and_keeps_its_history(book, instructor, student, item, client_for):
    quiz = item("Quiz 1")  # the demo graded it for everyone
    grades, history = Grade.objects.filter(item=quiz).count(), GradeChange.objects.filter(item=quiz).count()
    client = client_for(instructor)
    response = client.delete(page("grading-api-item", book, item_id=quiz.pk))
    assert response.status_code == 400
    assert messages(response) == [
        f"Quiz 1 has grades ({grades} student(s)) and their history, so it cannot be deleted. To take it out of "
        "the totals, excuse its grades; to hide it from students, un-release it."]
    html = client.post(page("grading-item-delete", book, item_id=quiz.pk)).content.decode()
    assert "so it cannot be deleted" in html
    assert Grade.objects.filter(item=quiz).count() == grades and GradeChange.objects.filter(item=quiz).count() == history
    # an item whose only grade was cleared still has history: refused too
    quiz7 = item("Quiz 7")
    grade_set(item=quiz7, student=student, points=D("5"), by=instructor)
    grade_set(item=quiz7, student=student, points=None, by=instructor)
    assert client.delete(page("grading-api-item", book, item_id=quiz7.pk)).status_code == 400


def test_an_item_without_grades_is_deleted_after_confirming(book, instructor, item, client_for):
    quiz = item("Quiz 9")
    client = client_for(instructor)
    confirm = client.get(page("grading-item-delete", book, item_id=quiz.pk))
    assert confirm.status_code == 200 and "Delete the item Quiz 9?" in confirm.content.decode()
    assert GradeItem.objects.filter(pk=quiz.pk).exists()  # asking deletes nothing
    assert client.post(page("grading-item-delete", book, item_id=quiz.pk)).status_code == 302
    assert not GradeItem.objects.filter(pk=quiz.pk).exists()


def test_deleting_an_item_may_not_break_the_drop_rule(book, instructor, client_for):
    client = client_for(instructor)
    cat = post_json(client, page("grading-api-categories", book), {"name": "Labs", "weight": "0"}).json()
    ids = [post_json(client, page("grading-api-items", book), {"name": f"Lab {n}", "category": cat["id"],
                                                             "points_possible": "5"}).json()["id"]
           for n in (1, 2)]
    assert patch_json(client, page("grading-api-category", book, category_id=cat["id"]),
                      {"drop_lowest": 1}).status_code == 200
    response = client.delete(page("grading-api-item", book, item_id=ids[0]))
    assert response.status_code == 400
    assert "Deleting Lab 1 would break Labs's drop rule" in messages(response)[0]


def test_moving_an_item_checks_the_old_categorys_drop_rule(book, instructor, client_for):
    client = client_for(instructor)
    cat = post_json(client, page("grading-api-categories", book), {"name": "Labs", "weight": "0"}).json()
    ids = [post_json(client, page("grading-api-items", book), {"name": f"Lab {n}", "category": cat["id"],
                                                             "points_possible": "5"}).json()["id"]
           for n in (1, 2)]
    patch_json(client, page("grading-api-category", book, category_id=cat["id"]), {"drop_lowest": 1})
    project = Category.objects.get(course=book, name="Project")
    response = patch_json(client, page("grading-api-item", book, item_id=ids[1]), {"category": project.pk})
    assert response.status_code == 400 and "Labs has 1 counted item(s) and would drop 1" in \
        field_messages(response, "category")[0]


def test_a_new_due_date_reapplies_the_late_policy_to_posted_scores_only(book, instructor, student, other_student,
                                                                       item):
    quiz = item("Quiz 6")
    quiz.late_penalty_percent = D("10")
    quiz.save()
    late = quiz.due_at + dt.timedelta(hours=30)  # two started days late
    grade_post(item=quiz, student=student, raw_points=D("8"), submitted_at=late, source="quiz")
    grade_set(item=quiz, student=other_student, points=D("6"), by=instructor)
    assert Grade.objects.get(item=quiz, student=student).points == D("6.40")
    item_update(item=quiz, by=instructor, due_at=quiz.due_at + dt.timedelta(days=2), reason="deadline extended")
    grade = Grade.objects.get(item=quiz, student=student)
    assert (grade.points, grade.late_penalty_points, grade.raw_points) == (D("8.00"), D("0.00"), D("8.00"))
    change = GradeChange.objects.filter(item=quiz, student=student).first()
    assert (change.source, change.reason, change.old_points, change.new_points) == (
        "late policy", "deadline extended", D("6.40"), D("8.00"))
    assert Grade.objects.get(item=quiz, student=other_student).points == D("6.00")
    # nothing else changes: no history for the manual grade, none for an unchanged re-save
    assert GradeChange.objects.filter(item=quiz, student=other_student).count() == 1
    item_update(item=quiz, by=instructor, name="Quiz 6")
    assert GradeChange.objects.filter(item=quiz, student=student).count() == 2


def test_excused_grades_are_untouched_by_a_policy_change(book, instructor, student, item):
    quiz = item("Quiz 6")
    grade_set(item=quiz, student=student, points=None, by=instructor, state=GradeState.EXCUSED)
    item_update(item=quiz, by=instructor, late_penalty_percent=D("5"))
    assert Grade.objects.get(item=quiz, student=student).state == GradeState.EXCUSED


# --- pages: links, listing, queries ----------------------------------------------------------------

def test_setup_is_linked_for_the_instructor_only(book, instructor, ta, client_for):
    setup_url = page("grading-setup", book)
    assert setup_url in client_for(instructor).get(page("grading-gradebook", book)).content.decode()
    assert setup_url not in client_for(ta).get(page("grading-gradebook", book)).content.decode()


def test_setup_page_lists_categories_items_and_grade_counts(book, instructor, client_for):
    html = client_for(instructor).get(page("grading-setup", book)).content.decode()
    assert "Category weights add up to <strong>100%</strong>" in html
    for name in ("Quizzes", "Final exam", "Project", "Quiz 10", "Project part 1"):
        assert name in html
    assert page("grading-item-edit", book, item_id=GradeItem.objects.get(course=book, name="Quiz 1").pk) in html


def test_setup_page_queries_do_not_grow_with_items(book, instructor, client_for):
    client = client_for(instructor)
    with CaptureQueriesContext(connection) as before:
        client.get(page("grading-setup", book))
    quizzes = Category.objects.get(course=book, name="Quizzes")
    GradeItem.objects.bulk_create([GradeItem(course=book, category=quizzes, name=f"Extra {n}",
                                             points_possible=D("1")) for n in range(20)])
    with CaptureQueriesContext(connection) as after:
        client.get(page("grading-setup", book))
    assert len(after) == len(before) <= 12
