"""Moodle XML question files (<quiz>…</quiz>): read them into the bank's shape and write the bank as one.

Pure (no Django). Moodle XML is what instructors move between Moodle sites
(METU's ODTUClass is Moodle). Read, as Moodle's question/format/xml writes them:
categories ($course$/top/… paths, mapped to bank folders), multichoice (single
or multiple answers), truefalse, shortanswer (usecase), numerical (tolerance),
essay (graderinfo becomes the rubric), matching (subquestions; one without
text is a distractor), question text and feedback formats
(html, markdown, plain/moodle), images embedded as base64 <file> elements
(@@PLUGINFILE@@ references become data: URLs), default grades.
Every other type (cloze, calculated, drag and drop, description …)
is named and skipped. The file is parsed with defusedxml: no entity expansion,
no external entities.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import re
import urllib.parse
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from xml.etree.ElementTree import Element, SubElement, tostring

from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

from .gift import ParsedAnswer, ParsedQuestion, bank_category

SUPPORTED = {"multichoice", "truefalse", "shortanswer", "numerical", "essay", "matching"}
TYPE_NAMES = {
    "multianswer": "embedded answers (cloze)", "calculated": "calculated",
    "calculatedsimple": "simple calculated", "calculatedmulti": "calculated multichoice",
    "ddwtos": "drag and drop into text", "ddimageortext": "drag and drop onto image", "ddmarker": "drag and drop markers",
    "gapselect": "select missing words", "randomsamatch": "random short-answer matching",
    "description": "description (no answer)", "ordering": "ordering",
}
_SEVEN = Decimal("0.0000001")


class MoodleXmlError(ValueError):
    """A file that is not Moodle XML at all (the message says what to send instead)."""


@dataclass
class MoodleQuestion:
    """One question read from the file, in the bank's shape, or why it could not be read."""

    number: int  # 1-based position among the file's questions (category entries not counted)
    name: str
    moodle_type: str
    parsed: ParsedQuestion | None = None
    default_points: Decimal | None = None
    case_sensitive: bool = False
    rubric: str = ""
    error: str = ""  # set: this question cannot be imported (the whole import then stops)


@dataclass
class MoodleFile:
    questions: list[MoodleQuestion] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "Question 4 “Match the layers” (matching): not supported"


def _text(node: Element | None, path: str = "text") -> str:
    if node is None:
        return ""
    found = node.find(path)
    return (found.text or "").strip() if found is not None else ""


def _format(node: Element | None) -> str:
    fmt = (node.get("format") if node is not None else "") or "html"
    return fmt if fmt in ("html", "markdown") else "plain"


def _inline_files(node: Element | None, text: str) -> str:
    """@@PLUGINFILE@@/name references replaced by data: URLs of the base64 <file> elements beside the text."""
    if node is None:
        return text
    for item in node.findall("file"):
        name = item.get("name") or ""
        if item.get("encoding") != "base64" or not name:
            continue
        payload = re.sub(r"\s+", "", item.text or "")
        try:
            base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            continue
        mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
        url = f"data:{mime};base64,{payload}"
        for ref in {name, urllib.parse.quote(name)}:
            text = text.replace(f"@@PLUGINFILE@@/{ref}", url)
    return text


def _rich(node: Element | None) -> tuple[str, str]:
    """(text with images inlined, format) of a <questiontext>/<generalfeedback>/<feedback> element."""
    text = _inline_files(node, _text(node))
    return text, _format(node)


def _fraction(raw: str | None) -> Decimal:
    try:
        value = Decimal(raw or "0") / 100
    except InvalidOperation:
        raise ValueError(f"the answer fraction “{raw}” is not a number") from None
    if not value.is_finite() or not Decimal("-1") <= value <= Decimal("1"):
        raise ValueError(f"the answer fraction “{raw}” must lie between -100 and 100")
    return value.quantize(_SEVEN)


def _bool(node: Element, path: str, default: bool = False) -> bool:
    raw = (node.findtext(path) or "").strip().lower()
    return default if raw == "" else raw in ("1", "true", "yes")


def _read(number: int, node: Element, category: str) -> MoodleQuestion:
    qtype = node.get("type", "")
    name = _text(node.find("name")) or f"Question {number}"
    item = MoodleQuestion(number=number, name=name, moodle_type=qtype)
    text, text_format = _rich(node.find("questiontext"))
    if not text:
        item.error = "it has no question text"
        return item
    general, _ = _rich(node.find("generalfeedback"))
    parsed = ParsedQuestion(title=name[:200], text=text, qtype="", line=number, category=category,
                            general_feedback=general, text_format=text_format)
    grade = (node.findtext("defaultgrade") or "").strip()
    if grade:
        try:
            points = Decimal(grade).quantize(Decimal("0.01"))
            item.default_points = points if points > 0 else None
        except InvalidOperation:
            item.error = f"the default grade “{grade}” is not a number"
            return item
    answers = node.findall("answer")
    try:
        if qtype == "multichoice":
            parsed.qtype = "single" if _bool(node, "single", default=True) else "multi"
            for a in answers:
                feedback, _ = _rich(a.find("feedback"))
                parsed.answers.append(ParsedAnswer(text=_inline_files(a, _text(a)), fraction=_fraction(a.get("fraction")),
                                                   feedback=feedback))
        elif qtype == "truefalse":
            parsed.qtype = "truefalse"
            for a in answers:
                value = _text(a).lower()
                feedback, _ = _rich(a.find("feedback"))
                if value not in ("true", "false"):
                    raise ValueError(f"a true/false answer reads “{_text(a)}”, not true or false")
                if value == "true":
                    parsed.true_feedback = feedback
                else:
                    parsed.false_feedback = feedback
                if _fraction(a.get("fraction")) > 0:
                    parsed.correct_bool = value == "true"
            if parsed.correct_bool is None:
                raise ValueError("neither true nor false earns credit")
        elif qtype == "shortanswer":
            parsed.qtype = "short"
            item.case_sensitive = _bool(node, "usecase")
            for a in answers:
                feedback, _ = _rich(a.find("feedback"))
                parsed.answers.append(ParsedAnswer(text=_text(a), fraction=_fraction(a.get("fraction")), feedback=feedback))
        elif qtype == "numerical":
            parsed.qtype = "numeric"
            for a in answers:
                raw = _text(a)
                if raw == "*":  # Moodle's "any other answer": only feedback, nothing to grade against
                    continue
                feedback, _ = _rich(a.find("feedback"))
                try:
                    target = Decimal(raw.replace(",", "."))
                    tolerance = abs(Decimal((a.findtext("tolerance") or "0").strip() or "0"))
                except InvalidOperation:
                    raise ValueError(f"the numeric answer “{raw}” is not a number") from None
                parsed.answers.append(ParsedAnswer(text=raw, fraction=_fraction(a.get("fraction")), feedback=feedback,
                                                   value=target, tolerance=tolerance))
        elif qtype == "essay":
            parsed.qtype = "essay"
            item.rubric, _ = _rich(node.find("graderinfo"))
        elif qtype == "matching":
            parsed.qtype = "matching"
            for sub in node.findall("subquestion"):
                stem = _inline_files(sub, _text(sub))
                partner = _text(sub.find("answer"))
                if not partner:
                    raise ValueError(f"the item “{stem}” has no partner")
                parsed.answers.append(ParsedAnswer(text=stem, match=partner,
                                                   fraction=Decimal("1") if stem else Decimal("0")))
    except ValueError as exc:
        item.error = str(exc)
        return item
    item.parsed = parsed
    return item


def parse(data: bytes | str) -> MoodleFile:
    """Every question of a Moodle XML file, in order; unsupported types listed in `skipped`.

    Raises MoodleXmlError when the file is not XML or not a <quiz>. Questions that
    are of a supported type but cannot be read carry an `error`.
    """
    try:
        root = ElementTree.fromstring(data.encode("utf-8") if isinstance(data, str) else data, forbid_dtd=True)
    except DefusedXmlException:
        raise MoodleXmlError("The file declares a DTD or entities, which are not accepted; export it again from "
                             "Moodle (Question bank → Export → Moodle XML format).") from None
    except ElementTree.ParseError as exc:
        raise MoodleXmlError(f"This is not readable XML ({exc}); export the questions from Moodle in "
                             "“Moodle XML format”.") from None
    if root.tag != "quiz":
        raise MoodleXmlError(f"The file's root element is <{root.tag}>, not <quiz>; export the questions from Moodle "
                             "in “Moodle XML format”.")
    result = MoodleFile()
    category = ""
    number = 0
    for node in root.findall("question"):
        qtype = node.get("type", "")
        if qtype == "category":
            category = bank_category(_text(node.find("category")))
            continue
        number += 1
        if qtype not in SUPPORTED:
            name = _text(node.find("name")) or f"Question {number}"
            kind = TYPE_NAMES.get(qtype, qtype or "no type")
            result.skipped.append(f"Question {number} “{name}” ({kind}): this type is not supported; skipped.")
            continue
        result.questions.append(_read(number, node, category))
    return result


# --- Writing -------------------------------------------------------------------------


def _percent(fraction: Decimal) -> str:
    text = format((fraction * 100).normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _put_text(parent: Element, tag: str, text: str, text_format: str | None = None) -> Element:
    node = SubElement(parent, tag)
    if text_format is not None:
        node.set("format", "moodle_auto_format" if text_format == "plain" else text_format)
    SubElement(node, "text").text = text
    return node


@dataclass
class ExportQuestion:
    """A bank question with the fields GIFT does not carry."""

    parsed: ParsedQuestion
    default_points: Decimal = Decimal("1")
    case_sensitive: bool = False
    rubric: str = ""


def dump(questions: list[ExportQuestion]) -> str:
    """A Moodle XML file of `questions` (with category entries); parse(dump(q)) reads them back the same."""
    root = Element("quiz")
    category = None
    for item in questions:
        q = item.parsed
        if q.category != category:
            node = SubElement(root, "question", type="category")
            _put_text(node, "category", "$course$/top/" + q.category if q.category else "$course$/top")
            category = q.category
        moodle_type = {"single": "multichoice", "multi": "multichoice", "truefalse": "truefalse",
                       "short": "shortanswer", "numeric": "numerical", "essay": "essay",
                       "matching": "matching"}[q.qtype]
        node = SubElement(root, "question", type=moodle_type)
        _put_text(node, "name", q.title)
        _put_text(node, "questiontext", q.text, q.text_format)
        _put_text(node, "generalfeedback", q.general_feedback, q.text_format)
        SubElement(node, "defaultgrade").text = format(item.default_points, "f")
        if q.qtype in ("single", "multi"):
            SubElement(node, "single").text = "true" if q.qtype == "single" else "false"
            SubElement(node, "shuffleanswers").text = "true"
            for a in q.answers:
                answer = _put_text(node, "answer", a.text, q.text_format)
                answer.set("fraction", _percent(a.fraction))
                _put_text(answer, "feedback", a.feedback, q.text_format)
        elif q.qtype == "truefalse":
            for value, feedback in (("true", q.true_feedback), ("false", q.false_feedback)):
                answer = _put_text(node, "answer", value, "moodle_auto_format")
                answer.set("fraction", "100" if (value == "true") == bool(q.correct_bool) else "0")
                _put_text(answer, "feedback", feedback, q.text_format)
        elif q.qtype == "short":
            SubElement(node, "usecase").text = "1" if item.case_sensitive else "0"
            for a in q.answers:
                answer = _put_text(node, "answer", a.text, "moodle_auto_format")
                answer.set("fraction", _percent(a.fraction))
                _put_text(answer, "feedback", a.feedback, q.text_format)
        elif q.qtype == "numeric":
            for a in q.answers:
                assert a.value is not None  # services/bank.py refuses a numeric answer without a value
                answer = _put_text(node, "answer", format(a.value.normalize(), "f"), "moodle_auto_format")
                answer.set("fraction", _percent(a.fraction))
                SubElement(answer, "tolerance").text = format(a.tolerance.normalize(), "f")
                _put_text(answer, "feedback", a.feedback, q.text_format)
        elif q.qtype == "essay":
            SubElement(node, "responseformat").text = "editor"
            _put_text(node, "graderinfo", item.rubric, "plain")
        elif q.qtype == "matching":
            SubElement(node, "shuffleanswers").text = "true"
            for a in q.answers:
                sub = _put_text(node, "subquestion", a.text, q.text_format)
                _put_text(sub, "answer", a.match)
    body = tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"
