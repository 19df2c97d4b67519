"""API tokens: made with a name and shown once, stored as a digest only, listed, revoked, converted from DRF keys."""

import datetime as dt
import hashlib
import types

import pytest
from django.apps import apps
from django.db import connection
from django.test import Client
from django.utils import timezone
from freezegun import freeze_time
from rest_framework.test import APIClient

from courseapp import tokens
from courseapp.demo import DEMO_PASSWORD
from courseapp.models import ApiToken
from courseapp.tests.openapi import field_messages

pytestmark = pytest.mark.django_db

TOKENS_PAGE = "/account/tokens/"


def by_key(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def obtain(user, **extra):
    return APIClient().post("/api/auth/token/", {"username": user.username, "password": DEMO_PASSWORD, **extra},
                            format="json")


def row_text(token: ApiToken) -> str:
    """Every column of the token's row, as the database holds it."""
    table = connection.ops.quote_name(ApiToken._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} WHERE id = %s", [token.pk])
        return " ".join(str(value) for value in cursor.fetchone())


# --- made once, stored hashed --------------------------------------------------------------------

def test_the_token_endpoint_makes_a_named_token_whose_key_works(course, student):
    response = obtain(student, name="laptop")
    assert response.status_code == 200
    body = response.json()
    key = body["token"]
    assert len(key) == 40 and body["name"] == "laptop" and body["prefix"] == key[:8]
    assert by_key(key).get("/api/courses/").status_code == 200
    listed = by_key(key).get("/api/auth/tokens/").json()["results"]
    assert [(t["name"], t["prefix"]) for t in listed] == [("laptop", key[:8])]
    assert key not in str(listed)  # the list never carries a key


def test_each_call_makes_another_token_and_the_old_keys_keep_working(student):
    first, second = obtain(student).json(), obtain(student).json()
    assert first["token"] != second["token"]
    assert first["name"].startswith("terminal 20")  # default name: "terminal <date time>"
    assert by_key(first["token"]).get("/api/courses/").status_code == 200
    assert by_key(second["token"]).get("/api/courses/").status_code == 200


def test_the_database_holds_no_plain_key(student):
    token, key = tokens.token_create(user=student, name="laptop")
    stored = row_text(token)
    assert key not in stored
    assert hashlib.sha256(key.encode()).hexdigest() in stored and key[:8] in stored


def test_a_bad_name_is_a_400_that_says_what_to_fix(student):
    long = obtain(student, name="x" * 101)
    assert long.status_code == 400 and "at most 100 characters" in field_messages(long, "name")[0]
    control = obtain(student, name="a\nb")
    assert control.status_code == 400 and "control characters" in field_messages(control, "name")[0]
    assert not ApiToken.objects.filter(user=student).exists()


def test_wrong_password_makes_no_token(student):
    response = APIClient().post("/api/auth/token/", {"username": student.username, "password": "nope"})
    assert response.status_code == 400
    assert not ApiToken.objects.exists()


def test_a_locked_out_username_gets_429_and_no_token(settings, student):
    settings.AXES_FAILURE_LIMIT = 2
    for _ in range(2):
        APIClient().post("/api/auth/token/", {"username": student.username, "password": "nope"})
    refused = obtain(student)
    assert refused.status_code == 429 and "Too many failed logins" in refused.json()["detail"]
    assert not ApiToken.objects.exists()


# --- refused ----------------------------------------------------------------------------------

def test_a_revoked_token_is_refused_with_a_token_challenge(student):
    token, key = tokens.token_create(user=student)
    tokens.token_revoke(token=token)
    refused = by_key(key).get("/api/courses/")
    assert refused.status_code == 401 and refused["WWW-Authenticate"] == "Token"
    assert refused.json()["detail"] == "Invalid token."


def test_an_inactive_users_token_is_refused(student):
    _, key = tokens.token_create(user=student)
    student.is_active = False
    student.save(update_fields=["is_active"])
    assert by_key(key).get("/api/courses/").status_code == 401


def test_a_key_that_differs_in_one_character_is_refused(student):
    _, key = tokens.token_create(user=student)
    other = key[:-1] + ("0" if key[-1] != "0" else "1")
    assert by_key(other).get("/api/courses/").status_code == 401


# --- last use -----------------------------------------------------------------------------------

def test_last_use_is_noted_at_most_once_a_minute(student):
    start = timezone.now()
    token, key = tokens.token_create(user=student, now=start)
    assert token.last_used_at is None
    with freeze_time(start + dt.timedelta(seconds=5)):
        by_key(key).get("/api/courses/")
    token.refresh_from_db()
    first = token.last_used_at
    assert first == start + dt.timedelta(seconds=5)
    with freeze_time(start + dt.timedelta(seconds=50)):
        by_key(key).get("/api/courses/")
    token.refresh_from_db()
    assert token.last_used_at == first  # within the minute: not written again
    with freeze_time(start + dt.timedelta(seconds=70)):
        by_key(key).get("/api/courses/")
    token.refresh_from_db()
    assert token.last_used_at == start + dt.timedelta(seconds=70)


def test_a_use_within_the_minute_writes_nothing(student):
    from django.test.utils import CaptureQueriesContext

    _, key = tokens.token_create(user=student)
    client = by_key(key)
    client.get("/api/courses/")
    with CaptureQueriesContext(connection) as ctx:
        client.get("/api/courses/")
    assert not [q for q in ctx.captured_queries if q["sql"].lstrip().upper().startswith("UPDATE")]


# --- list and revoke (API) --------------------------------------------------------------------

def test_revoking_my_token_by_api_stops_it_at_once(student):
    token, key = tokens.token_create(user=student, name="old laptop")
    _, other_key = tokens.token_create(user=student, name="desktop")
    assert by_key(other_key).delete(f"/api/auth/tokens/{token.pk}/").status_code == 204
    assert by_key(key).get("/api/courses/").status_code == 401
    listed = by_key(other_key).get("/api/auth/tokens/").json()["results"]
    assert [t["name"] for t in listed] == ["desktop"]
    assert by_key(other_key).delete(f"/api/auth/tokens/{token.pk}/").status_code == 204  # again: no change


def test_nobody_else_can_list_or_revoke_my_tokens(student, other_student, instructor):
    token, key = tokens.token_create(user=student, name="mine")
    for someone in (other_student, instructor):
        _, their_key = tokens.token_create(user=someone)
        assert by_key(their_key).delete(f"/api/auth/tokens/{token.pk}/").status_code == 404
        assert [t["name"] for t in by_key(their_key).get("/api/auth/tokens/").json()["results"]] != ["mine"]
        assert "mine" not in str(by_key(their_key).get("/api/auth/tokens/").json())
    assert by_key(key).get("/api/courses/").status_code == 200


def test_the_token_list_and_revoke_refuse_anonymous(student):
    token, _ = tokens.token_create(user=student)
    assert APIClient().get("/api/auth/tokens/").status_code == 401
    assert APIClient().delete(f"/api/auth/tokens/{token.pk}/").status_code == 401
    token.refresh_from_db()
    assert token.revoked_at is None


# --- the Tokens page ----------------------------------------------------------------------------

def test_the_page_shows_a_new_key_once_then_only_its_name_and_prefix(student, client_for):
    client = client_for(student)
    made = client.post(TOKENS_PAGE, {"action": "create", "name": "lab machine"})
    assert made.status_code == 200 and made["Cache-Control"] == "no-store"
    token = ApiToken.objects.get(user=student)
    html = made.content.decode()
    key = html.split('id="new-token-key">')[1].split("<")[0]
    assert key[:8] == token.prefix and 'data-copy="new-token-key"' in html
    assert by_key(key).get("/api/courses/").status_code == 200
    again = client.get(TOKENS_PAGE).content.decode()
    assert key not in again and "lab machine" in again and f"{token.prefix}…" in again


def test_the_page_revokes_my_token_but_not_someone_elses(student, other_student, client_for):
    token, key = tokens.token_create(user=student, name="mine")
    assert client_for(other_student).post(TOKENS_PAGE, {"action": "revoke", "token": token.pk}).status_code == 404
    assert client_for(other_student).post(TOKENS_PAGE, {"action": "revoke", "token": "x"}).status_code == 404
    assert by_key(key).get("/api/courses/").status_code == 200
    done = client_for(student).post(TOKENS_PAGE, {"action": "revoke", "token": token.pk}, follow=True)
    assert "was revoked" in done.content.decode()
    assert by_key(key).get("/api/courses/").status_code == 401


def test_the_page_needs_login_and_csrf(student):
    anonymous = Client().get(TOKENS_PAGE)
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(student)
    assert browser.post(TOKENS_PAGE, {"action": "create"}).status_code == 403
    assert not ApiToken.objects.exists()


def test_the_page_refuses_a_bad_name_or_action_with_a_message(student, client_for):
    long = client_for(student).post(TOKENS_PAGE, {"action": "create", "name": "x" * 101})
    assert long.status_code == 400 and "at most 100 characters" in long.content.decode()
    odd = client_for(student).post(TOKENS_PAGE, {"action": "frobnicate"})
    assert odd.status_code == 400 and "Choose to make or revoke" in odd.content.decode()
    assert not ApiToken.objects.exists()


def test_the_project_page_links_to_the_tokens_page_and_shows_no_key(course, student, client_for):
    _, key = tokens.token_create(user=student)
    page = client_for(student).get(f"/courses/{course.code}/projects/").content.decode()
    assert key not in page and f'href="{TOKENS_PAGE}"' in page


# --- converting old DRF tokens ---------------------------------------------------------------

def test_old_plain_drf_keys_are_converted_and_keep_working(student):
    """The migration step, against a table shaped like rest_framework.authtoken's."""
    old_key = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"  # DRF's format: 40 hex characters
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, created timestamp NOT NULL, "
                       "user_id bigint NOT NULL)")
        cursor.execute("INSERT INTO authtoken_token (key, created, user_id) VALUES (%s, %s, %s)",
                       [old_key, "2024-10-01 09:00:00", student.pk])
    migration_step = types.SimpleNamespace(connection=connection)
    tokens.convert_legacy_table(apps, migration_step)
    token = ApiToken.objects.get(user=student)
    assert (token.name, token.prefix, token.created_at.year) == ("converted token", old_key[:8], 2024)
    assert old_key not in row_text(token)
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM authtoken_token")
        assert cursor.fetchone()[0] == 0  # no plain key is left behind
    assert by_key(old_key).get("/api/courses/").status_code == 200
    tokens.convert_legacy_table(apps, migration_step)  # again: nothing to do, nothing doubled
    assert ApiToken.objects.filter(user=student).count() == 1


def test_a_fresh_database_has_nothing_to_convert(student):
    tokens.convert_legacy_table(apps, types.SimpleNamespace(connection=connection))
    assert not ApiToken.objects.exists()


# --- the admin ------------------------------------------------------------------------------------

def test_site_staff_see_tokens_in_the_admin_without_keys_and_can_revoke(client_for, instructor, student):
    token, key = tokens.token_create(user=student, name="student laptop")
    admin = client_for(instructor)
    listing = admin.get("/admin/courseapp/apitoken/").content.decode()
    assert "student laptop" in listing and token.prefix in listing and key not in listing
    assert admin.get("/admin/courseapp/apitoken/add/").status_code == 403
    detail = admin.get(f"/admin/courseapp/apitoken/{token.pk}/change/").content.decode()
    assert key not in detail and token.digest not in detail
    admin.post("/admin/courseapp/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    assert by_key(key).get("/api/courses/").status_code == 401


def test_students_cannot_reach_the_token_admin(client_for, student):
    response = client_for(student).get("/admin/courseapp/apitoken/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


# --- the instructor revokes a student's tokens ---------------------------------------------------

def roster_revoke(client, course, user):
    return client.post(f"/courses/{course.code}/roster/{user.username}/revoke-tokens/", follow=True)


def test_the_instructor_revokes_a_students_tokens_from_the_roster(client_for, course, instructor, student):
    _, first = tokens.token_create(user=student)
    _, second = tokens.token_create(user=student)
    boss = client_for(instructor)
    assert "Revoke 2 API tokens" in boss.get(f"/courses/{course.code}/roster/").content.decode()
    done = roster_revoke(boss, course, student)
    assert "Revoked 2 API tokens of" in done.content.decode()
    assert by_key(first).get("/api/courses/").status_code == 401
    assert by_key(second).get("/api/courses/").status_code == 401


@pytest.mark.parametrize("who", ["ta", "other_student", "outsider"])
def test_only_the_instructor_may_revoke_a_students_tokens(request, client_for, course, student, who):
    _, key = tokens.token_create(user=student)
    response = client_for(request.getfixturevalue(who)).post(
        f"/courses/{course.code}/roster/{student.username}/revoke-tokens/")
    assert response.status_code in (403, 404)
    assert by_key(key).get("/api/courses/").status_code == 200


def test_the_instructor_cannot_revoke_a_tas_tokens(client_for, course, instructor, ta):
    _, key = tokens.token_create(user=ta)
    assert client_for(instructor).post(f"/courses/{course.code}/roster/{ta.username}/revoke-tokens/").status_code == 404
    assert by_key(key).get("/api/courses/").status_code == 200
