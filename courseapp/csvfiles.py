"""Reading CSV files people save from spreadsheets, shared by the roster import (courseapp.services)
and the grade import (grading.services.imports).

Excel saves "CSV" with the list separator of the computer's region: a comma in English, a
semicolon where the decimal separator is a comma (Turkish, German), and "Unicode text" with
tabs; "CSV UTF-8" starts with a byte order mark. Both imports accept all of these.
"""

from __future__ import annotations

import csv

DELIMITERS = ",;\t"
BOM = "\ufeff"


def without_bom(text: str) -> str:
    """The text without a leading UTF-8 byte order mark (Excel's "CSV UTF-8" writes one)."""
    return text[1:] if text.startswith(BOM) else text


def sniff_dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    """The dialect of a CSV text: its separator (comma, semicolon or tab) and quoting, guessed
    from its first 4 KB; Excel's comma dialect when the guess fails (a one-column file)."""
    sample = text[:4096]
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS)
    except csv.Error:
        return csv.excel
