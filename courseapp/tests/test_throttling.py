"""Login throttling (django-axes) on every login path, with the message, the unlock and the limits.

Throttling is ON in the whole suite (settings: AXES_ENABLED); the database is rolled back after
each test, so no test inherits another's failures.
"""

import datetime as dt
import re

import pytest
from django.test import Client
from freezegun import freeze_time
from rest_framework.test import APIClient

from courseapp.demo import DEMO_PASSWORD
from courseapp.models import Course, Membership, Role, User

LOGIN_PATHS = ["/login/", "/api/auth/token/", "/admin/login/"]


@pytest.fixture
def limits(settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.LOGIN_FAILURE_LIMIT_PER_IP = 6
    settings.AXES_COOLOFF_TIME = dt.timedelta(minutes=15)
    return settings


def post_login(path: str, username: str, password: str, *, ip: str = "10.0.0.1", client=None):
    client = client or Client()
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=ip)


def logged_in(path: str, response) -> bool:
    if path == "/api/auth/token/":
        return response.status_code == 200 and "token" in response.json()
    return response.status_code == 302  # the login forms redirect on success and re-render on failure


def fail(path: str, username: str, times: int, *, ip: str = "10.0.0.1") -> None:
    for _ in range(times):
        response = post_login(path, username, "wrong-password", ip=ip)
        assert not logged_in(path, response)


@pytest.mark.parametrize("path", LOGIN_PATHS)
def test_username_is_locked_after_the_limit_even_with_the_right_password(limits, path, student, instructor):
    user = instructor if path == "/admin/login/" else student  # the admin site takes staff only
    fail(path, user.username, 3)
    response = post_login(path, user.username, DEMO_PASSWORD)
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 14 * 60
    text = response.content.decode()
    assert "Too many failed logins" in text
    assert re.search(r"Try again after \d\d:\d\d \(in 15 minutes\)", text)


@pytest.mark.parametrize("path", LOGIN_PATHS)
def test_below_the_limit_the_right_password_still_works(limits, path, student, instructor):
    user = instructor if path == "/admin/login/" else student
    fail(path, user.username, 2)
    assert logged_in(path, post_login(path, user.username, DEMO_PASSWORD))


def test_the_api_answers_json_with_when_to_try_again(limits, student):
    fail("/api/auth/token/", student.username, 3)
    response = APIClient().post("/api/auth/token/", {"username": student.username, "password": DEMO_PASSWORD},
                                format="json", REMOTE_ADDR="10.0.0.1")
    assert response.status_code == 429
    body = response.json()
    assert body["detail"].startswith("Too many failed logins")
    assert 14 * 60 < body["retry_after_s"] <= 15 * 60


def test_the_login_page_keeps_its_form_and_says_when(limits, student):
    fail("/login/", student.username, 3)
    response = post_login("/login/", student.username, DEMO_PASSWORD)
    html = response.content.decode()
    assert response.status_code == 429
    assert 'id="lockout"' in html and 'name="password"' in html
    assert "ask your instructor to unlock" in html


def test_failures_on_one_path_count_on_the_others(limits, student):
    fail("/login/", student.username, 2)
    fail("/api/auth/token/", student.username, 1)
    assert post_login("/login/", student.username, DEMO_PASSWORD).status_code == 429


def test_a_locked_username_is_locked_from_every_address(limits, student):
    fail("/login/", student.username, 3, ip="10.0.0.1")
    assert post_login("/login/", student.username, DEMO_PASSWORD, ip="10.9.9.9").status_code == 429


def test_an_address_guessing_across_usernames_is_locked_for_everyone(limits, course):
    students = list(User.objects.filter(memberships__course=course, memberships__role=Role.STUDENT)
                    .order_by("username")[:7])
    for user in students[:6]:  # one failure each: no username reaches its limit of 3
        fail("/api/auth/token/", user.username, 1, ip="10.0.0.66")
    other = students[6]
    assert post_login("/api/auth/token/", other.username, DEMO_PASSWORD, ip="10.0.0.66").status_code == 429
    # The same student from another address is fine.
    assert logged_in("/api/auth/token/", post_login("/api/auth/token/", other.username, DEMO_PASSWORD,
                                                    ip="10.0.0.67"))


def test_the_lock_ends_after_the_cool_off(limits, student):
    with freeze_time("2024-11-13 09:00:00"):
        fail("/login/", student.username, 3)
        assert post_login("/login/", student.username, DEMO_PASSWORD).status_code == 429
    with freeze_time("2024-11-13 09:14:00"):
        assert post_login("/login/", student.username, DEMO_PASSWORD).status_code == 429
    with freeze_time("2024-11-13 09:15:30"):
        assert post_login("/login/", student.username, DEMO_PASSWORD).status_code == 302


def test_tries_during_the_lock_do_not_move_its_end(limits, student):
    with freeze_time("2024-11-13 09:00:00"):
        fail("/login/", student.username, 3)
    with freeze_time("2024-11-13 09:10:00"):
        response = post_login("/login/", student.username, "wrong-again")
        assert response.status_code == 429
        assert "Try again after 12:15" in response.content.decode()  # 09:15 UTC in Istanbul
    with freeze_time("2024-11-13 09:15:30"):
        assert post_login("/login/", student.username, DEMO_PASSWORD).status_code == 302


def test_a_locked_login_is_refused_before_the_password_is_hashed(limits, student, monkeypatch):
    fail("/api/auth/token/", student.username, 3)
    checked = []
    original = User.check_password
    monkeypatch.setattr(User, "check_password", lambda self, raw: checked.append(raw) or original(self, raw))
    assert post_login("/api/auth/token/", student.username, DEMO_PASSWORD).status_code == 429
    assert checked == []


def test_success_clears_the_failures(limits, student):
    fail("/login/", student.username, 2)
    assert post_login("/login/", student.username, DEMO_PASSWORD).status_code == 302
    fail("/login/", student.username, 2)
    assert post_login("/login/", student.username, DEMO_PASSWORD).status_code == 302


def test_logging_into_ones_own_account_does_not_clear_the_addresss_count(limits, course):
    students = list(User.objects.filter(memberships__course=course, memberships__role=Role.STUDENT)
                    .order_by("username")[:8])
    guesser, victims = students[0], students[1:]
    for victim in victims[:5]:
        fail("/api/auth/token/", victim.username, 1, ip="10.0.0.77")
    assert logged_in("/api/auth/token/", post_login("/api/auth/token/", guesser.username, DEMO_PASSWORD,
                                                    ip="10.0.0.77"))
    fail("/api/auth/token/", victims[5].username, 1, ip="10.0.0.77")  # the 6th failure: the address is locked
    assert post_login("/api/auth/token/", victims[6].username, DEMO_PASSWORD, ip="10.0.0.77").status_code == 429


def test_forwarded_address_is_ignored_unless_behind_the_proxy(limits, course, student, other_student, settings):
    third = User.objects.filter(memberships__course=course, memberships__role=Role.STUDENT).order_by("username")[2]
    # A client cannot dodge the address limit by sending X-Real-IP straight to the app...
    settings.LOGIN_FAILURE_LIMIT_PER_IP = 2
    settings.BEHIND_PROXY = False
    for n, user in enumerate([student, other_student]):
        Client().post("/login/", {"username": user.username, "password": "x"}, REMOTE_ADDR="10.0.0.5",
                      HTTP_X_REAL_IP=f"192.0.2.{n}")
    assert post_login("/login/", third.username, DEMO_PASSWORD, ip="10.0.0.5").status_code == 429
    # ...and behind the proxy (which sets X-Real-IP itself) each client counts on its own.
    settings.BEHIND_PROXY = True
    response = Client().post("/login/", {"username": third.username, "password": DEMO_PASSWORD},
                             REMOTE_ADDR="10.0.0.5", HTTP_X_REAL_IP="192.0.2.99")
    assert response.status_code == 302


# --- the instructor unlocks a student from the roster ---------------------------------------------


def test_the_roster_shows_who_is_locked_and_the_instructor_unlocks_them(limits, client_for, instructor, student):
    fail("/login/", student.username, 3)
    roster = client_for(instructor).get("/courses/ceng501-2024f/roster/").content.decode()
    assert "1 locked out by failed logins" in roster
    assert f'data-username="{student.username}"' in roster

    boss = client_for(instructor)
    response = boss.post(f"/courses/ceng501-2024f/roster/{student.username}/unlock/", follow=True)
    assert response.redirect_chain == [("/courses/ceng501-2024f/roster/", 302)]
    roster = response.content.decode()
    assert f"{student.username} can log in again." in roster
    assert "locked out by failed logins" not in roster
    assert post_login("/login/", student.username, DEMO_PASSWORD).status_code == 302


def test_a_ta_sees_the_lock_but_cannot_unlock(limits, client_for, ta, student):
    fail("/login/", student.username, 3)
    roster = client_for(ta).get("/courses/ceng501-2024f/roster/").content.decode()
    assert "locked until" in roster and "Unlock</button>" not in roster
    response = client_for(ta).post(f"/courses/ceng501-2024f/roster/{student.username}/unlock/")
    assert response.status_code == 403
    assert post_login("/login/", student.username, DEMO_PASSWORD).status_code == 429


@pytest.mark.parametrize("who", ["student", "outsider"])
def test_students_and_outsiders_cannot_unlock(limits, client_for, request, student, other_student, who):
    fail("/login/", other_student.username, 3)
    user = request.getfixturevalue(who)
    response = client_for(user).post(f"/courses/ceng501-2024f/roster/{other_student.username}/unlock/")
    assert response.status_code == (403 if who == "student" else 404)
    assert post_login("/login/", other_student.username, DEMO_PASSWORD).status_code == 429


def test_anonymous_unlock_is_sent_to_login(limits, client, student):
    response = client.post(f"/courses/ceng501-2024f/roster/{student.username}/unlock/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_another_courses_instructor_cannot_unlock_this_courses_student(limits, client_for, student):
    other = Course.objects.create(code="other", number="X 1", title="Other", term="t", department="d",
                                  lecture_weekday=0, lecture_start="09:00", lecture_end="10:00",
                                  lecture_room="r", calendar_token="tok-other")
    boss = User.objects.create_user(username="boss", password="x")
    Membership.objects.create(course=other, user=boss, role=Role.INSTRUCTOR)
    fail("/login/", student.username, 3)
    assert client_for(boss).post(f"/courses/other/roster/{student.username}/unlock/").status_code == 404
    assert client_for(boss).post(f"/courses/ceng501-2024f/roster/{student.username}/unlock/").status_code == 404
    assert post_login("/login/", student.username, DEMO_PASSWORD).status_code == 429


def test_unlock_is_post_only(limits, client_for, instructor, student):
    assert client_for(instructor).get(f"/courses/ceng501-2024f/roster/{student.username}/unlock/").status_code == 405


def test_the_schema_documents_the_lockout(client, db):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    responses = schema["paths"]["/api/auth/token/"]["post"]["responses"]
    assert set(responses) >= {"200", "429"}
    locked = schema["components"]["schemas"]["LoginLockedOutProblem"]  # problem details + retry_after_s
    assert {"type", "title", "status", "detail", "retry_after_s"} <= set(locked["properties"])
    assert "application/problem+json" in responses["429"]["content"]
    created = schema["components"]["schemas"]["ApiTokenCreated"]["properties"]
    assert set(created) == {"token", "id", "name", "prefix", "created_at", "last_used_at"}


def test_unlocking_someone_outside_the_course_is_not_found(limits, client_for, instructor, outsider):
    fail("/login/", outsider.username, 3)
    response = client_for(instructor).post(f"/courses/ceng501-2024f/roster/{outsider.username}/unlock/")
    assert response.status_code == 404
    assert post_login("/login/", outsider.username, "x").status_code == 429
