"""Forms for the gradebook set-up pages. They only parse input (text → values, the due date in
the course's time zone); every rule and its message lives in services (category_*, item_*),
so the pages and the API refuse the same things with the same words."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django import forms

from .models import ITEM_LATE_BASE_CHOICES, Aggregation, Category, LateBase, LateUnit, Weighting

DUE_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S")


def parse_due(text: str | None, *, time_zone: str) -> dt.datetime | None:
    """A due date typed on a page or sent to the API: "" → None; ISO 8601 with an offset as given;
    without one (what <input type=datetime-local> sends) it is read in the course's time zone.
    Raises ValueError with what to type."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        value = None
        for fmt in DUE_FORMATS:
            try:
                value = dt.datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if value is None:
        raise ValueError(f"“{text}” is not a date and time; enter it like 2024-11-06 23:59 (course time).")
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(time_zone))
    return value


def local_due(value: dt.datetime | None, *, time_zone: str) -> str:
    """The value for <input type=datetime-local>: the due date in the course's time zone."""
    return value.astimezone(ZoneInfo(time_zone)).strftime("%Y-%m-%dT%H:%M") if value else ""


def _number(label: str, **attrs) -> forms.CharField:
    return forms.CharField(label=label, required=False, widget=forms.TextInput(attrs={"inputmode": "decimal", **attrs}))


class CategoryForm(forms.Form):
    name = forms.CharField(required=False, max_length=200)
    weight = _number("Weight (% of the course total)")
    aggregation = forms.ChoiceField(choices=Aggregation.choices, initial=Aggregation.TOTAL_POINTS)
    drop_lowest = _number("Drop lowest (items)")
    drop_highest = _number("Drop highest (items)")
    position = _number("Position")
    description = forms.CharField(required=False, max_length=400)
    late_penalty_base = forms.ChoiceField(
        choices=LateBase.choices, initial=LateBase.SCORE, required=False, label="Late penalties of its items are a percent",
        help_text="of the score (6/10 two days late at 10%/day → 4.80), or of points possible, as Canvas "
                  "(→ 4.00); the floor is a percent of the same. Items may choose their own.")


class ItemForm(forms.Form):
    name = forms.CharField(required=False, max_length=240)
    short_name = forms.CharField(required=False, max_length=60, help_text="Column header in the grid, e.g. Q1")
    category = forms.ModelChoiceField(queryset=Category.objects.none(), required=False)
    points_possible = _number("Points possible")
    weight = _number("Weight within the category", placeholder="1")
    due_at = forms.CharField(label="Due (course time, Europe/Istanbul)", required=False,
                             widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    extra_credit = forms.BooleanField(required=False)
    never_drop = forms.BooleanField(required=False, label="Never drop")
    released = forms.BooleanField(required=False, label="Released to students")
    ta_editable = forms.BooleanField(required=False, label="TAs may enter grades")
    late_penalty_percent = _number("Late penalty (% per started unit)")
    late_penalty_unit = forms.ChoiceField(choices=LateUnit.choices, initial=LateUnit.DAY)
    late_penalty_floor_percent = _number("Floor (% of the same base: the penalty never takes the score below it)")
    late_penalty_base = forms.ChoiceField(choices=ITEM_LATE_BASE_CHOICES, required=False, initial="",
                                          label="Late penalty and floor are a percent")
    position = _number("Position within the category")

    def __init__(self, *args, course, **kwargs):
        super().__init__(*args, **kwargs)
        self.course = course
        category = self.fields["category"]
        assert isinstance(category, forms.ModelChoiceField)  # declared above; self.fields types it as Field
        category.queryset = Category.objects.filter(course=course)
        self.fields["due_at"].label = f"Due (course time, {course.time_zone})"

    def clean_due_at(self):
        try:
            return parse_due(self.cleaned_data.get("due_at"), time_zone=self.course.time_zone)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


class OptionsForm(forms.Form):
    weighting = forms.ChoiceField(choices=Weighting.choices, initial=Weighting.NORMALISED, label="Category weights",
                                  widget=forms.RadioSelect)
    missing_percent = _number("Grade for missing work after its due date (% of its points; empty: off)")
    letters_released = forms.BooleanField(required=False, label="Letters released: students see their letter")
    reason = forms.CharField(required=False, max_length=400, label="Reason (kept in the history)")
