"""Launches from the fake platform: per role, and every way a launch can be bad."""

import logging

from django.test import Client

from courseapp.models import Membership, Role, User
from lti.models import Identity, UsedNonce

from .platform import CLIENT_ID, ISSUER, Person


def test_login_first_answers_with_the_cookie_check_page_that_offers_a_new_window(registered, fake, people):
    client = Client()
    response = client.get("/lti/login/", {"iss": ISSUER, "login_hint": "x", "client_id": CLIENT_ID,
                                          "target_link_uri": "https://tool.test/lti/launch/"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Open the course site in a new window" in html and "lti1p3_new_window" in html
    assert "X-Frame-Options" not in response  # shown inside Moodle's iframe


def test_login_redirects_to_the_platform_with_state_and_nonce(registered, fake, people):
    response = fake.login(Client(), person=people["student"])
    assert response.status_code == 302
    assert response["Location"].startswith(ISSUER + "/mod/lti/auth.php?")
    assert "nonce=" in response["Location"] and "state=state-" in response["Location"]


def test_state_cookie_is_samesite_none_and_secure_under_https(registered, fake, people):
    response = fake.login(Client(), person=people["student"], secure=True)
    state_cookies = [c for name, c in response.cookies.items() if name.startswith("lti1p3-state-")]
    assert state_cookies and state_cookies[0]["samesite"] == "None" and state_cookies[0]["secure"]
    session_cookie = response.cookies["lti1p3-session-id"]
    assert session_cookie["samesite"] == "None" and session_cookie["secure"]


def test_https_launch_in_a_frame_works_end_to_end(registered, fake, people, course):
    response, _, _ = fake.launch(Client(), people["student"], secure=True)
    assert response.status_code == 302 and response["Location"] == f"/courses/{course.code}/"


def test_login_from_unknown_platform_is_refused_with_a_page_and_a_log_line(registered, fake, people, caplog):
    with caplog.at_level(logging.WARNING, logger="lti.views"):
        response = fake.login(Client(), person=people["student"], client_id="not-registered")
    assert response.status_code == 403
    assert "does not know the platform" in response.content.decode()
    assert "lti launch refused (unknown_platform)" in caplog.text


def test_instructor_launch_is_a_login_with_the_instructor_role(registered, fake, people, course, instructor):
    client = Client()
    response, _, _ = fake.launch(client, people["instructor"])
    assert response.status_code == 302 and response["Location"] == f"/courses/{course.code}/"
    user = User.objects.get(lti_identities__sub="moodle-u-2")
    assert Membership.objects.get(course=course, user=user).role == Role.INSTRUCTOR
    assert client.get(f"/courses/{course.code}/lti/").status_code == 200  # signed in, no password


def test_ta_launch_makes_a_teaching_assistant(registered, fake, people, course):
    response, _, _ = fake.launch(Client(), people["ta"])
    assert response.status_code == 302
    user = User.objects.get(lti_identities__sub="moodle-u-3")
    assert Membership.objects.get(course=course, user=user).role == Role.TA
    assert not user.has_usable_password()


def test_learner_launch_lands_on_the_target_page_as_a_student(registered, fake, people, course):
    client = Client()
    target = f"https://tool.test/courses/{course.code}/schedule/"
    response, _, _ = fake.launch(client, people["newcomer"], target_link_uri=target)
    assert response["Location"] == f"/courses/{course.code}/schedule/"
    user = User.objects.get(lti_identities__sub="moodle-u-99")
    assert Membership.objects.get(course=course, user=user).role == Role.STUDENT
    assert user.student_number == "2999999"
    assert client.get(f"/courses/{course.code}/schedule/").status_code == 200
    # a student may not manage LTI
    assert client.get(f"/courses/{course.code}/lti/").status_code == 403


def test_target_outside_the_course_lands_on_the_course_page(registered, fake, people, course):
    response, _, _ = fake.launch(Client(), people["newcomer"], target_link_uri="https://evil.test/admin/")
    assert response["Location"] == f"/courses/{course.code}/"


def test_a_role_with_no_place_in_the_course_is_refused(registered, fake, people):
    person = Person("moodle-admin", "Site", "Admin", "admin@metu.edu.tr", role="admin")
    response, _, _ = fake.launch(Client(), person)
    assert response.status_code == 403
    assert "has no place in this course" in response.content.decode()
    assert not Identity.objects.filter(sub="moodle-admin").exists()


def test_replayed_launch_is_refused(registered, fake, people, caplog):
    client = Client()
    response, token, state = fake.launch(client, people["newcomer"])
    assert response.status_code == 302
    with caplog.at_level(logging.WARNING, logger="lti.views"):
        again = client.post("/lti/launch/", {"id_token": token, "state": state})
    assert again.status_code == 400
    assert "already used once" in again.content.decode()
    assert "lti launch refused (replayed)" in caplog.text
    assert UsedNonce.objects.count() == 1


def test_replay_from_another_browser_is_refused(registered, fake, people):
    response, token, state = fake.launch(Client(), people["newcomer"])
    assert response.status_code == 302
    stolen = Client().post("/lti/launch/", {"id_token": token, "state": state})
    assert stolen.status_code == 400
    assert "already used once" in stolen.content.decode()


def test_under_https_a_launch_from_another_browser_is_not_matched_to_any_login(registered, fake, people):
    login = fake.login(Client(), person=people["newcomer"], secure=True)
    state = login["Location"].split("state=")[1].split("&")[0]
    nonce = login["Location"].split("nonce=")[1].split("&")[0]
    token = fake.sign(fake.claims(people["newcomer"], nonce=nonce))
    other = Client().post("/lti/launch/", {"id_token": token, "state": state}, secure=True)
    assert other.status_code == 400
    html = other.content.decode()
    assert "could not be matched to the sign-in" in html and 'id="lti-new-window"' in html


def test_expired_launch_is_refused(registered, fake, people):
    response, _, _ = fake.launch(Client(), people["newcomer"], exp_in=-120)
    assert response.status_code == 400
    assert "has expired" in response.content.decode()
    assert not Identity.objects.filter(sub="moodle-u-99").exists()


def test_wrong_audience_is_refused(registered, fake, people):
    response, _, _ = fake.launch(Client(), people["newcomer"], aud="some-other-tool")
    assert response.status_code == 403
    assert "does not know the platform" in response.content.decode()


def test_foreign_signature_is_refused(registered, fake, people):
    from .platform import new_key

    _, foreign_pem = new_key("platform-key-1")  # same kid, another key
    response, _, _ = fake.launch(Client(), people["newcomer"], sign_with=foreign_pem)
    assert response.status_code == 400
    assert "not signed by the registered platform" in response.content.decode()


def test_unknown_kid_refetches_the_keyset_once_then_refuses(registered, fake, people):
    from .platform import new_key

    fake.launch(Client(), people["student"])  # caches the keyset
    assert fake.jwks_requests == 1
    _, foreign_pem = new_key("attacker")
    response, _, _ = fake.launch(Client(), people["newcomer"], sign_with=foreign_pem, kid="attacker")
    assert response.status_code == 400
    assert "not signed by the registered platform" in response.content.decode()
    assert fake.jwks_requests == 2


def test_platform_keys_are_cached_and_a_rotated_platform_key_is_picked_up(registered, fake, people):
    for person in ("student", "student2"):
        assert fake.launch(Client(), people[person])[0].status_code == 302
    assert fake.jwks_requests == 1  # cached
    fake.rotate_key()
    assert fake.launch(Client(), people["newcomer"])[0].status_code == 302
    assert fake.jwks_requests == 2


def test_unknown_deployment_is_refused(registered, fake, people):
    response, _, _ = fake.launch(Client(), people["newcomer"], deployment_id="77")
    assert response.status_code == 403
    assert "not this deployment" in response.content.decode()


def test_garbage_launches_get_a_page_not_a_500(registered, fake, people):
    client = Client()
    login = fake.login(client, person=people["newcomer"])
    state = login["Location"].split("state=")[1].split("&")[0]
    for token in ("not-a-jwt", "a.b.c", ""):
        response = client.post("/lti/launch/", {"id_token": token, "state": state})
        assert response.status_code in (400, 403), token
        assert "refused" in response.content.decode() or "could not" in response.content.decode()
    assert client.post("/lti/launch/", {}).status_code == 400
    assert client.get("/lti/launch/").status_code == 405
    assert Client().get("/lti/login/").status_code == 400


def test_existing_accounts_are_matched_only_when_the_instructor_allows(registered, fake, people, course):
    existing = User.objects.get(student_number=people["student"].student_number)
    fake.launch(Client(), people["student"])
    stranger = User.objects.get(lti_identities__sub="moodle-u-10")
    assert stranger != existing and stranger.student_number is None  # the number belongs to someone else
    registered.match_by_student_number = True
    registered.save()
    fake.launch(Client(), people["student2"])
    matched = User.objects.get(student_number=people["student2"].student_number)
    assert Identity.objects.get(sub="moodle-u-11").user == matched
    assert Membership.objects.filter(course=course, user=matched).count() == 1


def test_matching_by_email(registered, fake, people):
    registered.match_by_email = True
    registered.save()
    existing = User.objects.get(email=people["student"].email)
    fake.launch(Client(), people["student"])
    assert Identity.objects.get(sub="moodle-u-10").user == existing


def test_an_instructor_switched_to_student_in_moodle_stays_instructor(registered, fake, people, course, instructor):
    registered.match_by_email = True
    registered.save()
    person = Person("moodle-u-2", "Sinan", "Kalkan", instructor.email, role="student")
    assert fake.launch(Client(), person)[0].status_code == 302
    assert Membership.objects.get(course=course, user=instructor).role == Role.INSTRUCTOR


def test_a_dropped_student_who_launches_is_enrolled_again(registered, fake, people, course):
    registered.match_by_student_number = True
    registered.save()
    user = User.objects.get(student_number=people["student"].student_number)
    Membership.objects.filter(course=course, user=user).update(is_active=False)
    fake.launch(Client(), people["student"])
    assert Membership.objects.get(course=course, user=user).is_active


def test_launched_session_may_be_framed_by_the_platform_only(registered, fake, people, course, student, client_for):
    client = Client()
    fake.launch(client, people["newcomer"])
    page = client.get(f"/courses/{course.code}/")
    policy = dict(d.strip().split(" ", 1) for d in page["Content-Security-Policy"].split(";"))
    assert policy["frame-ancestors"] == f"'self' {ISSUER}"
    assert policy["script-src"] == "'self'"  # the rest of the site's policy still holds
    assert "X-Frame-Options" not in page
    plain = client_for(student).get(f"/courses/{course.code}/")
    assert plain["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in plain["Content-Security-Policy"]


def test_a_signed_launch_with_malformed_claims_gets_a_page_not_a_500(registered, fake, people, course):
    client = Client()
    login = fake.login(client, person=people["newcomer"])
    nonce = login["Location"].split("nonce=")[1].split("&")[0]
    state = login["Location"].split("state=")[1].split("&")[0]
    claims = fake.claims(people["newcomer"], nonce=nonce, custom={"target": "x"})
    claims["https://purl.imsglobal.org/spec/lti/claim/context"] = "not an object"
    claims["https://purl.imsglobal.org/spec/lti/claim/custom"] = ["nor", "this"]
    claims["https://purl.imsglobal.org/spec/lti/claim/lis"] = 7
    claims["https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"] = "broken"
    response = client.post("/lti/launch/", {"id_token": fake.sign(claims), "state": state})
    assert response.status_code == 302 and response["Location"] == f"/courses/{course.code}/"
    login = fake.login(client, person=people["student"])
    nonce = login["Location"].split("nonce=")[1].split("&")[0]
    state = login["Location"].split("state=")[1].split("&")[0]
    claims = fake.claims(people["student"], nonce=nonce)
    claims["https://purl.imsglobal.org/spec/lti/claim/roles"] = "Learner"  # a string, not a list
    response = client.post("/lti/launch/", {"id_token": fake.sign(claims), "state": state})
    assert response.status_code in (400, 403)
