from django.urls import path

from . import apis, dataset_apis, views, views_files, views_harness

app_name = "projects"

P = "courses/<slug:code>/projects"
A = "api/courses/<slug:code>/projects"

urlpatterns = [
    # Pages
    path(f"{P}/", views.projects_home, name="home"),
    path(f"{P}/datasets/", views.datasets_page, name="datasets"),
    path(f"{P}/<slug:project>/team/", views.team_page, name="team"),
    path(f"{P}/parts/<slug:part>/", views.part_page, name="part"),
    path(f"{P}/parts/<slug:part>/harness/", views.harness_upload, name="harness-upload"),
    path(f"{P}/parts/<slug:part>/harness/<int:pk>/", views.harness_page, name="harness"),
    path(f"{P}/parts/<slug:part>/harness/<int:pk>/trial/", views_harness.harness_trial, name="harness-trial"),
    path(f"{P}/parts/<slug:part>/harness/<int:pk>/live/", views_harness.harness_live, name="harness-live"),
    path(f"{P}/parts/<slug:part>/rerun/", views.part_rerun, name="part-rerun"),
    path(f"{P}/parts/<slug:part>/runs/", views.part_runs, name="part-runs"),
    path(f"{P}/parts/<slug:part>/submissions/<int:pk>/", views.submission_page, name="submission"),
    path(f"{P}/parts/<slug:part>/submissions/<int:pk>/rerun/", views.submission_rerun, name="submission-rerun"),
    path(f"{P}/parts/<slug:part>/submissions/<int:pk>/rubric/", views.rubric_page, name="rubric"),
    path(f"{P}/parts/<slug:part>/submissions/<int:pk>/files/", views_files.submission_files,
         name="submission-files"),
    path(f"{P}/parts/<slug:part>/submissions/<int:pk>/file/", views_files.submission_file, name="submission-file"),
    path(f"{P}/runs/<int:pk>/", views.run_page, name="run"),
    # API
    path(f"{A}/runs/<int:pk>/", apis.RunDetailApi.as_view(), name="api-run"),
    path(f"{A}/<slug:part>/submissions/", apis.SubmissionListCreateApi.as_view(), name="api-submissions"),
    path(f"{A}/<slug:part>/submissions/<int:pk>/", apis.SubmissionDetailApi.as_view(), name="api-submission"),
    path(f"{A}/<slug:part>/submissions/<int:pk>/rerun/", apis.SubmissionRerunApi.as_view(),
         name="api-submission-rerun"),
    path(f"{A}/<slug:part>/rerun/", apis.PartRerunApi.as_view(), name="api-part-rerun"),
    path(f"{A}/<slug:part>/runs/", apis.PartRunsApi.as_view(), name="api-part-runs"),
    path("api/courses/<slug:code>/datasets/", dataset_apis.DatasetListApi.as_view(), name="api-datasets"),
    path("api/courses/<slug:code>/datasets/uploads/", dataset_apis.DatasetUploadStartApi.as_view(),
         name="api-dataset-uploads"),
    path("api/courses/<slug:code>/datasets/uploads/<str:upload>/", dataset_apis.DatasetUploadApi.as_view(),
         name="api-dataset-upload"),
    path("api/courses/<slug:code>/datasets/uploads/<str:upload>/finish/",
         dataset_apis.DatasetUploadFinishApi.as_view(), name="api-dataset-upload-finish"),
]
