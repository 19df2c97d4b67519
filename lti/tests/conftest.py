import pytest

from courseapp.models import Membership, Role
from lti import keys, services
from lti.models import Platform

from .platform import FakePlatform, Person


@pytest.fixture(scope="session")
def httpserver_listen_address():
    """The fake platform listens on 127.0.0.1 (pytest-httpserver's default is "localhost")."""
    return ("127.0.0.1", 0)


@pytest.fixture(autouse=True)
def _fresh_token_cache():
    """Platform tokens are cached (lti.platform_http); each test's platform is new."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def fake(httpserver) -> FakePlatform:
    """The fake platform, serving its JWKS, token, NRPS and AGS endpoints on 127.0.0.1."""
    return FakePlatform(server=httpserver)


@pytest.fixture
def registered(course, instructor, fake) -> Platform:
    """The fake platform registered for the demo course by its instructor."""
    platform = services.platform_save(course=course, by=instructor, values=fake.registration())
    fake.tool_jwks = keys.jwks()
    return platform


@pytest.fixture
def people(course) -> dict[str, Person]:
    """Platform people: the demo instructor and two demo students as ODTUClass knows them, plus a TA."""
    students = [m.user for m in Membership.objects.filter(course=course, role=Role.STUDENT)
                .select_related("user").order_by("user__username")[:2]]
    return {
        "instructor": Person("moodle-u-2", "Sinan", "Kalkan", "skalkan@metu.edu.tr", role="instructor"),
        "ta": Person("moodle-u-3", "Ayşe", "Asistan", "ta.new@metu.edu.tr", role="ta"),
        "student": Person("moodle-u-10", students[0].first_name, students[0].last_name, students[0].email,
                          student_number=students[0].student_number),
        "student2": Person("moodle-u-11", students[1].first_name, students[1].last_name, students[1].email,
                           student_number=students[1].student_number),
        "newcomer": Person("moodle-u-99", "Yeni", "Öğrenci", "e2999999@metu.edu.tr", student_number="2999999"),
    }


@pytest.fixture
def context(registered, fake, people):
    """The platform course, known after the instructor's first launch (which brings the NRPS and AGS claims)."""
    from django.test import Client

    from lti.models import Context

    response, _, _ = fake.launch(Client(), people["instructor"])
    assert response.status_code == 302
    return Context.objects.get(platform=registered)


@pytest.fixture
def roster_on_platform(course, fake):
    """The platform's roster: every demo student but the last (who left), plus a newcomer; staff too."""
    students = [m.user for m in Membership.objects.filter(course=course, role=Role.STUDENT)
                .select_related("user").order_by("user__username")]
    fake.members = [
        Person("moodle-u-2", "Sinan", "Kalkan", "skalkan@metu.edu.tr", role="instructor"),
        Person("moodle-u-3", "Ayşe", "Asistan", "ta.new@metu.edu.tr", role="ta"),
        *[Person(f"moodle-s-{u.student_number}", u.first_name, u.last_name, u.email,
                 student_number=u.student_number) for u in students[:-1]],
        Person("moodle-u-99", "Yeni", "Öğrenci", "e2999999@metu.edu.tr", student_number="2999999"),
    ]
    return students
