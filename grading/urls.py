"""Gradebook pages (courses/<code>/grades/...) and API (api/courses/<code>/...)."""

from django.urls import path

from . import apis, views

urlpatterns = [
    path("courses/<slug:code>/grades/", views.gradebook, name="grading-gradebook"),
    path("courses/<slug:code>/grades/mine/", views.my_grades, name="grading-mine"),
    path("courses/<slug:code>/grades/import/", views.import_grades, name="grading-import"),
    path("courses/<slug:code>/grades/letters/", views.letters, name="grading-letters"),
    path("courses/<slug:code>/grades/export.csv", views.export, {"fmt": "csv"}, name="grading-export-csv"),
    path("courses/<slug:code>/grades/export.xlsx", views.export, {"fmt": "xlsx"}, name="grading-export-xlsx"),
    path("courses/<slug:code>/grades/moodle.csv", views.export, {"fmt": "moodle"}, name="grading-export-moodle"),
    path("courses/<slug:code>/grades/items/<int:item_id>/report.csv", views.item_report, name="grading-item-report"),
    path("courses/<slug:code>/grades/items/<int:item_id>/release/", views.release, name="grading-release"),
    path("api/courses/<slug:code>/grade-items/", apis.ItemListApi.as_view(), name="grading-api-items"),
    path("api/courses/<slug:code>/grade-items/<int:item_id>/release/", apis.ReleaseApi.as_view(),
         name="grading-api-release"),
    path("api/courses/<slug:code>/grade-items/<int:item_id>/students/<int:student_id>/history/",
         apis.GradeHistoryApi.as_view(), name="grading-api-history"),
    path("api/courses/<slug:code>/grades/", apis.GradeListApi.as_view(), name="grading-api-grades"),
    path("api/courses/<slug:code>/grades/summary/", apis.SummaryApi.as_view(), name="grading-api-summary"),
    path("api/courses/<slug:code>/grades/what-if/", apis.WhatIfApi.as_view(), name="grading-api-what-if"),
    path("api/courses/<slug:code>/grades/statistics/", apis.StatisticsApi.as_view(), name="grading-api-statistics"),
    path("api/courses/<slug:code>/grades/export/", apis.ExportApi.as_view(), name="grading-api-export"),
    path("api/courses/<slug:code>/grades/import/preview/", apis.ImportPreviewApi.as_view(),
         name="grading-api-import-preview"),
    path("api/courses/<slug:code>/grades/import/apply/", apis.ImportApplyApi.as_view(),
         name="grading-api-import-apply"),
    path("api/courses/<slug:code>/grades/letter-overrides/", apis.LetterOverrideApi.as_view(),
         name="grading-api-letter-override"),
]
