"""Forms of the quiz pages: parse and check shapes; the rules live in services."""

from __future__ import annotations

import datetime as dt

from django import forms

from courseapp.models import Lecture

from .models import DURING_PARTS, REVIEW_PARTS, GradingMethod

REVIEW_CHOICES = [(p, p.capitalize()) for p in REVIEW_PARTS]


class QuizForm(forms.Form):
    title = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    lecture = forms.ModelChoiceField(queryset=Lecture.objects.none(), required=False)
    opens_at = forms.DateTimeField(widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"))
    closes_at = forms.DateTimeField(widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"))
    time_limit_minutes = forms.IntegerField(min_value=1, required=False, help_text="Empty: until the quiz closes")
    grace_seconds = forms.IntegerField(min_value=0, max_value=300, initial=5)
    max_attempts = forms.IntegerField(min_value=0, max_value=100, initial=1, help_text="0 = unlimited")
    grading_method = forms.ChoiceField(choices=GradingMethod.choices)
    shuffle_questions = forms.BooleanField(required=False)
    shuffle_choices = forms.BooleanField(required=False, initial=True)
    review_after_submit = forms.MultipleChoiceField(choices=REVIEW_CHOICES, required=False,
                                                    widget=forms.CheckboxSelectMultiple, initial=["score"])
    review_after_close = forms.MultipleChoiceField(choices=REVIEW_CHOICES, required=False,
                                                   widget=forms.CheckboxSelectMultiple, initial=list(REVIEW_PARTS))
    review_during = forms.MultipleChoiceField(
        choices=[(p, p.capitalize()) for p in DURING_PARTS], required=False, widget=forms.CheckboxSelectMultiple,
        help_text="Of a question the student checks while taking the quiz (checking makes that answer final); "
                  "none: no checking, nothing before submitting")
    published = forms.BooleanField(required=False)
    use_existing_grade_item = forms.BooleanField(
        required=False, label="Grade into the existing gradebook item of the same title",
        help_text="Only when the gradebook already lists this quiz (e.g. “Quiz 3”); otherwise the quiz gets its own item",
    )

    def __init__(self, *args, course, creating: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        lecture = self.fields["lecture"]
        assert isinstance(lecture, forms.ModelChoiceField)  # declared above; self.fields types it as Field
        lecture.queryset = Lecture.objects.filter(course=course)
        if not creating:
            del self.fields["use_existing_grade_item"]

    def wants_existing_item(self) -> bool:
        return bool(self.cleaned_data.get("use_existing_grade_item"))

    def to_fields(self) -> dict:
        data = dict(self.cleaned_data)
        data.pop("use_existing_grade_item", None)
        minutes = data.pop("time_limit_minutes")
        data["time_limit"] = dt.timedelta(minutes=minutes) if minutes else None
        return data


class GiftImportForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 10, "spellcheck": "false"}), label="GIFT text")
    category = forms.CharField(max_length=200, required=False, help_text="Bank folder for questions without $CATEGORY")


class QuestionEditForm(forms.Form):
    gift = forms.CharField(widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}), label="Question (GIFT)")
    default_points = forms.DecimalField(max_digits=6, decimal_places=2, min_value=0.01)
    case_sensitive = forms.BooleanField(required=False, help_text="Short answer: compare case")
    use_regex = forms.BooleanField(required=False, help_text="Short answer: accepted answers are regular expressions")
    manual_review = forms.BooleanField(required=False, help_text="Send every answer to the TA grading queue")
    rubric = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)


class AddSlotForm(forms.Form):
    question = forms.IntegerField()
    points = forms.DecimalField(max_digits=6, decimal_places=2, min_value=0.01, required=False)


class GradeResponseForm(forms.Form):
    response = forms.IntegerField()
    points = forms.DecimalField(max_digits=6, decimal_places=2, min_value=0)
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


def preview_answers(data, layout: list[dict]) -> dict[int, object]:
    """The preview form's inputs (slot-<id>) as answers in the API's shapes; anything malformed counts as blank.

    data: the POST QueryDict; layout: the preview's layout (calculations.build_layout).
    """
    from .calculations import validate_value

    answers: dict[int, object] = {}
    for entry in layout:
        name, qtype = f"slot-{entry['slot']}", entry["type"]
        value: object
        if qtype == "single":
            raw = data.get(name, "")
            value = int(raw) if raw.isdigit() else None
        elif qtype == "multi":
            value = [int(v) for v in data.getlist(name) if v.isdigit()] or None
        elif qtype == "truefalse":
            value = {"true": True, "false": False}.get(data.get(name))
        elif qtype == "matching":
            value = {str(item): data.get(f"{name}-{item}") for item in entry["choices"] if data.get(f"{name}-{item}")}
        else:
            value = data.get(name) or None
        answers[entry["slot"]] = None if validate_value(entry, value) else value
    return answers
