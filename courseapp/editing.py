"""Services that edit a course from the site: course page, schedule, materials, announcements.

Every function is keyword-only, takes the acting user as `by`, checks `by`'s role with
courseapp.access, changes rows in one transaction and writes one append-only CourseChange
per edit (who, when, what, old → new). Who may do what (README "Editing the course"):

- the instructor edits the course page, the staff's office hours, the textbooks, the schedule
  (move, cancel, restore, add a session) and the lecture materials;
- instructors and TAs post announcements;
- staff read the history; students and staff read everything else.

Announcement e-mail is sent by a Celery task queued in `transaction.on_commit`, so the
announcement is saved first and a mail failure (retried by the task) never loses it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath
from zoneinfo import ZoneInfo

import markdown
import nh3
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone
from django.utils.html import escape, linebreaks
from django.utils.text import get_valid_filename

from . import access
from .models import (
    Announcement,
    ChangeSubject,
    Course,
    CourseChange,
    Lecture,
    LectureMaterial,
    Membership,
    Role,
    SessionKind,
    Textbook,
    TextFormat,
    User,
)
from .text import control_character_error

logger = logging.getLogger(__name__)

MATERIAL_MAX_BYTES = 50 * 1024 * 1024  # slides and papers; larger files belong on a file host (link them)


def _require(by: User, course: Course, roles: Sequence[str]) -> None:
    """The same rule the views apply through access_*: members with another role are refused."""
    if access.role_in(by, course) not in set(roles):
        raise PermissionDenied("Your role in this course does not allow this.")


def _stamp(moment: dt.datetime | None, tz: ZoneInfo) -> str:
    return "" if moment is None else moment.astimezone(tz).strftime("%a %d %b %Y %H:%M")


def _check_text(value: str, *, label: str, multiline: bool = False) -> None:
    error = control_character_error(value, label=label, multiline=multiline)
    if error:
        raise ValidationError(error)


def _record(*, course: Course, by: User, subject: str, action: str, target: str = "",
            changes: dict | None = None, note: str = "") -> CourseChange:
    return CourseChange.objects.create(
        course=course, changed_by=by if by.is_authenticated else None, subject=subject, action=action,
        target=target[:300], changes=changes or {}, note=note[:300],
    )


# --- course page ----------------------------------------------------------------------------

COURSE_FIELDS = ("description", "policy", "textbook_note", "website", "mailing_list")


@dataclass(frozen=True)
class CourseEdit:
    """What the course page form carries. `office_hours` maps a staff membership id to its text."""

    description: str
    policy: str
    textbook_note: str
    website: str
    mailing_list: str
    textbooks: list[str]
    office_hours: dict[int, str]


def course_update(*, course: Course, by: User, edit: CourseEdit) -> int:
    """Save the course page; returns how many history rows were written (0: nothing changed)."""
    _require(by, course, (Role.INSTRUCTOR,))
    for name in COURSE_FIELDS:
        _check_text(getattr(edit, name), label=name.replace("_", " "), multiline=True)
    for citation in edit.textbooks:
        _check_text(citation, label="textbook citation")
    written = 0
    with transaction.atomic():
        course = Course.objects.select_for_update().get(pk=course.pk)
        changes = {name: [getattr(course, name), getattr(edit, name)] for name in COURSE_FIELDS
                   if getattr(course, name) != getattr(edit, name)}
        if changes:
            for name, (_, new) in changes.items():
                setattr(course, name, new)
            course.save(update_fields=list(changes))
            _record(course=course, by=by, subject=ChangeSubject.COURSE, action="updated", target=str(course),
                    changes=changes)
            written += 1
        books = list(Textbook.objects.filter(course=course).order_by("position", "id"))
        old = [book.citation for book in books]
        new = [citation.strip() for citation in edit.textbooks if citation.strip()]
        if old != new:
            Textbook.objects.filter(course=course).delete()
            Textbook.objects.bulk_create(
                Textbook(course=course, citation=citation, position=position) for position, citation in enumerate(new)
            )
            _record(course=course, by=by, subject=ChangeSubject.TEXTBOOKS, action="updated", target="Textbooks",
                    changes={"textbooks": ["\n".join(old), "\n".join(new)]})
            written += 1
        staff = Membership.objects.filter(course=course, role__in=access.STAFF_ROLES, pk__in=list(edit.office_hours))
        for member in staff.select_related("user"):
            hours = edit.office_hours[member.pk].strip()
            _check_text(hours, label="office hours")
            if hours != member.office_hours:
                _record(course=course, by=by, subject=ChangeSubject.STAFF, action="updated",
                        target=str(member.user), changes={"office_hours": [member.office_hours, hours]})
                member.office_hours = hours
                member.save(update_fields=["office_hours"])
                written += 1
    return written


# --- schedule -------------------------------------------------------------------------------

def _session_label(lecture: Lecture) -> str:
    if lecture.kind == SessionKind.LECTURE:
        return f"Week {lecture.week}: {lecture.topic}"
    return f"{lecture.get_kind_display()}: {lecture.topic}"


def _check_times(starts_at: dt.datetime, ends_at: dt.datetime) -> None:
    if timezone.is_naive(starts_at) or timezone.is_naive(ends_at):
        raise ValueError("starts_at and ends_at must be timezone-aware")
    if ends_at <= starts_at:
        raise ValidationError("The session must end after it starts: check the start and end times.")
    if ends_at - starts_at > dt.timedelta(hours=12):
        raise ValidationError("A session lasts at most 12 hours: check the start and end times.")


def _clean_session(*, starts_at: dt.datetime, ends_at: dt.datetime, room: str, topic: str, note: str,
                   subtopics: Sequence[str]) -> tuple[str, str, str, list[str]]:
    """A session's fields as stored (stripped, blank subtopic lines dropped); ValidationError saying what to fix."""
    _check_times(starts_at, ends_at)
    room, topic, note = room.strip(), topic.strip(), note.strip()
    clean = [line.strip() for line in subtopics if line.strip()]
    _check_session_text(room=room, topic=topic, note=note, subtopics=clean)
    return room, topic, note, clean


def _check_session_text(*, room: str, topic: str, note: str, subtopics: Sequence[str]) -> None:
    if not room.strip():
        raise ValidationError("Give the room (e.g. BMB2, or Online).")
    if not topic.strip():
        raise ValidationError("Give the topic.")
    _check_text(room, label="room")
    _check_text(topic, label="topic")
    _check_text(note, label="note")
    for line in subtopics:
        _check_text(line, label="subtopic")


def lecture_update(*, lecture: Lecture, by: User, starts_at: dt.datetime, ends_at: dt.datetime, room: str,
                   topic: str, subtopics: Sequence[str], note: str = "") -> bool:
    """Move a session or change its room, topic or note; False when nothing changed.

    The first move or room change keeps the syllabus time and room in `planned_*`, so the
    page and the feed say where it was moved from; SEQUENCE goes up on every change.
    """
    course = lecture.course
    _require(by, course, (Role.INSTRUCTOR,))
    room, topic, note, subtopics = _clean_session(starts_at=starts_at, ends_at=ends_at, room=room, topic=topic,
                                                  note=note, subtopics=subtopics)
    tz = ZoneInfo(course.time_zone)
    with transaction.atomic():
        lecture = Lecture.objects.select_for_update().get(pk=lecture.pk)
        changes: dict[str, list[str]] = {}
        if lecture.starts_at != starts_at:
            changes["starts_at"] = [_stamp(lecture.starts_at, tz), _stamp(starts_at, tz)]
        if lecture.ends_at != ends_at:
            changes["ends_at"] = [_stamp(lecture.ends_at, tz), _stamp(ends_at, tz)]
        for name, value in (("room", room), ("topic", topic), ("note", note)):
            if getattr(lecture, name) != value:
                changes[name] = [getattr(lecture, name), value]
        if lecture.subtopics != subtopics:
            changes["subtopics"] = ["\n".join(lecture.subtopics), "\n".join(subtopics)]
        if not changes:
            return False
        moved = bool({"starts_at", "ends_at", "room"} & set(changes))
        if moved and lecture.planned_starts_at is None:
            lecture.planned_starts_at, lecture.planned_ends_at = lecture.starts_at, lecture.ends_at
            lecture.planned_room = lecture.room
        lecture.starts_at, lecture.ends_at, lecture.room = starts_at, ends_at, room
        lecture.topic, lecture.subtopics, lecture.note = topic, subtopics, note
        lecture.sequence += 1
        lecture.save()
        _record(course=course, by=by, subject=ChangeSubject.SESSION, action="moved" if moved else "updated",
                target=_session_label(lecture), changes=changes, note=note)
    return True


def lecture_cancel(*, lecture: Lecture, by: User, note: str) -> None:
    """Cancel a session (kept on the page and in the feed as cancelled, with the reason)."""
    course = lecture.course
    _require(by, course, (Role.INSTRUCTOR,))
    note = note.strip()
    if not note:
        raise ValidationError("Say why the session is cancelled (e.g. New Year's Day holiday); students see it.")
    _check_text(note, label="reason")
    with transaction.atomic():
        lecture = Lecture.objects.select_for_update().get(pk=lecture.pk)
        if lecture.cancelled:
            raise ValidationError("This session is already cancelled.")
        changes = {"cancelled": ["no", "yes"]}
        if lecture.note != note:
            changes["note"] = [lecture.note, note]
        lecture.cancelled, lecture.note = True, note
        lecture.sequence += 1
        lecture.save(update_fields=["cancelled", "note", "sequence"])
        _record(course=course, by=by, subject=ChangeSubject.SESSION, action="cancelled",
                target=_session_label(lecture), changes=changes, note=note)


def lecture_restore(*, lecture: Lecture, by: User) -> None:
    """Undo a cancellation: the session is held again at its current time and room."""
    course = lecture.course
    _require(by, course, (Role.INSTRUCTOR,))
    with transaction.atomic():
        lecture = Lecture.objects.select_for_update().get(pk=lecture.pk)
        if not lecture.cancelled:
            raise ValidationError("This session is not cancelled.")
        changes = {"cancelled": ["yes", "no"], "note": [lecture.note, ""]}
        lecture.cancelled, lecture.note = False, ""
        lecture.sequence += 1
        lecture.save(update_fields=["cancelled", "note", "sequence"])
        _record(course=course, by=by, subject=ChangeSubject.SESSION, action="restored",
                target=_session_label(lecture), changes=changes)


def session_create(*, course: Course, by: User, kind: str, starts_at: dt.datetime, ends_at: dt.datetime,
                   room: str, topic: str, subtopics: Sequence[str] = (), note: str = "") -> Lecture:
    """Add an extra session or an exam (not a weekly lecture: those come from the syllabus)."""
    _require(by, course, (Role.INSTRUCTOR,))
    if kind not in (SessionKind.EXTRA, SessionKind.EXAM):
        raise ValidationError("Choose extra session or exam.")
    room, topic, note, subtopics = _clean_session(starts_at=starts_at, ends_at=ends_at, room=room, topic=topic,
                                                  note=note, subtopics=subtopics)
    tz = ZoneInfo(course.time_zone)
    with transaction.atomic():
        first = (Lecture.objects.filter(course=course, kind=SessionKind.LECTURE).order_by("starts_at")
                 .values_list("starts_at", flat=True).first())
        day = starts_at.astimezone(tz).date()
        week = max(1, (day - first.astimezone(tz).date()).days // 7 + 1) if first else 1
        lecture = Lecture.objects.create(course=course, kind=kind, week=week, starts_at=starts_at, ends_at=ends_at,
                                         room=room, topic=topic, subtopics=subtopics, note=note)
        _record(course=course, by=by, subject=ChangeSubject.SESSION, action="added",
                target=_session_label(lecture),
                changes={"starts_at": ["", _stamp(starts_at, tz)], "ends_at": ["", _stamp(ends_at, tz)],
                         "room": ["", room]})
    return lecture


# --- materials ------------------------------------------------------------------------------

def material_create(*, lecture: Lecture, by: User, title: str, url: str = "",
                    upload: UploadedFile | None = None) -> LectureMaterial:
    """Attach a link or a file (exactly one) to a session."""
    course = lecture.course
    _require(by, course, (Role.INSTRUCTOR,))
    title = title.strip()
    url = url.strip()
    if not title:
        raise ValidationError("Give the material a title (e.g. Slides).")
    _check_text(title, label="title")
    if bool(url) == bool(upload):
        raise ValidationError("Give either a link or a file, not both and not neither.")
    if url and not url.lower().startswith(("https://", "http://")):
        raise ValidationError("A link must start with https:// or http://.")
    if upload is not None:
        if upload.size is None or upload.size == 0:
            raise ValidationError("The file is empty.")
        if upload.size > MATERIAL_MAX_BYTES:
            raise ValidationError(f"The file is larger than {MATERIAL_MAX_BYTES // (1024 * 1024)} MB; "
                                  "put it on a file host and add a link instead.")
    material = LectureMaterial(lecture=lecture, title=title, url=url, created_by=by)
    if upload is not None:
        name = get_valid_filename(PurePath(upload.name or "file").name)[:150] or "file"
        material.original_name = name
        material.size_bytes = upload.size or 0
        material.file.save(name, upload, save=False)  # a unique name under MATERIALS_ROOT
    try:
        with transaction.atomic():
            material.save()
            _record(course=course, by=by, subject=ChangeSubject.MATERIAL, action="added",
                    target=_session_label(lecture),
                    changes={"material": ["", f"{title} ({url or material.original_name})"]})
    except Exception:
        if material.file.name:  # no row points at the file: do not leave it behind
            material.file.storage.delete(material.file.name)
        raise
    return material


def material_delete(*, material: LectureMaterial, by: User) -> None:
    """Remove a material; its file is deleted from storage once the removal is committed."""
    lecture = material.lecture
    course = lecture.course
    _require(by, course, (Role.INSTRUCTOR,))
    with transaction.atomic():
        storage, name = material.file.storage, material.file.name
        label = f"{material.title} ({material.url or material.original_name})"
        material.delete()
        _record(course=course, by=by, subject=ChangeSubject.MATERIAL, action="removed",
                target=_session_label(lecture), changes={"material": [label, ""]})
        if name:
            transaction.on_commit(lambda: storage.delete(name))


# --- announcements --------------------------------------------------------------------------

_TAGS = {"a", "b", "blockquote", "br", "code", "em", "h3", "h4", "hr", "i", "li", "ol", "p", "pre", "strong",
         "table", "tbody", "td", "th", "thead", "tr", "ul"}


def render_body(body: str, body_format: str) -> str:
    """Safe HTML for an announcement body: plain text escaped, Markdown rendered then sanitised by nh3."""
    if body_format == TextFormat.MARKDOWN:
        html = markdown.markdown(body, extensions=["tables", "fenced_code"])
        return nh3.clean(html, tags=_TAGS, attributes={"a": {"href", "title"}},
                         url_schemes={"http", "https", "mailto"}, link_rel="noopener noreferrer")
    return linebreaks(escape(body))


def announcement_create(*, course: Course, by: User, title: str, body: str,
                        body_format: str = TextFormat.PLAIN, email: bool = False) -> Announcement:
    """Post an announcement; with `email`, mail it to the course's active members after commit."""
    _require(by, course, access.ANNOUNCERS)
    title, body = title.strip(), body.strip()
    if not title:
        raise ValidationError("Give the announcement a title.")
    if not body:
        raise ValidationError("Write the announcement's text.")
    if body_format not in TextFormat.values:
        raise ValidationError("Choose plain text or Markdown.")
    _check_text(title, label="title")
    _check_text(body, label="text", multiline=True)
    with transaction.atomic():
        announcement = Announcement.objects.create(
            course=course, author=by, title=title, body=body, body_format=body_format,
            body_html=render_body(body, body_format), email=email,
        )
        _record(course=course, by=by, subject=ChangeSubject.ANNOUNCEMENT, action="posted", target=title,
                changes={"email": ["", "yes" if email else "no"]})
        if email:
            transaction.on_commit(lambda: _queue_email(announcement.pk))
    return announcement


def _queue_email(announcement_id: int) -> None:
    """Hand the e-mail to Celery; if the broker is down the announcement stays and says it was not mailed."""
    from .tasks import announcement_email

    try:
        announcement_email.delay(announcement_id)
    except Exception:
        logger.exception("could not queue the e-mail of announcement %s", announcement_id)


def announcement_recipients(*, course: Course) -> list[str]:
    """E-mail addresses of the course's active members (staff included), each once."""
    emails = (Membership.objects.filter(course=course, is_active=True, user__is_active=True)
              .exclude(user__email="").values_list("user__email", flat=True).order_by("user__email"))
    return list(dict.fromkeys(emails))


def announcement_email_send(*, announcement_id: int) -> int:
    """Send one announcement to the course (Bcc, so members do not see each other's addresses).

    Idempotent: an announcement already mailed is not sent again. Returns the number of
    addresses it went to (0 when skipped). Raises on a mail error so the task retries.
    """
    announcement = Announcement.objects.select_related("course", "author").filter(pk=announcement_id).first()
    if announcement is None or not announcement.email or announcement.emailed_at is not None:
        return 0
    course = announcement.course
    recipients = announcement_recipients(course=course)
    if recipients:
        author = str(announcement.author) if announcement.author else "The course staff"
        message = EmailMessage(
            subject=f"[{course.number}] {announcement.title}",
            body=f"{announcement.body}\n\n— {author}, {course.number} {course.title}",
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[settings.DEFAULT_FROM_EMAIL],
            bcc=recipients,
            reply_to=[announcement.author.email] if announcement.author and announcement.author.email else None,
        )
        message.send()
    Announcement.objects.filter(pk=announcement.pk).update(emailed_at=timezone.now(), emailed_to=len(recipients))
    return len(recipients)
