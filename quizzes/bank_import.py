"""Moving questions between this bank and Moodle sites: Moodle XML import (atomic) and export.

The parsing and writing are pure (moodle_xml.py); this module creates the bank's
questions through services.question_create, so every rule of the bank applies,
and reads the bank for export.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction

from courseapp.models import Course, User

from . import moodle_xml, selectors, services
from .models import Question

MAX_BYTES = 20 * 1024 * 1024


@dataclass
class MoodleImport:
    created: list[Question]
    skipped: list[str]  # unsupported question types, each named with its position and name


@transaction.atomic
def questions_import_moodle_xml(*, course: Course, data: bytes | str, by: User | None,
                                category: str = "") -> MoodleImport:
    """Every supported question of a Moodle XML file added to the bank, all or none.

    Unsupported types (matching, cloze, calculated …) are skipped and named in the
    result. If any supported question cannot be read or breaks a bank rule,
    nothing is created and the ValidationError lists every such question with
    what to fix. category: the folder for questions the file puts in none.
    """
    if len(data) > MAX_BYTES:
        raise ValidationError(f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB; export fewer categories "
                              "at a time.")
    try:
        parsed = moodle_xml.parse(data)
    except moodle_xml.MoodleXmlError as exc:
        raise ValidationError(str(exc)) from None
    errors: list[str] = []
    created: list[Question] = []
    for item in parsed.questions:
        where = f"Question {item.number} “{item.name}” ({item.moodle_type})"
        if item.error:
            errors.append(f"{where}: {item.error}.")
            continue
        assert item.parsed is not None  # moodle_xml sets it on every question without an error
        fields, answers = services.parsed_fields(item.parsed)
        fields["category"] = fields["category"] or category
        if item.default_points is not None:
            fields["default_points"] = item.default_points
        if item.parsed.qtype == "short":
            fields["case_sensitive"] = item.case_sensitive
        if item.rubric:
            fields["rubric"] = item.rubric
        try:
            with transaction.atomic():
                created.append(services.question_create(course=course, by=by, answers=answers, **fields))
        except ValidationError as exc:
            errors.append(f"{where}: {' '.join(exc.messages)}")
    if errors:
        raise ValidationError(["Nothing was imported; fix these questions and import the file again."] + errors)
    if not created:
        raise ValidationError(["The file holds no question this bank can import."] + parsed.skipped)
    return MoodleImport(created=created, skipped=parsed.skipped)


def bank_as_moodle_xml(*, course: Course) -> str:
    """The whole bank as a Moodle XML file (categories as $course$/top/<folder>)."""
    return moodle_xml.dump([
        moodle_xml.ExportQuestion(parsed=selectors.as_parsed(q), default_points=q.default_points,
                                  case_sensitive=q.case_sensitive, rubric=q.rubric)
        for q in selectors.bank(course=course)
    ])
