"""Moodle GIFT text format: parse questions from it and write questions to it.

Pure (no Django). Supported, as Moodle's question/format/gift reads them:
  // comment lines, $CATEGORY: path, ::title::, [html]/[moodle]/[plain]/[markdown] prefixes,
  single choice {=right ~wrong}, multiple choice with weights {~%50%a ~%50%b ~%-100%c},
  true/false {T} {FALSE#feedback when wrong#feedback when right},
  short answer {=one =two =%50%half}, numeric {#3.14:0.01} {#1..5} {#=2:0 =%50%2:1},
  essay {}, per-answer feedback (#...), general feedback (####...), escapes \\~ \\= \\# \\{ \\} \\:,
  and the missing-word form (text after the answer block).
  matching {=item -> partner =other -> its partner = -> a distractor}.
Description-only questions are refused with a message naming the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

SPECIAL = "~=#{}:"
_PLACEHOLDER = {c: chr(0xE000 + i) for i, c in enumerate(SPECIAL + "\\")}
_RESTORE = {v: k for k, v in _PLACEHOLDER.items()}


class GiftError(ValueError):
    """A question that cannot be read; the message names its line and what to fix."""


@dataclass
class ParsedAnswer:
    text: str = ""
    fraction: Decimal = Decimal("0")
    feedback: str = ""
    value: Decimal | None = None
    tolerance: Decimal = Decimal("0")
    match: str = ""  # matching: the partner of `text`


@dataclass
class ParsedQuestion:
    """A question read from GIFT; `qtype` uses QuestionType values."""

    title: str
    text: str
    qtype: str
    line: int
    category: str = ""
    answers: list[ParsedAnswer] = field(default_factory=list)
    correct_bool: bool | None = None
    true_feedback: str = ""
    false_feedback: str = ""
    general_feedback: str = ""
    text_format: str = "plain"  # plain, html or markdown (rich_text renders and sanitises)


_MOODLE_CONTEXTS = re.compile(r"^\$(course|system|module|cat\d*|coursecategory)\$/?")


def bank_category(path: str) -> str:
    """A Moodle category path as a bank folder: "$course$/top/Default for CENG501/Backprop/Chain" → "Backprop/Chain".

    Moodle prefixes a context ($course$, $system$, $module$ …), a "top" level and
    usually a "Default for …" category of the course; none of those mean anything
    in this course's bank, so they are dropped. Other paths are kept, slashes tidied.
    """
    path = _MOODLE_CONTEXTS.sub("", path.strip())
    parts = [p.strip() for p in path.split("/") if p.strip()]
    if parts and parts[0] == "top":
        parts = parts[1:]
    if parts and parts[0].lower().startswith("default for "):
        parts = parts[1:]
    return "/".join(parts)[:200]


def _protect(text: str) -> str:
    """Replace escaped specials with private-use placeholders so splitting ignores them."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt in _PLACEHOLDER:
                out.append(_PLACEHOLDER[nxt])
                i += 2
                continue
            if nxt == "n":
                out.append("\n")
                i += 2
                continue
        out.append(text[i])
        i += 1
    return "".join(out)


def _restore(text: str) -> str:
    return "".join(_RESTORE.get(c, c) for c in text).strip()


def _strip_format(text: str) -> tuple[str, str]:
    """The text without its [format] prefix, and the format: html and markdown kept, moodle/plain read as plain."""
    match = re.match(r"^\s*\[(html|moodle|plain|markdown)\]", text)
    if not match:
        return text, "plain"
    return text[match.end():], match.group(1) if match.group(1) in ("html", "markdown") else "plain"


def _blocks(source: str):
    """(first line number, text) of each question block: blank lines separate them."""
    lines = source.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    block: list[str] = []
    start = 0
    for number, line in enumerate(lines, start=1):
        if line.strip().startswith("//"):
            continue
        if not line.strip():
            if block:
                yield start, "\n".join(block)
                block = []
            continue
        if not block:
            start = number
        block.append(line)
    if block:
        yield start, "\n".join(block)


def _weight(token: str, line: int) -> tuple[Decimal | None, str]:
    match = re.match(r"^\s*%(-?[0-9.]+)%", token)
    if not match:
        return None, token
    try:
        return Decimal(match.group(1)) / 100, token[match.end():]
    except InvalidOperation:
        raise GiftError(f"Line {line}: the weight %{match.group(1)}% is not a number.") from None


def _split_feedback(token: str) -> tuple[str, str]:
    if "#" in token:
        answer, feedback = token.split("#", 1)
        return answer, feedback
    return token, ""


def _number(text: str, line: int) -> Decimal:
    try:
        return Decimal(_restore(text))
    except InvalidOperation:
        raise GiftError(f"Line {line}: '{_restore(text)}' is not a number; write e.g. {{#3.14:0.01}}.") from None


def _numeric_answer(token: str, line: int, fraction: Decimal) -> ParsedAnswer:
    body, feedback = _split_feedback(token)
    body = body.strip()
    if ".." in body:
        low, high = (_number(part, line) for part in body.split("..", 1))
        return ParsedAnswer(text=_restore(body), fraction=fraction, feedback=_restore(feedback),
                            value=(low + high) / 2, tolerance=(high - low) / 2)
    if ":" in body:
        value, tolerance = body.split(":", 1)
        return ParsedAnswer(text=_restore(body), fraction=fraction, feedback=_restore(feedback),
                            value=_number(value, line), tolerance=abs(_number(tolerance, line)))
    return ParsedAnswer(text=_restore(body), fraction=fraction, feedback=_restore(feedback),
                        value=_number(body, line))


def _tokens(body: str) -> list[tuple[str, str]]:
    """Split an answer block into (marker, text) pairs on = and ~."""
    parts = re.split(r"([=~])", body)
    tokens = []
    for i in range(1, len(parts), 2):
        tokens.append((parts[i], parts[i + 1]))
    if parts[0].strip():
        tokens.insert(0, ("", parts[0]))
    return tokens


def _parse_block(start: int, raw: str, category: str) -> ParsedQuestion:
    text = _protect(raw)
    title = ""
    match = re.match(r"^\s*::(.*?)::", text, re.DOTALL)
    if match:
        title = _restore(match.group(1))
        text = text[match.end():]
    open_at = text.find("{")
    if open_at < 0:
        raise GiftError(f"Line {start}: no answer block {{…}}; add one, e.g. {{=right ~wrong}} or {{}} for an essay.")
    close_at = text.find("}", open_at)
    if close_at < 0:
        raise GiftError(f"Line {start}: the answer block is not closed; add '}}'.")
    before, body, after = text[:open_at], text[open_at + 1:close_at], text[close_at + 1:]
    before, text_format = _strip_format(before)
    stem = _restore(before)
    if after.strip():
        stem = f"{stem} _____ {_restore(after)}"
    if not stem:
        raise GiftError(f"Line {start}: the question has no text.")
    general = ""
    if "####" in body:
        body, general = body.split("####", 1)
        general = _restore(general)
    question = ParsedQuestion(title=title or _plain_title(stem, text_format), text=stem, qtype="", line=start,
                              category=category, general_feedback=general, text_format=text_format)
    stripped = body.strip()
    if not stripped:
        question.qtype = "essay"
        return question
    if "->" in stripped:
        question.qtype = "matching"
        for marker, token in _tokens(stripped):
            if marker != "=" or "->" not in token:
                raise GiftError(f"Line {start}: in a matching question write each pair as =item -> partner.")
            item, partner = token.split("->", 1)
            question.answers.append(ParsedAnswer(text=_restore(item), match=_restore(partner),
                                                 fraction=Decimal("1") if _restore(item) else Decimal("0")))
        return question
    if stripped.startswith("#"):
        question.qtype = "numeric"
        rest = stripped[1:]
        if "=" in rest:
            for marker, token in _tokens(rest):
                if marker != "=":
                    if token.strip():
                        raise GiftError(f"Line {start}: in a numeric block with several answers, start each with '='.")
                    continue
                weight, token = _weight(token, start)
                question.answers.append(_numeric_answer(token, start, Decimal("1") if weight is None else weight))
        else:
            question.answers.append(_numeric_answer(rest, start, Decimal("1")))
        return question
    tf_match = re.fullmatch(r"(T|TRUE|F|FALSE)\s*(#.*)?", stripped, re.DOTALL)
    if tf_match:
        question.qtype = "truefalse"
        value = tf_match.group(1) in ("T", "TRUE")
        bits = (tf_match.group(2) or "").split("#")[1:3]
        wrong = _restore(bits[0]) if len(bits) > 0 else ""
        right = _restore(bits[1]) if len(bits) > 1 else ""
        question.correct_bool = value
        question.true_feedback, question.false_feedback = (right, wrong) if value else (wrong, right)
        return question
    tokens = _tokens(stripped)
    if any(marker == "" for marker, _ in tokens):
        raise GiftError(f"Line {start}: start each answer with '=' (right) or '~' (wrong).")
    markers = {marker for marker, _ in tokens}
    if markers == {"="}:
        question.qtype = "short"
    else:
        question.qtype = "single" if "=" in markers else "multi"
    for marker, token in tokens:
        weight, token = _weight(token, start)
        answer, feedback = _split_feedback(token)
        if weight is None:
            weight = Decimal("1") if marker == "=" else Decimal("0")
        if not (Decimal("-1") <= weight <= Decimal("1")):
            raise GiftError(f"Line {start}: a weight must lie between -100% and 100%.")
        question.answers.append(ParsedAnswer(text=_restore(answer), fraction=weight, feedback=_restore(feedback)))
    if question.qtype == "multi" and sum(a.fraction for a in question.answers if a.fraction > 0) <= 0:
        raise GiftError(f"Line {start}: no answer is right; mark one with '=' or give weights like ~%50%.")
    return question


def _plain_title(stem: str, text_format: str) -> str:
    if text_format == "html":
        stem = re.sub(r"<[^>]*>", " ", stem)
    return " ".join(stem.split())[:60]


def parse(source: str) -> list[ParsedQuestion]:
    """Every question in a GIFT text. Raises GiftError naming the first bad question's line."""
    questions = []
    category = ""
    for start, block in _blocks(source):
        lines = block.split("\n")
        while lines and lines[0].strip().startswith("$CATEGORY:"):
            category = bank_category(lines.pop(0).split(":", 1)[1])
            start += 1
        if not lines:
            continue
        questions.append(_parse_block(start, "\n".join(lines), category))
    return questions


def escape(text: str) -> str:
    """Text safe inside GIFT: specials backslash-escaped, newlines as \\n."""
    out = text.replace("\\", "\\\\")
    for char in SPECIAL:
        out = out.replace(char, "\\" + char)
    return out.replace("\r\n", "\n").replace("\n", "\\n")


def _pct(fraction: Decimal) -> str:
    value = (fraction * 100).normalize()
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _num(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _fb(feedback: str) -> str:
    return f"#{escape(feedback)}" if feedback else ""


def dump(questions: list[ParsedQuestion]) -> str:
    """GIFT text for `questions`; parse(dump(q)) gives the same questions back."""
    chunks = []
    category = None
    for q in questions:
        if q.category != category and q.category:
            chunks.append(f"$CATEGORY: {q.category}")
        category = q.category
        prefix = f"[{q.text_format}]" if q.text_format in ("html", "markdown") else ""
        head = f"::{escape(q.title)}:: {prefix}{escape(q.text)} "
        general = f"####{escape(q.general_feedback)}" if q.general_feedback else ""
        if q.qtype == "essay":
            body = ""
        elif q.qtype == "truefalse":
            right, wrong = (q.true_feedback, q.false_feedback) if q.correct_bool else (q.false_feedback, q.true_feedback)
            fb = f"#{escape(wrong)}#{escape(right)}" if (wrong or right) else ""
            body = ("TRUE" if q.correct_bool else "FALSE") + fb
        elif q.qtype == "numeric":
            parts = []
            for a in q.answers:
                weight = "" if a.fraction == 1 else f"%{_pct(a.fraction)}%"
                tol = f":{_num(a.tolerance)}" if a.tolerance else ""
                assert a.value is not None  # services/bank.py refuses a numeric answer without a value
                parts.append(f"={weight}{_num(a.value)}{tol}{_fb(a.feedback)}")
            body = "#" + " ".join(parts)
        elif q.qtype == "short":
            parts = []
            for a in q.answers:
                weight = "" if a.fraction == 1 else f"%{_pct(a.fraction)}%"
                parts.append(f"={weight}{escape(a.text)}{_fb(a.feedback)}")
            body = " ".join(parts)
        elif q.qtype == "single":
            parts = []
            for a in q.answers:
                if a.fraction == 1:
                    parts.append(f"={escape(a.text)}{_fb(a.feedback)}")
                elif a.fraction == 0:
                    parts.append(f"~{escape(a.text)}{_fb(a.feedback)}")
                else:
                    parts.append(f"~%{_pct(a.fraction)}%{escape(a.text)}{_fb(a.feedback)}")
            body = " ".join(parts)
        elif q.qtype == "multi":
            body = " ".join(f"~%{_pct(a.fraction)}%{escape(a.text)}{_fb(a.feedback)}" for a in q.answers)
        elif q.qtype == "matching":
            body = " ".join(f"={escape(a.text)} -> {escape(a.match)}" for a in q.answers)
        else:
            raise ValueError(f"unknown question type {q.qtype!r}")
        chunks.append(f"{head}{{{body}{general}}}")
    return "\n\n".join(chunks) + "\n"
