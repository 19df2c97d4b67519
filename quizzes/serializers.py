"""The quiz API's payloads, described for the OpenAPI schema (and request bodies, validated).

Response payloads are built by apis.quiz_data / question_data and
selectors.attempt_payload & co. (which apply the review policy); the response
serializers below only document them. tests/test_api_schema.py validates real
responses of every role against the served schema, refusing undocumented keys,
so the two cannot drift apart. Points are decimal strings ("2.50"); times are
ISO 8601 with offset.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from courseapp.api_errors import ProblemSerializer, problem_serializer

from .models import DURING_PARTS, REVIEW_PARTS, AttemptState, GradingMethod, QuestionType


def _points(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=8, decimal_places=2, coerce_to_string=True, **kwargs)


def _decimal_text(help_text: str, **kwargs) -> serializers.CharField:
    return serializers.CharField(help_text=help_text, **kwargs)


# Errors are problem details (courseapp.api_errors); these add the quizzes' extension members.
QuizErrorSerializer = problem_serializer(
    "QuizProblem", grade_item=serializers.IntegerField(
        required=False, help_text="code grade_item_exists: the unlinked gradebook item to grade into"))


# --- Quizzes -----------------------------------------------------------------------


class QuizSerializer(serializers.Serializer):
    """A quiz; the keys after grace_seconds are for staff only."""

    id = serializers.IntegerField()
    title = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    lecture = serializers.IntegerField(allow_null=True, help_text="Lecture id in the schedule, or null")
    opens_at = serializers.DateTimeField()
    closes_at = serializers.DateTimeField()
    time_limit_minutes = serializers.FloatField(allow_null=True, help_text="null: until the quiz closes")
    max_attempts = serializers.IntegerField(help_text="0: unlimited")
    grading_method = serializers.ChoiceField(choices=GradingMethod.values)
    grace_seconds = serializers.IntegerField()
    published = serializers.BooleanField(required=False)
    shuffle_questions = serializers.BooleanField(required=False)
    shuffle_choices = serializers.BooleanField(required=False)
    review_after_submit = serializers.ListField(child=serializers.ChoiceField(choices=REVIEW_PARTS), required=False)
    review_after_close = serializers.ListField(child=serializers.ChoiceField(choices=REVIEW_PARTS), required=False)
    review_during = serializers.ListField(child=serializers.ChoiceField(choices=DURING_PARTS), required=False)
    grade_item = serializers.IntegerField(allow_null=True, required=False, help_text="Gradebook item id")


class QuizSlotSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    question = serializers.IntegerField(help_text="Bank question id")
    title = serializers.CharField()
    type = serializers.ChoiceField(choices=QuestionType.values)
    points = _points()
    position = serializers.IntegerField(help_text="1, 2, … in the quiz's order")


class QuizDetailSerializer(QuizSerializer):
    slots = QuizSlotSerializer(many=True, required=False, help_text="Staff only: the questions in order")


class QuizSlotInputSerializer(serializers.Serializer):
    question = serializers.IntegerField(help_text="Bank question id")
    points = _points(required=False, help_text="Default: the question's default points")


class QuizSlotCreatedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    question = serializers.IntegerField()
    points = _points()
    position = serializers.IntegerField()


class QuizSlotOrderSerializer(serializers.Serializer):
    slots = serializers.ListField(child=serializers.IntegerField(), help_text="Every slot id of the quiz, in the new order")


# --- Question bank -------------------------------------------------------------------


class QuizAnswerKeySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField(allow_blank=True)
    fraction = _decimal_text("Share of the question's points, -1..1 (e.g. \"0.5\")")
    feedback = serializers.CharField(allow_blank=True)
    value = _decimal_text("Numeric questions: the accepted number", allow_null=True)
    tolerance = _decimal_text("Numeric questions: ± tolerance")
    match = serializers.CharField(allow_blank=True, help_text="Matching: the partner of `text` (empty text: a distractor)")


class QuizAnswerInputSerializer(serializers.Serializer):
    id = serializers.IntegerField(required=False, help_text="Keep this existing answer (students' choices point at it)")
    text = serializers.CharField(required=False, allow_blank=True)
    fraction = serializers.DecimalField(max_digits=8, decimal_places=7, required=False)
    feedback = serializers.CharField(required=False, allow_blank=True)
    value = serializers.DecimalField(max_digits=20, decimal_places=8, required=False, allow_null=True)
    tolerance = serializers.DecimalField(max_digits=20, decimal_places=8, required=False)
    match = serializers.CharField(required=False, allow_blank=True, help_text="Matching: the item's partner")


@extend_schema_field(QuizAnswerInputSerializer)
class QuizAnswerItemField(serializers.DictField):
    """One answer of a question body: checked by the service, which says what to fix."""


class QuizQuestionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    category = serializers.CharField(allow_blank=True)
    title = serializers.CharField()
    text = serializers.CharField()
    text_format = serializers.ChoiceField(choices=["plain", "html", "markdown"],
                                          help_text="html is sanitised when shown; markdown is rendered")
    type = serializers.ChoiceField(choices=QuestionType.values)
    default_points = _points()
    correct_bool = serializers.BooleanField(allow_null=True, help_text="True/false questions")
    true_feedback = serializers.CharField(allow_blank=True)
    false_feedback = serializers.CharField(allow_blank=True)
    case_sensitive = serializers.BooleanField()
    use_regex = serializers.BooleanField()
    manual_review = serializers.BooleanField()
    rubric = serializers.CharField(allow_blank=True)
    general_feedback = serializers.CharField(allow_blank=True)
    key_version = serializers.IntegerField(help_text="Counts answer-key changes")
    answers = QuizAnswerKeySerializer(many=True)


class QuizRegradeOfferSerializer(serializers.Serializer):
    key_change = serializers.IntegerField()
    affected_attempts = serializers.IntegerField()
    before = serializers.JSONField(help_text="The answer key before the change")
    after = serializers.JSONField(help_text="The answer key after the change")
    regrade_url = serializers.CharField(help_text="POST here to regrade")


class QuizQuestionUpdatedSerializer(QuizQuestionSerializer):
    regrade_offer = QuizRegradeOfferSerializer(required=False,
                                           help_text="Present when the key changed after attempts were graded")


class QuizGiftImportInputSerializer(serializers.Serializer):
    text = serializers.CharField(help_text="Moodle GIFT text; questions separated by a blank line")
    category = serializers.CharField(required=False, allow_blank=True,
                                     help_text="Bank folder for questions the text puts in none")


class QuizGiftImportedSerializer(serializers.Serializer):
    created = QuizQuestionSerializer(many=True)


class QuizRegradeEntrySerializer(serializers.Serializer):
    attempt = serializers.IntegerField()
    old_score = _points(allow_null=True)
    new_score = _points(allow_null=True)


class QuizRegradeSerializer(serializers.Serializer):
    key_change = serializers.IntegerField()
    regraded_at = serializers.DateTimeField(allow_null=True, help_text="When the regrade last ran; null while queued "
                                                                         "or never run")
    regraded_by = serializers.CharField(allow_null=True)
    entries = QuizRegradeEntrySerializer(many=True, help_text="Attempts whose score moved, old → new")


class QuizRegradeQueuedSerializer(serializers.Serializer):
    key_change = serializers.IntegerField()
    queued = serializers.BooleanField(help_text="Always true: the regrade runs as a background task")
    status_url = serializers.CharField(help_text="GET it to see when the regrade has run and what changed")


# --- Taking ----------------------------------------------------------------------------


class QuizAttemptSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.IntegerField()
    state = serializers.ChoiceField(choices=AttemptState.values)
    started_at = serializers.DateTimeField()
    deadline = serializers.DateTimeField()
    submitted_at = serializers.DateTimeField(allow_null=True)
    auto_submitted = serializers.BooleanField()
    score = _points(allow_null=True, required=False, help_text="When the review policy shows scores; null while "
                                                               "answers wait for a grader")
    max_score = _points(required=False)


class QuizChoiceSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="Send this id as the answer")
    text = serializers.CharField(allow_blank=True)
    fraction = _decimal_text("Review with correct answers only", required=False)
    feedback = serializers.CharField(required=False, help_text="Review with feedback only")
    text_html = serializers.CharField(help_text="The choice as sanitised HTML, in the question's format")
    chosen = serializers.BooleanField(required=False, help_text="Review with answers: this choice was picked")
    right = serializers.BooleanField(required=False, help_text="Review with correct answers: this choice earns credit")


class QuizMatchItemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()
    text_html = serializers.CharField()
    chosen = serializers.CharField(required=False, allow_blank=True, help_text="Review with answers: the pick")
    match = serializers.CharField(required=False, help_text="Review with correct answers: the right partner")
    right = serializers.BooleanField(required=False, help_text="Review with correct answers: the pick was right")


class QuizAttemptQuestionSerializer(serializers.Serializer):
    slot = serializers.IntegerField(help_text="Save answers to …/answers/<slot>/")
    number = serializers.IntegerField()
    type = serializers.ChoiceField(choices=QuestionType.values)
    text = serializers.CharField()
    text_html = serializers.CharField(help_text="The text as sanitised HTML ([html]/[markdown] rendered, plain escaped)")
    points = _points()
    choices = QuizChoiceSerializer(many=True, required=False, help_text="Choice questions, in this attempt's order")
    match_items = QuizMatchItemSerializer(many=True, required=False,
                                    help_text="Matching: the items, in this attempt's order; answer {\"<id>\": option}")
    options = serializers.ListField(child=serializers.CharField(), required=False,
                                    help_text="Matching: the partners to pick from")
    answer = serializers.JSONField(required=False, allow_null=True,
                                   help_text="The saved answer (while open, or when the review shows answers)")
    seq = serializers.IntegerField(required=False, help_text="Sequence number of the saved answer (0: none)")
    version = serializers.IntegerField(required=False, help_text="The server's version of the saved answer (0: none); "
                                                                 "send it as `base` with the next save")
    saved_at = serializers.DateTimeField(required=False, allow_null=True, help_text="When the answer was saved")
    answer_text = serializers.CharField(required=False, allow_blank=True,
                                        help_text="Review with answers: the saved answer in words (choice texts)")
    earned = _points(required=False, allow_null=True)
    mark = serializers.ChoiceField(choices=["right", "partly", "wrong", "unanswered", "waiting"], required=False,
                                   help_text="Review with score: how the answer did")
    awaiting_grader = serializers.BooleanField(required=False)
    correct = serializers.JSONField(required=False, allow_null=True,
                                    help_text="The right answer, in the shape a student sends one")
    correct_text = serializers.ListField(child=serializers.CharField(), required=False,
                                         help_text="Review with correct answers: the right answer(s) in words, "
                                                   "e.g. “0.25 ± 0.001”; empty for an essay")
    feedback = serializers.ListField(child=serializers.CharField(), required=False)
    general_feedback = serializers.CharField(required=False)
    general_feedback_html = serializers.CharField(required=False, help_text="General feedback as sanitised HTML")
    grader_comment = serializers.CharField(required=False)
    checked = serializers.BooleanField(required=False, help_text="While open: the student checked this answer; it is "
                                                                 "final and shown as `review_during` allows")


class QuizPersonSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class QuizAttemptSerializer(serializers.Serializer):
    """An attempt to take (questions, saved answers) or to review, as far as the review policy allows."""

    id = serializers.IntegerField()
    quiz = serializers.IntegerField()
    quiz_title = serializers.CharField()
    number = serializers.IntegerField()
    state = serializers.ChoiceField(choices=AttemptState.values)
    started_at = serializers.DateTimeField()
    deadline = serializers.DateTimeField(help_text="Saves are accepted until this plus the quiz's grace period")
    server_now = serializers.DateTimeField(help_text="For a countdown that does not trust the client's clock")
    submitted_at = serializers.DateTimeField(allow_null=True)
    auto_submitted = serializers.BooleanField()
    review = serializers.ListField(child=serializers.ChoiceField(choices=REVIEW_PARTS),
                                   help_text="What this viewer may see now")
    review_during = serializers.ListField(child=serializers.ChoiceField(choices=DURING_PARTS),
                                          help_text="While open: what is shown of each checked question (empty: "
                                                    "checking is off)")
    questions = QuizAttemptQuestionSerializer(many=True)
    score = _points(required=False, allow_null=True)
    max_score = _points(required=False)
    student = QuizPersonSerializer(required=False, help_text="Staff only")
    preview = serializers.BooleanField(required=False, help_text="A staff preview: never graded or posted")


class QuizAnswerCheckedSerializer(serializers.Serializer):
    slot = serializers.IntegerField()
    checked_at = serializers.DateTimeField()
    question = QuizAttemptQuestionSerializer(help_text="The question as the page now shows it")


class QuizAttemptSubmittedSerializer(QuizAttemptSerializer):
    already_submitted = serializers.BooleanField(help_text="true: an earlier submit (another tab, a retry) did it")


class QuizAnswerSaveInputSerializer(serializers.Serializer):
    value = serializers.JSONField(
        allow_null=True,
        help_text="Single choice: a choice id; multiple: a list of ids; true/false: a boolean; "
                  "numeric, short and essay: text",
    )
    base = serializers.IntegerField(min_value=0, required=False,
                                    help_text="The version of the answer this edit replaces (0: none saved yet)")
    seq = serializers.IntegerField(min_value=1, required=False,
                                   help_text="Scripts, instead of base: rises with each change of this answer; a save "
                                             "whose seq is not above the stored one changes nothing")


class QuizAnswerSavedSerializer(serializers.Serializer):
    slot = serializers.IntegerField()
    version = serializers.IntegerField(help_text="The server's version of the stored answer: the base of the next save")
    seq = serializers.IntegerField(help_text="The stored sequence number: the answer with this seq is saved")
    saved_at = serializers.DateTimeField()
    stale = serializers.BooleanField(help_text="true: a newer (or the same) answer was already stored")


class QuizMoodleXmlImportInputSerializer(serializers.Serializer):
    file = serializers.FileField(required=False, help_text="Multipart: the .xml file Moodle exported")
    xml = serializers.CharField(required=False, help_text="JSON: the file's text instead")
    category = serializers.CharField(required=False, allow_blank=True,
                                     help_text="Folder for questions the file puts in no category")


class QuizMoodleXmlImportedSerializer(serializers.Serializer):
    created = QuizQuestionSerializer(many=True)
    skipped = serializers.ListField(child=serializers.CharField(),
                                    help_text="Questions of unsupported types, each named with its position")


class QuizAnswerConflictSerializer(ProblemSerializer):
    """Problem details; code conflict, submitted or deadline_passed, and for a conflict the server's answer."""

    slot = serializers.IntegerField(required=False, help_text="Conflict only")
    value = serializers.JSONField(required=False, allow_null=True, help_text="Conflict only: the server's answer")
    version = serializers.IntegerField(required=False, help_text="Conflict only: send it as base to keep yours")
    saved_at = serializers.DateTimeField(required=False, help_text="Conflict only: when the server's answer was saved")

    class Meta:
        ref_name = "QuizAnswerConflictProblem"


class QuizAnswerVersionSerializer(serializers.Serializer):
    slot = serializers.IntegerField()
    version = serializers.IntegerField()
    saved_at = serializers.DateTimeField()
    value = serializers.JSONField(required=False, allow_null=True, help_text="Only for slots asked for in ?values=")


class QuizAnswerVersionsSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=AttemptState.values)
    deadline = serializers.DateTimeField()
    server_now = serializers.DateTimeField()
    submitted_at = serializers.DateTimeField(allow_null=True)
    auto_submitted = serializers.BooleanField()
    answers = QuizAnswerVersionSerializer(many=True)


class QuizSubmitInputSerializer(serializers.Serializer):
    auto = serializers.BooleanField(required=False, help_text="true: the page's timer ran out")


# --- Results -----------------------------------------------------------------------------


class QuizStudentRowSerializer(QuizPersonSerializer):
    student_number = serializers.CharField(allow_blank=True, allow_null=True)


class QuizResultRowSerializer(QuizAttemptSummarySerializer):
    student = QuizStudentRowSerializer()


class QuizResultsSerializer(serializers.Serializer):
    quiz = serializers.IntegerField()
    attempts = QuizResultRowSerializer(many=True)


class QuizQuestionStatisticsSerializer(serializers.Serializer):
    slot = serializers.IntegerField()
    title = serializers.CharField()
    type = serializers.ChoiceField(choices=QuestionType.values)
    max_points = serializers.FloatField()
    n = serializers.IntegerField(help_text="Graded first attempts counted")
    mean = serializers.FloatField(allow_null=True, help_text="Mean points")
    sd = serializers.FloatField(allow_null=True)
    facility = serializers.FloatField(allow_null=True, help_text="Percent: 100 × mean / max")
    discrimination = serializers.FloatField(allow_null=True,
                                            help_text="Percent: 100 × r(question score, rest of the test)")


class QuizStatisticsSerializer(serializers.Serializer):
    attempts = serializers.IntegerField(help_text="Graded first attempts")
    mean_percent = serializers.FloatField(allow_null=True)
    distribution = inline_serializer(
        name="QuizScoreBin", many=True,
        fields={"from": serializers.FloatField(help_text="Percent, inclusive"),
                "to": serializers.FloatField(help_text="Percent"), "count": serializers.IntegerField()},
    )
    questions = QuizQuestionStatisticsSerializer(many=True)


class QuizGradingQueueRowSerializer(serializers.Serializer):
    slot = serializers.IntegerField()
    title = serializers.CharField()
    type = serializers.ChoiceField(choices=QuestionType.values)
    pending = serializers.IntegerField(help_text="Answers waiting for a grader")
    graded = serializers.IntegerField(help_text="Answers graded by hand")


class QuizResponseToGradeSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="POST a grade to …/quiz-responses/<id>/grade/")
    attempt = serializers.IntegerField()
    student = serializers.CharField()
    answer = serializers.JSONField(allow_null=True)
    suggested_points = _points(allow_null=True, help_text="The automatic grade, before a person grades it")
    points = _points(allow_null=True, help_text="The grader's points")
    comment = serializers.CharField(allow_blank=True)
    graded_by = serializers.CharField(allow_null=True)


class QuizGradingSlotSerializer(serializers.Serializer):
    slot = serializers.IntegerField()
    title = serializers.CharField()
    text = serializers.CharField()
    rubric = serializers.CharField(allow_blank=True)
    points = _points()
    responses = QuizResponseToGradeSerializer(many=True)


class QuizResponseGradeInputSerializer(serializers.Serializer):
    points = _points(help_text="0 … the question's points, at most two decimals")
    comment = serializers.CharField(required=False, allow_blank=True)


class QuizResponseGradedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    points = _points()
    comment = serializers.CharField(allow_blank=True)
    attempt_state = serializers.ChoiceField(choices=AttemptState.values)
