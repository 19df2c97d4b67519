"""Moodle GIFT: reading each question type, refusing what we cannot read, writing it back."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from quizzes import gift

SAMPLE = r"""
// ODTUClass export, CENG 501
$CATEGORY: Fundamentals/Activations

::Q1 ReLU:: Which activation is max(0, x)? {=ReLU#Right. ~Sigmoid#No, that squashes. ~Tanh}

::Q2 Regularisers:: Which of these are regularisers? {
  ~%50%Dropout
  ~%50%Weight decay#Also called L2.
  ~%-100%A larger learning rate
}

::Q3:: Backprop computes gradients with the chain rule. {T#It does use it.#Yes.}

::Q4 pi:: What is pi to two decimals? {#3.14:0.005}

::Q5 range:: Any number from 1 to 5. {#1..5}

::Q6 method:: Name the algorithm that computes gradients in a network. {=backpropagation =backprop =%50%chain rule####Rumelhart et al., 1986.}

::Q7 essay:: Explain why residual connections help very deep networks. {}

::Q8 escapes:: What is 2 \= 1 + 1 in \{math\}? {=yes\: indeed ~no}

Transformers use {~convolution =attention ~recurrence} to mix tokens.
"""


def test_reads_every_supported_type():
    qs = gift.parse(SAMPLE)
    assert [q.qtype for q in qs] == ["single", "multi", "truefalse", "numeric", "numeric", "short", "essay", "single", "single"]
    assert all(q.category == "Fundamentals/Activations" for q in qs)


def test_single_choice_with_feedback():
    q = gift.parse(SAMPLE)[0]
    assert q.title == "Q1 ReLU" and q.text == "Which activation is max(0, x)?"
    assert [(a.text, a.fraction, a.feedback) for a in q.answers] == [
        ("ReLU", D("1"), "Right."), ("Sigmoid", D("0"), "No, that squashes."), ("Tanh", D("0"), "")]


def test_multiple_choice_weights_including_negative():
    q = gift.parse(SAMPLE)[1]
    assert [a.fraction for a in q.answers] == [D("0.5"), D("0.5"), D("-1")]
    assert q.answers[1].feedback == "Also called L2."


def test_true_false_feedback_order_is_wrong_then_right():
    q = gift.parse(SAMPLE)[2]
    assert q.correct_bool is True
    assert q.false_feedback == "It does use it."  # shown to a student who answers false (wrong)
    assert q.true_feedback == "Yes."


def test_numeric_tolerance_and_range():
    pi, rng = gift.parse(SAMPLE)[3:5]
    assert (pi.answers[0].value, pi.answers[0].tolerance) == (D("3.14"), D("0.005"))
    assert (rng.answers[0].value, rng.answers[0].tolerance) == (D("3"), D("2"))


def test_numeric_with_several_answers_and_partial_credit():
    q = gift.parse("What is 2+2? {#=4:0 =%50%4:1}")[0]
    assert [(a.value, a.tolerance, a.fraction) for a in q.answers] == [(D("4"), D("0"), D("1")), (D("4"), D("1"), D("0.5"))]


def test_short_answer_alternatives_and_general_feedback():
    q = gift.parse(SAMPLE)[5]
    assert [(a.text, a.fraction) for a in q.answers] == [("backpropagation", D("1")), ("backprop", D("1")), ("chain rule", D("0.5"))]
    assert q.general_feedback == "Rumelhart et al., 1986."


def test_escaped_specials_are_literal_text():
    q = gift.parse(SAMPLE)[7]
    assert q.text == "What is 2 = 1 + 1 in {math}?"
    assert q.answers[0].text == "yes: indeed"


def test_missing_word_form_keeps_text_after_the_answers():
    q = gift.parse(SAMPLE)[8]
    assert q.text == "Transformers use _____ to mix tokens."
    assert q.answers[1].fraction == D("1")


def test_matching_questions_are_read_with_distractors_and_written_back():
    (q,) = gift.parse("// c\n\n::M:: Match the layers {=Conv -> local features =Pool -> downsampling = -> sorting}")
    assert q.qtype == "matching"
    assert [(a.text, a.match, a.fraction) for a in q.answers] == [
        ("Conv", "local features", D("1")), ("Pool", "downsampling", D("1")), ("", "sorting", D("0"))]
    assert [(a.text, a.match) for a in gift.parse(gift.dump([q]))[0].answers] == [(a.text, a.match) for a in q.answers]
    with pytest.raises(gift.GiftError, match=r"Line 1: in a matching question write each pair as =item -> partner"):
        gift.parse("::M:: Match {=a -> b ~c}")


def test_missing_answer_block_says_what_to_add():
    with pytest.raises(gift.GiftError, match=r"Line 1: no answer block"):
        gift.parse("Just a sentence.")


def test_unclosed_block_is_refused():
    with pytest.raises(gift.GiftError, match="not closed"):
        gift.parse("Q? {=a ~b")


def test_round_trip_keeps_every_question():
    first = gift.parse(SAMPLE)
    again = gift.parse(gift.dump(first))
    assert len(again) == len(first)
    for a, b in zip(first, again, strict=True):
        assert (a.title, a.text, a.qtype, a.correct_bool, a.true_feedback, a.false_feedback, a.general_feedback,
                a.category) == (b.title, b.text, b.qtype, b.correct_bool, b.true_feedback, b.false_feedback,
                                b.general_feedback, b.category)
        assert [(x.text if a.qtype != "numeric" else "", x.fraction, x.feedback, x.value, x.tolerance) for x in a.answers] == \
               [(y.text if a.qtype != "numeric" else "", y.fraction, y.feedback, y.value, y.tolerance) for y in b.answers]


# --- Moodle's [html]/[markdown] and category paths ------------------------------------------------

MOODLE_EXPORT = r"""
// question: 4021  name: Vanishing
$CATEGORY: $course$/top/Default for CENG501-2024F/Fundamentals/Gradients

::Vanishing::[html]<p>Which activation <strong>saturates</strong>?<script>alert(1)</script></p>{
	=<p>Sigmoid</p>
	~<p>ReLU</p>
}

::Markdown::[markdown]Is **ReLU** *piecewise* linear?{TRUE}
"""


def test_html_and_markdown_questions_keep_their_format_and_moodle_categories_map_to_the_bank():
    vanishing, md = gift.parse(MOODLE_EXPORT)
    assert vanishing.text_format == "html" and vanishing.text.startswith("<p>Which activation <strong>")
    assert vanishing.category == "Fundamentals/Gradients"
    assert md.text_format == "markdown" and md.qtype == "truefalse"
    again = gift.parse(gift.dump([vanishing, md]))
    assert [(q.text_format, q.text) for q in again] == [(q.text_format, q.text) for q in (vanishing, md)]


@pytest.mark.parametrize("path, folder", [
    ("$course$/top/Default for CENG501/Backprop", "Backprop"),
    ("$system$/top/Shared/Maths", "Shared/Maths"),
    ("$course$/top", ""),
    ("$cat1$/top/Default for X", ""),
    ("Fundamentals/Activations", "Fundamentals/Activations"),
    (" Fundamentals // Activations ", "Fundamentals/Activations"),
])
def test_bank_category(path, folder):
    assert gift.bank_category(path) == folder


@pytest.mark.django_db
def test_imported_html_is_shown_sanitised_on_the_taking_page(course, student, client_for):
    from django.urls import reverse

    from quizzes import services

    from . import factories as f

    created = services.questions_import_gift(course=course, text=MOODLE_EXPORT, by=None)
    quiz = f.quiz(course, questions=created, title="Imported")
    client = client_for(student)
    attempt = client.post(reverse("quizzes:api-attempts", args=[course.code, quiz.id])).json()
    html = client.get(reverse("quizzes:attempt", args=[course.code, attempt["id"]])).content.decode()
    assert "<p>Which activation <strong>saturates</strong>?</p>" in html
    assert "alert(1)" not in html and "&lt;p&gt;" not in html
    assert "Is <strong>ReLU</strong> <em>piecewise</em> linear?" in html
