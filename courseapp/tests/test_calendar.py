"""The iCalendar feed: subscribable by token, every lecture right, RFC 5545 framing.

The feed is read back with the `icalendar` library (not a parser written beside the writer);
the framing rules a lenient reader forgives (CRLF, 75 octets) are checked on the raw bytes.
"""

import datetime as dt
import sys
import types
from zoneinfo import ZoneInfo

import icalendar
import pytest
from django.utils import timezone

from courseapp import ical

TZ = ZoneInfo("Europe/Istanbul")


def components(text: str, kind: str) -> list[icalendar.cal.Component]:
    """Every ``kind`` component (VEVENT, VTIMEZONE, STANDARD …) of a feed, as icalendar reads it."""
    return icalendar.Calendar.from_ical(text).walk(kind)


def raw(event: icalendar.cal.Component, name: str) -> str:
    """A property's value as written in the feed (e.g. 20241002T094000), before decoding."""
    value = event[name].to_ical()
    return value.decode() if isinstance(value, bytes) else value


def feed_url(course, token=None):
    return f"/courses/{course.code}/calendar/{token or course.calendar_token}.ics"


@pytest.fixture
def feed(client, course):
    response = client.get(feed_url(course))  # no session: the token is the credential
    assert response.status_code == 200
    return response


def test_feed_is_text_calendar_without_a_session(feed):
    assert feed["Content-Type"] == "text/calendar; charset=utf-8"
    text = feed.content.decode("utf-8")
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")  # CRLF only, never a bare LF
    assert text.startswith("BEGIN:VCALENDAR\r\n") and text.endswith("END:VCALENDAR\r\n")
    calendar = icalendar.Calendar.from_ical(text)
    assert str(calendar["VERSION"]) == "2.0"
    assert str(calendar["PRODID"])


def test_wrong_token_or_course_is_404(client, course):
    assert client.get(feed_url(course, token="not-the-token")).status_code == 404
    assert client.get(f"/courses/nope/calendar/{course.calendar_token}.ics").status_code == 404


def test_all_14_lectures_with_dates_times_zone_room_topics_and_subtopics(feed, course):
    events = components(feed.content.decode(), "VEVENT")
    lectures = [e for e in events if "-lecture-" in str(e["UID"])]
    assert len(lectures) == 14
    expected = list(course.lectures.order_by("starts_at"))
    first = dt.date(2024, 10, 2)
    for event, lecture, week in zip(lectures, expected, range(14), strict=True):
        day = first + dt.timedelta(weeks=week)
        assert dict(event["DTSTART"].params) == {"TZID": "Europe/Istanbul"}
        assert dict(event["DTEND"].params) == {"TZID": "Europe/Istanbul"}
        assert event.decoded("DTSTART") == dt.datetime.combine(day, dt.time(9, 40), tzinfo=TZ)
        assert event.decoded("DTEND") == dt.datetime.combine(day, dt.time(11, 30), tzinfo=TZ)
        assert str(event["SUMMARY"]) == f"CENG 501: {lecture.topic}"
        assert str(event["LOCATION"]) == "BMB2"
        description = str(event["DESCRIPTION"])
        for subtopic in lecture.subtopics:
            assert subtopic in description
        assert raw(event, "DTSTAMP").endswith("Z")


def test_the_13_november_lecture_in_the_feed(feed):
    events = components(feed.content.decode(), "VEVENT")
    (event,) = [e for e in events if raw(e, "DTSTART") == "20241113T094000"]
    assert str(event["SUMMARY"]) == "CENG 501: Large-Language Models"
    description = str(event["DESCRIPTION"]).splitlines()
    assert description == ["Week 7", "• Using Pretrained LLMs", "• Retrieval Augmented Generation",
                           "• Efficient Finetuning"]


def test_vtimezone_gives_istanbul_at_utc_plus_3(feed):
    (zone,) = components(feed.content.decode(), "VTIMEZONE")
    assert str(zone["TZID"]) == "Europe/Istanbul"
    (standard,) = components(feed.content.decode(), "STANDARD")
    assert raw(standard, "TZOFFSETTO") == "+0300" and raw(standard, "TZOFFSETFROM") == "+0300"


def test_uids_are_unique_and_stable_across_requests(client, course):
    first = [str(e["UID"]) for e in components(client.get(feed_url(course)).content.decode(), "VEVENT")]
    second = [str(e["UID"]) for e in components(client.get(feed_url(course)).content.decode(), "VEVENT")]
    assert first == second
    assert len(set(first)) == len(first)


def test_physical_lines_are_at_most_75_octets(feed):
    raw_lines = feed.content.split(b"\r\n")
    assert max(len(line) for line in raw_lines) <= 75
    # the Week 1 description (8 subtopics) is longer than one line, so folding happened
    assert any(line.startswith(b" ") for line in raw_lines)


def test_commas_in_a_subtopic_are_escaped_in_the_feed(feed):
    # 27 Nov: "Well-known Models such as CLIP, BLIP, Flamingo"
    text = feed.content.decode().replace("\r\n ", "")
    assert "CLIP\\, BLIP\\, Flamingo" in text
    (event,) = [e for e in components(feed.content.decode(), "VEVENT") if "CLIP" in str(e["DESCRIPTION"])]
    assert "CLIP, BLIP, Flamingo" in str(event["DESCRIPTION"])


def test_escaping_of_backslash_semicolon_comma_and_newline():
    assert ical.escape_text("a\\b;c,d\ne\r\nf") == "a\\\\b\\;c\\,d\\ne\\nf"


def test_folding_never_splits_a_utf8_character_and_round_trips():
    line = "DESCRIPTION:" + "Öğrenci şifresi ğüşıöç " * 10
    folded = ical.fold(line)
    physical = folded.split("\r\n")
    assert all(len(p.encode("utf-8")) <= 75 for p in physical)
    assert all(p.startswith(" ") for p in physical[1:])
    assert folded.replace("\r\n ", "") == line


def test_a_zone_with_daylight_saving_gets_its_transitions():
    berlin = ZoneInfo("Europe/Berlin")
    lines = ical.vtimezone(berlin, dt.datetime(2024, 10, 2, tzinfo=berlin), dt.datetime(2025, 1, 1, tzinfo=berlin))
    assert "DTSTART:20241027T030000" in lines
    assert "TZOFFSETFROM:+0200" in lines and "TZOFFSETTO:+0100" in lines


def test_events_of_other_apps_are_included(client, course, monkeypatch):
    module = types.ModuleType("quizzes.calendar")

    def course_events(c):
        assert c == course
        start = dt.datetime(2024, 10, 10, 18, 0, tzinfo=dt.UTC)
        return [{"uid": "quiz-1@quizzes", "summary": "Quiz 1; window", "start": start,
                 "end": start + dt.timedelta(hours=1), "description": "Chapters 1, 2", "url": "/q/1/"}]

    module.course_events = course_events
    monkeypatch.setitem(sys.modules, "quizzes.calendar", module)
    events = components(client.get(feed_url(course)).content.decode(), "VEVENT")
    (quiz,) = [e for e in events if str(e["UID"]) == "quiz-1@quizzes"]
    assert raw(quiz, "DTSTART") == "20241010T210000"  # 18:00 UTC is 21:00 in Istanbul
    assert quiz.decoded("DTSTART") == dt.datetime(2024, 10, 10, 18, 0, tzinfo=dt.UTC)
    assert str(quiz["SUMMARY"]) == "Quiz 1; window"
    assert str(quiz["URL"]) == "http://testserver/q/1/"
    assert len(events) == 15


def test_an_app_whose_events_fail_does_not_break_the_feed(client, course, monkeypatch):
    module = types.ModuleType("projects.calendar")
    module.course_events = lambda c: 1 / 0
    monkeypatch.setitem(sys.modules, "projects.calendar", module)
    response = client.get(feed_url(course))
    assert response.status_code == 200
    assert len(components(response.content.decode(), "VEVENT")) >= 14


def test_schedule_page_shows_the_feed_url_to_members(client_for, student, course):
    response = client_for(student).get(f"/courses/{course.code}/schedule/")
    assert f"http://testserver{feed_url(course)}" in response.content.decode()
    assert f"webcal://testserver{feed_url(course)}" in response.content.decode()


def test_feed_dtstamp_is_now_in_utc(client, course):
    now = timezone.now()
    events = components(client.get(feed_url(course)).content.decode(), "VEVENT")
    stamp = events[0].decoded("DTSTAMP")
    assert abs((stamp - now).total_seconds()) < 60
