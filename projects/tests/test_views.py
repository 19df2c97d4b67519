"""Project pages through HTTP: each role sees what it should; refused roles are refused."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from grading.models import Grade
from projects import services
from projects.models import GradingRun, HarnessBundle, ProjectPart, RubricGrade, Team, TeamMembership

from .conftest import ECHO_HARNESS, upload, zip_bytes

pytestmark = pytest.mark.django_db

BASE = "/courses/ceng501-2024f/projects"


@pytest.fixture
def graded(echo_part, student, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return services.submission_create(part=echo_part, user=student, uploads=[upload("crash")])


def stranger(project):
    return Team.objects.get(project=project, name="Batch Normies").memberships.first().user


def test_home_lists_parts_and_the_student_team(project, student, client_for):
    page = client_for(student).get(f"{BASE}/").content.decode()
    assert "Project final code" in page and "Project proposal" in page
    assert "Attention Seekers" in page
    assert "Authorization: Token" in page


def test_course_bar_links_to_the_project(project, student, client_for):
    page = client_for(student).get(f"{BASE}/").content.decode()
    assert f'href="{BASE}/"' in page


def test_outsider_cannot_see_project_pages(project, echo_part, outsider, client_for):
    client = client_for(outsider)
    assert client.get(f"{BASE}/").status_code == 404
    assert client.get(f"{BASE}/parts/echo/").status_code == 404
    assert client.get(f"{BASE}/project/team/").status_code == 404


def test_anonymous_is_sent_to_login(project):
    from django.test import Client

    response = Client().get(f"{BASE}/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_upload_form_without_javascript_submits_and_redirects(echo_part, student, client_for,
                                                              django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(student).post(f"{BASE}/parts/echo/", {"file": upload("correct")})
    run = GradingRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"{BASE}/parts/echo/submissions/{run.submission_id}/"
    assert Grade.objects.get(item=echo_part.grade_item, student=student).points == Decimal("8.00")


def test_refused_upload_shows_the_message(echo_part, student, client_for):
    evil = SimpleUploadedFile("evil.zip", zip_bytes({"/etc/passwd": "x"}))
    response = client_for(student).post(f"{BASE}/parts/echo/", {"file": evil}, follow=True)
    assert "The archive was refused" in response.content.decode()


def test_student_status_page_shows_the_crash(graded, student, client_for):
    page = client_for(student).get(f"{BASE}/parts/echo/submissions/{graded.pk}/").content.decode()
    assert "shape mismatch in my attention layer" in page
    assert "key a" in page and "key d" not in page  # d is hidden until published


def test_other_team_cannot_open_the_status_page(graded, client_for):
    client = client_for(stranger(graded.part.project))
    assert client.get(f"{BASE}/parts/echo/submissions/{graded.pk}/").status_code == 404


def test_staff_part_page_lists_every_submission_and_the_harness(graded, ta, client_for):
    page = client_for(ta).get(f"{BASE}/parts/echo/").content.decode()
    assert "Attention Seekers" in page and graded.part.harness.sha256[:12] in page
    assert "Upload a new harness version" not in page  # instructor only


@pytest.mark.parametrize("who", ["ta", "student"])
def test_only_the_instructor_uploads_harnesses_and_reruns(graded, who, request, client_for):
    client = client_for(request.getfixturevalue(who))
    zipped = SimpleUploadedFile("h.zip", zip_bytes({"harness.toml": "x"}))
    assert client.post(f"{BASE}/parts/echo/harness/", {"harness": zipped}).status_code == 403
    assert client.post(f"{BASE}/parts/echo/rerun/").status_code == 403
    assert client.post(f"{BASE}/parts/echo/submissions/{graded.pk}/rerun/").status_code == 403


def test_instructor_uploads_a_harness_version(echo_part, instructor, client_for):
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for path in ECHO_HARNESS.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                if path.name == "harness.toml":
                    data = data.replace(b'version = "test-1"', b'version = "test-2"')
                zf.writestr(path.relative_to(ECHO_HARNESS).as_posix(), data)
    response = client_for(instructor).post(
        f"{BASE}/parts/echo/harness/", {"harness": SimpleUploadedFile("v2.zip", buffer.getvalue())}, follow=True)
    assert "is uploaded as a candidate: the live version stays live" in response.content.decode()
    echo_part.refresh_from_db()
    assert echo_part.harness.label == "test-1" and HarnessBundle.objects.filter(part=echo_part).count() == 2
    candidate = HarnessBundle.objects.get(part=echo_part, label="test-2")
    client_for(instructor).post(f"{BASE}/parts/echo/harness/{candidate.pk}/live/")
    echo_part.refresh_from_db()
    assert echo_part.harness.label == "test-2"


def test_broken_harness_upload_says_why(echo_part, instructor, client_for):
    zipped = SimpleUploadedFile("broken.zip", zip_bytes({"readme.txt": "no manifest"}))
    response = client_for(instructor).post(f"{BASE}/parts/echo/harness/", {"harness": zipped}, follow=True)
    assert "no harness.toml at its root" in response.content.decode()


def test_runs_pages_are_for_staff(graded, ta, student, client_for):
    run = graded.runs.get()
    assert client_for(student).get(f"{BASE}/parts/echo/runs/").status_code == 403
    assert client_for(student).get(f"{BASE}/runs/{run.pk}/").status_code == 403
    page = client_for(ta).get(f"{BASE}/runs/{run.pk}/").content.decode()
    assert "RuntimeError" in page and run.harness_version in page
    assert client_for(ta).get(f"{BASE}/parts/echo/runs/").status_code == 200


def test_runs_page_query_count_is_flat(graded, instructor, client_for, django_assert_max_num_queries,
                                       django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        for _ in range(6):
            services.submission_rerun(submission=graded, by=instructor)
    client = client_for(instructor)
    with django_assert_max_num_queries(12):
        assert client.get(f"{BASE}/parts/echo/runs/").status_code == 200


# --- Teams page ---------------------------------------------------------------------------


def test_student_creates_and_a_classmate_joins_through_the_page(project, course, client_for):
    from courseapp.models import Membership, Role

    a, b = [m.user for m in Membership.objects.filter(course=course, role=Role.STUDENT)
            .order_by("-user__username")[:2]]
    client_for(a).post(f"{BASE}/project/team/", {"action": "create", "name": "Dropouts"})
    team = Team.objects.get(project=project, name="Dropouts")
    response = client_for(b).post(f"{BASE}/project/team/", {"action": "join", "code": team.join_code}, follow=True)
    assert "You joined Dropouts" in response.content.decode()
    assert TeamMembership.objects.filter(team=team, left_at__isnull=True).count() == 2


def test_full_team_join_shows_the_reason(project, course, client_for):
    from courseapp.models import Membership, Role

    (c,) = [m.user for m in Membership.objects.filter(course=course, role=Role.STUDENT)
            .order_by("-user__username")[:1]]
    team = Team.objects.get(project=project, name="Attention Seekers")
    response = client_for(c).post(f"{BASE}/project/team/", {"action": "join", "code": team.join_code}, follow=True)
    assert "already has 2 members" in response.content.decode()


def test_ta_cannot_assign_students(project, ta, student, client_for):
    team = Team.objects.get(project=project, name="Batch Normies")
    response = client_for(ta).post(f"{BASE}/project/team/", {"action": "assign", "student": student.pk,
                                                             "team": team.pk})
    assert response.status_code == 403


def test_ta_gets_403_creating_a_team_and_the_instructor_creates_an_empty_one(project, ta, instructor, client_for):
    refused = client_for(ta).post(f"{BASE}/project/team/", {"action": "create", "name": "TA Team"})
    assert refused.status_code == 403
    assert not Team.objects.filter(project=project, name="TA Team").exists()
    made = client_for(instructor).post(f"{BASE}/project/team/", {"action": "create", "name": "Spare"}, follow=True)
    assert "Team created." in made.content.decode()
    spare = Team.objects.get(project=project, name="Spare")
    assert spare.created_by == instructor and not spare.memberships.exists()  # the instructor joins no team


@pytest.mark.parametrize("action", ["join", "leave"])
def test_staff_cannot_join_or_leave_teams(project, ta, instructor, client_for, action):
    team = Team.objects.get(project=project, name="Batch Normies")
    for user in (ta, instructor):
        response = client_for(user).post(f"{BASE}/project/team/", {"action": action, "code": team.join_code})
        assert response.status_code == 403
    assert not TeamMembership.objects.filter(user__in=[ta, instructor]).exists()


def test_student_cannot_assign_and_an_unknown_action_is_a_400(project, student, client_for):
    team = Team.objects.get(project=project, name="Batch Normies")
    before = TeamMembership.objects.filter(user=student, left_at__isnull=True).get().team_id
    response = client_for(student).post(f"{BASE}/project/team/", {"action": "assign", "student": student.pk,
                                                                  "team": team.pk})
    assert response.status_code == 403
    assert TeamMembership.objects.filter(user=student, left_at__isnull=True).get().team_id == before
    bad = client_for(student).post(f"{BASE}/project/team/", {"action": "disband"})
    assert bad.status_code == 400 and "send one of create, join, leave, assign" in bad.content.decode()


def test_staff_upload_through_the_page_is_refused_with_the_reason(echo_part, ta, client_for):
    response = client_for(ta).post(f"{BASE}/parts/echo/", {"file": upload()})
    assert response.status_code == 403
    assert not echo_part.submissions.exists()


def test_instructor_assigns_through_the_page(project, instructor, student, client_for):
    team = Team.objects.get(project=project, name="Batch Normies")
    services.team_leave(project=project, user=team.memberships.first().user)
    response = client_for(instructor).post(f"{BASE}/project/team/", {"action": "assign", "student": student.pk,
                                                                     "team": team.pk}, follow=True)
    assert f"{student} is now in Batch Normies" in response.content.decode()


def test_staff_team_page_shows_history(project, student, ta, client_for):
    services.team_leave(project=project, user=student)
    page = client_for(ta).get(f"{BASE}/project/team/").content.decode()
    assert "Attention Seekers" in page and str(student) in page


# --- Rubric page ----------------------------------------------------------------------------


@pytest.fixture
def proposal(project, student, django_capture_on_commit_callbacks):
    part = ProjectPart.objects.get(course=project.course, slug="proposal")
    with django_capture_on_commit_callbacks(execute=True):
        sub = services.submission_create(part=part, user=student,
                                         uploads=[SimpleUploadedFile("p.pdf", b"%PDF-1.4")])
    return sub


def test_ta_grades_with_the_rubric_page(proposal, ta, client_for):
    criteria = list(proposal.part.criteria.all())
    data = {f"points-{c.pk}": str(c.points) for c in criteria}
    url = f"{BASE}/parts/proposal/submissions/{proposal.pk}/rubric/"
    response = client_for(ta).post(url, {**data, "comment": "Clear"}, follow=True)
    assert "Rubric saved" in response.content.decode()
    assert RubricGrade.objects.get(submission=proposal).total == Decimal("5.00")


def test_rubric_page_reports_a_bad_number(proposal, ta, client_for):
    criterion = proposal.part.criteria.first()
    url = f"{BASE}/parts/proposal/submissions/{proposal.pk}/rubric/"
    response = client_for(ta).post(url, {f"points-{criterion.pk}": "lots"})
    assert f"Points for “{criterion.title}”: “lots” is not a number" in response.content.decode()


def test_rubric_page_reads_a_decimal_comma_and_refuses_a_third_decimal(proposal, ta, client_for):
    criteria = list(proposal.part.criteria.all())
    data = {f"points-{c.pk}": str(c.points) for c in criteria}
    url = f"{BASE}/parts/proposal/submissions/{proposal.pk}/rubric/"
    refused = client_for(ta).post(url, {**data, f"points-{criteria[0].pk}": "1,255"}, follow=True)
    assert "1.255 has more than two decimals; round it to hundredths" in refused.content.decode()
    assert not RubricGrade.objects.filter(submission=proposal).exists()  # not rounded silently to 1.26
    client_for(ta).post(url, {**data, f"points-{criteria[0].pk}": "1,5"}, follow=True)
    full = sum(c.points for c in criteria)
    assert RubricGrade.objects.get(submission=proposal).total == full - criteria[0].points + Decimal("1.5")


def test_students_cannot_open_the_rubric_page(proposal, student, client_for):
    assert client_for(student).get(f"{BASE}/parts/proposal/submissions/{proposal.pk}/rubric/").status_code == 403


# --- Calendar --------------------------------------------------------------------------------


def test_part_deadlines_are_calendar_events(project, course):
    from projects.calendar import course_events

    events = course_events(course)
    assert [e["summary"] for e in events] == [
        "CENG 501 Project proposal due", "CENG 501 Project progress report due", "CENG 501 Project final code due"]
    final = ProjectPart.objects.get(course=course, slug="final-code")
    assert events[-1]["end"] == final.due_at and events[-1]["url"] == f"{BASE}/parts/final-code/"
    assert len({e["uid"] for e in events}) == 3 and "10.00% per started day" in events[-1]["description"]
