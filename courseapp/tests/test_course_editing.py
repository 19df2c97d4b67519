"""Editing the course from the site: course page, schedule, materials, announcements, history.

Through HTTP as each role; the feed is read back with the `icalendar` library.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import icalendar
import pytest
from django.conf import settings
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from courseapp import editing
from courseapp.models import (
    Announcement,
    CourseChange,
    Lecture,
    LectureMaterial,
    Membership,
    Role,
    SessionKind,
)

TZ = ZoneInfo("Europe/Istanbul")
CODE = "ceng501-2024f"


@pytest.fixture(autouse=True)
def private_materials(settings, tmp_path):
    settings.MATERIALS_ROOT = tmp_path / "materials"
    return settings.MATERIALS_ROOT


def week(course, n: int) -> Lecture:
    return Lecture.objects.get(course=course, week=n, kind=SessionKind.LECTURE)


def feed_events(client, course) -> dict[str, icalendar.cal.Component]:
    response = client.get(f"/courses/{course.code}/calendar/{course.calendar_token}.ics")
    assert response.status_code == 200
    return {str(e["UID"]): e for e in icalendar.Calendar.from_ical(response.content.decode()).walk("VEVENT")}


def lecture_uid(course, lecture) -> str:
    return f"{course.code}-lecture-{lecture.pk}@courseapp"


def move_form(**overrides) -> dict:
    data = {"date": "2025-01-02", "start": "13:40", "end": "15:30", "room": "BMB4",
            "topic": "Reinforcement Learning", "subtopics": "", "note": "Moved: New Year's Day holiday"}
    data.update(overrides)
    return data


# --- who may do what ------------------------------------------------------------------------

def _requests(course):
    lecture = week(course, 3)
    return [
        ("course-edit", reverse("courseapp-course-edit", args=[CODE]),
         {"description": "Changed", "policy": "", "textbook_note": "", "textbooks": "", "website": "",
          "mailing_list": ""}),
        ("lecture-edit", reverse("courseapp-lecture-edit", args=[CODE, lecture.pk]),
         move_form(date="2024-10-17", topic=lecture.topic)),
        ("lecture-cancel", reverse("courseapp-lecture-cancel", args=[CODE, lecture.pk]), {"note": "Ill"}),
        ("session-add", reverse("courseapp-session-add", args=[CODE]),
         {"kind": "exam", "date": "2025-01-15", "start": "09:00", "end": "11:00", "room": "BMB1",
          "topic": "Final exam"}),
        ("material-add", reverse("courseapp-material-add", args=[CODE, lecture.pk]),
         {"title": "Slides", "url": "https://example.org/s.pdf"}),
        ("announce", reverse("courseapp-announcements", args=[CODE]),
         {"title": "Hi", "body": "Hello", "body_format": "plain"}),
    ]


@pytest.mark.parametrize("role, allowed", [
    ("student", set()), ("outsider", set()), ("ta", {"announce"}),
    ("instructor", {"course-edit", "lecture-edit", "lecture-cancel", "session-add", "material-add", "announce"}),
])
def test_permission_sweep(client_for, course, student, ta, instructor, outsider, role, allowed):
    who = {"student": student, "ta": ta, "instructor": instructor, "outsider": outsider}[role]
    client = client_for(who)
    for name, url, data in _requests(course):
        before = CourseChange.objects.count()
        response = client.post(url, data)
        if name in allowed:
            assert response.status_code == 302, (name, response.status_code, response.content[:500])
            assert CourseChange.objects.count() > before, name
        else:
            # Outsiders do not learn the course exists (404); members with the wrong role get 403.
            assert response.status_code == (404 if role == "outsider" else 403), (name, response.status_code)
            assert CourseChange.objects.count() == before, name
    assert Lecture.objects.filter(course=course, cancelled=True).exists() == ("lecture-cancel" in allowed)


def test_services_check_the_acting_user_too(course, student, ta):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        editing.lecture_cancel(lecture=week(course, 14), by=ta, note="Holiday")
    with pytest.raises(PermissionDenied):
        editing.announcement_create(course=course, by=student, title="x", body="y")
    assert not Lecture.objects.filter(cancelled=True).exists() and not Announcement.objects.exists()


def test_edit_pages_render_for_the_instructor_only(client_for, course, instructor, ta, student):
    lecture = week(course, 2)
    pages = [reverse("courseapp-course-edit", args=[CODE]), reverse("courseapp-session-add", args=[CODE]),
             reverse("courseapp-lecture-edit", args=[CODE, lecture.pk])]
    for url in pages:
        response = client_for(instructor).get(url)
        assert response.status_code == 200 and b"csrfmiddlewaretoken" in response.content
        assert client_for(ta).get(url).status_code == 403
        assert client_for(student).get(url).status_code == 403
    schedule = client_for(instructor).get(f"/courses/{CODE}/schedule/").content.decode()
    assert reverse("courseapp-lecture-edit", args=[CODE, lecture.pk]) in schedule
    assert "edit-session" not in client_for(student).get(f"/courses/{CODE}/schedule/").content.decode()


# --- the schedule: move, cancel, add, in the page and the feed --------------------------------

def test_cancelling_the_new_year_lecture_shows_on_the_page_and_in_the_feed(client, client_for, course,
                                                                          instructor, student):
    lecture = week(course, 14)
    assert lecture.starts_at.astimezone(TZ).date() == dt.date(2025, 1, 1)
    response = client_for(instructor).post(reverse("courseapp-lecture-cancel", args=[CODE, lecture.pk]),
                                           {"note": "New Year's Day: a public holiday"})
    assert response.status_code == 302 and response["Location"].endswith("#week-14")

    html = client_for(student).get(f"/courses/{CODE}/schedule/").content.decode()
    row = html[html.index('<tr id="week-14"'):]
    row = row[:row.index("</tr>")]
    assert 'class="cancelled"' in row and "cancelled</span>" in row and "New Year&#x27;s Day" in row

    event = feed_events(client, course)[lecture_uid(course, lecture)]
    assert str(event["STATUS"]) == "CANCELLED"
    assert str(event["SUMMARY"]).startswith("Cancelled: ")
    assert int(event["SEQUENCE"]) == 1
    assert "New Year's Day" in str(event["DESCRIPTION"])

    change = CourseChange.objects.get(action="cancelled")
    assert change.changed_by == instructor and change.target.startswith("Week 14")
    assert change.changes["cancelled"] == ["no", "yes"]

    client_for(instructor).post(reverse("courseapp-lecture-restore", args=[CODE, lecture.pk]))
    event = feed_events(client, course)[lecture_uid(course, lecture)]
    assert str(event["STATUS"]) == "CONFIRMED" and int(event["SEQUENCE"]) == 2


def test_moving_a_lecture_changes_page_feed_and_history_from_to(client, client_for, course, instructor, ta,
                                                                student):
    lecture = week(course, 14)
    response = client_for(instructor).post(reverse("courseapp-lecture-edit", args=[CODE, lecture.pk]),
                                           move_form(topic=lecture.topic))
    assert response.status_code == 302
    lecture.refresh_from_db()
    assert lecture.starts_at == dt.datetime(2025, 1, 2, 13, 40, tzinfo=TZ) and lecture.room == "BMB4"
    assert lecture.planned_starts_at == dt.datetime(2025, 1, 1, 9, 40, tzinfo=TZ) and lecture.planned_room == "BMB2"
    assert lecture.week == 14  # the syllabus week stays

    html = client_for(student).get(f"/courses/{CODE}/schedule/").content.decode()
    row = html[html.index('<tr id="week-14"'):]
    row = row[:row.index("</tr>")]
    assert "Thu 2 Jan 2025" in row and "13:40–15:30" in row and "<td>BMB4</td>" in row
    assert "Moved from Wed 1 Jan, 09:40, BMB2" in row

    event = feed_events(client, course)[lecture_uid(course, lecture)]
    assert event.decoded("DTSTART") == dt.datetime(2025, 1, 2, 13, 40, tzinfo=TZ)
    assert event.decoded("DTEND") == dt.datetime(2025, 1, 2, 15, 30, tzinfo=TZ)
    assert str(event["LOCATION"]) == "BMB4" and int(event["SEQUENCE"]) == 1
    assert "Moved from Wed 01 Jan 09:40, BMB2" in str(event["DESCRIPTION"])

    change = CourseChange.objects.get(action="moved")
    assert change.changes["starts_at"] == ["Wed 01 Jan 2025 09:40", "Thu 02 Jan 2025 13:40"]
    assert change.changes["room"] == ["BMB2", "BMB4"]
    # A second move keeps the syllabus origin.
    client_for(instructor).post(reverse("courseapp-lecture-edit", args=[CODE, lecture.pk]),
                                move_form(topic=lecture.topic, date="2025-01-03"))
    lecture.refresh_from_db()
    assert lecture.planned_starts_at == dt.datetime(2025, 1, 1, 9, 40, tzinfo=TZ) and lecture.sequence == 2

    history = client_for(ta).get(reverse("courseapp-history", args=[CODE]))
    assert history.status_code == 200
    text = history.content.decode()
    assert "Wed 01 Jan 2025 09:40" in text and "Thu 02 Jan 2025 13:40" in text and str(instructor) in text
    assert client_for(student).get(reverse("courseapp-history", args=[CODE])).status_code == 403


def test_saving_an_unchanged_session_writes_no_history(client_for, course, instructor):
    lecture = week(course, 5)
    start = lecture.starts_at.astimezone(TZ)
    client_for(instructor).post(reverse("courseapp-lecture-edit", args=[CODE, lecture.pk]), move_form(
        date=f"{start:%Y-%m-%d}", start="09:40", end="11:30", room="BMB2", topic=lecture.topic,
        subtopics="\n".join(lecture.subtopics), note=""))
    assert not CourseChange.objects.exists()
    lecture.refresh_from_db()
    assert lecture.sequence == 0 and lecture.planned_starts_at is None


def test_bad_session_input_is_a_400_saying_what_to_fix(client_for, course, instructor):
    lecture = week(course, 5)
    client = client_for(instructor)
    response = client.post(reverse("courseapp-lecture-edit", args=[CODE, lecture.pk]),
                           move_form(start="12:00", end="11:00", topic=lecture.topic))
    assert response.status_code == 400 and b"end time must be after the start time" in response.content
    response = client.post(reverse("courseapp-lecture-cancel", args=[CODE, lecture.pk]), {"note": ""})
    assert response.status_code == 400 and b"This field is required" in response.content
    response = client.post(reverse("courseapp-lecture-edit", args=[CODE, lecture.pk]),
                           move_form(topic="bad\x07topic"))
    assert response.status_code == 400 and b"control character" in response.content
    assert not CourseChange.objects.exists()


def test_an_added_final_exam_and_extra_session_are_on_the_page_and_in_the_feed(client, client_for, course,
                                                                               instructor, student):
    client = client_for(instructor)
    for data in ({"kind": "exam", "date": "2025-01-15", "start": "09:00", "end": "12:00", "room": "BMB1-BMB2",
                  "topic": "Final exam", "note": "Closed book"},
                 {"kind": "extra", "date": "2024-12-27", "start": "13:40", "end": "15:30", "room": "BMB2",
                  "topic": "Project Q&A"}):
        assert client.post(reverse("courseapp-session-add", args=[CODE]), data).status_code == 302
    exam = Lecture.objects.get(kind=SessionKind.EXAM)
    assert exam.week == 16  # counted by date from the first lecture (2 Oct 2024)
    html = client_for(student).get(f"/courses/{CODE}/schedule/").content.decode()
    assert f'id="session-{exam.pk}"' in html and "Final exam" in html and "Project Q&amp;A" in html
    events = feed_events(client_for(student), course)
    event = events[lecture_uid(course, exam)]
    assert str(event["SUMMARY"]) == "CENG 501: Final exam"
    assert event.decoded("DTSTART") == dt.datetime(2025, 1, 15, 9, 0, tzinfo=TZ)
    assert event.decoded("DTEND") == dt.datetime(2025, 1, 15, 12, 0, tzinfo=TZ)
    assert str(event["DESCRIPTION"]).startswith("Exam\nClosed book")
    assert len([uid for uid in events if "-lecture-" in uid]) == 16


def test_quiz_opening_and_closing_are_point_events_in_the_feed(client, course):
    from quizzes.tests import factories as f

    quiz = f.quiz(course, title="Attention quiz", length=dt.timedelta(days=7))
    events = feed_events(client, course)
    opens = events[f"quiz-{quiz.pk}-opens@{CODE}.quizzes"]
    closes = events[f"quiz-{quiz.pk}-closes@{CODE}.quizzes"]
    assert opens.decoded("DTSTART") == quiz.opens_at.replace(microsecond=0) and "DTEND" not in opens and "DURATION" not in opens
    assert closes.decoded("DTSTART") == quiz.closes_at.replace(microsecond=0) and "DTEND" not in closes
    assert str(opens["SUMMARY"]) == "CENG 501 quiz opens: Attention quiz"


# --- materials --------------------------------------------------------------------------------

def test_file_material_is_for_members_only_and_downloads_as_an_attachment(client_for, course, instructor,
                                                                         student, outsider, private_materials):
    lecture = week(course, 4)
    upload = SimpleUploadedFile("week4 slides.pdf", b"%PDF-1.4 slides", content_type="application/pdf")
    response = client_for(instructor).post(reverse("courseapp-material-add", args=[CODE, lecture.pk]),
                                           {"title": "Slides", "file": upload})
    assert response.status_code == 302
    material = LectureMaterial.objects.get()
    assert material.original_name == "week4_slides.pdf" and material.size_bytes == 15
    stored = private_materials / material.file.name
    assert stored.read_bytes() == b"%PDF-1.4 slides"

    url = reverse("courseapp-material", args=[CODE, material.pk])
    assert url in client_for(student).get(f"/courses/{CODE}/schedule/").content.decode()
    response = client_for(student).get(url)
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="week4_slides.pdf"'
    assert b"".join(response.streaming_content) == b"%PDF-1.4 slides"
    assert client_for(outsider).get(url).status_code == 404
    from django.test import Client

    assert Client().get(url).status_code == 302  # anonymous: to the login page

    # Another course's instructor cannot reach it through their own course's URL either.
    from courseapp.models import Course

    other = Course.objects.create(code="other", number="X 1", title="X", term="T", department="D", lecture_weekday=0,
                                  lecture_start="09:00", lecture_end="10:00", lecture_room="R", calendar_token="t")
    Membership.objects.create(course=other, user=outsider, role=Role.INSTRUCTOR)
    assert client_for(outsider).get(reverse("courseapp-material", args=["other", material.pk])).status_code == 404

    response = client_for(instructor).post(reverse("courseapp-material-remove", args=[CODE, material.pk]))
    assert response.status_code == 302 and not LectureMaterial.objects.exists()
    assert CourseChange.objects.filter(subject="material").count() == 2


def test_material_removal_deletes_the_file_after_commit(course, instructor, private_materials,
                                                        django_capture_on_commit_callbacks):
    lecture = week(course, 4)
    material = editing.material_create(lecture=lecture, by=instructor, title="Notes",
                                       upload=SimpleUploadedFile("notes.txt", b"notes"))
    stored = private_materials / material.file.name
    assert stored.exists()
    with django_capture_on_commit_callbacks(execute=True):
        editing.material_delete(material=material, by=instructor)
    assert not stored.exists()


def test_link_material_redirects_and_bad_material_is_a_400(client_for, course, instructor, student):
    lecture = week(course, 4)
    client = client_for(instructor)
    url = reverse("courseapp-material-add", args=[CODE, lecture.pk])
    assert client.post(url, {"title": "Paper", "url": "https://arxiv.org/abs/1706.03762"}).status_code == 302
    material = LectureMaterial.objects.get()
    response = client_for(student).get(reverse("courseapp-material", args=[CODE, material.pk]))
    assert response.status_code == 302 and response["Location"] == "https://arxiv.org/abs/1706.03762"
    both = client.post(url, {"title": "X", "url": "https://x.org", "file": SimpleUploadedFile("a.txt", b"a")})
    assert both.status_code == 400 and b"either a link or a file" in both.content
    assert client.post(url, {"title": "X", "url": "javascript:alert(1)"}).status_code == 400
    assert LectureMaterial.objects.count() == 1


# --- announcements ----------------------------------------------------------------------------

def test_announcement_is_emailed_to_enrolled_members_after_commit(client_for, course, ta,
                                                                  django_capture_on_commit_callbacks):
    dropped = Membership.objects.filter(course=course, role=Role.STUDENT).order_by("-user__username").first()
    dropped.is_active = False
    dropped.save()
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(ta).post(reverse("courseapp-announcements", args=[CODE]), {
            "title": "Room change for the Q&A", "body": "We meet in BMB4.\nBring questions.",
            "body_format": "plain", "email": "on"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    expected = set(Membership.objects.filter(course=course, is_active=True).exclude(user__email="")
                   .values_list("user__email", flat=True))
    assert set(message.bcc) == expected and dropped.user.email not in message.bcc
    assert len(expected) == 42 and message.to == [settings.DEFAULT_FROM_EMAIL]  # 43 members, one dropped
    assert message.subject == "[CENG 501] Room change for the Q&A"
    assert "We meet in BMB4." in message.body and message.reply_to == [ta.email]
    announcement = Announcement.objects.get()
    assert announcement.emailed_at is not None and announcement.emailed_to == len(expected)
    assert announcement.author == ta


def test_announcement_without_email_sends_nothing_and_shows_on_the_course_page(client_for, course, instructor,
                                                                             student,
                                                                             django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        client_for(instructor).post(reverse("courseapp-announcements", args=[CODE]), {
            "title": "Welcome", "body": "**Read** the syllabus <script>alert(1)</script>",
            "body_format": "markdown"})
    assert mail.outbox == []
    html = client_for(student).get(f"/courses/{CODE}/").content.decode()
    assert "Welcome" in html and "<strong>Read</strong>" in html and "<script>alert" not in html
    page = client_for(student).get(reverse("courseapp-announcements", args=[CODE])).content.decode()
    assert "Welcome" in page and "announcement-form" not in page


def test_a_mail_failure_never_loses_the_announcement(client_for, course, instructor, monkeypatch,
                                                     django_capture_on_commit_callbacks):
    def broken(self, fail_silently=False):
        raise ConnectionRefusedError("SMTP server down")

    monkeypatch.setattr("django.core.mail.EmailMessage.send", broken)
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(instructor).post(reverse("courseapp-announcements", args=[CODE]), {
            "title": "Exam room", "body": "BMB1", "body_format": "plain", "email": "on"})
    assert response.status_code == 302
    announcement = Announcement.objects.get()
    assert announcement.emailed_at is None  # the task will retry; the page says the e-mail is queued
    monkeypatch.undo()
    assert editing.announcement_email_send(announcement_id=announcement.pk) == 43
    assert editing.announcement_email_send(announcement_id=announcement.pk) == 0  # never twice
    assert len(mail.outbox) == 1


def test_empty_announcement_is_a_400(client_for, course, instructor):
    response = client_for(instructor).post(reverse("courseapp-announcements", args=[CODE]),
                                           {"title": "", "body": "", "body_format": "plain"})
    assert response.status_code == 400 and b"This field is required" in response.content
    assert not Announcement.objects.exists()


# --- the course page --------------------------------------------------------------------------

def test_instructor_edits_description_policy_textbooks_and_office_hours(client_for, course, instructor, ta,
                                                                       student):
    ta_membership = Membership.objects.get(course=course, user=ta)
    client = client_for(instructor)
    form = client.get(reverse("courseapp-course-edit", args=[CODE])).context["form"]
    data = {name: form[name].value() or "" for name in form.fields}
    data.update({"description": "A new description.", "policy": "Late work: 10% per day.",
                 "textbooks": "Goodfellow et al., Deep Learning\nBishop, Deep Learning",
                 f"office_hours_{ta_membership.pk}": "Mondays 14:00, A-206"})
    response = client.post(reverse("courseapp-course-edit", args=[CODE]), data)
    assert response.status_code == 302
    html = client_for(student).get(f"/courses/{CODE}/").content.decode()
    assert "A new description." in html and "Late work: 10% per day." in html
    assert "<li>Bishop, Deep Learning</li>" in html and "Mondays 14:00, A-206" in html
    subjects = sorted(CourseChange.objects.values_list("subject", flat=True))
    assert subjects == ["course", "staff", "textbooks"]
    course_change = CourseChange.objects.get(subject="course")
    assert set(course_change.changes) == {"description", "policy"}
    assert course_change.changes["policy"] == ["", "Late work: 10% per day."]
    assert 'href="/courses/ceng501-2024f/edit/"' in client.get(f"/courses/{CODE}/").content.decode()
    assert 'href="/courses/ceng501-2024f/edit/"' not in html
