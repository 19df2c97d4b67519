"""The quizzes API: authoring, taking (so any client can take a quiz) and results.

One small class per operation. Access is decided by quizzes.access; payloads
that a student receives are built by selectors.attempt_payload, which applies
the review policy. The answer-save view is the hot path: no serializer, one SQL
statement after authentication (see services.answer_save); token clients'
saves are answered even earlier, by quizzes.middleware.AnswerSaveFastPath.
"""

from __future__ import annotations

from typing import NoReturn

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from courseapp.api_errors import ApiProblem, Problem
from courseapp.request_types import SignedInRequest

from . import access, bank_import, selectors, services, sync
from . import serializers as out
from .calculations import plain_decimal
from .grade_link import GradeItemExists
from .models import (
    DURING_PARTS,
    REVIEW_PARTS,
    GradingMethod,
    KeyChange,
    Question,
    QuestionType,
    Quiz,
    TextFormat,
)
from .parsers import PARSERS


class QuizApi(APIView):
    """Turns the errors a person can cause into 4xx problem details (courseapp.api_errors) with the message to
    act on; a service's ValidationError is answered 400 by the site's exception handler."""

    parser_classes = PARSERS

    def handle_exception(self, exc):
        if isinstance(exc, GradeItemExists):
            exc = ApiProblem(" ".join(exc.messages), code="grade_item_exists", grade_item=exc.item.id)
        elif isinstance(exc, services.AnswerConflict):
            body = exc.as_json()
            exc = ApiProblem(body.pop("detail"), status=exc.status, code=body.pop("code"), **body)
        elif isinstance(exc, services.AnswerRefused):
            exc = ApiProblem(exc.message, status=exc.status, code=exc.code)
        return super().handle_exception(exc)


_REFUSED = {
    401: OpenApiResponse(Problem, description="No or bad credentials"),
    403: OpenApiResponse(Problem, description="A member whose role does not allow this (or the reason, in `detail`)"),
    404: OpenApiResponse(Problem, description="Not a member of the course, or no such object"),
}
_BAD = {400: OpenApiResponse(out.QuizErrorSerializer, description="What to fix, in `detail`; by field in `errors`")}


def _detail_errors(serializer: serializers.Serializer) -> NoReturn:
    raise serializers.ValidationError(serializer.errors)


# --- Quizzes ------------------------------------------------------------------------


def quiz_data(quiz: Quiz, *, staff: bool) -> dict:
    data = {
        "id": quiz.id, "title": quiz.title, "description": quiz.description,
        "lecture": quiz.lecture_id, "opens_at": quiz.opens_at.isoformat(), "closes_at": quiz.closes_at.isoformat(),
        "time_limit_minutes": None if quiz.time_limit is None else quiz.time_limit.total_seconds() / 60,
        "max_attempts": quiz.max_attempts, "grading_method": quiz.grading_method,
        "grace_seconds": quiz.grace_seconds,
    }
    if staff:
        data.update(
            published=quiz.published, shuffle_questions=quiz.shuffle_questions,
            shuffle_choices=quiz.shuffle_choices, review_after_submit=quiz.review_after_submit,
            review_after_close=quiz.review_after_close, review_during=quiz.review_during,
            grade_item=quiz.grade_item_id,
        )
    return data


class QuizInput(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    lecture = serializers.IntegerField(required=False, allow_null=True)
    opens_at = serializers.DateTimeField(required=False)
    closes_at = serializers.DateTimeField(required=False)
    time_limit_minutes = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=100000)
    grace_seconds = serializers.IntegerField(required=False, min_value=0, max_value=300)
    max_attempts = serializers.IntegerField(required=False, min_value=0, max_value=100)
    grading_method = serializers.ChoiceField(choices=GradingMethod.values, required=False)
    shuffle_questions = serializers.BooleanField(required=False)
    shuffle_choices = serializers.BooleanField(required=False)
    review_after_submit = serializers.ListField(child=serializers.ChoiceField(choices=REVIEW_PARTS), required=False)
    review_after_close = serializers.ListField(child=serializers.ChoiceField(choices=REVIEW_PARTS), required=False)
    review_during = serializers.ListField(
        child=serializers.ChoiceField(choices=DURING_PARTS), required=False,
        help_text="What a student sees of a question they check during the attempt (checking makes it final); "
                  "empty (the default): no checking, nothing before submitting")
    published = serializers.BooleanField(required=False)
    use_grade_item = serializers.IntegerField(
        required=False, help_text="Create only: grade into this existing, unlinked Quizzes item of the gradebook "
                                  "(a 400 with code grade_item_exists names it when the title is taken)")

    def to_fields(self, course) -> dict:
        import datetime as dt

        from courseapp.models import Lecture

        data = dict(self.validated_data)
        if "time_limit_minutes" in data:
            minutes = data.pop("time_limit_minutes")
            data["time_limit"] = None if minutes is None else dt.timedelta(minutes=minutes)
        if data.get("lecture") is not None:
            lecture = Lecture.objects.filter(pk=data["lecture"], course=course).first()
            if lecture is None:
                raise ValidationError("No such lecture in this course; use an id from the schedule.")
            data["lecture"] = lecture
        return data


class QuizListApi(QuizApi):
    """GET: the course's quizzes (students: published only). POST: create one (instructor)."""

    @extend_schema(operation_id="quizzes_list", summary="Quizzes of the course",
                   description="Students see published quizzes, without the staff-only settings.",
                   responses={200: out.QuizSerializer(many=True), **_REFUSED})
    def get(self, request: SignedInRequest, code: str) -> Response:
        course, role = access.access_quizzes(request.user, code)
        staff = role in access.STAFF
        return Response([quiz_data(q, staff=staff) for q in selectors.quizzes_for(course=course, staff=staff)])

    @extend_schema(operation_id="quizzes_create", summary="Create a quiz (instructor)",
                   description="Needs title, opens_at and closes_at; creates the quiz's gradebook item.",
                   request=QuizInput, responses={201: out.QuizSerializer, **_BAD, **_REFUSED})
    def post(self, request: SignedInRequest, code: str) -> Response:
        course = access.access_bank(request.user, code, edit=True)
        serializer = QuizInput(data=request.data)
        if not serializer.is_valid():
            _detail_errors(serializer)
        fields = serializer.to_fields(course)
        for required in ("title", "opens_at", "closes_at"):
            if required not in fields:
                raise ValidationError(f"Give the quiz's {required.replace('_', ' ')}.")
        item = None
        if "use_grade_item" in fields:
            from grading.models import GradeItem

            item = GradeItem.objects.filter(pk=fields.pop("use_grade_item"), course=course).first()
            if item is None:
                raise ValidationError("No such gradebook item in this course; send the id the 400 named.")
        quiz = services.quiz_create(course=course, by=request.user, grade_item=item, **fields)
        return Response(quiz_data(quiz, staff=True), status=201)


class QuizDetailApi(QuizApi):
    """GET: one quiz (staff also get its questions). PATCH: change settings (instructor)."""

    @extend_schema(operation_id="quizzes_retrieve", summary="One quiz (staff also get its questions)",
                   responses={200: out.QuizDetailSerializer, **_REFUSED})
    def get(self, request: SignedInRequest, code: str, quiz_id: int) -> Response:
        quiz, role = access.access_quiz(request.user, code, quiz_id)
        staff = role in access.STAFF
        data = quiz_data(quiz, staff=staff)
        if staff:
            data["slots"] = [slot_data(s) for s in selectors.slots_of(quiz)]
        return Response(data)

    @extend_schema(operation_id="quizzes_partial_update", summary="Change a quiz's settings (instructor)",
                   request=QuizInput, responses={200: out.QuizSerializer, **_BAD, **_REFUSED})
    def patch(self, request: SignedInRequest, code: str, quiz_id: int) -> Response:
        quiz = access.access_quiz_as_instructor(request.user, code, quiz_id)
        serializer = QuizInput(data=request.data, partial=True)
        if not serializer.is_valid():
            _detail_errors(serializer)
        quiz = services.quiz_update(quiz=quiz, by=request.user, **serializer.to_fields(quiz.course))
        return Response(quiz_data(quiz, staff=True))


class SlotListApi(QuizApi):
    """POST {question, points?}: add a bank question to the quiz (instructor)."""

    @extend_schema(operation_id="quizzes_slots_create", summary="Add a bank question to the quiz (instructor)",
                   request=out.QuizSlotInputSerializer, responses={201: out.QuizSlotCreatedSerializer, **_BAD, **_REFUSED})
    def post(self, request: SignedInRequest, code: str, quiz_id: int) -> Response:
        quiz = access.access_quiz_as_instructor(request.user, code, quiz_id)
        question_id = request.data.get("question")
        question = (None if question_id is None
                    else Question.objects.filter(pk=question_id, course=quiz.course).first())
        if question is None:
            raise ValidationError("No such question in this course's bank; send its id as 'question'.")
        slot = services.slot_add(quiz=quiz, question=question, by=request.user, points=request.data.get("points"))
        return Response({"id": slot.id, "question": question.id, "points": str(slot.points),
                         "position": slot.position}, status=201)


class SlotDetailApi(QuizApi):
    @extend_schema(operation_id="quizzes_slots_destroy", summary="Remove a question from the quiz (instructor)",
                   description="Refused (400) once students have attempted the quiz.",
                   responses={204: OpenApiResponse(description="Removed"), **_BAD, **_REFUSED})
    def delete(self, request: SignedInRequest, code: str, quiz_id: int, slot_id: int) -> Response:
        quiz = access.access_quiz_as_instructor(request.user, code, quiz_id)
        slot = get_object_or_404(quiz.slots, pk=slot_id)
        services.slot_remove(slot=slot, by=request.user)
        return Response(status=204)


class SlotOrderApi(QuizApi):
    """PUT {slots: [id, …]}: the quiz's questions in a new order (instructor); attempts already started keep theirs."""

    @extend_schema(operation_id="quizzes_slots_reorder", summary="Reorder the quiz's questions (instructor)",
                   description="Send every slot id of the quiz once, in the new order. Attempts already "
                               "started keep the order they were started with.",
                   request=out.QuizSlotOrderSerializer,
                   responses={200: out.QuizSlotSerializer(many=True), **_BAD, **_REFUSED})
    def put(self, request: SignedInRequest, code: str, quiz_id: int) -> Response:
        quiz = access.access_quiz_as_instructor(request.user, code, quiz_id)
        data = request.data
        order = data.get("slots") if isinstance(data, dict) else None
        slots = services.slots_reorder(quiz=quiz, order=order, by=request.user)
        return Response([slot_data(s) for s in selectors.with_questions(slots)])


def slot_data(slot) -> dict:
    return {"id": slot.id, "question": slot.question_id, "title": slot.question.title, "type": slot.question.qtype,
            "points": str(slot.points), "position": slot.position}


# --- Question bank ------------------------------------------------------------------


def question_data(question: Question) -> dict:
    return {
        "id": question.id, "category": question.category, "title": question.title, "text": question.text,
        "text_format": question.text_format,
        "type": question.qtype, "default_points": str(question.default_points),
        "correct_bool": question.correct_bool, "true_feedback": question.true_feedback,
        "false_feedback": question.false_feedback, "case_sensitive": question.case_sensitive,
        "use_regex": question.use_regex, "manual_review": question.manual_review, "rubric": question.rubric,
        "general_feedback": question.general_feedback, "key_version": question.key_version,
        "answers": [
            {"id": a.id, "text": a.text, "fraction": plain_decimal(a.fraction), "feedback": a.feedback,
             "value": None if a.value is None else plain_decimal(a.value),
             "tolerance": plain_decimal(a.tolerance), "match": a.match}
            for a in question.answers.all()
        ],
    }


class QuizQuestionInput(serializers.Serializer):
    category = serializers.CharField(max_length=200, required=False, allow_blank=True)
    title = serializers.CharField(max_length=200, required=False, allow_blank=True)
    text = serializers.CharField(required=False)
    text_format = serializers.ChoiceField(choices=TextFormat.values, required=False)
    type = serializers.ChoiceField(choices=QuestionType.values, required=False, source="qtype")
    default_points = serializers.DecimalField(max_digits=6, decimal_places=2, required=False)
    correct_bool = serializers.BooleanField(required=False, allow_null=True)
    true_feedback = serializers.CharField(required=False, allow_blank=True)
    false_feedback = serializers.CharField(required=False, allow_blank=True)
    case_sensitive = serializers.BooleanField(required=False)
    use_regex = serializers.BooleanField(required=False)
    manual_review = serializers.BooleanField(required=False)
    rubric = serializers.CharField(required=False, allow_blank=True)
    general_feedback = serializers.CharField(required=False, allow_blank=True)
    answers = serializers.ListField(child=out.QuizAnswerItemField(), required=False)


class QuestionListApi(QuizApi):
    """GET: the bank (staff). POST: a new question (instructor)."""

    @extend_schema(operation_id="quizzes_questions_list", summary="The question bank with answer keys (staff)",
                   responses={200: out.QuizQuestionSerializer(many=True), **_REFUSED})
    def get(self, request: SignedInRequest, code: str) -> Response:
        course = access.access_bank(request.user, code, edit=False)
        return Response([question_data(q) for q in selectors.bank(course=course)])

    @extend_schema(operation_id="quizzes_questions_create", summary="Add a question to the bank (instructor)",
                   request=QuizQuestionInput, responses={201: out.QuizQuestionSerializer, **_BAD, **_REFUSED})
    def post(self, request: SignedInRequest, code: str) -> Response:
        course = access.access_bank(request.user, code, edit=True)
        serializer = QuizQuestionInput(data=request.data)
        if not serializer.is_valid():
            _detail_errors(serializer)
        data = dict(serializer.validated_data)
        answers = data.pop("answers", [])
        question = services.question_create(course=course, by=request.user, answers=answers, **data)
        return Response(question_data(question), status=201)


class QuestionDetailApi(QuizApi):
    """GET: one question with its key (staff). PATCH: edit (instructor); a key change after attempts offers a regrade."""

    @extend_schema(operation_id="quizzes_questions_retrieve", summary="One bank question with its key (staff)",
                   responses={200: out.QuizQuestionSerializer, **_REFUSED})
    def get(self, request: SignedInRequest, code: str, question_id: int) -> Response:
        return Response(question_data(access.access_question(request.user, code, question_id, edit=False)))

    @extend_schema(operation_id="quizzes_questions_partial_update", summary="Edit a bank question (instructor)",
                   description="`answers`, when sent, is the full new list; items with an `id` keep that answer.",
                   request=QuizQuestionInput, responses={200: out.QuizQuestionUpdatedSerializer, **_BAD, **_REFUSED})
    def patch(self, request: SignedInRequest, code: str, question_id: int) -> Response:
        question = access.access_question(request.user, code, question_id, edit=True)
        serializer = QuizQuestionInput(data=request.data, partial=True)
        if not serializer.is_valid():
            _detail_errors(serializer)
        data = dict(serializer.validated_data)
        answers = data.pop("answers", None)
        result = services.question_update(question=question, by=request.user, answers=answers, **data)
        body = question_data(result.question)
        if result.key_change is not None:
            body["regrade_offer"] = {
                "key_change": result.key_change.id, "affected_attempts": result.affected_attempts,
                "before": result.key_change.before, "after": result.key_change.after,
                "regrade_url": f"/api/courses/{code}/key-changes/{result.key_change.id}/regrade/",
            }
        return Response(body)


class GiftApi(QuizApi):
    """GET: the bank as GIFT text (staff). POST {text, category?}: import GIFT questions (instructor)."""

    @extend_schema(operation_id="quizzes_questions_gift_export", summary="The bank as Moodle GIFT text (staff)",
                   responses={(200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="GIFT text"),
                              **_REFUSED})
    def get(self, request: SignedInRequest, code: str) -> HttpResponse:
        course = access.access_bank(request.user, code, edit=False)
        from .gift import dump

        text = dump([selectors.as_parsed(q) for q in selectors.bank(course=course)])
        response = HttpResponse(text, content_type="text/plain; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{course.code}-questions.gift.txt"'
        return response

    @extend_schema(operation_id="quizzes_questions_gift_import", summary="Import GIFT questions (instructor)",
                   description="All or none: the first question that cannot be read is named with its line.",
                   request=out.QuizGiftImportInputSerializer, responses={201: out.QuizGiftImportedSerializer, **_BAD, **_REFUSED})
    def post(self, request: SignedInRequest, code: str) -> Response:
        course = access.access_bank(request.user, code, edit=True)
        text = request.data.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ValidationError("Send the GIFT text as 'text'.")
        created = services.questions_import_gift(course=course, text=text, by=request.user,
                                                 category=str(request.data.get("category", "")))
        return Response({"created": [question_data(q) for q in created]}, status=201)


class MoodleXmlApi(QuizApi):
    """GET: the bank as a Moodle XML file (staff). POST: import a Moodle XML file (instructor), all or none."""

    @extend_schema(operation_id="quizzes_questions_moodle_xml_export", summary="The bank as Moodle XML (staff)",
                   responses={(200, "application/xml"): OpenApiResponse(OpenApiTypes.STR, description="Moodle XML"),
                              **_REFUSED})
    def get(self, request: SignedInRequest, code: str) -> HttpResponse:
        course = access.access_bank(request.user, code, edit=False)
        response = HttpResponse(bank_import.bank_as_moodle_xml(course=course),
                                content_type="application/xml; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{course.code}-questions.moodle.xml"'
        return response

    @extend_schema(operation_id="quizzes_questions_moodle_xml_import", summary="Import a Moodle XML file (instructor)",
                   description="Send the file as multipart `file` (with an optional `category`), or JSON "
                               "`{xml, category}`. All or none: a 400 lists every question that cannot be imported "
                               "in `errors`. Unsupported types are skipped and named in `skipped`.",
                   request=out.QuizMoodleXmlImportInputSerializer,
                   responses={201: out.QuizMoodleXmlImportedSerializer,
                              400: OpenApiResponse(Problem, description="What to fix, in `detail`; every question "
                                                                        "that could not be imported in `errors`"),
                              **_REFUSED})
    def post(self, request: SignedInRequest, code: str) -> Response:
        course = access.access_bank(request.user, code, edit=True)
        upload = request.FILES.get("file")
        data = upload.read() if upload is not None else request.data.get("xml")
        if not isinstance(data, (bytes, str)) or not data:
            raise ValidationError("Send the Moodle XML file as multipart 'file', or its text as 'xml'.")
        try:
            result = bank_import.questions_import_moodle_xml(course=course, data=data, by=request.user,
                                                             category=str(request.data.get("category", ""))[:200])
        except ValidationError as exc:
            raise ApiProblem(" ".join(exc.messages), code="invalid",
                             errors=[{"field": None, "message": m} for m in exc.messages[1:] or exc.messages]) from None
        return Response({"created": [question_data(q) for q in result.created], "skipped": result.skipped},
                        status=201)


class RegradeApi(QuizApi):
    """POST: queue the regrade a key change offered (instructor). GET: whether it has run, and old → new per attempt."""

    @extend_schema(operation_id="quizzes_key_changes_regrade_status", summary="A key change's regrade (instructor)",
                   responses={200: out.QuizRegradeSerializer, **_REFUSED})
    def get(self, request: SignedInRequest, code: str, key_change_id: int) -> Response:
        course = access.access_bank(request.user, code, edit=True)
        key_change = get_object_or_404(KeyChange.objects.select_related("regraded_by"), pk=key_change_id,
                                       question__course=course)
        return Response({
            "key_change": key_change.id,
            "regraded_at": None if key_change.regraded_at is None else key_change.regraded_at.isoformat(),
            "regraded_by": None if key_change.regraded_by is None else str(key_change.regraded_by),
            "entries": [
                {"attempt": e.attempt_id, "old_score": None if e.old_score is None else str(e.old_score),
                 "new_score": None if e.new_score is None else str(e.new_score)}
                for e in key_change.entries.order_by("id")
            ],
        })

    @extend_schema(operation_id="quizzes_key_changes_regrade", summary="Queue the regrade after an answer-key change "
                   "(instructor)",
                   description="202: the regrade runs as a background task (it is idempotent: queueing it twice "
                               "changes nothing more); GET `status_url` to see when it has run and what changed.",
                   request=None, responses={202: out.QuizRegradeQueuedSerializer, **_REFUSED})
    def post(self, request: SignedInRequest, code: str, key_change_id: int) -> Response:
        course = access.access_bank(request.user, code, edit=True)
        key_change = get_object_or_404(KeyChange.objects.select_related("question__course"), pk=key_change_id,
                                       question__course=course)
        with transaction.atomic():
            services.regrade_send(key_change=key_change, by=request.user)
        return Response({"key_change": key_change.id, "queued": True, "status_url": request.path}, status=202)


# --- Taking -------------------------------------------------------------------------


class AttemptListApi(QuizApi):
    """GET: my attempts at the quiz. POST: start an attempt (or get back my open one)."""

    @extend_schema(operation_id="quizzes_attempts_list", summary="My attempts at the quiz",
                   responses={200: out.QuizAttemptSummarySerializer(many=True), **_REFUSED})
    def get(self, request: SignedInRequest, code: str, quiz_id: int) -> Response:
        quiz, _ = access.access_quiz(request.user, code, quiz_id)
        now = timezone.now()
        return Response([
            selectors.attempt_summary(a, parts=selectors.student_parts(quiz=quiz, attempt=a, now=now))
            for a in selectors.attempts_of(quiz=quiz, student=request.user)
        ])

    @extend_schema(operation_id="quizzes_attempts_start", summary="Start an attempt, or get back my open one",
                   description="201 for a new attempt, 200 for the open one. Refusals (403) say why: not open yet, "
                               "closed, no attempts left, staff.",
                   request=None, responses={201: out.QuizAttemptSerializer, 200: out.QuizAttemptSerializer, **_REFUSED})
    def post(self, request: SignedInRequest, code: str, quiz_id: int) -> Response:
        quiz = access.access_quiz_to_take(request.user, code, quiz_id)
        attempt, created = services.attempt_start(quiz=quiz, student=request.user)
        payload = selectors.attempt_payload(attempt=attempt, viewer_is_staff=False, new=created)
        return Response(payload, status=201 if created else 200)


class AttemptDetailApi(QuizApi):
    """GET: an attempt — to take it (questions and my saved answers) or to review it (as the policy allows)."""

    @extend_schema(operation_id="quizzes_attempts_retrieve", summary="An attempt to take or to review",
                   description="What a student sees of a submitted attempt follows the quiz's review policy.",
                   responses={200: out.QuizAttemptSerializer, **_REFUSED})
    def get(self, request: SignedInRequest, code: str, attempt_id: int) -> Response:
        attempt, staff = access.access_attempt(request.user, code, attempt_id)
        return Response(selectors.attempt_payload(attempt=attempt, viewer_is_staff=staff))


class AnswerSaveApi(QuizApi):
    """PUT {value, base}: save one answer. 200 {slot, version, seq, saved_at, stale} is sent only after commit.

    `base` is the version of the answer the edit replaces (0: none saved yet). If
    another device saved a different value since, the answer is 409 with
    code "conflict" and the server's value, version and time; nothing is written.
    Scripts may send {value, seq} instead (a rising number; a save whose seq is
    not above the stored one changes nothing and answers stale: true).
    Refusals: 404 (not your attempt), 409 (submitted, time is up, conflict), 400.

    Token clients' saves that succeed are answered by quizzes.middleware.AnswerSaveFastPath
    before the rest of the stack; this view answers everything else with the same rules.
    """

    @extend_schema(
        operation_id="quizzes_answers_save", summary="Save one answer",
        description="Acknowledged (200) only after the answer is committed. With `base` (the version the edit "
                    "replaces), a save over a newer, different answer from another device is refused with 409 "
                    "`code: conflict` and the server's `value`, `version` and `saved_at`; send it again with that "
                    "version as base to keep yours. With `seq` instead (scripts), a save whose seq is not above the "
                    "stored one changes nothing and answers `stale: true` with the stored seq.",
        request=out.QuizAnswerSaveInputSerializer,
        responses={200: out.QuizAnswerSavedSerializer, **_BAD, **_REFUSED,
                   409: OpenApiResponse(out.QuizAnswerConflictSerializer,
                                        description="Submitted, time is up (deadline + grace), or a conflict "
                                                    "(code `conflict`, with the server's answer)")},
    )
    def put(self, request: SignedInRequest, code: str, attempt_id: int, slot_id: int) -> Response:
        data = request.data if isinstance(request.data, dict) else {}
        result = services.answer_save(
            attempt_id=attempt_id, student=request.user, course_code=code, slot_id=slot_id,
            value=data.get("value"), seq=data.get("seq"), base=data.get("base"),
        )
        return Response(result.as_json())


class AnswerCheckApi(QuizApi):
    """POST: check one saved answer during the attempt (quizzes with review_during); it becomes final."""

    @extend_schema(
        operation_id="quizzes_answers_check", summary="Check a saved answer during the attempt",
        description="Only on quizzes whose `review_during` is not empty (Moodle's immediate feedback): the saved "
                    "answer is marked now and becomes final (later saves to it are refused, 409 `checked`); the "
                    "question comes back with what `review_during` shows (marks, right answer, feedback). "
                    "Checking again changes nothing.",
        request=None,
        responses={200: out.QuizAnswerCheckedSerializer, **_BAD, **_REFUSED,
                   409: OpenApiResponse(out.QuizErrorSerializer, description="Submitted, or time is up")},
    )
    def post(self, request: SignedInRequest, code: str, attempt_id: int, slot_id: int) -> Response:
        attempt = access.access_own_attempt(request.user, code, attempt_id)
        response = services.answer_check(attempt_id=attempt.id, slot_id=slot_id, by=request.user)
        payload = selectors.attempt_payload(attempt=attempt, viewer_is_staff=False)
        question = next(q for q in payload["questions"] if q["slot"] == slot_id)
        assert response.checked_at is not None  # answer_check sets it (or keeps the first check's)
        return Response({"slot": slot_id, "checked_at": response.checked_at.isoformat(), "question": question})


class AnswerVersionsApi(QuizApi):
    """GET: which version of each answer the server holds (the page polls it to learn of other devices' saves)."""

    @extend_schema(
        operation_id="quizzes_answers_versions", summary="Versions of my saved answers (cheap poll)",
        description="The attempt's state and, per saved answer, its server version and time. `?values=3,5` adds "
                    "the values of those slots (fetch only the ones whose version you do not know).",
        responses={200: out.QuizAnswerVersionsSerializer, **_BAD, **_REFUSED},
    )
    def get(self, request: SignedInRequest, code: str, attempt_id: int) -> Response:
        try:
            wanted = sync.parse_slot_list(request.query_params.get("values", ""))
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
        return Response(sync.answer_versions(student=request.user, code=code, attempt_id=attempt_id,
                                             values_for=wanted))


class AttemptSubmitApi(QuizApi):
    """POST: submit the attempt. Submitting again (another tab, a retry) has no further effect."""

    @extend_schema(operation_id="quizzes_attempts_submit", summary="Submit the attempt",
                   description="Submitting again (another tab, a retry) changes nothing: `already_submitted: true`. "
                               "`{\"auto\": true}` says the page's timer ran out; the attempt is marked "
                               "auto-submitted (as it is whenever a submit arrives at or after the deadline).",
                   request=out.QuizSubmitInputSerializer, responses={200: out.QuizAttemptSubmittedSerializer, **_REFUSED})
    def post(self, request: SignedInRequest, code: str, attempt_id: int) -> Response:
        attempt = access.access_own_attempt(request.user, code, attempt_id)
        data = request.data if isinstance(request.data, dict) else {}
        auto = data.get("auto", False)
        if not isinstance(auto, bool):
            raise ValidationError("auto must be true or false.")
        attempt, changed = services.attempt_submit(attempt_id=attempt.id, by=request.user, timer_ran_out=auto)
        payload = selectors.attempt_payload(attempt=attempt, viewer_is_staff=False)
        payload["already_submitted"] = not changed
        return Response(payload)


# --- Results ------------------------------------------------------------------------


class ResultsApi(QuizApi):
    """GET: every attempt with its student and score (staff)."""

    @extend_schema(operation_id="quizzes_results", summary="Every attempt with its student and score (staff)",
                   responses={200: out.QuizResultsSerializer, **_REFUSED})
    def get(self, request: SignedInRequest, code: str, quiz_id: int) -> Response:
        quiz, _ = access.access_quiz_as_staff(request.user, code, quiz_id)
        return Response({"quiz": quiz.id, "attempts": selectors.quiz_results(quiz=quiz)})


class StatisticsApi(QuizApi):
    """GET: score distribution and facility/discrimination per question over first attempts (staff)."""

    @extend_schema(operation_id="quizzes_statistics", summary="Score distribution, facility and discrimination (staff)",
                   responses={200: out.QuizStatisticsSerializer, **_REFUSED})
    def get(self, request: SignedInRequest, code: str, quiz_id: int) -> Response:
        quiz, _ = access.access_quiz_as_staff(request.user, code, quiz_id)
        return Response(selectors.statistics(quiz=quiz))


class GradingQueueApi(QuizApi):
    """GET: questions with answers waiting for a grader (staff)."""

    @extend_schema(operation_id="quizzes_grading_queue", summary="Questions with answers waiting for a grader (staff)",
                   responses={200: out.QuizGradingQueueRowSerializer(many=True), **_REFUSED})
    def get(self, request: SignedInRequest, code: str, quiz_id: int) -> Response:
        quiz, _ = access.access_quiz_as_staff(request.user, code, quiz_id)
        return Response(selectors.grading_queue(quiz=quiz))


class GradingSlotApi(QuizApi):
    """GET: one question's answers across all students, with the rubric (staff)."""

    @extend_schema(operation_id="quizzes_grading_slot", summary="One question's answers across students (staff)",
                   responses={200: out.QuizGradingSlotSerializer, **_REFUSED})
    def get(self, request: SignedInRequest, code: str, quiz_id: int, slot_id: int) -> Response:
        slot = access.access_slot_for_grading(request.user, code, quiz_id, slot_id)
        return Response({
            "slot": slot.id, "title": slot.question.title, "text": slot.question.text,
            "rubric": slot.question.rubric, "points": str(slot.points),
            "responses": [
                {"id": r.id, "attempt": r.attempt_id, "student": str(r.attempt.student),
                 "answer": r.value, "suggested_points": None if r.graded_at else (None if r.points is None else str(r.points)),
                 "points": str(r.points) if r.graded_at and r.points is not None else None,
                 "comment": r.comment, "graded_by": str(r.graded_by) if r.graded_by else None}
                for r in selectors.responses_to_grade(slot=slot)
            ],
        })


class ResponseGradeApi(QuizApi):
    """POST {points, comment}: grade one answer from the manual queue (staff)."""

    @extend_schema(operation_id="quizzes_responses_grade", summary="Grade one answer from the manual queue (staff)",
                   request=out.QuizResponseGradeInputSerializer, responses={200: out.QuizResponseGradedSerializer, **_BAD, **_REFUSED})
    def post(self, request: SignedInRequest, code: str, response_id: int) -> Response:
        response = access.access_response_for_grading(request.user, code, response_id)
        with transaction.atomic():
            response = services.response_grade(response=response, by=request.user, points=request.data.get("points"),
                                               comment=str(request.data.get("comment", "")))
        return Response({"id": response.id, "points": str(response.points), "comment": response.comment,
                         "attempt_state": response.attempt.state})

