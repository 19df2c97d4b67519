"""Submitted files through HTTP: who may open them, the headers they come with, and hostile archives."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from projects import files, services
from projects.models import ProjectPart, RubricCriterion, Submission, Team

from .test_views import stranger

pytestmark = pytest.mark.django_db

BASE = "/courses/ceng501-2024f/projects/parts"
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@pytest.fixture
def proposal(project, student) -> Submission:
    """The student's team's PDF proposal (a rubric-graded part)."""
    part = ProjectPart.objects.get(course=project.course, slug="proposal")
    return services.submission_create(part=part, user=student,
                                      uploads=[SimpleUploadedFile("proposal.pdf", PDF, "application/pdf")])


def crafted(project, student, entries: list[tuple[zipfile.ZipInfo | str, bytes]], *, slug="final-code") -> Submission:
    """A zip submission stored as is (the upload checks would refuse it): the viewer must still be safe."""
    part = ProjectPart.objects.get(course=project.course, slug=slug)
    team = Team.objects.get(memberships__user=student, project=project)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for info, data in entries:
            zf.writestr(info, data)
    rel = f"{project.course.code}/{part.slug}/team-{team.pk}/crafted.zip"
    path = Path(settings.SUBMISSIONS_ROOT) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    number = Submission.objects.filter(part=part, team=team).count() + 1
    submission = Submission.objects.create(part=part, team=team, submitter=student, number=number,
                                           submitted_at=timezone.now(), path=rel, original_name="work.zip",
                                           size_bytes=path.stat().st_size, sha256="0" * 64)
    submission.members.add(student)
    return submission


def url(sub: Submission, what: str = "files") -> str:
    return f"{BASE}/{sub.part.slug}/submissions/{sub.pk}/{what}/"


def test_storage_is_not_under_static_or_a_served_url():
    assert not str(settings.SUBMISSIONS_ROOT).startswith(str(settings.STATIC_ROOT))
    from django.test import Client

    assert Client().get("/media/submissions/").status_code == 404


@pytest.mark.parametrize("who", ["instructor", "ta", "student", "other_student"])
def test_staff_and_the_team_can_download(proposal, who, request, client_for):
    user = request.getfixturevalue(who)  # other_student is the student's teammate
    response = client_for(user).get(url(proposal, "file"))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="proposal.pdf"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in response["Cache-Control"]


def test_another_team_and_outsiders_get_404(project, proposal, outsider, client_for):
    for user in (stranger(project), outsider):
        client = client_for(user)
        for what in ("file", "files"):
            assert client.get(url(proposal, what)).status_code == 404
    from django.test import Client

    assert Client().get(url(proposal, "file")).status_code == 302  # to the login page


def test_pdf_inline_is_framable_by_the_site_only(proposal, ta, client_for):
    response = client_for(ta).get(url(proposal, "file") + "?inline=1")
    assert response["Content-Disposition"] == 'inline; filename="proposal.pdf"'
    assert response["Content-Type"] == "application/pdf"
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    csp = response["Content-Security-Policy"]
    assert "frame-ancestors 'self'" in csp and "object-src 'self'" in csp and "script-src 'self'" in csp
    # The viewer page frames it from the site only.
    page = client_for(ta).get(url(proposal)).content.decode()
    assert f'<iframe class="file-frame" src="{url(proposal, "file")}?inline=1"' in page
    page_csp = client_for(ta).get(url(proposal))["Content-Security-Policy"]
    assert "default-src 'self'" in page_csp and "frame-src" not in page_csp  # frames from the site only


def test_rubric_page_shows_the_file_beside_the_rubric(proposal, ta, client_for):
    RubricCriterion.objects.create(part=proposal.part, title="Clarity", points=5)
    page = client_for(ta).get(f"{BASE}/proposal/submissions/{proposal.pk}/rubric/").content.decode()
    assert 'class="grade-beside"' in page and "file-frame" in page and "Clarity" in page


def test_html_is_an_attachment_never_rendered(project, student, client_for):
    sub = crafted(project, student, [("report.html", b"<script>alert(1)</script>"),
                                     ("logo.svg", b"<svg onload='alert(1)'/>")])
    client = client_for(student)
    for name in ("report.html", "logo.svg"):
        response = client.get(url(sub, "file"), {"path": name, "inline": "1"})
        assert response.status_code == 200
        assert response["Content-Disposition"].startswith("attachment;")
        assert response["Content-Type"] == "text/plain; charset=utf-8"
        assert response["X-Content-Type-Options"] == "nosniff"
    page = client.get(url(sub), {"path": "report.html"}).content.decode()
    assert "<script>alert(1)</script>" not in page and "&lt;" in page  # shown as highlighted source


def test_code_is_highlighted_with_classes_not_inline_styles(project, student, client_for):
    sub = crafted(project, student, [("src/model.py", b"def forward(x):\n    return x * 2\n"),
                                     ("data.bin", b"\x00\x01")])
    page = client_for(student).get(url(sub), {"path": "src/model.py"}).content.decode()
    assert '<span class="k">def</span>' in page and "style=" not in page
    assert "projects/pygments" in page
    assert "No preview for this kind of file" in client_for(student).get(url(sub), {"path": "data.bin"}) \
        .content.decode()


def test_pygments_stylesheet_is_the_generated_one():
    shipped = (Path(settings.BASE_DIR) / "static" / "projects" / "pygments.css").read_text()
    assert shipped == files.pygments_css()


def test_traversal_names_are_listed_but_never_served(project, student, ta, client_for):
    sub = crafted(project, student, [("../../etc/passwd", b"root:x:0:0"), ("/abs.txt", b"abs"),
                                     ("ok.txt", b"fine")])
    client = client_for(ta)
    page = client.get(url(sub)).content.decode()
    assert "not shown: its name leaves the folder" in page and "not shown: its name is an absolute path" in page
    assert "root:x" not in page
    for name in ("../../etc/passwd", "/abs.txt", "etc/passwd"):
        assert client.get(url(sub, "file"), {"path": name}).status_code == 404
    assert client.get(url(sub, "file"), {"path": "ok.txt"}).content == b"fine"


def test_a_bomb_member_is_not_inflated(project, student, ta, client_for):
    big = zipfile.ZipInfo("zeros.txt")
    big.compress_type = zipfile.ZIP_DEFLATED
    sub = crafted(project, student, [(big, b"\0" * (30 * 1024 * 1024)), ("small.txt", b"x" * 600_000)])
    client = client_for(ta)
    page = client.get(url(sub), {"path": "zeros.txt"}).content.decode()
    assert "zip bomb" in page and "\0" not in page
    assert client.get(url(sub, "file"), {"path": "zeros.txt"}).status_code == 404
    # Over the highlighting cap (but harmless): "too large to preview, download instead".
    page = client.get(url(sub), {"path": "small.txt"}).content.decode()
    assert "Too large to preview; download instead." in page


def test_a_member_over_the_cap_is_refused_not_read(project, student, monkeypatch):
    sub = crafted(project, student, [("a.txt", b"y" * 5000)])
    monkeypatch.setattr(files, "MAX_MEMBER_BYTES", 1000)
    with pytest.raises(files.FileError) as caught:
        files.read_member(sub, "a.txt")
    assert caught.value.status == 413


def test_images_are_shown_inline(project, student, client_for):
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 20
    sub = crafted(project, student, [("plots/loss.png", png)])
    client = client_for(student)
    page = client.get(url(sub)).content.decode()
    assert '<img class="file-image"' in page
    response = client.get(url(sub, "file"), {"path": "plots/loss.png", "inline": "1"})
    assert response["Content-Type"] == "image/png" and response["Content-Disposition"].startswith("inline;")


def test_missing_stored_file_is_a_404_not_a_500(project, student, client_for):
    sub = crafted(project, student, [("a.txt", b"a")])
    (Path(settings.SUBMISSIONS_ROOT) / sub.path).unlink()
    client = client_for(student)
    assert client.get(url(sub, "file")).status_code == 404
    assert "missing" in client.get(url(sub)).content.decode()
