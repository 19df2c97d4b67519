"""REST API of the project app: one small view per operation (STYLE.md).

Authentication: session (the browser) or token (``Authorization: Token …``,
for ``curl`` from a terminal).  Every view goes through projects.access.

    GET  api/courses/<code>/projects/<part>/submissions/             list (students: their team's)
    POST api/courses/<code>/projects/<part>/submissions/             submit (multipart ``file``; students)
    GET  api/courses/<code>/projects/<part>/submissions/<id>/        status, queue position, log tail, results
    POST api/courses/<code>/projects/<part>/submissions/<id>/rerun/  instructor
    POST api/courses/<code>/projects/<part>/rerun/                   instructor: every submission of the part
    GET  api/courses/<code>/projects/<part>/runs/                    staff: every run's record
    GET  api/courses/<code>/projects/runs/<id>/                      staff: one run with its logs
"""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from courseapp.access import is_staff_of
from courseapp.api_errors import ApiProblem, Problem
from courseapp.request_types import UserRequest

from . import access, lifecycle, selectors, serializers, services

# Errors are problem details (courseapp.api_errors), answered by the site's exception handler.
_REFUSED = {
    401: OpenApiResponse(Problem, description="No or bad credentials"),
    403: OpenApiResponse(Problem, description="A member without the role this needs"),
    404: OpenApiResponse(Problem, description="Not a member of the course, or no such object"),
}
_BAD = {400: OpenApiResponse(Problem, description="What to fix, in `detail`")}


def _error(exc: services.ProjectError) -> ApiProblem:
    """A service's refusal (what to fix) as a 400 problem."""
    return ApiProblem(str(exc), code="invalid")


def _submission_payload(request: UserRequest, submission, *, staff: bool) -> dict:
    score = selectors.submission_scores(part=submission.part, submissions=[submission])[submission.pk]
    return serializers.api_data(serializers.submission_data(score, staff=staff, now=timezone.now(),
                                                            latest=selectors.latest_run(submission)))


class SubmissionListCreateApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(operation_id="projects_submissions_list", summary="Submissions of a part",
                   description="Students see their team's submissions; staff see every team's.",
                   responses={200: serializers.SubmissionListSerializer, **_REFUSED})
    def get(self, request: UserRequest, code: str, part: str) -> Response:
        part_obj = access.access_part(request.user, code, part)
        staff = is_staff_of(request.user, part_obj.course)
        scores = selectors.part_submissions(part=part_obj, visible=access.visible_submissions(request.user, part_obj))
        latest = selectors.latest_runs([s.submission for s in scores])
        positions = selectors.queue_positions(latest.values())
        now = timezone.now()
        return Response(serializers.api_data({
            "count": len(scores),
            "results": [serializers.submission_data(s, staff=staff, now=now, latest=latest.get(s.submission.pk),
                                                    positions=positions)
                        for s in scores],
        }))

    @extend_schema(operation_id="projects_submissions_create", summary="Submit",
                   description="A student in a team uploads one .zip, or the files themselves (zipped "
                               "for them). The grading job is queued when the upload is stored.",
                   request={"multipart/form-data": serializers.SubmissionUploadSerializer},
                   responses={201: serializers.SubmissionSerializer,
                              400: OpenApiResponse(Problem,
                                                   description="Refused: the reason in `detail` (field `file` in "
                                                               "`errors` when no file was attached)"),
                              503: OpenApiResponse(Problem,
                                                   description="The database is unreachable (a restart): nothing "
                                                               "was stored; submit again (see Retry-After)"),
                              **_REFUSED})
    def post(self, request: UserRequest, code: str, part: str) -> Response:
        part_obj = access.access_part_for_submitting(request.user, code, part)
        uploads = request.FILES.getlist("file")
        if not uploads:
            raise ValidationError({"file": ["Attach your work as a multipart field named “file” "
                                            "(curl -F file=@submission.zip …)."]})
        try:
            submission = services.submission_create(
                part=part_obj, user=request.user, uploads=uploads,
                via="api" if request.auth is not None else "web",
            )
        except services.ProjectError as exc:
            raise _error(exc) from None
        except lifecycle.DB_ERRORS:  # its transaction did not commit: nothing stored, the staged file removed
            lifecycle.drop_connection()
            raise ApiProblem("The course database is restarting, so nothing was stored. Submit again in a minute.",
                             status=status.HTTP_503_SERVICE_UNAVAILABLE, code="database_unavailable",
                             headers={"Retry-After": "30"}) from None

        def payload() -> dict:  # committed: answer 201 even if the database blips right now
            submission.refresh_from_db()
            return _submission_payload(request, submission, staff=False)

        body = lifecycle.db_retry(payload, what=f"answering submission {submission.pk}", deadline_s=15)
        return Response(body, status=status.HTTP_201_CREATED)


class SubmissionDetailApi(APIView):
    @extend_schema(operation_id="projects_submission_retrieve", summary="A submission's status and results",
                   responses={200: serializers.SubmissionSerializer, **_REFUSED})
    def get(self, request: UserRequest, code: str, part: str, pk: int) -> Response:
        submission = access.access_submission(request.user, code, part, pk)
        staff = is_staff_of(request.user, submission.part.course)
        return Response(_submission_payload(request, submission, staff=staff))


class SubmissionRerunApi(APIView):
    @extend_schema(operation_id="projects_submission_rerun", summary="Rerun one submission (instructor)",
                   request=None, responses={202: serializers.RunSerializer, **_BAD, **_REFUSED})
    def post(self, request: UserRequest, code: str, part: str, pk: int) -> Response:
        submission = access.access_submission_as_instructor(request.user, code, part, pk)
        try:
            run = services.submission_rerun(submission=submission, by=request.user)
        except services.ProjectError as exc:
            raise _error(exc) from None
        run.refresh_from_db()
        return Response(serializers.api_data(serializers.run_data(run, staff=True)), status=status.HTTP_202_ACCEPTED)


class PartRerunApi(APIView):
    @extend_schema(operation_id="projects_part_rerun", summary="Rerun every submission of a part (instructor)",
                   request=None, responses={202: serializers.PartRerunSerializer, **_BAD, **_REFUSED})
    def post(self, request: UserRequest, code: str, part: str) -> Response:
        part_obj = access.access_part_as_instructor(request.user, code, part)
        try:
            count = services.part_rerun(part=part_obj, by=request.user)
        except services.ProjectError as exc:
            raise _error(exc) from None
        return Response({"queued": count, "queue": "rerun"}, status=status.HTTP_202_ACCEPTED)


class PartRunsApi(APIView):
    @extend_schema(operation_id="projects_part_runs_list", summary="Every run of a part (staff)",
                   responses={200: serializers.PartRunListSerializer, **_REFUSED})
    def get(self, request: UserRequest, code: str, part: str) -> Response:
        part_obj = access.access_part_as_staff(request.user, code, part)
        runs = list(selectors.runs_of_part(part=part_obj)[:500])
        positions = selectors.queue_positions(runs)
        results = []
        for run in runs:
            row = serializers.run_data(run, staff=True, position=positions.get(run.pk), brief=True)
            row.update({"submission": run.submission_id, "team": run.submission.team.name,
                        "requested_by": str(run.requested_by) if run.requested_by else None})
            results.append(row)
        return Response(serializers.api_data({"count": len(results), "results": results}))


class RunDetailApi(APIView):
    @extend_schema(operation_id="projects_run_retrieve", summary="One run with its logs (staff)",
                   responses={200: serializers.RunDetailSerializer, **_REFUSED})
    def get(self, request: UserRequest, code: str, pk: int) -> Response:
        run = access.access_run_as_staff(request.user, code, pk)
        data = serializers.run_data(run, staff=True)
        data.update({"stdout": run.stdout, "stderr": run.stderr, "log": run.log, "results": run.results,
                     "submission": run.submission_id})
        return Response(serializers.api_data(data))
