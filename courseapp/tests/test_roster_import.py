"""Roster import: the service, the page flow and the management command."""

import io
import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from courseapp import services
from courseapp.models import Membership, Role, User

HEADER = "student number,first name,last name,email\n"
GOOD = HEADER + (
    "2499001,Şule,Çağlar,sule.caglar@metu.edu.tr\n"
    "2499002,İlker,Öğüt,ilker.ogut@metu.edu.tr\n"
)


def students(course):
    return set(
        Membership.objects.filter(course=course, role=Role.STUDENT, is_active=True)
        .values_list("user__student_number", flat=True)
    )


def snapshot():
    return (
        list(User.objects.order_by("pk").values_list("username", "first_name", "last_name", "email")),
        list(Membership.objects.order_by("pk").values_list("user_id", "course_id", "role", "is_active")),
    )


# --- the service: preview -------------------------------------------------------------

def test_preview_of_a_good_file_plans_new_accounts_and_changes_nothing(course):
    before = snapshot()
    preview = services.roster_import_preview(course=course, csv_text=GOOD)
    assert preview.ok and preview.errors == []
    assert [(r.line, r.action, r.username, r.first_name) for r in preview.rows] == [
        (2, "create", "e2499001", "Şule"), (3, "create", "e2499002", "İlker")]
    assert snapshot() == before


@pytest.mark.parametrize(
    "header",
    [
        "student_number,first_name,last_name,email",
        "Student number,First name,Last name,E-mail",
        "STUDENT NO;Name;Surname;Email Address",
        "Öğrenci No,Adı,Soyadı,E-posta",
        "email,last name,first name,student number",
    ],
)
def test_header_variants_and_column_order(course, header):
    sep = ";" if ";" in header else ","
    names = [h.strip().lower() for h in header.split(sep)]
    values = {"email": "a.b@metu.edu.tr", "last": "Bulut", "first": "Ayşe", "number": "2499003"}

    def value_for(name):
        if "mail" in name or "posta" in name:
            return values["email"]
        if "last" in name or "sur" in name or "soyad" in name:
            return values["last"]
        if "first" in name or name in ("name", "adı"):
            return values["first"]
        return values["number"]

    text = header + "\n" + sep.join(value_for(n) for n in names) + "\n"
    if header.startswith("STUDENT NO;Name"):
        # "Name" alone is ambiguous (full name?), so it is not accepted as the first name
        preview = services.roster_import_preview(course=course, csv_text=text)
        assert [str(e) for e in preview.errors] == [
            "Line 1: The header lacks first name. The first line must name the columns: "
            "student number, first name, last name, email."]
        return
    (row,) = services.roster_import_preview(course=course, csv_text=text).rows
    assert (row.student_number, row.first_name, row.last_name, row.email) == (
        "2499003", "Ayşe", "Bulut", "a.b@metu.edu.tr")


def test_utf8_with_bom_and_crlf_and_tabs(course):
    data = ("\ufeff" + GOOD.replace(",", "\t").replace("\n", "\r\n")).encode("utf-8")
    text = services.decode_roster(data)
    preview = services.roster_import_preview(course=course, csv_text=text)
    assert preview.ok
    assert [r.last_name for r in preview.rows] == ["Çağlar", "Öğüt"]


def test_a_file_that_is_not_utf8_says_how_to_save_it():
    with pytest.raises(ValueError, match=r'Save As → "CSV UTF-8 \(comma delimited\)"'):
        services.decode_roster("2499001,Şule".encode("cp1254"))


def test_every_bad_row_is_reported_with_its_line_and_reason(course, student):
    text = HEADER + (
        "2499001,Şule,Çağlar,sule.caglar@metu.edu.tr\n"   # 2 ok
        "2499002,İlker,,ilker@metu.edu.tr\n"              # 3 missing last name
        "2499001,Şule,Çağlar,other@metu.edu.tr\n"         # 4 duplicate number
        "2499004,Ada,Ay,not-an-email\n"                    # 5 bad email
        "\n"                                               # 6 blank: ignored
        "24A9005,Bora,Su,bora@metu.edu.tr\n"               # 7 bad number
        "2499006,Cem,Er,SULE.CAGLAR@metu.edu.tr\n"         # 8 duplicate email (case-insensitive)
        f"2499007,Naz,Su,{student.email}\n"                # 9 email of another account
        ",,,\n"                                            # 10 only separators: ignored
        "2499008,Ece\n"                                    # 11 short row
    )
    preview = services.roster_import_preview(course=course, csv_text=text)
    assert not preview.ok
    assert [str(e) for e in preview.errors] == [
        "Line 3: last name is missing.",
        "Line 4: student number 2499001 is also on line 2 (duplicate).",
        'Line 5: email "not-an-email" is not a valid address.',
        'Line 7: student number "24A9005" must be digits only (e.g. 2380001).',
        "Line 8: email sule.caglar@metu.edu.tr is also on line 2 (duplicate).",
        f"Line 9: email {student.email} belongs to another account ({student.username}, student number "
        f"{student.student_number}); check the student number and the email.",
        "Line 11: last name is missing; email is missing.",
    ]
    assert [r.line for r in preview.rows] == [2]


def test_header_missing_a_column_is_a_file_error(course):
    preview = services.roster_import_preview(course=course, csv_text="student number,first name,email\n1,a,b@c.de\n")
    assert [str(e) for e in preview.errors] == [
        "Line 1: The header lacks last name. The first line must name the columns: "
        "student number, first name, last name, email."]


@pytest.mark.parametrize(("text", "message"), [
    ("", "The file is empty. Its first line must be: student number, first name, last name, email."),
    (HEADER, "The file has a header but no student rows."),
])
def test_empty_files(course, text, message):
    preview = services.roster_import_preview(course=course, csv_text=text)
    assert [e.message for e in preview.errors] == [message] and not preview.ok


def test_a_line_number_counts_physical_lines_across_quoted_newlines(course):
    text = HEADER + '2499001,"Şule\nNur",Çağlar,s@metu.edu.tr\n2499002,Ali,,a@metu.edu.tr\n'
    preview = services.roster_import_preview(course=course, csv_text=text)
    assert [str(e) for e in preview.errors] == ["Line 4: last name is missing."]


def test_existing_students_are_unchanged_updated_or_enrolled(course, student, other_student):
    third = Membership.objects.filter(course=course, role=Role.STUDENT).order_by("user__username")[2]
    third.is_active = False
    third.save(update_fields=["is_active"])
    outsider = User.objects.create(username="e2499050", student_number="2499050", first_name="Out",
                                   last_name="Sider", email="out@metu.edu.tr")
    u1, u2, u3 = student, other_student, third.user
    text = HEADER + (
        f"{u1.student_number},{u1.first_name},{u1.last_name},{u1.email}\n"
        f"{u2.student_number},{u2.first_name},Yeni-Soyad,{u2.email}\n"
        f"{u3.student_number},{u3.first_name},{u3.last_name},{u3.email}\n"
        "2499050,Out,Sider,out@metu.edu.tr\n"
    )
    preview = services.roster_import_preview(course=course, csv_text=text)
    assert [(r.action, r.changes) for r in preview.rows] == [
        ("unchanged", []), ("update", [f"last name: {u2.last_name} → Yeni-Soyad"]), ("enroll", []), ("enroll", [])]
    result = services.roster_import_apply(course=course, csv_text=text, by=u1)
    assert (result.created, result.enrolled, result.updated, result.unchanged) == (0, 2, 1, 1)
    u2.refresh_from_db()
    assert u2.last_name == "Yeni-Soyad"
    assert Membership.objects.get(course=course, user=u3).is_active
    assert Membership.objects.get(course=course, user=outsider).role == Role.STUDENT


def test_staff_of_the_course_cannot_be_imported_as_students(course, ta):
    ta.student_number = "2499077"
    ta.save(update_fields=["student_number"])
    preview = services.roster_import_preview(course=course, csv_text=HEADER + f"2499077,A,B,{ta.email}\n")
    assert [str(e) for e in preview.errors] == [
        f"Line 2: {ta.get_full_name()} is teaching assistant of this course; a person has one role per "
        "course. Remove the row or change the role in the admin."]


def test_a_username_taken_by_someone_else_is_reported(course):
    User.objects.create(username="e2499001", student_number="1111111")
    preview = services.roster_import_preview(course=course, csv_text=GOOD)
    assert str(preview.errors[0]) == (
        "Line 2: username e2499001 already belongs to an account with student number 1111111; correct the "
        "number, or fix that account in the admin.")


# --- the service: apply -----------------------------------------------------------------

def test_apply_creates_accounts_with_unusable_passwords_and_enrolls_them(course, instructor):
    result = services.roster_import_apply(course=course, csv_text=GOOD, by=instructor)
    assert (result.created, result.enrolled, result.updated, result.unchanged) == (2, 0, 0, 0)
    user = User.objects.get(username="e2499002")
    assert (user.first_name, user.last_name, user.email, user.student_number) == (
        "İlker", "Öğüt", "ilker.ogut@metu.edu.tr", "2499002")
    assert not user.has_usable_password()
    assert {"2499001", "2499002"} <= students(course)


def test_apply_is_all_or_nothing(course, instructor):
    before = snapshot()
    with pytest.raises(services.RosterImportError) as caught:
        services.roster_import_apply(course=course, csv_text=GOOD + "2499003,Bad,Row,nope\n", by=instructor)
    assert [str(e) for e in caught.value.preview.errors] == ['Line 4: email "nope" is not a valid address.']
    assert snapshot() == before


def test_apply_twice_changes_nothing_the_second_time(course, instructor):
    services.roster_import_apply(course=course, csv_text=GOOD, by=instructor)
    before = snapshot()
    result = services.roster_import_apply(course=course, csv_text=GOOD, by=instructor)
    assert (result.created, result.unchanged) == (0, 2)
    assert snapshot() == before


def test_apply_revalidates_against_the_database(course, instructor):
    preview = services.roster_import_preview(course=course, csv_text=GOOD)
    assert preview.ok
    User.objects.create(username="someone", email="sule.caglar@metu.edu.tr")  # meanwhile
    with pytest.raises(services.RosterImportError, match="belongs to another account"):
        services.roster_import_apply(course=course, csv_text=GOOD, by=instructor)
    assert not User.objects.filter(username="e2499002").exists()


def test_import_of_200_students_uses_a_constant_number_of_queries(course, instructor):
    rows = "".join(f"25{i:05d},Ad{i},Soyad{i},s{i}@metu.edu.tr\n" for i in range(200))
    with CaptureQueriesContext(connection) as queries:
        result = services.roster_import_apply(course=course, csv_text=HEADER + rows, by=instructor)
    assert result.created == 200
    assert len(queries) <= 20  # savepoints, 4 lookups, batched inserts: never one per row (that is 400+)


# --- the page flow ----------------------------------------------------------------------

def import_url(course, apply=False):
    return f"/courses/{course.code}/roster/import/" + ("apply/" if apply else "")


def test_instructor_uploads_a_file_previews_and_applies(client_for, instructor, course):
    client = client_for(instructor)
    upload = io.BytesIO(("\ufeff" + GOOD).encode("utf-8"))
    upload.name = "roster.csv"
    response = client.post(import_url(course), {"file": upload})
    html = response.content.decode()
    assert response.status_code == 200
    assert "2 new accounts" in html and "e2499001" in html and "Şule Çağlar" in html
    assert not User.objects.filter(username="e2499001").exists()
    digest = re.search(r'name="digest" value="([0-9a-f]+)"', html).group(1)
    response = client.post(import_url(course, apply=True), {"digest": digest})
    assert response.status_code == 302 and response["Location"] == f"/courses/{course.code}/roster/"
    assert "Roster imported: 2 new accounts, 0 enrolled, 0 updated, 0 unchanged." in (
        client.get(response["Location"]).content.decode())
    assert {"2499001", "2499002"} <= students(course)


def test_a_bad_row_shows_errors_and_no_apply_button(client_for, instructor, course):
    client = client_for(instructor)
    response = client.post(import_url(course), {"text": GOOD + "2499003,Ada,Ay,not-an-email\n"})
    html = response.content.decode()
    assert response.status_code == 422
    assert "<strong>Line 4:</strong> email &quot;not-an-email&quot; is not a valid address." in html
    assert "nothing will be imported until it is fixed" in html
    assert 'id="roster-apply"' not in html
    assert "2499003,Ada,Ay,not-an-email" in html  # the text is there to fix


def test_apply_with_a_stale_preview_is_refused(client_for, instructor, course):
    client = client_for(instructor)
    client.post(import_url(course), {"text": GOOD})
    response = client.post(import_url(course, apply=True), {"digest": "0" * 64}, follow=True)
    assert "That preview is no longer current" in response.content.decode()
    assert not User.objects.filter(username="e2499001").exists()


def test_apply_after_the_database_changed_shows_the_new_problem(client_for, instructor, course):
    client = client_for(instructor)
    html = client.post(import_url(course), {"text": GOOD}).content.decode()
    digest = re.search(r'name="digest" value="([0-9a-f]+)"', html).group(1)
    User.objects.create(username="e2499001", student_number="1234567")
    response = client.post(import_url(course, apply=True), {"digest": digest})
    assert response.status_code == 422
    assert "username e2499001 already belongs to an account with student number 1234567" in (
        response.content.decode())
    assert not User.objects.filter(username="e2499002").exists()


def test_upload_with_nothing_says_what_to_do(client_for, instructor, course):
    response = client_for(instructor).post(import_url(course), {"text": "  "})
    assert response.status_code == 400
    assert "Choose a CSV file or paste the roster into the box." in response.content.decode()


# --- the management command -------------------------------------------------------------

def test_import_roster_command_applies(course, tmp_path):
    path = tmp_path / "roster.csv"
    path.write_bytes(("\ufeff" + GOOD).encode("utf-8"))
    out = io.StringIO()
    call_command("import_roster", course.code, str(path), stdout=out)
    assert "Imported: 2 new accounts, 0 enrolled, 0 updated, 0 unchanged." in out.getvalue()
    assert {"2499001", "2499002"} <= students(course)


def test_import_roster_command_dry_run_and_errors(course, tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text(GOOD, encoding="utf-8")
    out = io.StringIO()
    call_command("import_roster", course.code, str(path), "--dry-run", stdout=out)
    assert "Dry run: 2 new, 0 to enroll, 0 to update, 0 unchanged. Nothing changed." in out.getvalue()
    assert not User.objects.filter(username="e2499001").exists()
    path.write_text(GOOD + "2499003,Ada,,a@metu.edu.tr\n", encoding="utf-8")
    err = io.StringIO()
    with pytest.raises(CommandError, match=r"1 problem\(s\); nothing imported"):
        call_command("import_roster", course.code, str(path), stdout=io.StringIO(), stderr=err)
    assert "Line 4: last name is missing." in err.getvalue()
    with pytest.raises(CommandError, match="No course with code 'nope'"):
        call_command("import_roster", "nope", str(path))
