"""The question editor page's form: every question type edited field by field, without GIFT.

Pure parsing of the submitted form into the shapes services.question_create /
question_update take, and back. Answer rows are numbered fields
(answer-<n>-text, -fraction in percent as Moodle shows it, -feedback, -value,
-tolerance, and -id for an existing answer, so students' chosen choice ids stay valid).
A row left empty is dropped (an existing answer left empty is deleted on save).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError

from . import calculations as calc
from .models import Question, QuestionType, TextFormat

EXTRA_ROWS = 2
MAX_ROWS = 50
TEXT_FIELDS = ("title", "category", "text", "general_feedback", "true_feedback", "false_feedback", "rubric")
FLAGS = ("case_sensitive", "use_regex", "manual_review")
ANSWERED_TYPES = {QuestionType.SINGLE, QuestionType.MULTI, QuestionType.NUMERIC, QuestionType.SHORT,
                  QuestionType.MATCHING}
ROW_KEYS = ("id", "text", "fraction", "feedback", "value", "tolerance", "match")


@dataclass
class EditorState:
    """What the form shows: the question's fields and its answer rows (strings, as typed)."""

    fields: dict = field(default_factory=dict)
    rows: list[dict] = field(default_factory=list)


def _percent(fraction: Decimal) -> str:
    return calc.plain_decimal((fraction * 100).quantize(Decimal("0.00001")))


def state_of(question: Question | None) -> EditorState:
    """The form prefilled from a question (answers prefetched), or blank for a new one."""
    if question is None:
        fields = {"qtype": QuestionType.SINGLE, "text_format": TextFormat.PLAIN, "default_points": "1",
                  "correct_bool": "true"}
        return EditorState(fields=fields, rows=[_blank_row() for _ in range(4)])
    fields = {name: getattr(question, name) for name in TEXT_FIELDS + FLAGS}
    fields.update(qtype=question.qtype, text_format=question.text_format,
                  default_points=calc.plain_decimal(question.default_points),
                  correct_bool="" if question.correct_bool is None else str(question.correct_bool).lower())
    rows = [{"id": str(a.id), "text": a.text, "fraction": _percent(a.fraction), "feedback": a.feedback,
             "value": "" if a.value is None else calc.plain_decimal(a.value),
             "tolerance": calc.plain_decimal(a.tolerance), "match": a.match} for a in question.answers.all()]
    return EditorState(fields=fields, rows=rows + [_blank_row() for _ in range(EXTRA_ROWS)])


def _blank_row() -> dict:
    return dict.fromkeys(ROW_KEYS, "")


def state_from_post(post, *, more_rows: int = 0) -> EditorState:
    """The form as submitted (to show it again, with errors or a preview)."""
    fields = {name: post.get(name, "") for name in TEXT_FIELDS}
    fields.update({name: post.get(name) == "on" for name in FLAGS})
    fields.update(qtype=post.get("qtype", ""), text_format=post.get("text_format", TextFormat.PLAIN),
                  default_points=post.get("default_points", ""), correct_bool=post.get("correct_bool", ""))
    try:
        count = min(int(post.get("rows", "0")), MAX_ROWS)
    except ValueError:
        count = 0
    rows = [{key: post.get(f"answer-{n}-{key}", "").strip() if key != "feedback" else post.get(f"answer-{n}-{key}", "")
             for key in ROW_KEYS} for n in range(count)]
    rows += [_blank_row() for _ in range(max(0, min(more_rows, MAX_ROWS - len(rows))))]
    return EditorState(fields=fields, rows=rows)


def to_service(state: EditorState, *, existing_ids: set[int]) -> tuple[dict, list[dict]]:
    """(fields, answers) for services.question_create/question_update; ValidationError says which row is wrong."""
    qtype = state.fields["qtype"]
    fields = {name: state.fields[name] for name in TEXT_FIELDS + FLAGS}
    fields.update(qtype=qtype, text_format=state.fields["text_format"], default_points=state.fields["default_points"])
    if qtype == QuestionType.TRUEFALSE:
        if state.fields["correct_bool"] not in ("true", "false"):
            raise ValidationError("Say whether the statement is true or false.")
        fields["correct_bool"] = state.fields["correct_bool"] == "true"
    else:
        fields["correct_bool"] = None
    answers: list[dict] = []
    if qtype in ANSWERED_TYPES:
        for n, row in enumerate(state.rows, start=1):
            numeric = qtype == QuestionType.NUMERIC
            if qtype == QuestionType.MATCHING:
                if not (row["text"] or row["match"]):
                    continue
            elif not (row["value"] if numeric else row["text"]):
                continue
            item: dict = {"text": row["text"], "feedback": row["feedback"]}
            if qtype == QuestionType.MATCHING:
                item["match"] = row["match"]
            try:
                item["fraction"] = Decimal(row["fraction"] or "0") / 100
            except InvalidOperation:
                raise ValidationError(f"Answer row {n}: the credit “{row['fraction']}” is not a percentage; "
                                      "write e.g. 100, 50 or -100.") from None
            if numeric:
                item.update(value=row["value"].replace(",", "."), tolerance=(row["tolerance"] or "0").replace(",", "."))
            if row["id"]:
                if not row["id"].isdigit() or int(row["id"]) not in existing_ids:
                    raise ValidationError("An answer of this question was removed meanwhile; reload the page.")
                item["id"] = int(row["id"])
            answers.append(item)
    return fields, answers


def preview_of(fields: dict, answers: list[dict]) -> dict:
    """The checked question as a student would see it, plus its key in words (nothing stored).

    fields/answers: as services.question_check returns them.
    """
    from . import review, rich_text

    qtype, text_format = fields["qtype"], fields.get("text_format", TextFormat.PLAIN)
    key = calc.Key(
        qtype=qtype, correct_bool=fields.get("correct_bool"), use_regex=fields.get("use_regex", False),
        answers=tuple(calc.KeyAnswer(id=n, text=a["text"], fraction=a["fraction"], feedback=a["feedback"],
                                     value=a["value"], tolerance=a["tolerance"], match=a.get("match", ""))
                      for n, a in enumerate(answers, 1)),
    )
    question = {
        "slot": 0, "number": 1, "type": qtype, "text_html": rich_text.render(fields["text"], text_format),
        "points": calc.plain_decimal(fields.get("default_points", Decimal("1"))),
    }
    if qtype in (QuestionType.SINGLE, QuestionType.MULTI):
        question["choices"] = [{"id": n, "text_html": rich_text.render_inline(a["text"], text_format)}
                               for n, a in enumerate(answers, 1)]
    if qtype == QuestionType.MATCHING:
        question["match_items"] = [{"id": n, "text_html": rich_text.render_inline(a["text"], text_format)}
                                   for n, a in enumerate(answers, 1) if a["text"]]
        question["options"] = sorted({a["match"] for a in answers})
    return {
        "questions": [question], "correct": review.correct_in_words(key),
        "general_feedback_html": rich_text.render(fields.get("general_feedback", ""), text_format)
        if fields.get("general_feedback") else "",
        "feedback": [(a["text"] or calc.plain_decimal(a["value"]), a["feedback"]) for a in answers if a["feedback"]],
    }
