"""Roster sync from the platform's NRPS endpoint, with the CSV import's preview and all-or-nothing rules."""

from django.test import Client

from courseapp.models import Membership, Role, User
from lti import tasks
from lti.models import Identity, RosterSync, SyncStatus

from .platform import Person


def _url(course, context) -> str:
    return f"/courses/{course.code}/lti/contexts/{context.pk}/roster/"


def test_preview_shows_what_would_change_and_changes_nothing(context, roster_on_platform, course, instructor,
                                                             client_for):
    response = client_for(instructor).get(_url(course, context))
    assert response.status_code == 200
    html = response.content.decode()
    assert "1 new account · 0 to enroll · 0 to update · 39 unchanged · 1 to mark dropped · 2 staff" in html
    leaver = roster_on_platform[-1]
    assert leaver.last_name in html.split('id="roster-leavers"')[1]
    assert not User.objects.filter(student_number="2999999").exists()
    assert Membership.objects.get(course=course, user=leaver).is_active


def test_apply_enrolls_newcomers_links_ids_and_marks_leavers_dropped_never_deleted(
        context, roster_on_platform, course, instructor, client_for, fake):
    fake.page_size = 7  # NRPS pages follow the Link header
    client = client_for(instructor)
    digest = client.get(_url(course, context)).context["preview"].digest
    response = client.post(_url(course, context), {"digest": digest})
    assert response.status_code == 302
    sync = RosterSync.objects.get()
    assert sync.status == SyncStatus.APPLIED and sync.by == instructor
    assert sync.counts == {"created": 1, "enrolled": 0, "updated": 0, "unchanged": 39, "dropped": 1, "linked": 40}
    newcomer = User.objects.get(student_number="2999999")
    assert newcomer.username == "e2999999" and not newcomer.has_usable_password()
    assert Identity.objects.get(sub="moodle-u-99").user == newcomer
    leaver = roster_on_platform[-1]
    assert User.objects.filter(pk=leaver.pk).exists()
    assert not Membership.objects.get(course=course, user=leaver).is_active
    # staff are left as they are
    assert Membership.objects.get(course=course, user=instructor).role == Role.INSTRUCTOR
    page = client.get(_url(course, context)).content.decode()
    assert "0 new accounts · 0 to enroll · 0 to update · 40 unchanged · 0 to mark dropped" in page


def test_one_bad_member_blocks_the_whole_sync(context, roster_on_platform, course, instructor, client_for, fake):
    fake.members.append(Person("moodle-u-50", "No", "Number", "nonumber@metu.edu.tr"))  # no ID number in Moodle
    client = client_for(instructor)
    page = client.get(_url(course, context))
    html = page.content.decode()
    assert "Nothing will change until these are fixed" in html
    assert "No Number (nonumber@metu.edu.tr): student number is missing." in html
    assert 'id="roster-apply"' not in html
    client.post(_url(course, context), {})
    sync = RosterSync.objects.get()
    assert sync.status == SyncStatus.REFUSED and "student number is missing" in " ".join(sync.errors)
    assert not User.objects.filter(student_number="2999999").exists()
    assert Membership.objects.get(course=course, user=roster_on_platform[-1]).is_active


def test_apply_refuses_when_the_roster_changed_since_the_preview(context, roster_on_platform, course, instructor,
                                                                 client_for, fake):
    client = client_for(instructor)
    digest = client.get(_url(course, context)).context["preview"].digest
    fake.members.pop()  # the newcomer withdrew meanwhile
    client.post(_url(course, context), {"digest": digest})
    sync = RosterSync.objects.get()
    assert sync.status == SyncStatus.REFUSED and "changed since your preview" in sync.errors[0]
    assert Membership.objects.get(course=course, user=roster_on_platform[-1]).is_active


def test_an_empty_roster_never_drops_the_whole_course(context, course, instructor, client_for, fake):
    fake.members = [Person("moodle-u-2", "Sinan", "Kalkan", "skalkan@metu.edu.tr", role="instructor")]
    client_for(instructor).post(_url(course, context), {})
    assert RosterSync.objects.get().status == SyncStatus.REFUSED
    assert Membership.objects.filter(course=course, role=Role.STUDENT, is_active=True).count() == 40


def test_nightly_task_syncs_and_records_a_platform_that_is_down(context, roster_on_platform, course):
    assert tasks.roster_sync_nightly() == 1
    sync = RosterSync.objects.get()
    assert sync.status == SyncStatus.APPLIED and sync.by is None
    context.nrps_claim = {"context_memberships_url": context.nrps_claim["context_memberships_url"] + "-gone",
                          "service_versions": ["2.0"]}
    context.save()
    tasks.roster_sync_nightly()
    failed = RosterSync.objects.first()
    assert failed.status == SyncStatus.FAILED and "could not be read" in failed.errors[0]


def test_only_the_instructor_may_sync(context, roster_on_platform, course, ta, student, outsider, client_for):
    for user, status in ((ta, 403), (student, 403), (outsider, 404)):
        client = client_for(user)
        assert client.get(_url(course, context)).status_code == status
        assert client.post(_url(course, context), {}).status_code == status
    assert not RosterSync.objects.exists()
    assert Client().get(_url(course, context)).status_code == 302  # to the login page


def test_a_platform_without_nrps_says_how_to_turn_it_on(context, course, instructor, client_for):
    context.nrps_claim = {}
    context.save()
    html = client_for(instructor).get(_url(course, context)).content.decode()
    assert "IMS LTI Names and Role Provisioning" in html


def test_nightly_sync_without_a_registrant_is_recorded_as_the_instructor_or_refused(
        context, roster_on_platform, course, instructor):
    context.platform.created_by = None
    context.platform.save()
    User.objects.filter(is_superuser=True).update(is_superuser=False)
    assert tasks.roster_sync_nightly() == 1
    applied = RosterSync.objects.get()
    assert applied.status == SyncStatus.APPLIED and applied.by is None  # imported in the instructor's name
    Membership.objects.filter(course=course, role=Role.INSTRUCTOR).update(is_active=False)
    tasks.roster_sync_nightly()
    refused = RosterSync.objects.first()
    assert refused.status == SyncStatus.REFUSED and "no active instructor" in refused.errors[0]
