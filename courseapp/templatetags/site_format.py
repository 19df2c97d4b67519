"""The site's one way to write times, points and durations (a builtin: no {% load %} needed).

- ``{{ moment|when }}``  → ``2026-12-02 09:40`` in Europe/Istanbul (settings.TIME_ZONE); "" for None,
  so ``|when|default:"—"`` shows a dash.
- ``{{ moment|day }}``   → ``2026-12-02``.
- ``{{ grade.points|points }}`` → at most two decimals, trailing zeros dropped: 8.0000 → ``8``, 7.50 → ``7.5``.
- ``{{ grade.points|score:item.points_possible }}`` → ``8 / 10``; a missing score reads ``– / 10``.
- ``{{ delta|time_left }}`` → ``2 days 3 h``, ``3 h 20 min``, ``12 min``; ``closed`` when none is left.

States are written in words with the model's labels (``get_status_display``), never the stored value.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django import template
from django.utils import timezone

from courseapp import numbers
from courseapp.numbers import HUNDREDTH

register = template.Library()

DATETIME = "%Y-%m-%d %H:%M"


def format_when(value: dt.datetime | dt.date | str | None) -> str:
    if value in (None, ""):
        return ""
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
        value = parsed
    if isinstance(value, dt.datetime):
        if timezone.is_aware(value):
            value = timezone.localtime(value)
        return value.strftime(DATETIME)
    return value.strftime("%Y-%m-%d")


def format_points(value: Decimal | float | int | str | None) -> str:
    """At most two decimals, half up, written by the site's one formatter (courseapp.numbers):
    trailing zeros dropped; "" for None; text that is no number comes back as it is."""
    if value is None or value == "" or isinstance(value, bool):
        return ""
    try:
        number = Decimal(str(value)).quantize(HUNDREDTH, rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError):
        return str(value)
    return numbers.format_points(number)


@register.filter
def when(value) -> str:
    return format_when(value)


@register.filter
def day(value) -> str:
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value) if timezone.is_aware(value) else value
        return value.strftime("%Y-%m-%d")
    return format_when(value)


@register.filter
def points(value) -> str:
    return format_points(value)


@register.filter
def score(value, possible=None) -> str:
    got = format_points(value) or "–"
    return f"{got} / {format_points(possible)}" if possible not in (None, "") else got


@register.filter
def time_left(value: dt.timedelta | None) -> str:
    if value is None:
        return ""
    minutes = int(value.total_seconds() // 60)
    if minutes <= 0:
        return "closed"
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} day{'s' if days != 1 else ''}" + (f" {hours} h" if hours else "")
    if hours:
        return f"{hours} h" + (f" {mins} min" if mins else "")
    return f"{mins} min"
