"""Forms of the course pages: parse and validate input; rules live in services."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import PasswordResetForm

from .models import User
from .services import decode_roster


class RosterUploadForm(forms.Form):
    """A roster CSV, uploaded as a file or pasted as text (the file wins when both are given)."""

    file = forms.FileField(required=False, label="CSV file")
    text = forms.CharField(
        required=False, label="…or paste the CSV here",
        widget=forms.Textarea(attrs={"rows": 10, "spellcheck": "false", "class": "mono"}),
    )

    def clean(self) -> dict:
        data = super().clean()
        assert data is not None  # Form.clean returns cleaned_data
        upload = data.get("file")
        if upload:
            try:
                data["csv_text"] = decode_roster(upload.read())
            except ValueError as exc:
                raise forms.ValidationError(str(exc)) from None
        elif (data.get("text") or "").strip():
            data["csv_text"] = data["text"]
        else:
            raise forms.ValidationError("Choose a CSV file or paste the roster into the box.")
        return data


class AccountPasswordResetForm(PasswordResetForm):
    """Django's reset form, but it also reaches accounts that never had a password.

    Roster import creates students with an unusable password; "Forgot your password?"
    is how they set their first one (Django's own form skips such accounts, since
    elsewhere they often mean "logs in through another system"; here they do not).
    """

    def get_users(self, email: str):
        return User.objects.filter(email__iexact=email, is_active=True).exclude(email="")


# --- Course editing (services in courseapp/editing.py) ----------------------------------------

def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


class CourseForm(forms.Form):
    """The course page: texts, textbooks (one per line) and each staff member's office hours."""

    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 6}))
    policy = forms.CharField(required=False, label="Course policies",
                             help_text="Attendance, late work, collaboration… (plain text)",
                             widget=forms.Textarea(attrs={"rows": 6}))
    textbook_note = forms.CharField(required=False, label="Note above the textbooks",
                                    widget=forms.Textarea(attrs={"rows": 2}))
    textbooks = forms.CharField(required=False, help_text="One citation per line, in order",
                                widget=forms.Textarea(attrs={"rows": 5}))
    website = forms.URLField(required=False, assume_scheme="https")
    mailing_list = forms.CharField(required=False, max_length=200)

    def __init__(self, *args, staff: list | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.staff = staff or []
        for member in self.staff:
            self.fields[f"office_hours_{member.pk}"] = forms.CharField(
                required=False, max_length=200, label=f"Office hours of {member.user}",
                initial=member.office_hours,
            )

    def edit(self):
        from .editing import CourseEdit

        data = self.cleaned_data
        return CourseEdit(
            description=data["description"], policy=data["policy"], textbook_note=data["textbook_note"],
            website=data["website"], mailing_list=data["mailing_list"], textbooks=_lines(data["textbooks"]),
            office_hours={member.pk: data.get(f"office_hours_{member.pk}", "") for member in self.staff},
        )


class SessionForm(forms.Form):
    """A session's date, times (in the course's time zone), room, topic, subtopics and note."""

    date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    start = forms.TimeField(widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    end = forms.TimeField(widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    room = forms.CharField(max_length=60)
    topic = forms.CharField(max_length=200)
    subtopics = forms.CharField(required=False, help_text="One per line",
                                widget=forms.Textarea(attrs={"rows": 4}))
    note = forms.CharField(required=False, max_length=300,
                           help_text="Shown to everyone, e.g. why it moved")

    def __init__(self, *args, tz=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.tz = tz

    def clean(self) -> dict:
        import datetime as dt

        data = super().clean()
        assert data is not None  # Form.clean returns cleaned_data
        if all(data.get(name) is not None for name in ("date", "start", "end")):
            data["starts_at"] = dt.datetime.combine(data["date"], data["start"], tzinfo=self.tz)
            data["ends_at"] = dt.datetime.combine(data["date"], data["end"], tzinfo=self.tz)
            if data["ends_at"] <= data["starts_at"]:
                raise forms.ValidationError("The end time must be after the start time.")
        data["subtopic_lines"] = _lines(data.get("subtopics") or "")
        return data


class NewSessionForm(SessionForm):
    field_order = ["kind", "date", "start", "end", "room", "topic", "subtopics", "note"]
    kind = forms.ChoiceField(choices=[("extra", "Extra session"), ("exam", "Exam")])


class CancelForm(forms.Form):
    note = forms.CharField(max_length=300, label="Reason (shown to everyone)")


class MaterialForm(forms.Form):
    title = forms.CharField(max_length=200)
    url = forms.URLField(required=False, max_length=500, label="Link", assume_scheme="https")
    file = forms.FileField(required=False, label="…or a file")

    def clean(self) -> dict:
        data = super().clean()
        assert data is not None  # Form.clean returns cleaned_data
        if bool(data.get("url")) == bool(data.get("file")):
            raise forms.ValidationError("Give either a link or a file.")
        return data


class AnnouncementForm(forms.Form):
    title = forms.CharField(max_length=200)
    body = forms.CharField(label="Text", widget=forms.Textarea(attrs={"rows": 8}))
    body_format = forms.ChoiceField(label="Format", choices=[("plain", "Plain text"), ("markdown", "Markdown")],
                                    initial="plain")
    email = forms.BooleanField(required=False, initial=True, label="E-mail it to everyone in the course")
