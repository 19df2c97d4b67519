"""Demo quizzes for CENG 501: a question bank and two quizzes. Idempotent (by title).

- "Quiz 1" on Deep Learning Fundamentals, linked to the week-1 lecture, closed in
  October 2024, taken by every demo student (deterministic answers), so results,
  statistics and gradebook scores exist. It grades into the gradebook's "Quiz 1" item (chosen explicitly).
- "Quiz 4" on Self-Attention and Transformers, open from an hour before load time
  for a week, with an essay for the TA grading queue, so a demo student can take it.

With `now` (load_demo places the course so that `now` is in week 8), Quiz 4 is not made; instead
the gradebook's first quiz still due after `now` is the open quiz (Self-Attention questions with the
essay, open from the end of the previous quiz's lecture to its due time; a third of the students but
not e2380001 have submitted, so essays wait for the TAs), and the next one is published but upcoming
(Large-Language Models questions).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from courseapp.models import Course, Membership, Role
from grading.models import GradeItem

from . import services
from .models import Question, Quiz
from .selectors import slots_of

FUNDAMENTALS_GIFT = r"""
$CATEGORY: Fundamentals

::Perceptron convergence:: The perceptron learning rule is guaranteed to converge in finitely many steps when the training data are … {=linearly separable#Right: Novikoff's theorem. ~normally distributed ~centred at zero ~of unit variance}

::Sigmoid derivative:: What is the largest value the derivative of the logistic sigmoid takes? {#0.25:0.001####σ'(x) = σ(x)(1 − σ(x)), largest at x = 0.}

::Backpropagation:: The algorithm that computes the gradient of the loss with respect to every weight by applying the chain rule layer by layer is called … {=backpropagation =backprop =back-propagation =%50%chain rule}

::Overfitting remedies:: Which of these reduce overfitting? {~%50%Dropout ~%50%Weight decay (L2 regularisation) ~%-100%Training longer after the validation loss starts rising ~%-100%Adding parameters without more data}

::Capacity:: A model with more capacity always generalises better. {F#More capacity can memorise the training set.#Right: capacity must match the data.}

::Learning rate:: With a learning rate that is too large, gradient descent … {~converges faster to the same minimum =may oscillate or diverge ~always gets stuck in a local minimum ~stops at the first saddle point}
"""

TRANSFORMERS_GIFT = r"""
$CATEGORY: Transformers

::Attention scaling:: In scaled dot-product attention, the scores QKᵀ are divided by … {=the square root of d_k#Keeps the softmax out of saturation. ~d_k ~the sequence length ~the number of heads}

::Head size:: A transformer layer with d_model = 512 and 8 attention heads has a per-head dimension of … {#64}

::Permutation:: Self-attention without positional encodings is permutation-equivariant. {T}

::Decoder-only:: Which of these are decoder-only models? {~%50%GPT-2 ~%50%GPT-3 ~%-100%BERT ~%-100%T5}

::Why attention:: In two or three sentences, explain why transformers replaced RNNs for long sequences. {}
"""

LLM_GIFT = r"""
$CATEGORY: Large-Language Models

::Next-token objective:: GPT-style language models are pre-trained to … {=predict the next token from the ones before it ~reconstruct masked tokens from both sides ~classify whole documents ~translate between languages}

::RAG:: Retrieval-augmented generation adds documents found for the question to the model's input. {T}

::LoRA rank:: LoRA adapts a 4096×4096 weight matrix with rank-8 factors. How many trainable parameters does that add? {#65536}
"""

ESSAY_RUBRIC = ("2 points: parallel over positions (no sequential recurrence) and direct paths between distant "
                "tokens (no vanishing gradients through time). 1 point: one of the two.")


def _bank(course: Course, text: str, titles: list[str]) -> list[Question]:
    existing = {q.title: q for q in Question.objects.filter(course=course, title__in=titles)}
    if len(existing) < len(titles):
        services.questions_import_gift(course=course, text=text, by=None)
        existing = {q.title: q for q in Question.objects.filter(course=course, title__in=titles)}
    return [existing[t] for t in titles]


def _roll(*parts: object) -> float:
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32


def _right_and_wrong(slot) -> tuple[object, object]:
    """A right and a wrong answer to a slot, as a student would send them."""
    q = slot.question
    answers = list(q.answers.all())
    if q.qtype == "single":
        best = max(answers, key=lambda a: a.fraction)
        return best.id, next(a.id for a in answers if a.fraction <= 0)
    if q.qtype == "multi":
        return [a.id for a in answers if a.fraction > 0], [answers[0].id, answers[-1].id]
    if q.qtype == "truefalse":
        return q.correct_bool, not q.correct_bool
    if q.qtype == "numeric":
        return str(answers[0].value.normalize()), str(answers[0].value * 2)
    if q.qtype == "short":
        return answers[0].text, "gradient descent"
    return "Attention looks at all tokens at once.", ""


def _take_quiz_1(quiz: Quiz) -> None:
    students = [m.user for m in Membership.objects.filter(course=quiz.course, role=Role.STUDENT)
                .select_related("user").order_by("user__username")]
    slots = slots_of(quiz)
    for i, student in enumerate(students):
        ability = 0.35 + 0.6 * _roll(student.username, "ability")
        started = quiz.opens_at + dt.timedelta(hours=2 + (i * 3) % 90)
        attempt, _ = services.attempt_start(quiz=quiz, student=student, now=started)
        for n, slot in enumerate(slots, start=1):
            right, wrong = _right_and_wrong(slot)
            value = right if _roll(student.username, slot.question.title) < ability else wrong
            services.answer_save(attempt_id=attempt.id, student=student, course_code=quiz.course.code,
                                 slot_id=slot.id, value=value, seq=n, now=started + dt.timedelta(minutes=n))
        services.attempt_submit(attempt_id=attempt.id, by=student, now=started + dt.timedelta(minutes=12))


def _placed_quizzes(course: Course, *, now: dt.datetime, transformers: list[Question],
                    llm: list[Question]) -> None:
    """The open quiz (due first after `now`) and the upcoming one after it, from the gradebook's items."""
    items = [(i, i.due_at) for i in GradeItem.objects.filter(course=course, name__startswith="Quiz ")
             .order_by("due_at") if i.name[5:].isdigit() and i.due_at is not None]
    later = [(n, i, due) for n, (i, due) in enumerate(items) if due > now]
    for kind, (n, item, due) in zip(("open", "upcoming"), later[:2], strict=False):
        if Quiz.objects.filter(course=course, title=item.name).exists():
            continue
        opens = items[n - 1][1] if n > 0 else due - dt.timedelta(days=7)
        questions, points = (transformers, [2, 2, 1, 3, 2]) if kind == "open" else (llm, [2, 1, 2])
        quiz = services.quiz_create(
            course=course, by=None, title=item.name, grade_item=item,
            description=("Self-Attention and Transformers. 30 minutes once you start; your answers save as you go."
                         if kind == "open" else "Large-Language Models: pre-training, retrieval, fine-tuning."),
            opens_at=opens, closes_at=due, time_limit=dt.timedelta(minutes=30), max_attempts=2,
            grading_method="highest", published=True, shuffle_questions=True, shuffle_choices=True,
            review_after_submit=["score", "answers"], review_after_close=["score", "answers", "correct", "feedback"],
        )
        for question, pts in zip(questions, points, strict=True):
            services.slot_add(quiz=quiz, question=question, by=None, points=Decimal(pts))
        if kind == "open":
            _take_some(quiz, now=now)


def _take_some(quiz: Quiz, *, now: dt.datetime) -> None:
    """Every third student but the first has submitted the open quiz: their essays wait for a TA."""
    students = [m.user for m in Membership.objects.filter(course=quiz.course, role=Role.STUDENT)
                .select_related("user").order_by("user__username")][1::3]
    slots = slots_of(quiz)
    for i, student in enumerate(students):
        started = max(quiz.opens_at, now - dt.timedelta(hours=2 + i)) + dt.timedelta(minutes=1)
        if started >= now:
            continue
        attempt, _ = services.attempt_start(quiz=quiz, student=student, now=started)
        for n, slot in enumerate(slots, start=1):
            right, wrong = _right_and_wrong(slot)
            value = right if _roll(student.username, quiz.title, n) < 0.7 else wrong
            services.answer_save(attempt_id=attempt.id, student=student, course_code=quiz.course.code,
                                 slot_id=slot.id, value=value, seq=n, now=started + dt.timedelta(seconds=20 * n))
        services.attempt_submit(attempt_id=attempt.id, by=student, now=started + dt.timedelta(minutes=3))


@transaction.atomic
def load(*, course: Course, now: dt.datetime | None = None) -> None:
    fundamentals = _bank(course, FUNDAMENTALS_GIFT, [
        "Perceptron convergence", "Sigmoid derivative", "Backpropagation", "Overfitting remedies", "Capacity",
        "Learning rate"])
    transformers = _bank(course, TRANSFORMERS_GIFT, [
        "Attention scaling", "Head size", "Permutation", "Decoder-only", "Why attention"])
    essay = transformers[-1]
    if essay.rubric != ESSAY_RUBRIC:
        essay.rubric = ESSAY_RUBRIC
        essay.default_points = Decimal("2")
        essay.save(update_fields=["rubric", "default_points"])

    week1 = course.lectures.filter(week=1).first()
    week2 = course.lectures.filter(week=2).first()
    if not Quiz.objects.filter(course=course, title="Quiz 1").exists() and week1 is not None:
        quiz = services.quiz_create(
            course=course, by=None, title="Quiz 1",
            grade_item=GradeItem.objects.filter(course=course, name="Quiz 1", quiz__isnull=True).first(),
            description="Deep Learning Fundamentals: perceptrons, gradient descent, backpropagation, "
                        "overfitting and capacity.",
            lecture=week1, opens_at=week1.ends_at,
            closes_at=week2.ends_at if week2 else week1.ends_at + dt.timedelta(days=7),
            time_limit=dt.timedelta(minutes=20), max_attempts=1, published=True, shuffle_choices=True,
            review_after_submit=["score"], review_after_close=["score", "answers", "correct", "feedback"],
        )
        for question, points in zip(fundamentals, [2, 1, 2, 2, 1, 2], strict=True):
            services.slot_add(quiz=quiz, question=question, by=None, points=Decimal(points))
        _take_quiz_1(quiz)

    if now is not None:
        llm = _bank(course, LLM_GIFT, ["Next-token objective", "RAG", "LoRA rank"])
        _placed_quizzes(course, now=now, transformers=transformers, llm=llm)
        return
    if not Quiz.objects.filter(course=course, title="Quiz 4").exists():
        now = timezone.now().replace(second=0, microsecond=0)
        quiz = services.quiz_create(
            course=course, by=None, title="Quiz 4",
            grade_item=GradeItem.objects.filter(course=course, name="Quiz 4", quiz__isnull=True).first(),
            description="Self-Attention and Transformers. 30 minutes once you start; your answers save as you go.",
            lecture=course.lectures.filter(week=5).first(), opens_at=now - dt.timedelta(hours=1),
            closes_at=now + dt.timedelta(days=7), time_limit=dt.timedelta(minutes=30), max_attempts=2,
            grading_method="highest", published=True, shuffle_questions=True, shuffle_choices=True,
            review_after_submit=["score", "answers"], review_after_close=["score", "answers", "correct", "feedback"],
        )
        for question, points in zip(transformers, [2, 2, 1, 3, 2], strict=True):
            services.slot_add(quiz=quiz, question=question, by=None, points=Decimal(points))
