"""Role × route matrix: every URL pattern of the site, each role, the expected answer.

The routes come from the URL resolver, not from a list kept here, and every route must have a
rule in RULES: a new route without one fails `test_every_route_has_a_rule` with its name. Path
arguments are filled with the demo course's real objects, owned by the first student, so the
second student asks for someone else's attempt, submission or grade history; another course's
instructor and student ask for this course's objects. For each route the test GETs as every
role, and for the roles the rule refuses it also POSTs and DELETEs and checks that they are
refused and that nothing in the database changed.

Roles: anonymous, two students, a TA, the instructor, another course's instructor and student,
and an inactive student (whose session no longer counts: treated as anonymous).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pytest
from django.apps import apps
from django.core.management import call_command
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from courseapp.models import Course, LectureMaterial, Membership, Role, User
from courseapp.tokens import token_create

ROLES = ("anonymous", "student", "student2", "ta", "instructor", "other_instructor", "other_student", "inactive")
MEMBERS = {"student", "student2", "ta", "instructor"}
STAFF = {"ta", "instructor"}


@dataclass(frozen=True)
class Rule:
    """Who gets an answer (2xx/3xx) to GET; everyone else logged in gets 403/404; anonymous is sent to log in.

    allowed: the roles that may. kind: "page" (anonymous → 302 to /login/), "api" (anonymous → 401/403),
    "public" (everyone, anonymous too). get: False where the route takes no GET (405 for everyone) and only
    the refusal of unsafe methods is checked."""

    allowed: frozenset[str]
    kind: str = "page"
    get: bool = True


def page(*roles: str, get: bool = True) -> Rule:
    return Rule(frozenset(roles), "page", get)


def api(*roles: str, get: bool = True) -> Rule:
    return Rule(frozenset(roles), "api", get)


PUBLIC = Rule(frozenset(ROLES), "public")
# LTI's protocol endpoints: a bare GET lacks the platform's parameters, so any answer but a 5xx will do.
PROTOCOL = Rule(frozenset(ROLES), "protocol")
# A student's own object (attempt, submission, run): that student and the staff.
OWNER = ("student", "ta", "instructor")

# Route name (namespace:name where the app has one) → rule. Admin internals share one rule (ADMIN_RULE).
RULES: dict[str, Rule] = {
    # courseapp
    "dashboard": page(*ROLES[1:7]),
    "login": PUBLIC, "logout": Rule(frozenset(ROLES), "public", get=False), "healthz": PUBLIC, "favicon": PUBLIC,
    "api-schema": PUBLIC, "api-docs": PUBLIC, "api-redoc": PUBLIC,
    "course-detail": page(*MEMBERS), "courseapp-schedule": page(*MEMBERS),
    "courseapp-calendar": PUBLIC,  # the secret token in the URL is the key
    "courseapp-roster": page(*STAFF), "courseapp-roster-unlock": page("instructor", get=False),
    "courseapp-roster-revoke-tokens": page("instructor", get=False),
    # Anyone logged in has a tokens page and API of their own (nobody sees another's).
    "courseapp-tokens": page(*ROLES[1:7]), "courseapp-api-tokens": api(*ROLES[1:7]),
    # The first student's token: everyone else must fail to revoke it (and nothing may change).
    "courseapp-api-token-revoke": api("student", get=False),
    # Course editing: the instructor edits; instructors and TAs announce; staff read the history.
    "courseapp-course-edit": page("instructor"), "courseapp-session-add": page("instructor"),
    "courseapp-lecture-edit": page("instructor"), "courseapp-lecture-cancel": page("instructor", get=False),
    "courseapp-lecture-restore": page("instructor", get=False),
    "courseapp-material-add": page("instructor", get=False), "courseapp-material": page(*MEMBERS),
    "courseapp-material-remove": page("instructor", get=False),
    "courseapp-announcements": page(*MEMBERS), "courseapp-history": page(*STAFF),
    "courseapp-roster-import": page("instructor"), "courseapp-roster-import-apply": page("instructor", get=False),
    "password_reset": PUBLIC, "password_reset_done": PUBLIC, "password_reset_confirm": PUBLIC,
    "password_reset_complete": PUBLIC,
    "courseapp-api-token": Rule(frozenset(ROLES), "public", get=False),
    "courseapp-api-courses": api(*ROLES[1:7]), "courseapp-api-course": api(*MEMBERS),
    "courseapp-api-lectures": api(*MEMBERS), "courseapp-api-enrollments": api(*STAFF),
    "courseapp-api-roster-preview": api("instructor", get=False),
    "courseapp-api-roster-apply": api("instructor", get=False),
    # grading pages
    # students are redirected to their own grades
    "grading-gradebook": page(*MEMBERS), "grading-mine": page(*MEMBERS), "grading-import": page(*STAFF),
    "grading-letters": page("instructor"), "grading-export-csv": page(*STAFF), "grading-export-xlsx": page(*STAFF),
    "grading-export-moodle": page(*STAFF), "grading-item-report": page(*STAFF),
    "grading-release": page("instructor", get=False), "grading-setup": page("instructor"),
    "grading-options": page("instructor"), "grading-category-new": page("instructor"),
    "grading-category-edit": page("instructor"), "grading-category-delete": page("instructor"),
    "grading-item-new": page("instructor"), "grading-item-edit": page("instructor"),
    "grading-item-delete": page("instructor"),
    # grading API
    "grading-api-categories": api(*MEMBERS), "grading-api-category": api(*MEMBERS),
    "grading-api-items": api(*MEMBERS), "grading-api-item": api(*MEMBERS),
    "grading-api-release": api("instructor", get=False), "grading-api-history": api(*STAFF),
    "grading-api-grades": api(*MEMBERS), "grading-api-options": api(*MEMBERS),
    "grading-api-summary": api(*MEMBERS), "grading-api-what-if": api(*MEMBERS, get=False),
    "grading-api-statistics": api(*STAFF), "grading-api-export": api(*STAFF),
    "grading-api-import-preview": api(*STAFF, get=False), "grading-api-import-apply": api(*STAFF, get=False),
    "grading-api-letter-override": api("instructor", get=False),
    # quizzes pages
    "quizzes:list": page(*MEMBERS), "quizzes:create": page("instructor"), "quizzes:bank": page(*STAFF),
    "quizzes:question-edit": page("instructor"), "quizzes:bank-export": page(*STAFF),
    "quizzes:question-new": page("instructor"), "quizzes:question-edit-gift": page("instructor"),
    "quizzes:bank-export-xml": page(*STAFF), "quizzes:bank-import-xml": page("instructor", get=False),
    "quizzes:api-moodle-xml": api(*STAFF),
    "quizzes:regrade": page("instructor", get=False), "quizzes:answer-check": page("student", get=False), "quizzes:detail": page(*MEMBERS), "quizzes:edit": page("instructor"),
    "quizzes:questions": page("instructor"), "quizzes:preview": page(*STAFF),
    "quizzes:start": page("student", "student2", get=False), "quizzes:statistics": page(*STAFF),
    "quizzes:grading": page(*STAFF), "quizzes:grading-slot": page(*STAFF), "quizzes:attempt": page(*OWNER),
    # quizzes API
    "quizzes:api-quizzes": api(*MEMBERS), "quizzes:api-quiz": api(*MEMBERS), "quizzes:api-slots": api("instructor", get=False),
    "quizzes:api-slot-order": api("instructor", get=False), "quizzes:api-slot": api("instructor", get=False),
    "quizzes:api-questions": api(*STAFF), "quizzes:api-gift": api(*STAFF),
    "quizzes:api-question": api(*STAFF), "quizzes:api-regrade": api("instructor"),
    "quizzes:api-attempts": api(*MEMBERS), "quizzes:api-attempt": api(*OWNER),
    "quizzes:api-answer": api("student", get=False), "quizzes:api-answer-check": api("student", get=False), "quizzes:api-submit": api("student", get=False),
    "quizzes:api-answer-versions": api("student"),  # only the attempt's own pages poll it
    "quizzes:api-results": api(*STAFF), "quizzes:api-statistics": api(*STAFF),
    "quizzes:api-grading": api(*STAFF), "quizzes:api-grading-slot": api(*STAFF),
    "quizzes:api-grade-response": api(*STAFF, get=False),
    # projects pages
    "projects:home": page(*MEMBERS), "projects:datasets": page(*STAFF),
    "projects:team": page(*MEMBERS), "projects:part": page(*MEMBERS), "projects:harness-upload": page("instructor", get=False),
    "projects:harness": page(*STAFF), "projects:part-rerun": page("instructor", get=False),
    "projects:harness-trial": page("instructor", get=False), "projects:harness-live": page("instructor", get=False),
    "projects:part-runs": page(*STAFF), "projects:submission": page(*OWNER),
    "projects:submission-rerun": page("instructor", get=False), "projects:rubric": page(*STAFF),
    "projects:run": page(*STAFF),
    # The submitted files: the staff and the submitting team only (the matrix's submission has no stored
    # file, so the allowed roles get 404 "missing": see NO_OBJECT; tests/test_files.py reads real ones).
    "projects:submission-files": page(*OWNER), "projects:submission-file": page(*OWNER),
    # projects API
    "projects:api-run": api(*STAFF), "projects:api-submissions": api(*MEMBERS),
    "projects:api-submission": api(*OWNER), "projects:api-submission-rerun": api("instructor", get=False),
    "projects:api-part-rerun": api("instructor", get=False), "projects:api-part-runs": api(*STAFF),
    "projects:api-datasets": api(*STAFF), "projects:api-dataset-uploads": api("instructor", get=False),
    "projects:api-dataset-upload": api("instructor"), "projects:api-dataset-upload-finish": api("instructor", get=False),
    # lti: protocol endpoints answer the platform, not a logged-in role
    "lti-login": PROTOCOL, "lti-launch": PROTOCOL, "lti-jwks": PUBLIC, "lti-deep-link": PROTOCOL,
    "lti-home": page("instructor"), "lti-platform-new": page("instructor"), "lti-platform-edit": page("instructor"),
    "lti-roster": page("instructor"), "lti-passback": page("instructor"), "lti-posts": page("instructor"),
    "lti-api-contexts": api("instructor"), "lti-api-roster": api("instructor", get=False),
    "lti-api-passback-send": api("instructor", get=False),
}
# Every route under admin/: the admin's own login for everyone but site staff (the demo instructor).
ADMIN_PREFIX = "admin/"
ADMIN_RULE = Rule(frozenset({"instructor"}), "admin")
# Routes whose objects the fixtures cannot make, so every role gets 404 or a refusal (still no 5xx, no leak).
NO_OBJECT = {"projects:rubric",  # the demo's rubric part has no submission
             "projects:submission-file",  # the matrix's submission has no stored file
             "quizzes:regrade", "quizzes:api-regrade", "projects:api-dataset-upload",
             "projects:api-dataset-upload-finish", "lti-platform-edit", "lti-roster", "lti-passback", "lti-posts",
             "lti-api-roster", "lti-api-passback-send", "password_reset_confirm"}


def _routes(patterns=None, prefix: str = "", namespace: str = "") -> list[tuple[str, str, URLPattern]]:
    """(route, name, pattern) for every pattern the resolver knows; route joined from its includes."""
    found = []
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            found += _routes(entry.url_patterns, route, inner)
        else:
            found.append((route, f"{namespace}{entry.name}" if entry.name else route, entry))
    return found


def test_every_route_has_a_rule():
    missing = [f"{name} ({route})" for route, name, _ in _routes()
               if not route.startswith(ADMIN_PREFIX) and name not in RULES]
    assert not missing, ("Routes with no rule in courseapp/tests/test_route_matrix.py RULES; add who may use "
                         "each: " + ", ".join(missing))
    stale = set(RULES) - {name for _, name, _ in _routes()}
    assert not stale, f"RULES names routes that no longer exist: {sorted(stale)}"


# --- the matrix -----------------------------------------------------------------------------------

_SKIP_FINGERPRINT = {"sessions", "axes", "admin", "authtoken", "contenttypes", "auth"}


def _fingerprint() -> str:
    """A hash of every row the app owns (not sessions, login counters or tokens): equal means nothing changed."""
    digest = hashlib.sha256()
    for model in apps.get_models():
        if model._meta.app_label in _SKIP_FINGERPRINT:
            continue
        fields = [f.attname for f in model._meta.concrete_fields if f.attname != "last_login"]
        for row in model.objects.order_by("pk").values_list(*fields):
            digest.update(repr(row).encode())
    return digest.hexdigest()


@pytest.fixture
def world(db):
    """The demo course, a second course with its own instructor and student, an inactive student, and a
    submission with a grading run owned by the first student."""
    call_command("load_demo", verbosity=0)
    course = Course.objects.get(code="ceng501-2024f")
    students = [m.user for m in Membership.objects.filter(course=course, role=Role.STUDENT)
                .select_related("user").order_by("user__username")]
    other = Course.objects.create(code="ceng999-other", number="CENG 999", title="Other", term="2025 Spring",
                                  department="CENG", lecture_weekday=0, lecture_start="09:00",
                                  lecture_end="10:00", lecture_room="B1", calendar_token="other-course-token")
    from projects.models import TeamMembership

    teammates = set(TeamMembership.objects.filter(team__memberships__user=students[0]).values_list("user", flat=True))
    outside = [s for s in students[1:] if s.pk not in teammates]
    people = {
        "student": students[0], "student2": outside[0],
        "ta": Membership.objects.filter(course=course, role=Role.TA).order_by("user__username")[0].user,
        "instructor": Membership.objects.get(course=course, role=Role.INSTRUCTOR).user,
        "other_instructor": User.objects.create_user("other.instructor", password="x"),
        "other_student": User.objects.create_user("other.student", password="x"),
        "inactive": outside[1],
    }
    Membership.objects.create(course=other, user=people["other_instructor"], role=Role.INSTRUCTOR)
    Membership.objects.create(course=other, user=people["other_student"], role=Role.STUDENT)
    clients = {"anonymous": Client()}
    for role, user in people.items():
        clients[role] = Client()
        clients[role].force_login(user)
    User.objects.filter(pk=people["inactive"].pk).update(is_active=False)
    return course, people, clients, _objects(course, people["student"])


def _objects(course: Course, student: User) -> dict:
    from grading.models import Category, GradeItem
    from projects.models import GradingRun, HarnessBundle, Project, ProjectPart, Submission, Team
    from quizzes.models import Attempt, Question

    attempt = Attempt.objects.filter(student=student, quiz__course=course).select_related("quiz").first()
    response = attempt.responses.first()
    part = ProjectPart.objects.filter(project__course=course, harnesses__isnull=False).first()
    team = Team.objects.filter(memberships__user=student, project=part.project).first() or \
        Team.objects.filter(project=part.project).first()
    submission = Submission.objects.create(part=part, team=team, submitter=student, number=1,
                                           submitted_at=timezone.now(), path="x/y.zip", original_name="y.zip",
                                           size_bytes=1, sha256="0" * 64)
    submission.members.add(student)
    harness = HarnessBundle.objects.filter(part=part).first()
    run = GradingRun.objects.create(submission=submission, harness=harness, queue="cpu", time_limit_s=60,
                                    queued_at=timezone.now())
    return {
        "code": course.code, "token": course.calendar_token, "username": student.username,
        "item_id": GradeItem.objects.filter(course=course, released=True).first().pk,
        "category_id": Category.objects.filter(course=course).first().pk, "student_id": student.pk,
        "quiz_id": attempt.quiz_id, "question_id": Question.objects.filter(course=course).first().pk,
        "slot_id": response.slot_id if hasattr(response, "slot_id") else attempt.quiz.slots.first().pk,
        "attempt_id": attempt.pk, "response_id": response.pk, "key_change_id": 999999,
        "project": Project.objects.get(pk=part.project_id).slug, "part": part.slug,
        "upload": "no-such-upload", "platform_id": 999999, "context_id": 999999, "line_id": 999999,
        "token_id": token_create(user=student, name="matrix")[0].pk,
        "lecture_id": course.lectures.order_by("starts_at").first().pk,
        "material_id": LectureMaterial.objects.create(lecture=course.lectures.order_by("starts_at").first(),
                                                      title="Slides", url="https://example.org/slides.pdf").pk,
        "uidb64": "x", "pk": {"projects:harness": harness.pk, "projects:harness-trial": harness.pk,
                              "projects:harness-live": harness.pk, "projects:run": run.pk, "projects:api-run": run.pk,
                              "default": submission.pk},
    }


def _url(route: str, name: str, pattern: URLPattern, objects: dict) -> str:
    kwargs = {}
    for converter_name in pattern.pattern.converters:
        value = objects[converter_name]
        if isinstance(value, dict):
            value = value.get(name, value["default"])
        kwargs[converter_name] = value
    path = route
    for key, value in kwargs.items():
        for converter in ("int", "slug", "str", ""):
            path = path.replace(f"<{converter}:{key}>" if converter else f"<{key}>", str(value))
    return "/" + path.lstrip("^").rstrip("$")


def _expectation(rule: Rule, role: str) -> str:
    if rule.kind in ("public", "protocol"):
        return "ok"
    if role in ("anonymous", "inactive"):
        return "login"
    return "ok" if role in rule.allowed else "refused"


def _verdict(response, expected: str, kind: str) -> bool:
    code = response.status_code
    if code >= 500:
        return False
    if kind == "protocol":
        return True
    if kind == "admin" and expected != "ok":
        return code == 302 and response["Location"].startswith("/admin/login/")
    if expected == "ok":
        location = response.get("Location", "") if code in (301, 302) else ""
        return code < 400 and not location.startswith(("/login/", "/admin/login/"))
    if expected == "refused":
        return code in (403, 404)
    if expected == "missing":  # an allowed role asking for an object that does not exist, or a malformed id
        return code in (400, 404)
    # login
    if kind == "api":
        return code in (401, 403)
    return code == 302 and response["Location"].startswith(("/login/", "/admin/login/"))


def test_role_route_matrix(world):
    course, people, clients, objects = world
    wrong: list[str] = []
    for route, name, pattern in _routes():
        is_admin = route.startswith(ADMIN_PREFIX)
        if is_admin and route != ADMIN_PREFIX:
            continue  # one admin cell: the index decides every admin page
        rule = ADMIN_RULE if is_admin else RULES[name]
        url = _url(route, name, pattern, objects)
        before = _fingerprint()
        tried = []
        for role in ROLES:
            expected = _expectation(rule, role)
            if name in NO_OBJECT and expected == "ok" and rule.kind not in ("public", "protocol"):
                expected = "missing"
            if rule.get:
                response = clients[role].get(url)
                if not _verdict(response, expected, rule.kind):
                    wrong.append(f"GET {url} as {role}: {response.status_code}, expected {expected}")
            if expected == "ok" or rule.kind in ("public", "protocol"):
                continue
            for method in ("post", "delete"):
                response = getattr(clients[role], method)(url, {}, content_type="application/json")
                code = response.status_code
                tried.append(f"{method.upper()} as {role}: {code}")
                # 405: the method is not taken; 400: an empty body is refused before the role is judged
                # (the snapshot below still proves nothing changed).
                refused = _verdict(response, expected, rule.kind) or code in (400, 405)
                if not refused:
                    wrong.append(f"{method.upper()} {url} as {role}: {code}, expected {expected}")
        # One snapshot per route keeps the matrix fast; a change names every refused request that was sent.
        if tried and _fingerprint() != before:
            wrong.append(f"{url}: the database changed after refused requests ({'; '.join(tried)})")
    assert not wrong, "Cells of the role × route matrix that differ from RULES:\n" + "\n".join(wrong)
