"""Quiz pages (courses/<code>/quizzes/…) and the quiz API (api/courses/<code>/…)."""

import os

from django.urls import path

from . import apis, views

app_name = "quizzes"

P = "courses/<slug:code>/quizzes/"
A = "api/courses/<slug:code>/"

# The hottest route of the site; quizzes.middleware.AnswerSaveFastPath matches requests against this same pattern.
answer_save = path(A + "quiz-attempts/<int:attempt_id>/answers/<int:slot_id>/", apis.AnswerSaveApi.as_view(),
                   name="api-answer")
# Every open taking page polls this every few seconds; the same middleware answers it.
answer_versions = path(A + "quiz-attempts/<int:attempt_id>/answers/", apis.AnswerVersionsApi.as_view(),
                       name="api-answer-versions")

urlpatterns = [
    # Pages
    path(P, views.quiz_list, name="list"),
    path(P + "new/", views.quiz_edit, name="create"),
    path(P + "bank/", views.bank, name="bank"),
    path(P + "bank/<int:question_id>/", views.question_edit, name="question-edit"),
    path(P + "bank/export.gift.txt", views.bank_export, name="bank-export"),
    path(P + "bank/export.xml", views.bank_export_xml, name="bank-export-xml"),
    path(P + "bank/import-xml/", views.bank_import_xml, name="bank-import-xml"),
    path(P + "bank/new/", views.question_edit, name="question-new"),
    path(P + "bank/<int:question_id>/gift/", views.question_edit_gift, name="question-edit-gift"),
    path(P + "regrade/<int:key_change_id>/", views.regrade, name="regrade"),
    path(P + "<int:quiz_id>/", views.quiz_detail, name="detail"),
    path(P + "<int:quiz_id>/edit/", views.quiz_edit, name="edit"),
    path(P + "<int:quiz_id>/questions/", views.quiz_questions, name="questions"),
    path(P + "<int:quiz_id>/preview/", views.quiz_preview, name="preview"),
    path(P + "<int:quiz_id>/start/", views.attempt_start, name="start"),
    path(P + "<int:quiz_id>/statistics/", views.statistics, name="statistics"),
    path(P + "<int:quiz_id>/grading/", views.grading_queue, name="grading"),
    path(P + "<int:quiz_id>/grading/<int:slot_id>/", views.grading_slot, name="grading-slot"),
    path(P + "attempts/<int:attempt_id>/", views.attempt_page, name="attempt"),
    path(P + "attempts/<int:attempt_id>/check/<int:slot_id>/", views.answer_check, name="answer-check"),
    # API: authoring
    path(A + "quizzes/", apis.QuizListApi.as_view(), name="api-quizzes"),
    path(A + "quizzes/<int:quiz_id>/", apis.QuizDetailApi.as_view(), name="api-quiz"),
    path(A + "quizzes/<int:quiz_id>/slots/", apis.SlotListApi.as_view(), name="api-slots"),
    path(A + "quizzes/<int:quiz_id>/slots/order/", apis.SlotOrderApi.as_view(), name="api-slot-order"),
    path(A + "quizzes/<int:quiz_id>/slots/<int:slot_id>/", apis.SlotDetailApi.as_view(), name="api-slot"),
    path(A + "questions/", apis.QuestionListApi.as_view(), name="api-questions"),
    path(A + "questions/gift/", apis.GiftApi.as_view(), name="api-gift"),
    path(A + "questions/moodle-xml/", apis.MoodleXmlApi.as_view(), name="api-moodle-xml"),
    path(A + "questions/<int:question_id>/", apis.QuestionDetailApi.as_view(), name="api-question"),
    path(A + "key-changes/<int:key_change_id>/regrade/", apis.RegradeApi.as_view(), name="api-regrade"),
    # API: taking
    path(A + "quizzes/<int:quiz_id>/attempts/", apis.AttemptListApi.as_view(), name="api-attempts"),
    path(A + "quiz-attempts/<int:attempt_id>/", apis.AttemptDetailApi.as_view(), name="api-attempt"),
    answer_save,
    answer_versions,
    path(A + "quiz-attempts/<int:attempt_id>/answers/<int:slot_id>/check/", apis.AnswerCheckApi.as_view(),
         name="api-answer-check"),
    path(A + "quiz-attempts/<int:attempt_id>/submit/", apis.AttemptSubmitApi.as_view(), name="api-submit"),
    # API: results and grading
    path(A + "quizzes/<int:quiz_id>/results/", apis.ResultsApi.as_view(), name="api-results"),
    path(A + "quizzes/<int:quiz_id>/statistics/", apis.StatisticsApi.as_view(), name="api-statistics"),
    path(A + "quizzes/<int:quiz_id>/grading/", apis.GradingQueueApi.as_view(), name="api-grading"),
    path(A + "quizzes/<int:quiz_id>/grading/<int:slot_id>/", apis.GradingSlotApi.as_view(), name="api-grading-slot"),
    path(A + "quiz-responses/<int:response_id>/grade/", apis.ResponseGradeApi.as_view(), name="api-grade-response"),
]

# The benchmark's ceiling: a minimal view, mounted only when the benchmark asks for it
# (bench/quiz_rush.py starts gunicorn with QUIZ_BENCH_PING=1), so production has no such URL.
if os.environ.get("QUIZ_BENCH_PING") == "1":
    urlpatterns.append(path("quizzes/_ping", views.bench_ping, name="bench-ping"))
