"""A small RFC 5545 reader for the tests: unfolds, splits properties, unescapes TEXT."""

from __future__ import annotations

import re


def unfold(text: str) -> list[str]:
    assert text.endswith("\r\n"), "an iCalendar stream ends with CRLF"
    assert "\n" not in text.replace("\r\n", ""), "every line ends with CRLF, never a bare LF"
    return text.replace("\r\n ", "").replace("\r\n\t", "").split("\r\n")[:-1]


def unescape(value: str) -> str:
    return re.sub(r"\\([\\;,nN])", lambda m: "\n" if m.group(1) in "nN" else m.group(1), value)


def parse_line(line: str) -> tuple[str, dict[str, str], str]:
    head, value = line.split(":", 1)  # our params are never quoted, so the first colon ends them
    name, *params = head.split(";")
    return name.upper(), dict(p.split("=", 1) for p in params), value


def components(text: str, kind: str) -> list[dict[str, tuple[dict[str, str], str]]]:
    """Every BEGIN:<kind> … END:<kind> block as {property: (params, raw value)}."""
    found, current = [], None
    for line in unfold(text):
        name, params, value = parse_line(line)
        if name == "BEGIN" and value == kind:
            current = {}
        elif name == "END" and value == kind:
            found.append(current)
            current = None
        elif current is not None and name not in ("BEGIN", "END"):
            current[name] = (params, value)
    return found
