"""Control characters in text people type: refused at input, neutralised at export.

A NUL cannot be stored by PostgreSQL ("A string literal cannot contain NUL characters": a
500), and any C0 control character but tab, newline and carriage return makes openpyxl refuse
the whole workbook (IllegalCharacterError), so one bad category name broke every Excel export.
Input checks call `control_character_error`; exports pass every cell through `for_export`, so a
name stored before the check (or by the admin, a shell, an import) still exports.
"""

from __future__ import annotations

import re

# C0 controls and DEL; one-line fields also refuse tab, newline and carriage return.
_CONTROL_ONE_LINE = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# What an Excel cell cannot hold (the same set as openpyxl.cell.cell.ILLEGAL_CHARACTERS_RE).
_ILLEGAL_IN_XLSX = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def control_character_error(text: str, *, label: str, multiline: bool = False) -> str | None:
    """A message saying where the first control character is, or None when `text` has none.

    One-line fields (names) refuse tab and line breaks too; multi-line fields (descriptions,
    reasons) allow tab, newline and carriage return."""
    match = (_CONTROL_MULTILINE if multiline else _CONTROL_ONE_LINE).search(text)
    if match is None:
        return None
    code = ord(match.group())
    return (f"The {label} contains a control character (U+{code:04X}) at position {match.start() + 1}; "
            "remove it (it is often pasted from another program) and save again.")


def for_export(value: object) -> object:
    """A cell value that every export format can hold: control characters become U+FFFD; other values pass."""
    if isinstance(value, str):
        return _ILLEGAL_IN_XLSX.sub("\N{REPLACEMENT CHARACTER}", value)
    return value
