"""Points as people type and read them: the one parser and the one formatter of the site.

Every place that takes points from a person (a grade typed in the gradebook, a CSV import cell,
a rubric mark, a manual quiz mark, a what-if guess) reads them with ``parse_points``, so the
same text means the same everywhere:

- "12", "12.5", "12.50" and "12,50" (a decimal comma, as Turkish keyboards type it) are read;
- a third decimal ("12.505") is refused, saying so: the gradebook stores hundredths and
  rounding silently would record a score nobody typed;
- "nan", "inf", thousands separators ("1,234.5"), exponents ("1e3"), and empty text are refused;
- a negative number is refused unless the caller allows it (points given are never negative).

Scores a program computed (a quiz's fraction × points, an autograder's float) are not typed by
anyone: ``parse_points(..., round_extra=True)`` rounds those half up to hundredths instead.

``format_points`` writes points for people: 10.00 → "10", 8.50 → "8.5", 7.25 → "7.25";
``format_score`` writes "8.5 / 10". Pure functions: no Django, no settings.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

PLACES = 2
HUNDREDTH = Decimal("0.01")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")


_PLACES_WORDS = {0: "no", 1: "one", 2: "two", 3: "three"}
_ROUND_TO = {0: "a whole number", 1: "tenths (like 7.5)", 2: "hundredths (like 7.25)", 3: "thousandths (like 0.125)"}


class PointsError(ValueError):
    """Text that is not acceptable points; str() is a sentence that says what to type instead."""


def parse_points(
    value: Decimal | int | float | str | None,
    *,
    what: str = "",
    allow_negative: bool = False,
    maximum: Decimal | None = None,
    round_extra: bool = False,
    places: int = PLACES,
) -> Decimal:
    """`value` as a Decimal with at most two decimals, or PointsError saying what to fix.

    what: how the message names the value ("Points on Quiz 1"), put before it; "" for none. maximum: refuse
    anything larger (None: no limit). round_extra: round half up to hundredths instead of refusing
    a third decimal (for computed scores only). places: decimals allowed (2 for points; 3 for a
    weight). A Decimal or int is taken as is; a float through
    its shortest text (0.1 → 0.1); a bool is refused (True is not a score).
    """
    if value is None or isinstance(value, bool):
        raise PointsError(_say(what, "give a number of points, like 7.5."))
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    else:
        text = str(value).strip()
        if isinstance(value, str):
            if not text:
                raise PointsError(_say(what, "give a number of points, like 7.5."))
            if text.count(",") == 1 and "." not in text:  # decimal comma: 12,50
                text = text.replace(",", ".")
            if not _NUMBER.fullmatch(text):
                raise PointsError(_say(what, f"“{value}” is not a number; enter points like 7.5 or 7,5."))
        try:
            number = Decimal(text)
        except (InvalidOperation, ValueError):
            raise PointsError(_say(what, f"“{value}” is not a number; enter points like 7.5 or 7,5.")) from None
    if not number.is_finite():
        raise PointsError(_say(what, f"“{value}” is not a number; enter points like 7.5 or 7,5."))
    if number.adjusted() >= 15:  # beyond any score; and quantize() would fail at 28 digits
        raise PointsError(_say(what, f"“{value}” is too large for points."))
    unit = Decimal(1).scaleb(-places)
    if number != number.quantize(unit, rounding=ROUND_HALF_UP):
        if not round_extra:
            raise PointsError(_say(what, f"{format_points(number)} has more than {_PLACES_WORDS.get(places, places)} "
                                         f"decimals; round it to {_ROUND_TO.get(places, 'fewer decimals')}."))
        number = number.quantize(unit, rounding=ROUND_HALF_UP)
    if number < 0 and not allow_negative:
        raise PointsError(_say(what, f"{format_points(number)} is negative; enter 0 or more."))
    if maximum is not None and number > maximum:
        raise PointsError(_say(what, f"{format_points(number)} is above the maximum of {format_points(maximum)}."))
    return number + 0  # normalises -0 to 0 (Decimal("-0") + 0 == Decimal("0"))


def _say(what: str, message: str) -> str:
    return f"{what}: {message}" if what else message[0].upper() + message[1:]


def format_points(value: Decimal | int | float | str | None) -> str:
    """Points for people: 10.00 → "10", 8.50 → "8.5", 7.25 → "7.25", None → "".

    Never an exponent (1E+1 → "10") nor trailing zeros; a float is read through its shortest text."""
    if value is None:
        return ""
    number = value if isinstance(value, Decimal) else Decimal(str(value))
    if not number.is_finite():
        return str(number)
    text = f"{number:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def format_score(points: Decimal | int | float | str | None, possible: Decimal | int | float | str) -> str:
    """ "8.5 / 10"; "– / 10" when there are no points yet."""
    shown = format_points(points)
    return f"{shown or '–'} / {format_points(possible)}"
