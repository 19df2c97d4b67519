"""Moodle XML: reading an ODTUClass export, importing it all or none, writing the bank back out."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from courseapp.tests.openapi import messages
from quizzes import moodle_xml
from quizzes.models import Question

CODE = "ceng501-2024f"
EXPORT = (Path(__file__).parent / "data" / "odtuclass_export.xml").read_bytes()


def test_an_odtuclass_export_is_read_with_types_categories_points_and_images():
    result = moodle_xml.parse(EXPORT)
    by_name = {q.name: q for q in result.questions}
    assert [q.parsed.qtype for q in result.questions] == [
        "single", "multi", "truefalse", "short", "numeric", "essay", "matching"]
    picture = by_name["ReLU picture"]
    assert picture.parsed.category == "Fundamentals" and picture.default_points == D("2.00")
    assert '<img src="data:image/png;base64,iVBORw0KGgo' in picture.parsed.text
    assert [a.fraction for a in picture.parsed.answers] == [D("1"), D("0")]
    assert picture.parsed.answers[1].feedback == "<p>Sigmoid is smooth.</p>"
    assert [a.fraction for a in by_name["Regularisers"].parsed.answers] == [D("0.5"), D("0.5"), D("-1")]
    chain = by_name["Chain rule"].parsed
    assert chain.category == "Fundamentals/Training" and chain.correct_bool is True
    assert (chain.true_feedback, chain.false_feedback) == ("Right.", "It does.")
    assert by_name["Algorithm"].parsed.text_format == "markdown"
    quarter = by_name["Quarter"].parsed.answers
    assert [(a.value, a.tolerance) for a in quarter] == [(D("0.25"), D("0.001"))]  # "*" (any other) is dropped
    assert by_name["Why attention"].rubric == "Mention the variance of dot products."
    assert [(a.text, a.match) for a in by_name["Match the layers"].parsed.answers] == [
        ("Conv", "local features"), ("Pool", "downsampling")]
    assert result.skipped == ["Question 8 “Cloze” (embedded answers (cloze)): this type is not supported; skipped."]


@pytest.mark.parametrize("data, message", [
    (b"not xml at all", "not readable XML"),
    (b"<questions><question type='essay'/></questions>", "not <quiz>"),
    (b'<?xml version="1.0"?><!DOCTYPE q [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><quiz>&b;</quiz>',
     "DTD or entities"),
])
def test_files_that_are_not_moodle_xml_say_what_to_send(data, message):
    with pytest.raises(moodle_xml.MoodleXmlError, match=message):
        moodle_xml.parse(data)


@pytest.mark.django_db
def test_importing_the_export_creates_every_supported_question_and_names_the_skipped(course, instructor, client_for):
    client = client_for(instructor)
    response = client.post(reverse("quizzes:api-moodle-xml", args=[CODE]),
                           data={"file": SimpleUploadedFile("export.xml", EXPORT, "text/xml")})
    assert response.status_code == 201, response.content[:500]
    body = response.json()
    assert [q["title"] for q in body["created"]] == [
        "ReLU picture", "Regularisers", "Chain rule", "Algorithm", "Quarter", "Why attention", "Match the layers"]
    assert body["skipped"] == ["Question 8 “Cloze” (embedded answers (cloze)): this type is not supported; skipped."]
    essay = Question.objects.get(course=course, title="Why attention")
    assert (essay.default_points, essay.rubric, essay.category) == (D("3.00"), "Mention the variance of dot products.",
                                                                   "Fundamentals/Training")


BROKEN = b"""<quiz>
<question type="truefalse"><name><text>Neither</text></name><questiontext format="html"><text>Is it?</text></questiontext>
<answer fraction="0"><text>true</text></answer><answer fraction="0"><text>false</text></answer></question>
<question type="essay"><name><text>Fine essay</text></name><questiontext format="html"><text>Explain.</text></questiontext></question>
<question type="numerical"><name><text>Bad number</text></name><questiontext format="html"><text>1/4?</text></questiontext>
<answer fraction="100"><text>a quarter</text><tolerance>0</tolerance></answer></question>
<question type="multichoice"><name><text>No right choice</text></name><questiontext format="html"><text>Pick.</text></questiontext>
<single>true</single><answer fraction="0"><text>A</text></answer><answer fraction="0"><text>B</text></answer></question>
</quiz>"""


@pytest.mark.django_db
def test_an_import_with_bad_questions_imports_nothing_and_lists_each_problem(course, instructor, client_for):
    before = Question.objects.count()
    response = client_for(instructor).post(reverse("quizzes:api-moodle-xml", args=[CODE]),
                                           data={"xml": BROKEN.decode()}, content_type="application/json")
    assert response.status_code == 400
    errors = messages(response)
    assert errors == [
        "Question 1 “Neither” (truefalse): neither true nor false earns credit.",
        "Question 3 “Bad number” (numerical): the numeric answer “a quarter” is not a number.",
        "Question 4 “No right choice” (multichoice): No answer earns credit; give the right answer the fraction 1.",
    ]
    assert Question.objects.count() == before  # the fine essay was not imported either


@pytest.mark.django_db
def test_the_bank_page_imports_a_file_and_shows_what_was_skipped(course, instructor, client_for):
    client = client_for(instructor)
    response = client.post(reverse("quizzes:bank-import-xml", args=[CODE]),
                           data={"file": SimpleUploadedFile("export.xml", EXPORT, "text/xml")}, follow=True)
    html = response.content.decode()
    assert "Imported 7 question(s) from export.xml." in html and "“Cloze” (embedded answers (cloze))" in html
    bad = client.post(reverse("quizzes:bank-import-xml", args=[CODE]),
                      data={"file": SimpleUploadedFile("bad.xml", BROKEN, "text/xml")}, follow=True)
    assert "Nothing was imported" in bad.content.decode() and "Bad number" in bad.content.decode()


@pytest.mark.django_db
def test_the_bank_round_trips_through_moodle_xml(course, instructor, client_for):
    client = client_for(instructor)
    client.post(reverse("quizzes:api-moodle-xml", args=[CODE]),
                data={"file": SimpleUploadedFile("export.xml", EXPORT, "text/xml")})
    exported = client.get(reverse("quizzes:api-moodle-xml", args=[CODE]))
    assert exported.status_code == 200 and exported["Content-Type"].startswith("application/xml")
    again = moodle_xml.parse(exported.content)
    originals = {q.title: q for q in Question.objects.filter(course=course).prefetch_related("answers")}
    assert again.skipped == [] and len(again.questions) == len(originals)
    for item in again.questions:
        original = originals[item.name]
        assert (item.parsed.qtype, item.parsed.text, item.parsed.text_format, item.parsed.category) == (
            original.qtype, original.text, original.text_format, original.category)
        assert [(a.text, a.fraction, a.match) for a in item.parsed.answers] == [
            (a.text, a.fraction, a.match) for a in original.answers.all()]
        assert item.default_points == original.default_points


@pytest.mark.django_db
def test_who_may_import_and_export(course, ta, student, client_for):
    url = reverse("quizzes:api-moodle-xml", args=[CODE])
    assert client_for(ta).get(url).status_code == 200
    assert client_for(ta).post(url, data={"xml": EXPORT.decode()}, content_type="application/json").status_code == 403
    assert client_for(student).get(url).status_code == 403
    assert client_for(student).post(reverse("quizzes:bank-import-xml", args=[CODE]),
                                    data={"file": SimpleUploadedFile("e.xml", EXPORT)}).status_code == 403
