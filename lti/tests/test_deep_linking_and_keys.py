"""Deep linking (the instructor places a quiz, a project part or the grades page) and the tool's keys."""

import datetime as dt

from django.core.management import call_command
from django.test import Client

from lti import keys
from lti.models import KeyState, ToolKey
from quizzes.models import Quiz

from .platform import CLIENT_ID, DEPLOYMENT_ID, ISSUER


def _quiz(course) -> Quiz:
    now = dt.datetime.now(dt.UTC)
    return Quiz.objects.create(course=course, title="Quiz 3: backpropagation", opens_at=now,
                               closes_at=now + dt.timedelta(days=1), published=True)


def test_instructor_places_a_quiz_and_the_grades_page_and_the_platform_verifies_the_answer(
        registered, fake, people, course):
    quiz = _quiz(course)
    client = Client()
    response, _, _ = fake.launch(client, people["instructor"], message_type="LtiDeepLinkingRequest")
    assert response.status_code == 302 and response["Location"] == "/lti/deep-link/"
    page = client.get("/lti/deep-link/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Quiz 3: backpropagation" in html and "Grades page" in html
    answer = client.post("/lti/deep-link/", {"choice": [f"quiz-{quiz.pk}", "grades"]})
    assert answer.status_code == 200
    claims = fake.verify_deep_link_response(answer.content.decode())
    assert claims["iss"] == CLIENT_ID and claims["aud"] == [ISSUER]
    assert claims["https://purl.imsglobal.org/spec/lti/claim/message_type"] == "LtiDeepLinkingResponse"
    assert claims["https://purl.imsglobal.org/spec/lti/claim/deployment_id"] == DEPLOYMENT_ID
    assert claims["https://purl.imsglobal.org/spec/lti-dl/claim/data"] == "moodle-dl-data-77"
    items = claims["https://purl.imsglobal.org/spec/lti-dl/claim/content_items"]
    items.sort(key=lambda i: i["title"] != "Quiz 3: backpropagation")  # the page's order: grades first
    assert [i["title"] for i in items] == ["Quiz 3: backpropagation", f"{course.number} grades"]
    assert all(i["type"] == "ltiResourceLink" and i["url"] == "http://testserver/lti/launch/" for i in items)
    assert items[0]["custom"] == {"target": f"/courses/{course.code}/quizzes/{quiz.pk}/"}
    # the placed activity, launched by a student, opens the quiz; the grades page resolves to theirs
    student = Client()
    launched, _, _ = fake.launch(student, people["newcomer"], custom=items[0]["custom"])
    assert launched["Location"] == f"/courses/{course.code}/quizzes/{quiz.pk}/"
    assert student.get(launched["Location"]).status_code == 200
    grades, _, _ = fake.launch(Client(), people["student2"], custom=items[1]["custom"])
    assert grades["Location"] == f"/courses/{course.code}/grades/mine/"


def test_deep_linking_needs_a_choice(registered, fake, people, course):
    client = Client()
    fake.launch(client, people["instructor"], message_type="LtiDeepLinkingRequest")
    response = client.post("/lti/deep-link/", {})
    assert response.status_code == 400 and "Pick at least one" in response.content.decode()


def test_a_student_cannot_deep_link(registered, fake, people, course):
    client = Client()
    response, _, _ = fake.launch(client, people["newcomer"], message_type="LtiDeepLinkingRequest")
    assert response.status_code == 403
    assert client.get("/lti/deep-link/").status_code == 400  # no deep-linking launch in this session


def test_jwks_publishes_the_current_key_and_rotation_keeps_the_previous_one(db):
    first = keys.current_key()
    assert Client().get("/lti/jwks.json").json() == {"keys": [first.public_jwk]}
    call_command("lti_rotate_key")
    second = keys.current_key()
    published = {k["kid"] for k in Client().get("/lti/jwks.json").json()["keys"]}
    assert second.kid != first.kid and published == {first.kid, second.kid}
    keys.key_rotate()
    published = {k["kid"] for k in Client().get("/lti/jwks.json").json()["keys"]}
    assert first.kid not in published and second.kid in published and len(published) == 2
    assert ToolKey.objects.get(kid=first.kid).state == KeyState.RETIRED
    assert all("d" not in k for k in Client().get("/lti/jwks.json").json()["keys"])  # no private parts


def test_after_rotation_the_tool_signs_with_the_new_kid_and_the_platform_still_accepts(
        registered, fake, people, course):
    _quiz(course)
    old = keys.current_key().kid
    new = keys.key_rotate().kid
    fake.tool_jwks = keys.jwks()  # the platform refetches our keyset
    client = Client()
    fake.launch(client, people["instructor"], message_type="LtiDeepLinkingRequest")
    answer = client.post("/lti/deep-link/", {"choice": ["grades"]})
    import jwt

    token = answer.content.decode().split('name="JWT" value="')[1].split('"')[0]
    assert jwt.get_unverified_header(token)["kid"] == new != old
    assert fake.verify_deep_link_response(answer.content.decode())["iss"] == CLIENT_ID
