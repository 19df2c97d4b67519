"""Writes for the course domain: the roster import.

The same two functions serve the upload page, the API and `manage.py import_roster`:
`roster_import_preview` reads a CSV and says what would happen, row by row;
`roster_import_apply` does it, atomically, only when no row is bad.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import unicodedata
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from .csvfiles import sniff_dialect
from .models import Course, Membership, Role, User

MAX_ROSTER_BYTES = 2 * 1024 * 1024
MAX_ROSTER_ROWS = 5000
logger = logging.getLogger(__name__)
STUDENT_NUMBER = re.compile(r"^\d{5,20}$")

# Header spellings accepted for each column, compared after normalising (lower case,
# Turkish letters folded, spaces/dashes/dots as underscores).
COLUMNS: dict[str, tuple[str, ...]] = {
    "student_number": (
        "student_number", "student_no", "studentnumber", "number", "student_id", "ogrenci_no",
        "ogrenci_numarasi",
    ),
    "first_name": ("first_name", "firstname", "first", "given_name", "given_names", "ad", "adi"),
    "last_name": ("last_name", "lastname", "last", "surname", "family_name", "soyad", "soyadi"),
    "email": ("email", "e_mail", "email_address", "mail", "e_posta", "eposta"),
}
COLUMN_LABELS = {
    "student_number": "student number", "first_name": "first name", "last_name": "last name", "email": "email",
}
EXPECTED_HEADER = "student number, first name, last name, email"


class Action:
    CREATE = "create"  # a new account, enrolled as a student
    ENROLL = "enroll"  # an existing account, enrolled (or re-enrolled) as a student
    UPDATE = "update"  # an enrolled student whose name or email changes
    UNCHANGED = "unchanged"


@dataclass
class RosterRow:
    """One good row of the file and what applying it would do."""

    line: int  # 1-based line of the file where the row starts (the header is line 1)
    student_number: str
    first_name: str
    last_name: str
    email: str
    action: str = Action.CREATE
    user: User | None = None  # the existing account, if any
    changes: list[str] = field(default_factory=list)  # "email: old → new"

    @property
    def username(self) -> str:
        return self.user.username if self.user else username_for(self.student_number)


@dataclass(frozen=True)
class RosterError:
    line: int | None  # None: a problem with the whole file (encoding, header)
    message: str

    def __str__(self) -> str:
        return f"Line {self.line}: {self.message}" if self.line else self.message


@dataclass
class RosterPreview:
    rows: list[RosterRow]
    errors: list[RosterError]

    @property
    def ok(self) -> bool:
        return not self.errors and bool(self.rows)

    def with_action(self, action: str) -> list[RosterRow]:
        return [row for row in self.rows if row.action == action]

    @property
    def counts(self) -> dict[str, int]:
        counts = {a: 0 for a in (Action.CREATE, Action.ENROLL, Action.UPDATE, Action.UNCHANGED)}
        for row in self.rows:
            counts[row.action] += 1
        return counts


@dataclass(frozen=True)
class RosterResult:
    created: int
    enrolled: int
    updated: int
    unchanged: int


class RosterImportError(Exception):
    """Nothing was applied: `preview.errors` says which lines to fix."""

    def __init__(self, preview: RosterPreview):
        self.preview = preview
        super().__init__("; ".join(str(e) for e in preview.errors) or "The file has no student rows.")


def username_for(student_number: str) -> str:
    """METU's convention: e + student number (e2380001)."""
    return f"e{student_number}"


def decode_roster(data: bytes) -> str:
    """CSV bytes to text: UTF-8, with or without a BOM. Raises ValueError with what to do."""
    if len(data) > MAX_ROSTER_BYTES:
        raise ValueError(f"The file is larger than {MAX_ROSTER_BYTES // (1024 * 1024)} MB; split it.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(
            "The file is not UTF-8 text. In Excel choose Save As → \"CSV UTF-8 (comma delimited)\"."
        ) from None


def _normalise(header: str) -> str:
    folded = header.strip().lower().translate(str.maketrans("çğıöşü", "cgiosu"))
    folded = unicodedata.normalize("NFKD", folded).encode("ascii", "ignore").decode()
    return re.sub(r"[\s\-.]+", "_", folded).strip("_")


def _header_map(header: list[str]) -> tuple[dict[str, int], list[RosterError]]:
    found: dict[str, int] = {}
    for index, name in enumerate(header):
        key = _normalise(name)
        for column, spellings in COLUMNS.items():
            if key in spellings and column not in found:
                found[column] = index
    missing = [COLUMN_LABELS[c] for c in COLUMNS if c not in found]
    if missing:
        return found, [
            RosterError(
                1,
                f"The header lacks {', '.join(missing)}. The first line must name the columns: {EXPECTED_HEADER}.",
            )
        ]
    return found, []


_dialect = sniff_dialect  # comma, semicolon or tab: shared with the grade import (courseapp.csvfiles)


def _parse(csv_text: str) -> tuple[list[RosterRow], list[RosterError]]:
    """Rows and row errors from the text alone (no database)."""
    text = csv_text.lstrip("\ufeff")
    if not text.strip():
        return [], [RosterError(None, f"The file is empty. Its first line must be: {EXPECTED_HEADER}.")]
    reader = csv.reader(io.StringIO(text, newline=""), _dialect(text))
    try:
        header = next(reader)
    except csv.Error as exc:
        return [], [RosterError(1, f"This is not a readable CSV file ({exc}).")]
    columns, errors = _header_map(header)
    if errors:
        return [], errors

    rows: list[RosterRow] = []
    first_line_of: dict[str, int] = {}
    email_line_of: dict[str, int] = {}
    line = reader.line_num + 1
    try:
        for record in reader:
            start, line = line, reader.line_num + 1
            if not any(cell.strip() for cell in record):
                continue
            if len(rows) + len(errors) >= MAX_ROSTER_ROWS:
                errors.append(RosterError(start, f"The file has more than {MAX_ROSTER_ROWS} rows; split it."))
                break
            values = {
                column: (record[index].strip() if index < len(record) else "")
                for column, index in columns.items()
            }
            problems = [f"{COLUMN_LABELS[c]} is missing" for c, v in values.items() if not v]
            number, email = values["student_number"], values["email"].lower()
            if number and not STUDENT_NUMBER.match(number):
                problems.append(f"student number \"{number}\" must be digits only (e.g. 2380001)")
            if email:
                try:
                    validate_email(email)
                except ValidationError:
                    problems.append(f"email \"{values['email']}\" is not a valid address")
            if number in first_line_of:
                problems.append(f"student number {number} is also on line {first_line_of[number]} (duplicate)")
            elif number:
                first_line_of[number] = start
            if email and email in email_line_of:
                problems.append(f"email {email} is also on line {email_line_of[email]} (duplicate)")
            elif email:
                email_line_of[email] = start
            if problems:
                errors.append(RosterError(start, "; ".join(problems) + "."))
                continue
            rows.append(
                RosterRow(
                    line=start, student_number=number, first_name=values["first_name"],
                    last_name=values["last_name"], email=email,
                )
            )
    except csv.Error as exc:
        errors.append(RosterError(line, f"This line is not valid CSV ({exc}); check its quotes."))
    if not rows and not errors:
        errors.append(RosterError(None, "The file has a header but no student rows."))
    return rows, errors


def _plan(course: Course, rows: list[RosterRow]) -> list[RosterError]:
    """Decide each row's action against the database (four queries); errors for conflicts."""
    numbers = [row.student_number for row in rows]
    by_number = {u.student_number: u for u in User.objects.filter(student_number__in=numbers)}
    by_username = {
        u.username: u for u in User.objects.filter(username__in=[username_for(n) for n in numbers])
    }
    by_email: dict[str, list[User]] = {}
    for account in User.objects.filter(email__in=[row.email for row in rows]):
        by_email.setdefault(account.email.lower(), []).append(account)
    memberships = {m.user_id: m for m in Membership.objects.filter(course=course)}

    errors = []
    for row in rows:
        user = by_number.get(row.student_number)
        if user is None:
            taken = by_username.get(username_for(row.student_number))
            if taken is not None:
                errors.append(RosterError(row.line, (
                    f"username {taken.username} already belongs to an account with student number "
                    f"{taken.student_number or '(none)'}; correct the number, or fix that account in the admin."
                )))
                continue
        others = [u for u in by_email.get(row.email, []) if user is None or u.pk != user.pk]
        if others:
            errors.append(RosterError(row.line, (
                f"email {row.email} belongs to another account ({others[0].username}"
                f"{', student number ' + others[0].student_number if others[0].student_number else ''}); "
                "check the student number and the email."
            )))
            continue
        row.user = user
        if user is None:
            row.action = Action.CREATE
            continue
        membership = memberships.get(user.pk)
        if membership is not None and membership.role != Role.STUDENT:
            errors.append(RosterError(row.line, (
                f"{user.get_full_name() or user.username} is {membership.get_role_display().lower()} of this "
                "course; a person has one role per course. Remove the row or change the role in the admin."
            )))
            continue
        for label, attr, new in (
            ("first name", "first_name", row.first_name), ("last name", "last_name", row.last_name),
            ("email", "email", row.email),
        ):
            old = getattr(user, attr)
            if old != new:
                row.changes.append(f"{label}: {old or '(empty)'} → {new}")
        if membership is None or not membership.is_active:
            row.action = Action.ENROLL
        elif row.changes:
            row.action = Action.UPDATE
        else:
            row.action = Action.UNCHANGED
    return errors


def roster_import_preview(*, course: Course, csv_text: str) -> RosterPreview:
    """What importing `csv_text` into `course` would do; changes nothing.

    The CSV needs a header naming student number, first name, last name and email
    (common spellings accepted; comma, semicolon or tab separated). Every bad row is
    reported with its line number (the header is line 1); `preview.ok` is False while
    any row is bad. Students already enrolled but missing from the file stay enrolled.
    """
    rows, errors = _parse(csv_text)
    if rows:
        errors += _plan(course, rows)
        bad_lines = {error.line for error in errors}
        rows = [row for row in rows if row.line not in bad_lines]
    errors.sort(key=lambda error: error.line or 0)
    return RosterPreview(rows=rows, errors=errors)


def roster_import_apply(*, course: Course, csv_text: str, by: User) -> RosterResult:
    """Import the roster: create accounts, enroll students, update names and emails.

    All or nothing: the file is validated again inside the transaction, and
    RosterImportError (with the preview's errors) is raised, with nothing written,
    when any row is bad. New accounts get the username e<student number> and an
    unusable password: the student sets one with "Forgot your password?" on the
    login page. `by` is the instructor importing (the caller checked the role).
    """
    with transaction.atomic():
        preview = roster_import_preview(course=course, csv_text=csv_text)
        if not preview.ok:
            raise RosterImportError(preview)
        try:
            with transaction.atomic():
                _write(course, preview)
        except IntegrityError:
            preview.errors.append(RosterError(
                None, "Someone changed these accounts while you were importing; preview the file again."
            ))
            raise RosterImportError(preview) from None
    counts = preview.counts
    logger.info("roster import into %s by %s: %s", course.code, by.username, counts)
    return RosterResult(
        created=counts[Action.CREATE], enrolled=counts[Action.ENROLL],
        updated=counts[Action.UPDATE], unchanged=counts[Action.UNCHANGED],
    )


def _write(course: Course, preview: RosterPreview) -> None:
    new_users = []
    for row in preview.with_action(Action.CREATE):
        user = User(
            username=username_for(row.student_number), student_number=row.student_number,
            first_name=row.first_name, last_name=row.last_name, email=row.email,
        )
        user.set_unusable_password()
        new_users.append(user)
    User.objects.bulk_create(new_users)
    created = {u.username: u for u in User.objects.filter(username__in=[u.username for u in new_users])}

    changed = []
    for row in preview.rows:
        if row.user is not None and row.changes:
            row.user.first_name, row.user.last_name, row.user.email = row.first_name, row.last_name, row.email
            changed.append(row.user)
    if changed:
        User.objects.bulk_update(changed, ["first_name", "last_name", "email"])

    enroll = [created[u.username] for u in new_users] + [
        r.user for r in preview.with_action(Action.ENROLL) if r.user is not None  # ENROLL rows have an account
    ]
    reactivate = Membership.objects.filter(course=course, user__in=enroll, is_active=False)
    reactivated = set(reactivate.values_list("user_id", flat=True))
    reactivate.update(is_active=True)
    Membership.objects.bulk_create(
        [Membership(course=course, user=user, role=Role.STUDENT) for user in enroll if user.pk not in reactivated]
    )
