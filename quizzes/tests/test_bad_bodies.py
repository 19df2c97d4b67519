"""Bodies that parse as JSON but are not objects, or are nested too deeply, are 400s with what to send
(courseapp/parsers.py), on quizzes' authoring APIs as everywhere else; never a 500."""

from __future__ import annotations

import json

import pytest

NOT_AN_OBJECT = "Send a JSON object with named fields (see /api/docs/), not a"


@pytest.mark.parametrize("path", ["questions/gift/", "questions/moodle-xml/", "questions/", "quizzes/"])
@pytest.mark.parametrize("body, kind", [([None, None], "list"), (3, "single value"), ("x", "single value")])
def test_a_json_value_that_is_not_an_object_is_a_400(client_for, instructor, course, path, body, kind):
    response = client_for(instructor).post(f"/api/courses/{course.code}/{path}", data=json.dumps(body),
                                           content_type="application/json")
    assert response.status_code == 400
    assert response.json()["detail"] == f"{NOT_AN_OBJECT} {kind}."


def test_a_body_nested_thousands_deep_is_a_400(client_for, instructor, course):
    body = '{"text": ' + "[" * 5000 + "]" * 5000 + "}"
    response = client_for(instructor).post(f"/api/courses/{course.code}/questions/gift/", data=body,
                                           content_type="application/json")
    assert response.status_code == 400 and "nested too deeply" in response.json()["detail"]


def test_a_nul_in_gift_text_is_refused_with_where_it_is(client_for, instructor, course):
    response = client_for(instructor).post(f"/api/courses/{course.code}/questions/gift/",
                                           data=json.dumps({"text": "::Q\x00::What? {T}"}),
                                           content_type="application/json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("The GIFT text contains a control character (U+0000) at position 4")


def test_a_nul_in_a_questions_text_or_answer_is_refused(client_for, instructor, course):
    client = client_for(instructor)
    url = f"/api/courses/{course.code}/questions/"
    question = {"type": "short", "text": "Name\x00 it", "answers": [{"text": "x", "fraction": "1"}]}
    response = client.post(url, data=json.dumps(question), content_type="application/json")
    assert response.status_code == 400 and response.json()["detail"] == "text: Null characters are not allowed."
    question.update(text="Name it", answers=[{"text": "x\x00", "fraction": "1"}])
    response = client.post(url, data=json.dumps(question), content_type="application/json")
    assert response.status_code == 400 and "answer 1's text contains a control character (U+0000)" in \
        response.json()["detail"]
