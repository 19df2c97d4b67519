"""An RFC 5545 iCalendar writer for the course feed: pure functions, no ORM.

Times are written as local times with TZID=<the course's zone> plus a VTIMEZONE
built from zoneinfo for the span the events cover. Google Calendar and Thunderbird
both read the Olson TZID; the VTIMEZONE keeps clients that need one (Outlook,
Apple) right too, and "09:40 Europe/Istanbul" is what people see when they open the
event, rather than a UTC time converted by each client. See RFC 5545 §3.6.5.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

CRLF = "\r\n"
MAX_OCTETS = 75


@dataclass(frozen=True)
class Event:
    """One VEVENT. `start`/`end` are aware datetimes; `url` is absolute or empty.

    `end` None makes a point event (no DTEND: RFC 5545 §3.6.1 says it ends when it
    starts), for moments such as a quiz opening. `status` is "" or CONFIRMED/CANCELLED;
    `sequence` is raised by the source each time the event changes.
    """

    uid: str
    summary: str
    start: dt.datetime
    end: dt.datetime | None
    description: str = ""
    location: str = ""
    url: str = ""
    status: str = ""
    sequence: int = 0


def escape_text(value: str) -> str:
    """Escape a TEXT value (RFC 5545 §3.3.11): backslash, semicolon, comma and newlines."""
    value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return value.replace("\r\n", "\\n").replace("\r", "\\n").replace("\n", "\\n")


def _utcoffset(moment: dt.datetime) -> dt.timedelta:
    """The offset of an aware datetime (a ZoneInfo always gives one)."""
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError(f"{moment!r} has no time zone")
    return offset


def fold(line: str) -> str:
    """Fold a content line so no physical line exceeds 75 octets (RFC 5545 §3.1).

    Continuation lines start with one space, which counts towards their 75 octets.
    A UTF-8 character is never split across lines.
    """
    out: list[str] = []
    current: list[str] = []
    size, limit = 0, MAX_OCTETS
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > limit:
            out.append("".join(current))
            current, size, limit = [], 0, MAX_OCTETS - 1
        current.append(char)
        size += width
    out.append("".join(current))
    return (CRLF + " ").join(out)


def _utc_stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def _local_stamp(moment: dt.datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%Y%m%dT%H%M%S")


def _offset(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}{mins:02d}"


def _transitions(tz: ZoneInfo, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """UTC instants in [start, end] where the zone's UTC offset changes (to the minute)."""
    found = []
    step = dt.timedelta(days=1)
    moment = start
    while moment < end:
        later = min(moment + step, end)
        if moment.astimezone(tz).utcoffset() != later.astimezone(tz).utcoffset():
            low, high = moment, later
            while high - low > dt.timedelta(minutes=1):
                middle = low + (high - low) / 2
                if middle.astimezone(tz).utcoffset() == low.astimezone(tz).utcoffset():
                    low = middle
                else:
                    high = middle
            found.append(high.replace(second=0, microsecond=0))
        moment = later
    return found


def vtimezone(tz: ZoneInfo, start: dt.datetime, end: dt.datetime) -> list[str]:
    """VTIMEZONE lines for `tz`, valid for the instants from `start` to `end`.

    One observance per offset period: a zone with a fixed offset (Istanbul since
    2016) gets a single STANDARD component; others get one per transition.
    """
    start = (start.astimezone(dt.UTC) - dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    end = end.astimezone(dt.UTC) + dt.timedelta(days=1)
    lines = ["BEGIN:VTIMEZONE", f"TZID:{tz.key}"]
    edges = [start, *_transitions(tz, start, end)]
    previous = _utcoffset((start - dt.timedelta(days=1)).astimezone(tz))
    for edge in edges:
        local = edge.astimezone(tz)
        kind = "DAYLIGHT" if local.dst() else "STANDARD"
        lines += [
            f"BEGIN:{kind}",
            f"DTSTART:{(edge + previous).replace(tzinfo=None).strftime('%Y%m%dT%H%M%S')}",
            f"TZOFFSETFROM:{_offset(previous)}",
            f"TZOFFSETTO:{_offset(_utcoffset(local))}",
            f"TZNAME:{local.tzname()}",
            f"END:{kind}",
        ]
        previous = _utcoffset(local)
    lines.append("END:VTIMEZONE")
    return lines


def calendar(
    *, name: str, tz: ZoneInfo, events: Iterable[Event], stamp: dt.datetime, prodid: str
) -> str:
    """The whole VCALENDAR as text with CRLF line ends, folded; `stamp` becomes each DTSTAMP."""
    events = sorted(events, key=lambda event: (event.start, event.uid))
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{prodid}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{escape_text(name)}",
        f"X-WR-TIMEZONE:{tz.key}",
        "REFRESH-INTERVAL;VALUE=DURATION:PT6H",
        "X-PUBLISHED-TTL:PT6H",
    ]
    if events:
        lines += vtimezone(tz, events[0].start, max(event.end or event.start for event in events))
    for event in events:
        lines += [
            "BEGIN:VEVENT",
            f"UID:{event.uid}",
            f"DTSTAMP:{_utc_stamp(stamp)}",
            f"DTSTART;TZID={tz.key}:{_local_stamp(event.start, tz)}",
        ]
        if event.end is not None:
            lines.append(f"DTEND;TZID={tz.key}:{_local_stamp(event.end, tz)}")
        lines.append(f"SUMMARY:{escape_text(event.summary)}")
        if event.sequence:
            lines.append(f"SEQUENCE:{event.sequence}")
        if event.status:
            lines.append(f"STATUS:{event.status}")
        if event.location:
            lines.append(f"LOCATION:{escape_text(event.location)}")
        if event.description:
            lines.append(f"DESCRIPTION:{escape_text(event.description)}")
        if event.url:
            lines.append(f"URL:{event.url}")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return CRLF.join(fold(line) for line in lines) + CRLF
