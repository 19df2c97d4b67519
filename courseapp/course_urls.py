"""Course pages, the iCalendar feed and the course API (courses, schedule, enrollments)."""

from django.contrib.auth import views as auth_views
from django.urls import path

from . import apis, editing_views, token_views, views
from .forms import AccountPasswordResetForm

urlpatterns = [
    path("account/tokens/", token_views.tokens_page, name="courseapp-tokens"),
    path("courses/<slug:code>/", views.course_detail, name="course-detail"),
    path("courses/<slug:code>/schedule/", views.schedule, name="courseapp-schedule"),
    # Editing the course (courseapp/editing_views.py)
    path("courses/<slug:code>/edit/", editing_views.course_edit, name="courseapp-course-edit"),
    path("courses/<slug:code>/schedule/new/", editing_views.session_add, name="courseapp-session-add"),
    path("courses/<slug:code>/schedule/<int:lecture_id>/edit/", editing_views.lecture_edit,
         name="courseapp-lecture-edit"),
    path("courses/<slug:code>/schedule/<int:lecture_id>/cancel/", editing_views.lecture_cancel,
         name="courseapp-lecture-cancel"),
    path("courses/<slug:code>/schedule/<int:lecture_id>/restore/", editing_views.lecture_restore,
         name="courseapp-lecture-restore"),
    path("courses/<slug:code>/schedule/<int:lecture_id>/materials/", editing_views.material_add,
         name="courseapp-material-add"),
    path("courses/<slug:code>/materials/<int:material_id>/", editing_views.material_open,
         name="courseapp-material"),
    path("courses/<slug:code>/materials/<int:material_id>/remove/", editing_views.material_remove,
         name="courseapp-material-remove"),
    path("courses/<slug:code>/announcements/", editing_views.announcements, name="courseapp-announcements"),
    path("courses/<slug:code>/history/", editing_views.history, name="courseapp-history"),
    path("courses/<slug:code>/calendar/<str:token>.ics", views.calendar_feed, name="courseapp-calendar"),
    path("courses/<slug:code>/roster/", views.roster, name="courseapp-roster"),
    path("courses/<slug:code>/roster/<str:username>/unlock/", views.roster_unlock, name="courseapp-roster-unlock"),
    path("courses/<slug:code>/roster/<str:username>/revoke-tokens/", views.roster_revoke_tokens,
         name="courseapp-roster-revoke-tokens"),
    path("courses/<slug:code>/roster/import/", views.roster_import, name="courseapp-roster-import"),
    path("courses/<slug:code>/roster/import/apply/", views.roster_import_apply,
         name="courseapp-roster-import-apply"),
    # Setting a first password (accounts made by roster import) or a forgotten one.
    path("password-reset/", auth_views.PasswordResetView.as_view(form_class=AccountPasswordResetForm),
         name="password_reset"),
    path("password-reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path("password-reset/<uidb64>/<token>/", auth_views.PasswordResetConfirmView.as_view(),
         name="password_reset_confirm"),
    path("password-reset/complete/", auth_views.PasswordResetCompleteView.as_view(),
         name="password_reset_complete"),
    # API
    path("api/auth/token/", apis.TokenObtainApi.as_view(), name="courseapp-api-token"),
    path("api/auth/tokens/", apis.TokenListApi.as_view(), name="courseapp-api-tokens"),
    path("api/auth/tokens/<int:token_id>/", apis.TokenRevokeApi.as_view(), name="courseapp-api-token-revoke"),
    path("api/courses/", apis.CourseListApi.as_view(), name="courseapp-api-courses"),
    path("api/courses/<slug:code>/", apis.CourseDetailApi.as_view(), name="courseapp-api-course"),
    path("api/courses/<slug:code>/lectures/", apis.LectureListApi.as_view(), name="courseapp-api-lectures"),
    path("api/courses/<slug:code>/enrollments/", apis.EnrollmentListApi.as_view(),
         name="courseapp-api-enrollments"),
    path("api/courses/<slug:code>/roster/preview/", apis.RosterPreviewApi.as_view(),
         name="courseapp-api-roster-preview"),
    path("api/courses/<slug:code>/roster/apply/", apis.RosterApplyApi.as_view(),
         name="courseapp-api-roster-apply"),
]
