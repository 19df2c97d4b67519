"""Pure calculations of the LTI app: no ORM, no settings, no I/O."""

from __future__ import annotations

from decimal import Decimal

Key = tuple[int, int]  # (line item id, student id)


def scores_to_send(now: dict[Key, Decimal], last: dict[Key, Decimal]) -> list[Key]:
    """Keys whose current value differs from the value last posted (or never posted), sorted.

    A score that disappeared (grade deleted, item excused) is not "sent as empty": the
    platform keeps the last value, and the instructor sees it on the passback page.
    Values compare as Decimals, so 8.5 and 8.50 are the same score.
    """
    return sorted(key for key, value in now.items() if key not in last or Decimal(last[key]) != Decimal(value))


def retry_countdown(retries: int, *, base: int = 30, cap: int = 3600) -> int:
    """Seconds before retry number `retries + 1`: 30 s, 60 s, 120 s … at most an hour."""
    return min(cap, base * 2 ** max(0, retries))
