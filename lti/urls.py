"""LTI 1.3: protocol endpoints under /lti/, the instructor's pages under /courses/<code>/lti/."""

from django.urls import path

from . import apis, views

C = "courses/<slug:code>/lti/"

urlpatterns = [
    path("lti/login/", views.login_initiation, name="lti-login"),
    path("lti/launch/", views.launch, name="lti-launch"),
    path("lti/jwks.json", views.jwks, name="lti-jwks"),
    path("lti/deep-link/", views.deep_link, name="lti-deep-link"),
    path(C, views.home, name="lti-home"),
    path(C + "platforms/new/", views.platform_edit, name="lti-platform-new"),
    path(C + "platforms/<int:platform_id>/", views.platform_edit, name="lti-platform-edit"),
    path(C + "contexts/<int:context_id>/roster/", views.roster_sync, name="lti-roster"),
    path(C + "contexts/<int:context_id>/grades/", views.passback_page, name="lti-passback"),
    path(C + "contexts/<int:context_id>/grades/<int:line_id>/", views.line_item_posts, name="lti-posts"),
    # API
    path("api/courses/<slug:code>/lti/contexts/", apis.ContextListApi.as_view(), name="lti-api-contexts"),
    path("api/courses/<slug:code>/lti/contexts/<int:context_id>/roster/", apis.RosterSyncApi.as_view(),
         name="lti-api-roster"),
    path("api/courses/<slug:code>/lti/contexts/<int:context_id>/grades/send/", apis.PassbackSendApi.as_view(),
         name="lti-api-passback-send"),
]
