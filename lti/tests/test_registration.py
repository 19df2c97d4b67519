"""Registering a platform in the site, and who may."""

from django.test import Client

from lti.models import Deployment, Platform

from .platform import ISSUER


def _form(fake, **changes) -> dict:
    values = fake.registration() | {"deployment_ids": "1\n2"}
    values.update(changes)
    return values


def test_instructor_registers_a_platform_and_sees_the_values_for_moodle(course, instructor, client_for, fake):
    client = client_for(instructor)
    page = client.get(f"/courses/{course.code}/lti/")
    html = page.content.decode()
    assert page.status_code == 200
    for value in ("http://testserver/lti/launch/", "http://testserver/lti/login/", "http://testserver/lti/jwks.json"):
        assert value in html
    response = client.post(f"/courses/{course.code}/lti/platforms/new/", _form(fake, match_by_email="on"))
    assert response.status_code == 302
    platform = Platform.objects.get()
    assert platform.issuer == ISSUER and platform.course == course and platform.created_by == instructor
    assert platform.match_by_email and not platform.match_by_student_number
    assert sorted(Deployment.objects.values_list("deployment_id", flat=True)) == ["1", "2"]
    assert "ODTUClass (test)" in client.get(f"/courses/{course.code}/lti/").content.decode()
    # editing replaces the deployment ids
    client.post(f"/courses/{course.code}/lti/platforms/{platform.pk}/", _form(fake, deployment_ids="3"))
    assert list(Deployment.objects.values_list("deployment_id", flat=True)) == ["3"]


def test_bad_values_are_refused_field_by_field(course, instructor, client_for, fake):
    response = client_for(instructor).post(
        f"/courses/{course.code}/lti/platforms/new/",
        _form(fake, key_set_url="not a url", client_id="", deployment_ids=" "),
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "Public keyset URL must be a full URL" in html
    assert "Paste the Client ID" in html and "at least one deployment id" in html
    assert not Platform.objects.exists()


def test_the_same_issuer_and_client_id_cannot_be_registered_twice(course, instructor, client_for, fake, registered):
    response = client_for(instructor).post(f"/courses/{course.code}/lti/platforms/new/", _form(fake))
    assert response.status_code == 400 and "already registered" in response.content.decode()


def test_ta_student_and_outsider_are_refused(course, ta, student, outsider, client_for, fake, registered):
    for user, status in ((ta, 403), (student, 403), (outsider, 404)):
        client = client_for(user)
        assert client.get(f"/courses/{course.code}/lti/").status_code == status
        assert client.post(f"/courses/{course.code}/lti/platforms/new/", _form(fake, client_id="x")).status_code \
            == status
        assert client.post(f"/courses/{course.code}/lti/platforms/{registered.pk}/", {"delete": "1"}).status_code \
            == status
    assert Platform.objects.count() == 1


def test_a_site_admin_may_register_in_any_course(course, client_for, fake, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    assert client_for(admin).post(f"/courses/{course.code}/lti/platforms/new/", _form(fake)).status_code == 302


def test_removing_a_platform(course, instructor, client_for, registered):
    client_for(instructor).post(f"/courses/{course.code}/lti/platforms/{registered.pk}/", {"delete": "1"})
    assert not Platform.objects.exists()


def test_the_jwks_is_public_and_the_course_bar_links_the_lti_page(course, instructor, student, client_for):
    assert Client().get("/lti/jwks.json").status_code == 200
    assert f"/courses/{course.code}/lti/" in client_for(instructor).get(f"/courses/{course.code}/").content.decode()
    assert f"/courses/{course.code}/lti/" not in client_for(student).get(f"/courses/{course.code}/").content.decode()
