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
