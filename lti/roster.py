"""Roster sync from the platform (LTI Names and Role Provisioning Services).

The platform's learners become the rows of a roster CSV that goes through the
course site's own roster import (courseapp.services): the same preview, the same
checks per row, the same all-or-nothing apply. On top of it, students of the course
who are no longer on the platform's roster are marked dropped (membership inactive),
never deleted, and each learner's platform id (`sub`) is linked to their account so
their grades can be passed back.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

import requests
from django.db import transaction
from pylti1p3.exception import LtiException
from pylti1p3.names_roles import NamesRolesProvisioningService

from courseapp.models import Membership, Role, User
from courseapp.services import (
    RosterImportError,
    RosterPreview,
    roster_import_apply,
    roster_import_preview,
)

from . import platform_http
from .launches import role_for, student_number_from
from .models import Context, Identity, RosterSync, SyncStatus

if TYPE_CHECKING:
    from pylti1p3.names_roles import TNamesAndRolesData

logger = logging.getLogger(__name__)


class RosterUnavailable(Exception):
    """The platform's roster could not be read; the message says what to do."""


@dataclass(frozen=True)
class Member:
    sub: str
    student_number: str
    first_name: str
    last_name: str
    email: str
    role: str | None  # course role the LTI roles map to
    active: bool


@dataclass
class SyncPreview:
    context: Context
    members: list[Member]
    roster: RosterPreview
    csv_text: str
    line_of: dict[int, Member] = field(default_factory=dict)  # CSV line → member, to name errors
    leavers: list[User] = field(default_factory=list)
    staff: list[Member] = field(default_factory=list)  # left alone: staff roles come from launches
    errors: list[str] = field(default_factory=list)  # problems of the sync as a whole

    @property
    def ok(self) -> bool:
        return not self.errors and self.roster.ok

    @property
    def digest(self) -> str:
        """Fingerprint of what applying would do, so Apply does exactly what was previewed."""
        text = self.csv_text + "|" + ",".join(str(u.pk) for u in self.leavers)
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    @property
    def row_problems(self) -> list[str]:
        """The roster import's errors, naming the platform member each line stands for."""
        out = []
        for error in self.roster.errors:
            member = self.line_of.get(error.line or 0)
            who = f"{member.first_name} {member.last_name} ({member.email or member.sub})" if member else ""
            out.append(f"{who}: {error.message}" if who else str(error))
        return out


def members_fetch(*, context: Context) -> list[Member]:
    """Every member of the platform's course, through NRPS (paged). Raises RosterUnavailable."""
    claim = context.nrps_claim or {}
    if not claim.get("context_memberships_url"):
        raise RosterUnavailable(
            "The platform has not offered its roster service for this course. In Moodle, edit the tool and set "
            "\"IMS LTI Names and Role Provisioning\" to \"Use this service to retrieve members' information as per "
            "privacy settings\"; then open the activity once as the instructor."
        )
    # The claim is the platform's NRPS claim as the launch stored it (context_memberships_url checked above).
    service = NamesRolesProvisioningService(platform_http.connector(context.platform),
                                            cast("TNamesAndRolesData", claim))
    try:
        raw = service.get_members()
    except (LtiException, requests.RequestException, KeyError, ValueError) as exc:
        raise RosterUnavailable(f"The platform's roster could not be read: {exc}"[:600]) from exc
    members = []
    for entry in raw:
        sub = str(entry.get("user_id") or "")
        if not sub:
            continue
        members.append(Member(
            sub=sub, student_number=student_number_from(dict(entry)),
            first_name=str(entry.get("given_name") or "").strip(),
            last_name=str(entry.get("family_name") or "").strip(),
            email=str(entry.get("email") or "").strip().lower(),
            role=role_for(list(entry.get("roles") or [])),
            active=str(entry.get("status") or "Active") == "Active",
        ))
    return members


def _csv(learners: list[Member]) -> tuple[str, dict[int, Member]]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["student_number", "first_name", "last_name", "email"])
    line_of = {}
    for line, member in enumerate(learners, start=2):
        writer.writerow([member.student_number, member.first_name, member.last_name, member.email])
        line_of[line] = member
    return out.getvalue(), line_of


def roster_sync_preview(*, context: Context, members: list[Member] | None = None) -> SyncPreview:
    """What syncing would do; changes nothing. Fetches the roster unless `members` is given.

    Learners (active) are the roster; each needs a student number (Moodle: the user's
    "ID number"; Canvas: the SIS id) or the row is an error, like a CSV row without one.
    Active students of the course whom the roster no longer lists are the leavers.
    """
    if members is None:
        members = members_fetch(context=context)
    learners = [m for m in members if m.role == Role.STUDENT and m.active]
    staff = [m for m in members if m.role in (Role.INSTRUCTOR, Role.TA)]
    csv_text, line_of = _csv(learners)
    errors = []
    if not learners:
        errors.append("The platform's roster lists no active learners; nothing will change (a roster "
                      "that empties the course is refused).")
        roster = RosterPreview(rows=[], errors=[])
    else:
        roster = roster_import_preview(course=context.course, csv_text=csv_text)
    numbers = {m.student_number for m in learners if m.student_number}
    subs = {m.sub for m in learners}
    linked = dict(Identity.objects.filter(platform=context.platform, sub__in=subs).values_list("user_id", "sub"))
    leavers = [
        m.user for m in Membership.objects.select_related("user").filter(
            course=context.course, role=Role.STUDENT, is_active=True)
        if m.user.student_number not in numbers and m.user_id not in linked
    ]
    leavers.sort(key=lambda u: (u.last_name, u.first_name, u.username))
    return SyncPreview(context=context, members=members, roster=roster, csv_text=csv_text, line_of=line_of,
                       leavers=leavers, staff=staff, errors=errors)


def _link_identities(context: Context, learners: list[Member]) -> int:
    by_number = {u.student_number: u for u in User.objects.filter(
        student_number__in=[m.student_number for m in learners if m.student_number])}
    taken_subs = set(Identity.objects.filter(platform=context.platform).values_list("sub", flat=True))
    taken_users = set(Identity.objects.filter(platform=context.platform).values_list("user_id", flat=True))
    new = []
    for member in learners:
        user = by_number.get(member.student_number)
        if user is None or member.sub in taken_subs or user.pk in taken_users:
            continue
        new.append(Identity(platform=context.platform, sub=member.sub, user=user))
        taken_users.add(user.pk)
    Identity.objects.bulk_create(new)
    return len(new)


def roster_sync_apply(*, context: Context, by: User | None, expected_digest: str | None = None) -> RosterSync:
    """Fetch the roster again and apply it, all or nothing; the attempt is recorded either way.

    `expected_digest` (from the preview the instructor saw) makes Apply refuse when the
    platform's roster changed since. `by` None is the nightly task (logged as the
    platform's registrant). Nothing is written when any row is bad: the RosterSync
    row says why.
    """
    try:
        preview = roster_sync_preview(context=context)
    except RosterUnavailable as exc:
        logger.warning("lti roster sync of %s failed: %s", context.course.code, exc)
        return RosterSync.objects.create(context=context, by=by, status=SyncStatus.FAILED, errors=[str(exc)])
    if expected_digest is not None and expected_digest != preview.digest:
        return RosterSync.objects.create(context=context, by=by, status=SyncStatus.REFUSED, errors=[
            "The platform's roster changed since your preview; preview again and apply."])
    if not preview.ok:
        return RosterSync.objects.create(context=context, by=by, status=SyncStatus.REFUSED,
                                         errors=preview.errors + preview.row_problems)
    # The import is recorded as someone: the asker, else (nightly) the platform's registrant, the
    # course's instructor, or a superuser; with none of them there is no one to answer for it.
    actor = (by or context.platform.created_by
             or User.objects.filter(memberships__course=context.course, memberships__role=Role.INSTRUCTOR,
                                    memberships__is_active=True, is_active=True).order_by("pk").first()
             or User.objects.filter(is_superuser=True, is_active=True).order_by("pk").first())
    if actor is None:
        return RosterSync.objects.create(context=context, by=by, status=SyncStatus.REFUSED, errors=[
            "No one to record the import as: the platform's registrant is gone and the course has no active "
            "instructor. Add the instructor to the course, then sync again."])
    learners = [m for m in preview.members if m.role == Role.STUDENT and m.active]
    try:
        with transaction.atomic():
            result = roster_import_apply(course=context.course, csv_text=preview.csv_text, by=actor)
            linked = _link_identities(context, learners)
            dropped = Membership.objects.filter(
                course=context.course, role=Role.STUDENT, is_active=True, user__in=preview.leavers
            ).update(is_active=False)
            sync = RosterSync.objects.create(context=context, by=by, status=SyncStatus.APPLIED, counts={
                "created": result.created, "enrolled": result.enrolled, "updated": result.updated,
                "unchanged": result.unchanged, "dropped": dropped, "linked": linked,
            })
    except RosterImportError as exc:
        return RosterSync.objects.create(context=context, by=by, status=SyncStatus.REFUSED,
                                         errors=[str(e) for e in exc.preview.errors])
    logger.info("lti roster sync of %s by %s: %s", context.course.code,
                by.username if by else "nightly", sync.counts)
    return sync


def nightly_contexts() -> list[int]:
    """Contexts whose platform offered NRPS: the nightly task syncs each."""
    return [c.pk for c in Context.objects.exclude(nrps_claim={}) if c.nrps_claim.get("context_memberships_url")]
