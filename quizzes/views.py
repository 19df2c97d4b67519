"""Quiz pages. Thin: check access, parse a form, call one service or selector, render."""

from __future__ import annotations

import re
import secrets

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from courseapp.request_types import SignedInHttpRequest

from . import access, bank_import, editor, gift, selectors, services
from . import calculations as calc
from .forms import AddSlotForm, GiftImportForm, GradeResponseForm, QuestionEditForm, QuizForm, preview_answers
from .models import AttemptState, KeyChange, Question, QuestionType, TextFormat

# How often an open taking page asks for the versions of its answers (another device's change shows within 5 s).
POLL_MS = 3000


def _ctx(course, role, **extra) -> dict:
    return {"course": course, "role": role, "is_staff": role in access.STAFF,
            "is_instructor": role == "instructor", **extra}


@login_required
def quiz_list(request: SignedInHttpRequest, code: str) -> HttpResponse:
    course, role = access.access_quizzes(request.user, code)
    staff = role in access.STAFF
    quizzes = list(selectors.quizzes_for(course=course, staff=staff))
    return render(request, "quizzes/quiz_list.html", _ctx(course, role, quizzes=quizzes, now=timezone.now()))


@login_required
def quiz_detail(request: SignedInHttpRequest, code: str, quiz_id: int) -> HttpResponse:
    quiz, role = access.access_quiz(request.user, code, quiz_id)
    staff = role in access.STAFF
    if request.method == "POST":
        quiz = access.access_quiz_as_instructor(request.user, code, quiz_id)
        try:
            if "remove_slot" in request.POST:
                slot = get_object_or_404(quiz.slots, pk=request.POST["remove_slot"])
                services.slot_remove(slot=slot, by=request.user)
            else:
                form = AddSlotForm(request.POST)
                if not form.is_valid():
                    raise ValidationError("Choose a question and, optionally, its points.")
                question = get_object_or_404(Question, pk=form.cleaned_data["question"], course=quiz.course)
                services.slot_add(quiz=quiz, question=question, by=request.user, points=form.cleaned_data["points"])
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        return redirect("quizzes:detail", code, quiz.id)
    now = timezone.now()
    context = _ctx(quiz.course, role, quiz=quiz, now=now)
    if staff:
        context.update(
            slots=selectors.slots_of(quiz), results=selectors.quiz_results(quiz=quiz),
            queue=selectors.grading_queue(quiz=quiz),
            bank=selectors.bank(course=quiz.course).exclude(slots__quiz=quiz),
        )
    else:
        attempts = selectors.attempts_of(quiz=quiz, student=request.user)
        context.update(
            attempts=[selectors.attempt_summary(a, parts=selectors.student_parts(quiz=quiz, attempt=a, now=now))
                      for a in attempts],
            open_attempt=next((a for a in attempts if a.state == AttemptState.IN_PROGRESS), None),
            attempts_left=(quiz.max_attempts - len(attempts)) if quiz.max_attempts else None,
            is_open=quiz.opens_at <= now < quiz.closes_at,
        )
    return render(request, "quizzes/quiz_detail.html", context)


@login_required
def quiz_questions(request: SignedInHttpRequest, code: str, quiz_id: int) -> HttpResponse:
    """Arrange a quiz's questions (instructor): move one up or down, or remove it."""
    quiz = access.access_quiz_as_instructor(request.user, code, quiz_id)
    if request.method == "POST":
        order = list(quiz.slots.order_by("position", "id").values_list("id", flat=True))
        try:
            if "remove" in request.POST:
                slot = get_object_or_404(quiz.slots, pk=request.POST["remove"])
                services.slot_remove(slot=slot, by=request.user)
                messages.success(request, "Removed the question from the quiz.")
            else:
                slot_id, direction = request.POST.get("move", ""), request.POST.get("direction")
                if not slot_id.isdigit() or int(slot_id) not in order or direction not in ("up", "down"):
                    raise ValidationError("That question is no longer in this quiz; reload the page.")
                services.slots_reorder(quiz=quiz, by=request.user,
                                       order=calc.moved(order, int(slot_id), -1 if direction == "up" else 1))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        return redirect(reverse("quizzes:questions", args=[code, quiz.id]) + f"#slot-{request.POST.get('move', '')}")
    role = access.role_in(request.user, quiz.course)
    started = quiz.attempts.count()
    return render(request, "quizzes/quiz_questions.html",
                  _ctx(quiz.course, role, quiz=quiz, slots=selectors.slots_of(quiz), started=started))


@login_required
def quiz_preview(request: SignedInHttpRequest, code: str, quiz_id: int) -> HttpResponse:
    """Staff try the quiz as a student would, in memory: no attempt is created and nothing reaches the gradebook.

    GET shows the questions (a new shuffle each time, unless ?seed= is given);
    POST grades the answers given with the same seed and shows score, right answers and feedback.
    """
    quiz, role = access.access_quiz_as_staff(request.user, code, quiz_id)
    seed = request.POST.get("seed") or request.GET.get("seed") or secrets.token_hex(8)
    if not re.fullmatch(r"[0-9a-f]{1,32}", seed):
        seed = secrets.token_hex(8)
    payload = selectors.preview_payload(quiz=quiz, seed=seed)
    if request.method == "POST":
        payload = selectors.preview_payload(quiz=quiz, seed=seed, answers=preview_answers(request.POST, payload["layout"]))
    return render(request, "quizzes/preview.html",
                  _ctx(quiz.course, role, quiz=quiz, payload=payload, checked=request.method == "POST"))


@login_required
def quiz_edit(request: SignedInHttpRequest, code: str, quiz_id: int | None = None) -> HttpResponse:
    if quiz_id is None:
        course = access.access_bank(request.user, code, edit=True)
        quiz = None
    else:
        quiz = access.access_quiz_as_instructor(request.user, code, quiz_id)
        course = quiz.course
    initial = None
    if quiz is not None:
        initial = {name: getattr(quiz, name) for name in services.QUIZ_FIELDS if name != "time_limit"}
        initial["opens_at"] = timezone.localtime(quiz.opens_at)
        initial["closes_at"] = timezone.localtime(quiz.closes_at)
        initial["time_limit_minutes"] = int(quiz.time_limit.total_seconds() // 60) if quiz.time_limit else None
    form = QuizForm(request.POST or None, course=course, initial=initial, creating=quiz is None)
    if request.method == "POST" and form.is_valid():
        try:
            if quiz is None:
                fields = form.to_fields()
                existing = selectors.unlinked_quiz_item(course=course, title=fields["title"]) \
                    if form.wants_existing_item() else None
                quiz = services.quiz_create(course=course, by=request.user, grade_item=existing, **fields)
                messages.success(request, f"Created “{quiz.title}” and its gradebook item. Now add questions.")
            else:
                quiz = services.quiz_update(quiz=quiz, by=request.user, **form.to_fields())
                messages.success(request, "Saved.")
            return redirect("quizzes:detail", code, quiz.id)
        except ValidationError as exc:
            form.add_error(None, " ".join(exc.messages))
    role = access.role_in(request.user, course)
    return render(request, "quizzes/quiz_form.html", _ctx(course, role, form=form, quiz=quiz))


@login_required
def bank(request: SignedInHttpRequest, code: str) -> HttpResponse:
    course = access.access_bank(request.user, code, edit=request.method == "POST")
    role = access.role_in(request.user, course)
    form = GiftImportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            created = services.questions_import_gift(
                course=course, text=form.cleaned_data["text"], by=request.user, category=form.cleaned_data["category"]
            )
            messages.success(request, f"Imported {len(created)} question(s).")
            return redirect("quizzes:bank", code)
        except ValidationError as exc:
            form.add_error("text", " ".join(exc.messages))
    pending = KeyChange.objects.filter(question__course=course, regraded_at__isnull=True).select_related("question")
    return render(request, "quizzes/bank.html", _ctx(course, role, questions=selectors.bank(course=course),
                                                     form=form, pending_regrades=pending))


@login_required
def bank_export(request: SignedInHttpRequest, code: str) -> HttpResponse:
    course = access.access_bank(request.user, code, edit=False)
    text = gift.dump([selectors.as_parsed(q) for q in selectors.bank(course=course)])
    response = HttpResponse(text, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{course.code}-questions.gift.txt"'
    return response


@login_required
def bank_export_xml(request: SignedInHttpRequest, code: str) -> HttpResponse:
    course = access.access_bank(request.user, code, edit=False)
    response = HttpResponse(bank_import.bank_as_moodle_xml(course=course), content_type="application/xml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{course.code}-questions.moodle.xml"'
    return response


@login_required
@require_POST
def bank_import_xml(request: SignedInHttpRequest, code: str) -> HttpResponse:
    """Import an uploaded Moodle XML file (instructor): all or none, unsupported types named."""
    course = access.access_bank(request.user, code, edit=True)
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, "Choose a Moodle XML file to import.")
        return redirect("quizzes:bank", code)
    assert upload.size is not None  # an uploaded file's size is known once Django parsed the request
    if upload.size > bank_import.MAX_BYTES:
        messages.error(request, "The file is larger than 20 MB; export fewer categories at a time.")
        return redirect("quizzes:bank", code)
    try:
        result = bank_import.questions_import_moodle_xml(
            course=course, data=upload.read(), by=request.user, category=request.POST.get("category", "")[:200])
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
        return redirect("quizzes:bank", code)
    messages.success(request, f"Imported {len(result.created)} question(s) from {upload.name}.")
    for line in result.skipped:
        messages.warning(request, line)
    return redirect("quizzes:bank", code)


@login_required
def question_edit(request: SignedInHttpRequest, code: str, question_id: int | None = None) -> HttpResponse:
    """Write or edit a bank question field by field, any type, with a preview (instructor).

    POST with `preview` checks and shows the question as a student sees it;
    `more` adds answer rows; otherwise it saves (a key change after attempts offers a regrade).
    """
    if question_id is None:
        course, question = access.access_bank(request.user, code, edit=True), None
    else:
        question = access.access_question(request.user, code, question_id, edit=True)
        course = question.course
    preview = None
    if request.method == "POST":
        state = editor.state_from_post(request.POST, more_rows=3 if "more" in request.POST else 0)
        error = None
        if "more" not in request.POST:
            try:
                existing = {a.id for a in question.answers.all()} if question else set()
                fields, answers = editor.to_service(state, existing_ids=existing)
                if "preview" in request.POST:
                    preview = editor.preview_of(*services.question_check(answers=[dict(a) for a in answers], **fields))
                elif question is None:
                    question = services.question_create(course=course, by=request.user, answers=answers, **fields)
                    messages.success(request, f"Added “{question.title}” to the bank.")
                    return redirect("quizzes:bank", code)
                else:
                    result = services.question_update(question=question, by=request.user, answers=answers, **fields)
                    _key_change_message(request, result)
                    return redirect("quizzes:bank", code)
            except ValidationError as exc:
                error = " ".join(exc.messages)
    else:
        state, error = editor.state_of(question), None
    role = access.role_in(request.user, course)
    return render(request, "quizzes/question_editor.html", _ctx(
        course, role, question=question, state=state, error=error, preview=preview,
        types=QuestionType.choices, formats=TextFormat.choices, rows=len(state.rows)))


def _key_change_message(request: SignedInHttpRequest, result: services.QuestionUpdate) -> None:
    if result.key_change is not None:
        messages.warning(
            request,
            f"The answer key changed and {result.affected_attempts} submitted attempt(s) used this question. "
            "Regrade them below to update their scores and the gradebook.",
        )
    else:
        messages.success(request, "Saved.")


@login_required
def question_edit_gift(request: SignedInHttpRequest, code: str, question_id: int) -> HttpResponse:
    """Edit a question as its GIFT text (+ the fields GIFT does not carry)."""
    question = access.access_question(request.user, code, question_id, edit=True)
    course = question.course
    initial = {
        "gift": gift.dump([selectors.as_parsed(question)]).strip(), "default_points": question.default_points,
        "case_sensitive": question.case_sensitive, "use_regex": question.use_regex,
        "manual_review": question.manual_review, "rubric": question.rubric,
    }
    form = QuestionEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        text = data.pop("gift")
        try:
            result = services.question_update_from_gift(question=question, text=text, by=request.user, **data)
            _key_change_message(request, result)
            return redirect("quizzes:bank", code)
        except ValidationError as exc:
            form.add_error(None, " ".join(exc.messages))
    role = access.role_in(request.user, course)
    return render(request, "quizzes/question_gift.html", _ctx(course, role, form=form, question=question))


@login_required
@require_POST
def regrade(request: SignedInHttpRequest, code: str, key_change_id: int) -> HttpResponse:
    course = access.access_bank(request.user, code, edit=True)
    key_change = get_object_or_404(KeyChange, pk=key_change_id, question__course=course)
    services.regrade_send(key_change=key_change, by=request.user)
    messages.success(request, f"Regrade queued for “{key_change.question.title}”: the affected attempts are "
                              "regraded in the background and changed scores are posted to the gradebook; "
                              "reload this page in a minute to see it done.")
    return redirect("quizzes:bank", code)


@login_required
@require_POST
def attempt_start(request: SignedInHttpRequest, code: str, quiz_id: int) -> HttpResponse:
    quiz = access.access_quiz_to_take(request.user, code, quiz_id)
    try:
        attempt, _ = services.attempt_start(quiz=quiz, student=request.user)
    except services.AnswerRefused as exc:
        messages.error(request, exc.message)
        return redirect("quizzes:detail", code, quiz.id)
    return redirect("quizzes:attempt", code, attempt.id)


@login_required
def attempt_page(request: SignedInHttpRequest, code: str, attempt_id: int) -> HttpResponse:
    """Take the attempt (its student, while open) or review it (as the review policy allows)."""
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET"])
    attempt, staff = access.access_attempt(request.user, code, attempt_id)
    payload = selectors.attempt_payload(attempt=attempt, viewer_is_staff=staff)
    role = access.role_in(request.user, attempt.quiz.course)
    context = _ctx(attempt.quiz.course, role, attempt=attempt, quiz=attempt.quiz, payload=payload)
    if attempt.state == AttemptState.IN_PROGRESS and attempt.student_id == request.user.id:
        # Embedded with json_script (escapes "<", ">" and "&"): a saved answer reading "</script>" cannot end the tag.
        context["config"] = {
            "attempt": attempt.id,
            "saveUrl": reverse("quizzes:api-answer", args=[code, attempt.id, 0]).replace("/0/", "/{slot}/"),
            "versionsUrl": reverse("quizzes:api-answer-versions", args=[code, attempt.id]),
            "submitUrl": reverse("quizzes:api-submit", args=[code, attempt.id]),
            "reviewUrl": reverse("quizzes:attempt", args=[code, attempt.id]),
            "deadline": payload["deadline"], "serverNow": payload["server_now"],
            "timeZone": settings.TIME_ZONE, "pollMs": POLL_MS,
            "answers": {str(q["slot"]): {"value": q.get("answer"), "version": q.get("version", 0),
                                         "savedAt": q.get("saved_at")} for q in payload["questions"]},
        }
        return render(request, "quizzes/take.html", context)
    return render(request, "quizzes/review.html", context)


@login_required
@require_POST
def answer_check(request: SignedInHttpRequest, code: str, attempt_id: int, slot_id: int) -> HttpResponse:
    """The taking page's Check button (quizzes with review_during): the saved answer becomes final and is marked."""
    attempt = access.access_own_attempt(request.user, code, attempt_id)
    try:
        services.answer_check(attempt_id=attempt.id, slot_id=slot_id, by=request.user)
    except services.AnswerRefused as exc:
        messages.error(request, exc.message)
    return redirect(reverse("quizzes:attempt", args=[code, attempt.id]) + f"#q-{slot_id}")


@login_required
def statistics(request: SignedInHttpRequest, code: str, quiz_id: int) -> HttpResponse:
    quiz, role = access.access_quiz_as_staff(request.user, code, quiz_id)
    stats = selectors.statistics(quiz=quiz)
    peak = max((b["count"] for b in stats["distribution"]), default=0) or 1
    for b in stats["distribution"]:
        b["width"] = round(100 * b["count"] / peak)
    return render(request, "quizzes/statistics.html", _ctx(quiz.course, role, quiz=quiz, stats=stats))


@login_required
def grading_queue(request: SignedInHttpRequest, code: str, quiz_id: int) -> HttpResponse:
    quiz, role = access.access_quiz_as_staff(request.user, code, quiz_id)
    return render(request, "quizzes/grading_queue.html",
                  _ctx(quiz.course, role, quiz=quiz, queue=selectors.grading_queue(quiz=quiz)))


@login_required
def grading_slot(request: SignedInHttpRequest, code: str, quiz_id: int, slot_id: int) -> HttpResponse:
    slot = access.access_slot_for_grading(request.user, code, quiz_id, slot_id)
    if request.method == "POST":
        form = GradeResponseForm(request.POST)
        if form.is_valid():
            response = get_object_or_404(slot.responses, pk=form.cleaned_data["response"])
            try:
                services.response_grade(response=response, by=request.user, points=form.cleaned_data["points"],
                                        comment=form.cleaned_data["comment"])
                messages.success(request, "Graded.")
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
        else:
            messages.error(request, "Enter points (0 or more) for the answer.")
        return redirect("quizzes:grading-slot", code, quiz_id, slot_id)
    role = access.role_in(request.user, slot.quiz.course)
    return render(request, "quizzes/grading_slot.html",
                  _ctx(slot.quiz.course, role, quiz=slot.quiz, slot=slot,
                       responses=selectors.responses_to_grade(slot=slot)))


def bench_ping(request: HttpRequest) -> HttpResponse:
    """The benchmark's ceiling: the cheapest response this Django stack can give (no auth, no DB)."""
    return HttpResponse(b"ok", content_type="text/plain")


