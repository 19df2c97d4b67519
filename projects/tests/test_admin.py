"""The Django admin for projects: parts added inline take the project's course, and a slug
already used in the course is a form error instead of an IntegrityError."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from grading.models import Category, GradeItem
from projects.models import ProjectPart


@pytest.fixture
def superuser_client(client, django_user_model):
    user = django_user_model.objects.create_superuser(username="root", password="pw-root-123", email="r@example.org")
    client.force_login(user)
    return client


def _inline_post(project, parts, new_part: dict) -> dict:
    """The change form as the admin page would post it, with one extra inline row."""
    data = {
        "name": project.name, "course": project.course_id, "team_size": project.team_size,
        "counting": project.counting, "daily_submission_limit": project.daily_submission_limit or "",
        "parts-TOTAL_FORMS": str(len(parts) + 1), "parts-INITIAL_FORMS": str(len(parts)),
        "parts-MIN_NUM_FORMS": "0", "parts-MAX_NUM_FORMS": "1000",
    }
    if project.teams_locked:
        data["teams_locked"] = "on"
    for field in project._meta.fields:
        if field.name not in data and field.name not in ("id",) and not field.auto_created:
            value = getattr(project, field.attname)
            if isinstance(value, bool):
                if value:
                    data[field.name] = "on"
            elif value is not None:
                data[field.name] = value
    rows = [*({"id": part.pk, "project": project.pk, "slug": part.slug, "name": part.name,
               "position": part.position, "grade_item": part.grade_item_id, "mode": part.mode,
               "autograde_points": part.autograde_points or "", "closes_at_0": "", "closes_at_1": ""}
              for part in parts), {"project": project.pk, **new_part}]
    for index, row in enumerate(rows):
        for key, value in row.items():
            data[f"parts-{index}-{key}"] = value
        if index < len(parts) and parts[index].closes_at:
            local = parts[index].closes_at
            data[f"parts-{index}-closes_at_0"] = local.strftime("%Y-%m-%d")
            data[f"parts-{index}-closes_at_1"] = local.strftime("%H:%M:%S")
        if index < len(parts) and parts[index].results_published:
            data[f"parts-{index}-results_published"] = "on"
    return data


def test_adding_a_part_inline_gives_it_the_projects_course(project, superuser_client):
    item = GradeItem.objects.create(course=project.course, category=Category.objects.get(course=project.course,
                                    name="Project"), name="Poster", points_possible=Decimal("5"))
    parts = list(project.parts.order_by("position", "id"))
    url = reverse("admin:projects_project_change", args=[project.pk])
    data = _inline_post(project, parts, {"slug": "poster", "name": "Poster", "position": "7",
                                         "grade_item": item.pk, "mode": "rubric", "autograde_points": "",
                                         "closes_at_0": "", "closes_at_1": ""})
    response = superuser_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    poster = ProjectPart.objects.get(project=project, slug="poster")
    assert poster.course_id == project.course_id


def test_a_slug_taken_in_the_course_is_a_form_error(project, superuser_client):
    item = GradeItem.objects.create(course=project.course, category=Category.objects.get(course=project.course,
                                    name="Project"), name="Poster", points_possible=Decimal("5"))
    parts = list(project.parts.order_by("position", "id"))
    taken = parts[0].slug
    url = reverse("admin:projects_project_change", args=[project.pk])
    data = _inline_post(project, parts, {"slug": taken, "name": "Poster", "position": "7",
                                         "grade_item": item.pk, "mode": "rubric", "autograde_points": "",
                                         "closes_at_0": "", "closes_at_1": ""})
    response = superuser_client.post(url, data)
    assert response.status_code == 200
    assert f"Another part of this course already uses the URL name {taken}: choose another." in response.content.decode()
    assert not ProjectPart.objects.filter(grade_item=item).exists()


def test_a_new_project_is_saved_before_parts_are_added(superuser_client, course):
    html = superuser_client.get(reverse("admin:projects_project_add")).content.decode()
    assert 'name="parts-TOTAL_FORMS"' not in html
